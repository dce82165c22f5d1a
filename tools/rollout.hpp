// The rollout of one deployed version, as `mob-tool deploy` follows it: folds a status reply
// and then the service's events into the lines to print and a verdict (running, failed,
// replaced by another write, timed out). Pure: no I/O and no clock; each input brings its time.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/spec.hpp"
#include "bus/messages.hpp"

namespace mob {

class Rollout {
 public:
  using Time = std::chrono::steady_clock::time_point;
  // An instance counts as running once it has run this long: a command that fails at once
  // is then reported as failed, not as running. An instance of a service with health checks
  // counts once it is healthy instead (InstanceStatus.health, instance.healthy).
  static constexpr std::chrono::milliseconds kSettle{500};

  enum class Outcome {
    waiting,    // keep feeding it; look again by next_look()
    running,    // every instance of the version runs (or finished with exit code 0), or its
                // canaries do and the rollout waits for mob-tool promote
    failed,     // an instance failed, or another write replaced, undid or stopped this one
    timed_out,  // the wait ended and the status read after it still shows the version on its way
  };
  struct Verdict {
    Outcome outcome = Outcome::waiting;
    // running: the closing line for stdout ("web version 2: 2 of 2 instance(s) running");
    // failed, timed_out: what went wrong, for "mob-tool: " on stderr; waiting: empty.
    std::string message;
  };

  // Follows `deployed` (the agent's reply to this deploy) from `started` for `wait_timeout`.
  Rollout(DeployReply deployed, Time started, std::chrono::milliseconds wait_timeout);

  // A status reply read at `now`: the desired count, the restart policy and the state so far.
  // Returns the progress lines to print, such as "web/0  running on node-a (pid 1234)".
  std::vector<std::string> absorb(const StatusReply& status, Time now);
  // One event; those of other services are ignored. Returns the progress lines to print;
  // a rolling update's batch (service.rollout) prints "web: 4 of 10 updated, 10 healthy"
  // and starts the wait again.
  std::vector<std::string> absorb(const Event& event, Time now);

  Verdict verdict(Time now);

  // Whether the wait is over but no status was read since: the final word is the agent's
  // current state, so verdict() says timed_out only after one more status reply.
  bool wants_final_status(Time now) const;
  // While waiting: when to call verdict() again at the latest, events or not (the end of
  // the wait, or the moment an instance that runs now will have run for kSettle).
  Time next_look() const;

 private:
  // A change of the service record itself, read from a status reply or an event.
  struct ServiceChange {
    std::uint64_t stamp = 0;  // its hybrid logical clock stamp
    std::string agent;        // the agent that took it
    std::uint64_t version = 0;
    bool enabled = true;
    bool removed = false;
    bool other_spec = false;  // the spec differs from the one this deploy wrote
    std::string rollout;      // how a rolling update ended: "failed: ...", "reverted: ..."
  };
  // What one node last said of one instance.
  struct Seen {
    InstanceStatus status;
    bool from_status = false;
    Time learned_at;
  };

  std::vector<std::string> absorb(const ServiceStatus& service, Time now);
  Outcome outcome(Time now);
  void check_service(const ServiceChange& change);
  const Seen* current(std::uint32_t index) const;
  std::string name(std::uint32_t index) const;
  std::string waiting_for(std::uint32_t index) const;
  std::string summary() const;
  std::string failure() const;
  std::string timeout() const;
  // Adds "NAME/INDEX  LINE" to `lines` unless it is what was last shown for that instance.
  void show(std::uint32_t index, const std::string& line, std::vector<std::string>& lines);

  DeployReply deployed_;
  Time deadline_;
  std::chrono::milliseconds wait_timeout_;
  bool status_read_after_deadline_ = false;
  std::optional<std::uint32_t> instances_;  // known once a status reply arrived
  RestartPolicy restart_policy_ = RestartPolicy::always;
  bool checked_ = false;  // the service has health checks: running counts once healthy
  bool rolling_ = false;  // a rolling update to this version is under way: done only when it is
  // Its canaries run healthy and it waits for mob-tool promote (ServiceEntry.rollout,
  // "paused: ..."): the deploy's wait is over.
  std::string paused_;
  std::map<std::uint32_t, std::string> assigned_;               // index -> node
  std::map<std::pair<std::uint32_t, std::string>, Seen> seen_;  // (index, node)
  std::map<std::uint32_t, std::string> shown_;
  std::string problem_;
  std::optional<std::uint32_t> failed_instance_;
  std::uint32_t running_ = 0;
  std::uint32_t finished_ok_ = 0;
  std::string not_done_;
  std::optional<Time> settled_at_;
};

// Where to look when a deploy does not end well:
// " (see: mob-tool status NAME; mob-tool logs NAME)".
std::string where_to_look(const std::string& service);

}  // namespace mob
