#include "agent/rebalance.hpp"

#include <algorithm>
#include <map>
#include <tuple>

#include "agent/placement.hpp"

namespace mob {
namespace {

// Running where it is assigned, and healthy when the service has checks.
bool runs_where_assigned(const ClusterState& state, const AssignmentEntry& assignment, const ServiceSpec& spec) {
  const InstanceEntry* instance = state.instance(assignment.service, assignment.index, assignment.node);
  return instance && !instance->removed && instance->status.state == InstanceState::running &&
         (spec.checks.empty() || instance->status.health == Health::healthy);
}

}  // namespace

RebalanceWrites plan_rebalance(const ClusterState& state, const std::vector<std::string>& services,
                               const std::vector<Member>& alive, const SpecOf& spec_of) {
  std::map<std::string, std::uint32_t> load;  // every service's assignments per node
  for (const auto& [key, assignment] : state.assignments())
    if (!assignment.removed) ++load[assignment.node];
  RebalanceWrites writes;
  for (const auto& name : services) {
    const ServiceEntry* service = state.service(name);
    const ServiceSpec* spec = service && !service->removed ? spec_of(*service) : nullptr;
    if (!spec) continue;
    std::map<std::string, std::vector<const AssignmentEntry*>> by_node;
    for (const auto& member : alive)
      if (can_run(*spec, member)) by_node[member.name];
    if (by_node.size() < 2) continue;
    bool settled = true;
    const std::uint32_t wanted = wanted_instances(*service, *spec);
    for (std::uint32_t index = 0; index < wanted; ++index) {
      const AssignmentEntry* assignment = state.assignment(name, index);
      if (!assignment || assignment->removed) continue;
      auto node = by_node.find(assignment->node);
      if (node == by_node.end()) continue;  // placement moves it; not a matter of balance
      node->second.push_back(assignment);
      settled = settled && runs_where_assigned(state, *assignment, *spec);
    }
    const std::uint32_t batch = spec->update ? spec->update->max_parallel : 1;
    std::uint32_t moved = 0;
    while (true) {
      auto busiest = std::max_element(by_node.begin(), by_node.end(), [&](const auto& a, const auto& b) {
        return std::make_tuple(a.second.size(), load[a.first], b.first) <
               std::make_tuple(b.second.size(), load[b.first], a.first);
      });
      auto idlest = std::min_element(by_node.begin(), by_node.end(), [&](const auto& a, const auto& b) {
        return std::make_tuple(a.second.size(), load[a.first], a.first) <
               std::make_tuple(b.second.size(), load[b.first], b.first);
      });
      if (busiest->second.size() <= idlest->second.size() + 1) break;
      // The highest index moves: the lowest ones keep their places, as placement made them.
      auto highest = std::max_element(busiest->second.begin(), busiest->second.end(),
                                      [](const auto* a, const auto* b) { return a->index < b->index; });
      const AssignmentEntry* from = *highest;
      busiest->second.erase(highest);
      idlest->second.push_back(from);
      --load[busiest->first];
      ++load[idlest->first];
      if (settled && moved < batch) {
        AssignmentEntry move = *from;
        move.node = idlest->first;
        move.stamp = {};
        writes.moves.push_back(std::move(move));
        ++moved;
      } else {
        ++writes.left;
      }
    }
  }
  return writes;
}

}  // namespace mob
