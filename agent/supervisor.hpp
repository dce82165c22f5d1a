// The supervisor: runs the instances the store assigns to this agent through the provider
// workers, applies restart policies with backoff, and reports every state change.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "agent/actor.hpp"
#include "agent/endpoints.hpp"
#include "agent/time_source.hpp"

#include <zmq.hpp>

namespace mob {

struct SupervisorConfig {
  std::string node_name;
  const TimeSource* time = nullptr;  // the clocks it reads; null: the machine's
  // Service discovery: the address instances are reached at (MOB_HOST), the host ports
  // handed out for `"port": 0`, and whether a port is free (null: try to bind it).
  std::string host = "127.0.0.1";
  PortRange port_range;
  std::function<bool(std::uint32_t)> port_is_free;
};

// Runs until ShutdownRequest arrives on `control`; then stops every instance (each within
// its stop timeout), shuts the workers and the health checker down and answers ShutdownDone.
// `workers`: one pipe per provider worker, by provider name; `health`: the health checker
// (agent/health.hpp), which checks the running instances whose service has checks.
// The supervisor's loop a turn at a time on the caller's thread, for tests: driven on a
// ManualTime over inproc pipes, with no thread and no sleep. run_supervisor loops it.
class SupervisorLoop {
 public:
  SupervisorLoop(SupervisorConfig config, zmq::socket_t store, zmq::socket_t io, zmq::socket_t control,
                 std::map<std::string, zmq::socket_t> workers, zmq::socket_t health);
  ~SupervisorLoop();
  SupervisorLoop(const SupervisorLoop&) = delete;
  SupervisorLoop& operator=(const SupervisorLoop&) = delete;

  // Waits at most `wait` for a message, handles every message waiting and fires the timers
  // due on the config's clock. False once it has shut down (answered ShutdownDone).
  bool turn(std::chrono::milliseconds wait);

 private:
  std::unique_ptr<class Supervisor> supervisor_;
};

// The body of the supervisor's Actor: ready once it holds its pipes (its set-up only takes
// them, so it cannot fail and leave the workers without a supervisor), then loops.
void run_supervisor(ActorStartup& startup, SupervisorConfig config, zmq::socket_t store, zmq::socket_t io,
                    zmq::socket_t control, std::map<std::string, zmq::socket_t> workers,
                    zmq::socket_t health);

}  // namespace mob
