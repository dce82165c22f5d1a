// The I/O actor: owns the agent's ROUTER socket, checks every incoming frame, and routes
// client and peer requests to the store or the supervisor, and their replies back.
#pragma once

#include <cstddef>
#include <string>

#include <zmq.hpp>

namespace mob {

struct IoConfig {
  std::string agent_name;
  std::size_t max_message_bytes = 0;
};

// Runs until ShutdownRequest arrives on `control`.
void run_io(IoConfig config, zmq::socket_t router, zmq::socket_t store,
            zmq::socket_t supervisor, zmq::socket_t control);

}  // namespace mob
