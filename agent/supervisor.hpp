// The supervisor: runs the instances the store assigns to this agent through the provider
// workers, applies restart policies with backoff, and reports every state change.
#pragma once

#include <map>
#include <string>

#include "agent/time_source.hpp"

#include <zmq.hpp>

namespace mob {

struct SupervisorConfig {
  std::string node_name;
  const TimeSource* time = nullptr;  // the clocks it reads; null: the machine's
};

// Runs until ShutdownRequest arrives on `control`; then stops every instance (each within
// its stop timeout), shuts the workers and the health checker down and answers ShutdownDone.
// `workers`: one pipe per provider worker, by provider name; `health`: the health checker
// (agent/health.hpp), which checks the running instances whose service has checks.
void run_supervisor(SupervisorConfig config, zmq::socket_t store, zmq::socket_t io,
                    zmq::socket_t control, std::map<std::string, zmq::socket_t> workers,
                    zmq::socket_t health);

}  // namespace mob
