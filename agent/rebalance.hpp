// Rebalance as a pure step (docs/spec.md, "Rebalance"): which instances to move so that each
// service is spread evenly over the alive agents that can run it, a batch at a time. A moved
// instance runs on where it was until its new copy runs (agent/local_assignments.hpp), so
// moving never takes a copy away; a batch is at most the service's update.max_parallel (1
// without an update block), and the next one waits until the last one runs. The wish to
// rebalance is part of the service's record (ServiceEntry.rebalance), so the network owns it
// like a rollout: the service's owner plans from replicated state, and a new owner continues
// where the last one was. The store stamps what these return.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/cluster_state.hpp"
#include "agent/scheduling.hpp"
#include "bus/messages.hpp"

namespace mob {

// ServiceEntry.rebalance while the owner moves the service's instances.
inline constexpr std::string_view kRebalanceWanted = "wanted";
// ServiceEntry.rebalance once nothing was left to move, followed by the spread it left.
inline constexpr std::string_view kRebalanceDone = "done: ";

inline bool rebalance_wanted(const ServiceEntry& service) {
  return !service.removed && service.rebalance == kRebalanceWanted;
}

struct RebalanceWrites {
  std::vector<AssignmentEntry> moves;  // assignments with their new node, unstamped
  std::uint32_t left = 0;              // moves still wanted once these (and those in flight) settle
  // Records whose rebalance is done (rebalance = "done: <spread>"), unstamped: the owner's.
  std::vector<ServiceEntry> services;
};

// For each service in `services` (deployed, not removed): moves from the agent with the most
// of its instances to the `alive` one that can run it with the fewest (then the least loaded
// overall), while the two differ by more than one. A service with an instance that is not
// running (healthy, with checks) yet where it is assigned, or assigned to an agent that
// cannot run it (placement moves that one), waits (its moves count in `left`).
RebalanceWrites plan_rebalance(const ClusterState& state, const std::vector<std::string>& services,
                               const std::vector<Member>& alive, const SpecOf& spec_of);

// The owner's step, for each service in `targets` whose rebalance is wanted and whose owner
// (among `live`) is `self`: the next batch (plan_rebalance) once the last one runs, or, when
// nothing is left to move and every instance runs where it is, the record marked done. A
// service in a rollout (agent/rollout_plan.hpp) waits for its end: both move assignments.
RebalanceWrites plan_owned_rebalances(const ClusterState& state, const std::vector<std::string>& targets,
                                      const std::vector<Member>& alive, const std::vector<Member>& live,
                                      const std::string& self, const SpecOf& spec_of);

// How `service` is spread over the `alive` agents that can run it, by assignment:
// "node-a 4, node-b 1, node-c 1" (agents in name order).
std::string rebalance_spread(const ClusterState& state, const ServiceEntry& service, const std::vector<Member>& alive,
                             const SpecOf& spec_of);

// What status says of a service's rebalance: "" when none was asked, the record's "done:
// ..." once done, else "rebalancing: <spread>; " and what the next batch waits for (or
// "the owner moves the next batch").
std::string rebalance_progress(const ClusterState& state, const ServiceEntry& service, const std::vector<Member>& alive,
                               const SpecOf& spec_of);

}  // namespace mob
