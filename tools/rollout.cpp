#include "tools/rollout.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "agent/hlc.hpp"
#include "agent/restart_policy.hpp"
#include "bus/instance_id.hpp"

namespace mob {
namespace {

// The restart policy a status reply's normalized spec names; the agent's default, always,
// when it names none the agent would write.
RestartPolicy restart_policy_of(const std::string& spec_json) {
  const auto spec = nlohmann::json::parse(spec_json, nullptr, /*allow_exceptions=*/false);
  if (!spec.is_object()) return RestartPolicy::always;
  const auto restart = spec.find("restart");
  if (restart == spec.end() || !restart->is_object()) return RestartPolicy::always;
  const auto policy = restart->find("policy");
  if (policy == restart->end() || !policy->is_string()) return RestartPolicy::always;
  return restart_policy_named(policy->get<std::string>()).value_or(RestartPolicy::always);
}

std::optional<InstanceState> state_named(std::string_view text) {
  for (auto state = InstanceState::pending; state < InstanceState::count_;
       state = static_cast<InstanceState>(static_cast<int>(state) + 1))
    if (to_string(state) == text) return state;
  return std::nullopt;
}

// An event's `version` is a hybrid logical clock stamp (docs/events.md): unix ms of the change
// at its origin, comparable with InstanceStatus.since_ms.
std::int64_t wall_ms_of(std::uint64_t version) {
  return static_cast<std::int64_t>(HybridClock::wall_ms_of(version));
}

// Whether a status reply's normalized spec has health checks: then an instance counts once
// healthy, not once it has run for kSettle.
bool has_checks(const std::string& spec_json) {
  const auto spec = nlohmann::json::parse(spec_json, nullptr, /*allow_exceptions=*/false);
  if (!spec.is_object()) return false;
  const auto checks = spec.find("checks");
  return checks != spec.end() && checks->is_array() && !checks->empty();
}

// What the checks of a running instance say so far: the failing check with the latest
// result, or the check not run yet, with its last output.
std::string health_words(const InstanceStatus& instance) {
  if (instance.health == Health::unhealthy && instance.reason.starts_with("unhealthy:")) return instance.reason;
  const CheckResult* latest = nullptr;
  for (const auto& check : instance.checks)
    if (!check.passed && (!latest || check.at_ms > latest->at_ms)) latest = &check;
  std::string words = instance.health == Health::unhealthy ? "unhealthy" : "not healthy yet";
  if (!latest) return words;
  if (latest->at_ms == 0) return words + ": check " + latest->name + " has not run yet";
  words += ": check " + latest->name + " failed: " + (latest->output.empty() ? "no output" : latest->output);
  if (latest->in_a_row > 1) words += " (" + std::to_string(latest->in_a_row) + " in a row)";
  return words;
}

std::string or_dash(const std::string& text) { return text.empty() ? "-" : text; }

// ", healthy", ", unhealthy: http: ..." after a running instance with checks.
std::string health_suffix(const InstanceStatus& instance) {
  switch (instance.health) {
    case Health::healthy: return ", healthy";
    case Health::unhealthy: return ", " + health_words(instance);
    default: return "";
  }
}

// What an instance is doing, in words: "running on node-a (pid 1234)", "pending: <why>".
std::string describe(const InstanceStatus& instance) {
  std::string state(to_string(instance.state));
  switch (instance.state) {
    case InstanceState::running:
      // An event carries no pid; a status reply does.
      return state + " on " + or_dash(instance.node) +
             (instance.pid > 0 ? " (pid " + std::to_string(instance.pid) + ")" : "") + health_suffix(instance);
    case InstanceState::starting:
      return state;
    default:
      break;
  }
  if (instance.reason.empty()) return state;
  // The agent's reasons often begin with the state ("exited with code 1").
  if (instance.reason.starts_with(state)) return instance.reason;
  return state + ": " + instance.reason;
}

}  // namespace

std::string where_to_look(const std::string& service) {
  return " (see: mob-tool status " + service + "; mob-tool logs " + service + ")";
}

Rollout::Rollout(DeployReply deployed, Time started, std::chrono::milliseconds wait_timeout)
    : deployed_(std::move(deployed)),
      deadline_(started + wait_timeout),
      wait_timeout_(wait_timeout) {}

std::vector<std::string> Rollout::absorb(const StatusReply& status, Time now) {
  if (now >= deadline_) status_read_after_deadline_ = true;
  std::vector<std::string> lines;
  for (const auto& service : status.services) {
    if (service.name != deployed_.service) continue;
    auto more = absorb(service, now);
    lines.insert(lines.end(), more.begin(), more.end());
  }
  return lines;
}

std::vector<std::string> Rollout::absorb(const ServiceStatus& service, Time now) {
  check_service(ServiceChange{service.changed_at, service.origin, service.version, service.enabled,
                              /*removed=*/false,
                              spec_identity(service.spec_json) != deployed_.spec_identity, service.rollout});
  if (service.version == deployed_.version) {
    rolling_ = service.stable_version != 0 && service.rollout.starts_with("rolling out");
    if (service.rollout.starts_with("paused: ")) paused_ = service.rollout;
  }
  instances_ = service.instances;
  restart_policy_ = restart_policy_of(service.spec_json);
  checked_ = has_checks(service.spec_json);
  std::vector<std::string> lines;
  for (const auto& instance : service.instance_list) {
    if (!instance.node.empty()) assigned_[instance.index] = instance.node;
    seen_[{instance.index, instance.node}] = Seen{instance, /*from_status=*/true, now};
    // An instance still on the previous version is about to be replaced; only its
    // pending reason (such as missing dependencies) says something about the new one.
    if (instance.spec_version == deployed_.version || instance.state == InstanceState::pending)
      show(instance.index, describe(instance), lines);
  }
  return lines;
}

std::vector<std::string> Rollout::absorb(const Event& event, Time now) {
  std::vector<std::string> lines;
  if (event.service != deployed_.service) return lines;
  if (event.topic == "service.rollout") {
    if (event.generation != deployed_.version) return lines;
    if (event.state == "started") rolling_ = true;
    if (event.state == "done") rolling_ = false;
    if (event.state == "paused") paused_ = event.reason;
    if (event.state == "batch") {
      deadline_ = std::max(deadline_, now + wait_timeout_);
      lines.push_back(deployed_.service + ": " + event.reason);
    }
    return lines;
  }
  if (event.topic.starts_with("service.")) {
    const bool ended = event.reason.starts_with("failed: ") || event.reason.starts_with("reverted: ");
    check_service(ServiceChange{event.version, event.agent, event.generation,
                                event.reason != "stopped", event.topic == "service.removed",
                                event.reason == kConcurrentDeploy, ended ? event.reason : ""});
    return lines;
  }
  if (event.instance < 0) return lines;
  const auto index = static_cast<std::uint32_t>(event.instance);
  if (event.topic == "instance.assigned" || event.topic == "instance.moved") {
    if (assigned_[index] == event.node) return lines;  // the status reply already said so
    assigned_[index] = event.node;
    show(index,
         event.from_node.empty() ? "assigned to " + event.node
                                 : "moving from " + event.from_node + " to " + event.node,
         lines);
    return lines;
  }
  if (event.topic == "instance.healthy" || event.topic == "instance.unhealthy") {
    auto seen = seen_.find({index, event.node});
    if (seen == seen_.end() || seen->second.status.state != InstanceState::running ||
        seen->second.status.spec_version != event.generation)
      return lines;
    auto& status = seen->second.status;
    status.health = event.topic == "instance.healthy" ? Health::healthy : Health::unhealthy;
    status.reason = status.health == Health::unhealthy ? event.reason : "";
    for (auto& check : status.checks)
      if (check.name == event.check) check.output = event.output;
    if (event.generation == deployed_.version && assigned_[index] == event.node)
      show(index, describe(status), lines);
    return lines;
  }
  auto state = state_named(event.state);
  if (!state) return lines;
  auto& seen = seen_[{index, event.node}];
  // A status reply read after this event was published already holds it or something newer.
  if (seen.from_status && wall_ms_of(event.version) <= seen.status.since_ms) return lines;
  seen.from_status = false;
  seen.learned_at = now;
  seen.status = InstanceStatus{event.service, index, 0, event.node, *state,
                               checked_ && *state == InstanceState::running ? Health::starting : Health::none,
                               0, 0, wall_ms_of(event.version), event.exit_code,
                               event.signal, event.reason, event.generation,
                               {}, event.host, event.ports};
  if (!assigned_.contains(index)) assigned_[index] = event.node;
  if (assigned_[index] == event.node && event.generation == deployed_.version)
    show(index, describe(seen.status), lines);
  return lines;
}

Rollout::Verdict Rollout::verdict(Time now) {
  switch (outcome(now)) {
    case Outcome::running:
      return {Outcome::running, summary()};
    case Outcome::failed:
      return {Outcome::failed, failure() + where_to_look(deployed_.service)};
    case Outcome::waiting:
    case Outcome::timed_out:
      break;
  }
  if (status_read_after_deadline_) return {Outcome::timed_out, timeout()};
  return {Outcome::waiting, {}};
}

bool Rollout::wants_final_status(Time now) const {
  return now >= deadline_ && !status_read_after_deadline_;
}

Rollout::Time Rollout::next_look() const {
  return std::min(deadline_, settled_at_.value_or(deadline_));
}

// Whether every instance of the new version runs (for kSettle, or finished with exit code 0
// and will not be restarted), one failed, or neither yet.
Rollout::Outcome Rollout::outcome(Time now) {
  settled_at_.reset();
  if (!problem_.empty()) return Outcome::failed;
  if (!paused_.empty()) return Outcome::running;
  if (!instances_) return Outcome::waiting;
  running_ = finished_ok_ = 0;
  not_done_.clear();
  for (std::uint32_t index = 0; index < *instances_; ++index) {
    const Seen* seen = current(index);
    const InstanceStatus* instance = seen ? &seen->status : nullptr;
    bool fresh = instance && instance->spec_version == deployed_.version;
    bool finished = fresh && instance->state == InstanceState::exited &&
                    !wants_restart(restart_policy_, {instance->exit_code, instance->signal, false});
    if (fresh && (instance->state == InstanceState::failed ||
                  (finished && (instance->exit_code != 0 || instance->signal != 0)))) {
      if (rolling_) {  // the network stops (or reverts) the rolling update and says why
        if (not_done_.empty()) not_done_ = name(index) + " " + describe(*instance);
        continue;
      }
      problem_ = describe(*instance);
      failed_instance_ = index;
      return Outcome::failed;
    }
    bool running = fresh && instance->state == InstanceState::running;
    // With checks, running means healthy, and the checks said so: no settling needed.
    bool waits_for_health = running && checked_ && instance->health != Health::healthy;
    if (waits_for_health) {
      if (not_done_.empty()) not_done_ = name(index) + " is running but " + health_words(*instance);
      continue;
    }
    if (running && !checked_ && now - seen->learned_at < kSettle)
      settled_at_ = std::min(settled_at_.value_or(Time::max()), seen->learned_at + kSettle);
    if (running) ++running_;
    else if (finished) ++finished_ok_;
    else if (not_done_.empty())
      not_done_ = name(index) + " is " + (instance ? describe(*instance) : waiting_for(index));
  }
  if (running_ + finished_ok_ < *instances_ || settled_at_) return Outcome::waiting;
  if (rolling_) {
    if (not_done_.empty()) not_done_ = "the rolling update is not done yet";
    return Outcome::waiting;
  }
  return Outcome::running;
}

// A change older than this deploy's write says nothing about it. A later one (or one as
// old from another agent: a concurrent write that won the merge) may have replaced it.
void Rollout::check_service(const ServiceChange& change) {
  const std::string version = std::to_string(deployed_.version);
  if (deployed_.written_at != 0 && change.stamp < deployed_.written_at) return;
  bool ours = change.stamp == deployed_.written_at && change.agent == deployed_.agent;
  const std::string through = " through agent " + change.agent;
  if (change.removed) {
    problem_ = "was removed" + through + " while waiting for it to run";
  } else if (change.version == deployed_.version + 1 && change.rollout.starts_with("reverted: ")) {
    problem_ = "version " + version + " was " + change.rollout + "; version " + std::to_string(change.version) +
               " runs the last healthy spec again";
  } else if (change.version == deployed_.version && change.rollout.starts_with("failed: ")) {
    problem_ = "version " + version + ": the rolling update " + change.rollout +
               "; the instances not updated run the last healthy version";
  } else if (change.version > deployed_.version) {
    problem_ = "was deployed again (version " + std::to_string(change.version) + through +
               ") while waiting for version " + version;
  } else if (change.version < deployed_.version && !ours) {
    problem_ = "version " + version + " was undone: a concurrent change" + through +
               " won the merge, and the network holds version " + std::to_string(change.version) +
               (change.enabled ? "" : ", stopped");
  } else if (!ours && change.other_spec) {
    problem_ = "version " + version + " was superseded: a concurrent deploy" + through +
               " also made version " + version +
               " with another spec, and won; the network runs that spec, not this one";
  } else if (!change.enabled) {
    problem_ = "version " + version +
               " is deployed but the service is stopped; run it with: mob-tool start " +
               deployed_.service;
  }
}

const Rollout::Seen* Rollout::current(std::uint32_t index) const {
  auto node = assigned_.find(index);
  auto seen = seen_.find({index, node == assigned_.end() ? "" : node->second});
  return seen == seen_.end() ? nullptr : &seen->second;
}

std::string Rollout::name(std::uint32_t index) const {
  return InstanceId{deployed_.service, index}.display_name();
}

std::string Rollout::waiting_for(std::uint32_t index) const {
  auto node = assigned_.find(index);
  if (node == assigned_.end()) return "pending: waiting for placement";
  return "pending: assigned to " + node->second + "; waiting for it to start";
}

std::string Rollout::summary() const {
  if (!paused_.empty())
    return deployed_.service + " version " + std::to_string(deployed_.version) + ": " +
           paused_.substr(std::string_view("paused: ").size());
  std::string line = deployed_.service + " version " + std::to_string(deployed_.version) + ": " +
                     std::to_string(running_) + " of " + std::to_string(instances_.value_or(0)) +
                     " instance(s) running";
  if (finished_ok_ > 0) line += ", " + std::to_string(finished_ok_) + " finished with exit code 0";
  return line;
}

std::string Rollout::failure() const {
  if (failed_instance_) return name(*failed_instance_) + " " + problem_;
  return deployed_.service + " " + problem_;
}

std::string Rollout::timeout() const {
  return deployed_.service + " version " + std::to_string(deployed_.version) +
         " is not running after " + std::to_string(wait_timeout_.count()) + " ms" +
         (not_done_.empty() ? "" : ": " + not_done_) + where_to_look(deployed_.service) +
         "; wait longer with --wait-timeout MS";
}

void Rollout::show(std::uint32_t index, const std::string& line, std::vector<std::string>& lines) {
  if (shown_[index] == line) return;
  lines.push_back(name(index) + "  " + line);
  shown_[index] = line;
}

}  // namespace mob
