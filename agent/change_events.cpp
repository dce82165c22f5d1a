#include "agent/change_events.hpp"

#include <utility>

namespace mob {
namespace {

Event event_for(std::string topic, const std::string& agent, std::uint64_t version, const EventSource& source) {
  Event event;
  event.topic = std::move(topic);
  event.time_ms = static_cast<std::int64_t>(source.wall_ms);
  event.agent = agent;
  event.publisher = source.publisher;
  event.version = version;
  return event;
}

// Whether `entry` changed more of the service than its rebalance (ServiceEntry.rebalance).
bool changed_beyond_rebalance(const ServiceEntry& before, const ServiceEntry& entry) {
  return entry.spec_json != before.spec_json || entry.generation != before.generation ||
         entry.enabled != before.enabled || entry.restart_generation != before.restart_generation ||
         entry.removed != before.removed || entry.stable_generation != before.stable_generation ||
         entry.rollout != before.rollout || entry.canaries != before.canaries || entry.promoted != before.promoted;
}

// service.rebalance started (asked for) or done (its record says so).
std::optional<Event> rebalance_event(const ServiceEntry& entry, const ServiceEntry& before, const EventSource& source) {
  if (entry.removed || entry.rebalance == before.rebalance) return std::nullopt;
  std::string state;
  if (entry.rebalance == "wanted") state = "started";
  else if (entry.rebalance.starts_with("done: ")) state = "done";
  else return std::nullopt;
  auto event = event_for("service.rebalance", entry.stamp.origin, entry.stamp.hlc, source);
  event.service = entry.name;
  event.generation = entry.generation;
  event.state = state;
  event.reason = state == "started" ? "the owner moves its instances towards an even spread" : entry.rebalance;
  return event;
}

}  // namespace

std::vector<Event> change_events(const MemberEntry& entry, std::optional<MemberState> before,
                                 const EventSource& source) {
  const auto state = entry.member.state;
  std::string topic;
  if (state == MemberState::alive && (!before || *before == MemberState::failed || *before == MemberState::left))
    topic = "member.joined";
  else if (state == MemberState::suspect && before != state) topic = "member.suspect";
  else if (state == MemberState::failed && before != state) topic = "member.failed";
  else if (state == MemberState::left && before != state) topic = "member.left";
  if (topic.empty()) return {};
  auto event = event_for(topic, entry.reported_by.empty() ? entry.member.name : entry.reported_by,
                         entry.heartbeat, source);
  event.member = entry.member.name;
  event.node = entry.member.name;
  event.state = std::string(to_string(state));
  event.generation = entry.member.incarnation;
  return {std::move(event)};
}

std::vector<Event> change_events(const ServiceEntry& entry, const std::optional<ServiceEntry>& before,
                                 const EventSource& source) {
  std::string topic;
  std::string reason;
  if (entry.removed) {
    if (before && !before->removed) topic = "service.removed";
  } else if (!before || before->removed) {
    topic = "service.deployed";
  } else if (!changed_beyond_rebalance(*before, entry)) {
    if (auto rebalance = rebalance_event(entry, *before, source)) return {std::move(*rebalance)};
    return {};
  } else {
    topic = "service.updated";
    if (before->generation != entry.generation) reason = entry.rollout.empty() ? "new version" : entry.rollout.str();
    else if (before->spec_json != entry.spec_json) reason = std::string(kConcurrentDeploy);
    else if (before->rollout != entry.rollout) reason = entry.rollout;
    else if (before->stable_generation != entry.stable_generation) reason = "rollout done";
    else if (before->enabled != entry.enabled) reason = entry.enabled ? "started" : "stopped";
    else if (before->restart_generation != entry.restart_generation) reason = "restarted";
  }
  if (topic.empty()) return {};
  auto event = event_for(topic, entry.stamp.origin, entry.stamp.hlc, source);
  event.service = entry.name;
  event.generation = entry.generation;
  event.reason = reason;
  std::vector<Event> events{event};
  // Rolling updates (docs/events.md, service.rollout): how one started or ended.
  const bool rolling = entry.stable_generation != 0 && entry.stable_generation != entry.generation &&
                       entry.rollout.empty() && !entry.removed;
  const bool was_rolling = before && !before->removed && before->stable_generation != 0 &&
                           before->stable_generation != before->generation && before->rollout.empty();
  std::string state;
  const bool same_version = before && !before->removed && before->generation == entry.generation;
  if (rolling && same_version && entry.promoted && !before->promoted) state = "promoted";
  else if (rolling && (!was_rolling || before->generation != entry.generation)) state = "started";
  else if (entry.rollout.starts_with("paused: ") && (!before || before->rollout != entry.rollout)) state = "paused";
  else if (entry.rollout.starts_with("reverted: ") && (!before || before->rollout != entry.rollout)) state = "reverted";
  else if (entry.rollout.starts_with("failed: ") && (!before || before->rollout != entry.rollout)) state = "failed";
  else if (was_rolling && entry.stable_generation == 0 && before->generation == entry.generation) state = "done";
  if (before && !before->removed)
    if (auto rebalance = rebalance_event(entry, *before, source)) events.push_back(std::move(*rebalance));
  if (state.empty()) return events;
  event.topic = "service.rollout";
  event.state = state;
  event.reason = state == "started"    ? "from version " + std::to_string(entry.stable_generation) +
                                          (entry.canaries == 0 ? "" : ", " + std::to_string(entry.canaries) +
                                                                          " canar" + (entry.canaries == 1 ? "y" : "ies") + " first")
                 : state == "done"     ? "every instance runs version " + std::to_string(entry.generation)
                 : state == "promoted" ? "the canaries were promoted; the other instances move"
                                       : entry.rollout.str();
  events.push_back(std::move(event));
  return events;
}

Event rollout_batch_event(const AssignmentEntry& entry, const std::string& progress, const EventSource& source) {
  auto event = event_for("service.rollout", entry.stamp.origin, entry.stamp.hlc, source);
  event.service = entry.service;
  event.instance = static_cast<std::int32_t>(entry.index);
  event.node = entry.node;
  event.state = "batch";
  event.generation = entry.generation;
  event.reason = progress;
  return event;
}

Event rebalance_batch_event(const AssignmentEntry& entry, const std::string& from_node, const std::string& spread,
                            const EventSource& source) {
  auto event = event_for("service.rebalance", entry.stamp.origin, entry.stamp.hlc, source);
  event.service = entry.service;
  event.instance = static_cast<std::int32_t>(entry.index);
  event.node = entry.node;
  event.from_node = from_node;
  event.state = "batch";
  event.reason = spread;
  return event;
}

std::vector<Event> change_events(const AssignmentEntry& entry, const std::optional<AssignmentEntry>& before,
                                 const EventSource& source) {
  if (entry.removed) return {};
  bool moved = before && !before->removed && before->node != entry.node;
  if (before && !before->removed && !moved) return {};
  auto event = event_for("instance.assigned", entry.stamp.origin, entry.stamp.hlc, source);
  event.service = entry.service;
  event.instance = static_cast<std::int32_t>(entry.index);
  event.node = entry.node;
  if (moved) event.from_node = before->node;
  std::vector<Event> events{event};
  if (moved) {
    event.topic = "instance.moved";
    events.push_back(std::move(event));
  }
  return events;
}

std::vector<Event> change_events(const InstanceEntry& entry, std::optional<InstanceBefore> before,
                                 const EventSource& source) {
  const auto& status = entry.status;
  if (entry.removed || status.state == InstanceState::pending) return {};
  std::vector<Event> events;
  auto event = event_for("instance." + std::string(to_string(status.state)), status.node, entry.stamp.hlc, source);
  event.service = status.service;
  event.instance = static_cast<std::int32_t>(status.index);
  event.node = status.node;
  event.state = std::string(to_string(status.state));
  event.exit_code = status.exit_code;
  event.signal = status.signal;
  event.generation = status.spec_version;
  event.reason = status.reason;
  event.pid = status.pid;
  event.host = status.host;
  event.ports = status.ports;
  if (!before || before->state != status.state || before->spec_version != status.spec_version)
    events.push_back(event);
  const Health health_before = before && before->state == InstanceState::running ? before->health : Health::none;
  bool decided = status.health == Health::healthy || status.health == Health::unhealthy;
  if (status.state != InstanceState::running || !decided || status.health == health_before) return events;
  // The check that decided it: the last to pass (healthy), the last that failed (unhealthy).
  const CheckResult* decider = nullptr;
  for (const auto& check : status.checks) {
    bool counts = status.health == Health::healthy || !check.passed;
    if (counts && (!decider || check.at_ms > decider->at_ms)) decider = &check;
  }
  event.topic = "instance." + std::string(to_string(status.health));
  if (decider) {
    event.check = decider->name;
    event.output = decider->output;
    if (status.health == Health::healthy) {
      event.reason = decider->name + ": " + (decider->output.empty() ? "passed" : decider->output);
    }
  }
  events.push_back(std::move(event));
  return events;
}

}  // namespace mob
