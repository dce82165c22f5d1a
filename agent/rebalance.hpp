// Rebalance as a pure step (docs/spec.md, "Rebalance"): which instances to move so that each
// service is spread evenly over the alive agents that can run it, a batch at a time. A moved
// instance runs on where it was until its new copy runs (agent/local_assignments.hpp), so
// moving never takes a copy away; a batch is at most the service's update.max_parallel (1
// without an update block), and the next one waits until the last one runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/cluster_state.hpp"
#include "agent/scheduling.hpp"
#include "bus/messages.hpp"

namespace mob {

struct RebalanceWrites {
  std::vector<AssignmentEntry> moves;  // assignments with their new node, unstamped
  std::uint32_t left = 0;              // moves still wanted once these (and those in flight) settle
};

// For each service in `services` (deployed, not removed): moves from the agent with the most
// of its instances to the `alive` one that can run it with the fewest (then the least loaded
// overall), while the two differ by more than one. A service with an instance that is not
// running (healthy, with checks) yet where it is assigned waits (its moves count in `left`).
RebalanceWrites plan_rebalance(const ClusterState& state, const std::vector<std::string>& services,
                               const std::vector<Member>& alive, const SpecOf& spec_of);

}  // namespace mob
