// Rolling updates as a pure step (docs/spec.md, "update"; docs/architecture.md, "Rolling
// updates"): which version each assignment runs, and what the owner of a service writes to
// move its instances from the stable version to the new one `max_parallel` at a time, to
// finish the rollout or to stop (and revert) it. Every input is replicated state, so a new
// owner continues the rollout where the last one was. The store stamps what it returns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/cluster_state.hpp"
#include "agent/scheduling.hpp"
#include "agent/spec.hpp"
#include "bus/messages.hpp"

namespace mob {

// ServiceEntry.rollout of a rollout that stopped: the new version stays where it runs.
inline constexpr std::string_view kRolloutFailed = "failed: ";
// ServiceEntry.rollout of a version that brought the stable one back after a failed rollout.
inline constexpr std::string_view kRolloutReverted = "reverted: ";
// ServiceEntry.rollout while the canaries run healthy and the rollout waits for promote.
inline constexpr std::string_view kRolloutPaused = "paused: ";

// A rollout is under way: some instances may still run the stable version and the owner
// moves them on.
bool rollout_active(const ServiceEntry& service);
// The instance of `assignment` runs the service's stable version, not its current one.
bool runs_stable(const ServiceEntry& service, const AssignmentEntry& assignment);
// Every wanted instance of `service` runs its current version (and passes its checks).
bool runs_healthy(const ClusterState& state, const ServiceEntry& service, const ServiceSpec& spec);

// How far a rollout is, for status and events: "4 of 10 updated, 10 healthy".
struct RolloutProgress {
  std::uint32_t updated = 0;  // assigned to the new version
  std::uint32_t healthy = 0;  // running, passing their checks, whatever their version
  std::uint32_t wanted = 0;
};
RolloutProgress rollout_progress(const ClusterState& state, const ServiceEntry& service, const ServiceSpec& spec);
std::string to_string(const RolloutProgress& progress);

struct RolloutWrites {
  std::vector<AssignmentEntry> moves;   // assignments moved to the new version, unstamped
  std::vector<ServiceEntry> services;   // records rewritten: done, failed or reverted, unstamped
  // The earliest wall-clock ms at which time alone (min_healthy_s, healthy_deadline_s)
  // changes what an owner would write: plan again then.
  std::optional<std::uint64_t> recheck_at_ms;
};

// For each service in `targets` that `self` owns (among `live`) with a rollout under way.
// A rollout with canaries first moves (or places) only them and, once they settled, writes
// the record paused (kRolloutPaused); after promote it moves the others. Every end records
// how the version ended in the history, keeping `history` versions.
RolloutWrites plan_rollouts(const ClusterState& state, const std::vector<std::string>& targets,
                            const std::vector<Member>& live, const std::string& self, const SpecOf& spec_of,
                            std::uint64_t now_ms, std::uint32_t history);

}  // namespace mob
