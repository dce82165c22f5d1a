// The I/O actor: owns the agent's ROUTER socket, checks every incoming frame, and routes
// client and peer requests to the store or the supervisor, and their replies back.
#pragma once

#include <cstddef>
#include <string>

#include <zmq.hpp>

#include "agent/actor.hpp"

namespace mob {

struct IoConfig {
  std::string agent_name;
  std::size_t max_message_bytes = 0;
  // Requests one client (one connection: a tool or a peer) may have forwarded and not yet
  // answered; more are refused at once with Errc::unavailable (--max-pending-requests).
  std::size_t max_pending_requests = 1024;
};

// The body of the I/O Actor: ready once set up, then runs until ShutdownRequest arrives on
// `control`.
void run_io(ActorStartup& startup, IoConfig config, zmq::socket_t router, zmq::socket_t store,
            zmq::socket_t supervisor, zmq::socket_t control);

}  // namespace mob
