// The peer store: this agent's copy of the cluster state (members, service specs, instance
// assignments and states), kept durable in the data dir. Runs on its own thread.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "agent/spec.hpp"
#include "bus/messages.hpp"

namespace mob {

struct StoreConfig {
  Member self;  // this agent as the network sees it
  std::filesystem::path data_dir;
  SpecLimits spec_limits;
  std::uint32_t max_services = 10000;
};

// Runs the store's loop until ShutdownRequest arrives on `control`.
// `io`: requests from clients and their replies; `supervisor`: assignments out, reports in.
void run_store(StoreConfig config, zmq::socket_t io, zmq::socket_t supervisor,
               zmq::socket_t control);

}  // namespace mob
