// The health checker: runs the health checks of the instances running on this agent (tcp,
// http and exec, docs/spec.md "checks") and tells the supervisor when an instance's health
// changes. An actor on its own thread, apart from the supervisor's loop, so that a check
// that hangs never delays a restart: one poll loop over non-blocking sockets and the exec
// checks' pipes and pidfds, each check bounded by its timeout. It owns those fds and the
// processes of its exec checks (killed, whole process group, at their timeout).
#pragma once

#include <string>

#include <zmq.hpp>

#include "agent/actor.hpp"
#include "agent/time_source.hpp"

namespace mob {

struct HealthConfig {
  std::string default_host;  // the IP address a tcp or http check without `host` connects to
  std::string agent_id;      // MOB_AGENT_ID of exec checks, as of the instances themselves
  const TimeSource* time = nullptr;  // null: the machine's clocks
};

// The body of the health checker's Actor: ready once set up, then runs until
// ShutdownRequest arrives on `supervisor` (answered with ShutdownDone): takes
// HealthWatch / HealthUnwatch from it and sends it HealthChange.
void run_health_checker(ActorStartup& startup, HealthConfig config, zmq::socket_t supervisor);

// The IP address of a ROUTER endpoint ("tcp://10.0.0.5:6666" -> "10.0.0.5"), the default
// host of checks; a wildcard bind ("*", 0.0.0.0, ::) gives the loopback address.
std::string check_host_of_endpoint(const std::string& endpoint);

}  // namespace mob
