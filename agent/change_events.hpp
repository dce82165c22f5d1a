// What a merged change to the replicated state means to a user: the events (docs/events.md)
// that one entry makes, given what this agent held before it. Pure functions; the store
// publishes what they return, once per change it merges.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bus/messages.hpp"

namespace mob {

// Who publishes (this agent) and when (its wall clock, ms), for every event made.
struct EventSource {
  std::string publisher;
  std::uint64_t wall_ms = 0;
};

// member.joined / suspect / failed / left; nothing for a heartbeat or a refutation.
std::vector<Event> change_events(const MemberEntry& entry, std::optional<MemberState> before,
                                 const EventSource& source);
// service.deployed / updated (with why) / removed, service.rollout when a rolling update
// started, was done, failed or was reverted, and service.rebalance when a rebalance was asked
// for (started) or its owner found nothing left to move (done). A change of the rebalance
// alone is no service.updated.
std::vector<Event> change_events(const ServiceEntry& entry, const std::optional<ServiceEntry>& before,
                                 const EventSource& source);
// service.rollout (state batch) when the owner moved an instance to the new version of a
// rolling update; `progress` is rollout_progress after it ("4 of 10 updated, 10 healthy").
Event rollout_batch_event(const AssignmentEntry& entry, const std::string& progress, const EventSource& source);
// service.rebalance (state batch) when the owner moved an instance from `from_node` for a
// rebalance; `spread` is rebalance_spread after it ("node-a 4, node-b 1, node-c 1").
Event rebalance_batch_event(const AssignmentEntry& entry, const std::string& from_node, const std::string& spread,
                            const EventSource& source);
// instance.assigned, and instance.moved when it moved from another node.
std::vector<Event> change_events(const AssignmentEntry& entry, const std::optional<AssignmentEntry>& before,
                                 const EventSource& source);
// What this agent held of an instance before a change.
struct InstanceBefore {
  InstanceState state = InstanceState::pending;
  Health health = Health::none;
  std::uint64_t spec_version = 0;
};
// instance.<state> when the state changed, or the version it runs did (an instance carried
// over to a version that changed only `instances`: mob-tool scale) (never for pending or a
// removal); then
// instance.healthy / instance.unhealthy when a running instance's health became that.
std::vector<Event> change_events(const InstanceEntry& entry, std::optional<InstanceBefore> before,
                                 const EventSource& source);

}  // namespace mob
