#include "agent/rebalance.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "agent/placement.hpp"
#include "agent/rollout_plan.hpp"

namespace mob {
namespace {

using Load = std::map<std::string, std::uint32_t>;  // every service's assignments per node

Load load_of(const ClusterState& state) { return state.assignments_per_node(); }

// Why the instance of `assignment` does not count as running where it is assigned, running
// (and healthy when the service has checks); "" when it does.
std::string not_running(const ClusterState& state, const AssignmentEntry& assignment, const ServiceSpec& spec) {
  const InstanceEntry* instance = state.instance(assignment.service, assignment.index, assignment.node);
  const std::string who = assignment.service + "/" + std::to_string(assignment.index) + " on " + assignment.node;
  if (!instance || instance->removed) return who + " to start";
  if (instance->status.state != InstanceState::running)
    return who + " (" + std::string(to_string(instance->status.state)) + ")";
  if (!spec.checks.empty() && instance->status.health != Health::healthy)
    return who + " to be healthy (" + std::string(to_string(instance->status.health)) + ")";
  return "";
}

// The service's live assignments below `wanted`, by index: a walk of its own records, not
// a lookup per index (a service may want thousands of instances and have few placed).
std::vector<const AssignmentEntry*> placed_assignments(const ClusterState& state, const std::string& service,
                                                       std::uint32_t wanted) {
  std::vector<const AssignmentEntry*> placed;
  state.for_each_assignment(service, [&](const AssignmentEntry& assignment) {
    if (!assignment.removed && assignment.index < wanted) placed.push_back(&assignment);
  });
  std::sort(placed.begin(), placed.end(), [](const auto* a, const auto* b) { return a->index < b->index; });
  return placed;
}

// One service's rebalance as things stand.
struct ServicePlan {
  bool spread_over_two = false;  // at least two alive agents can run it: there is a spread to even
  std::vector<AssignmentEntry> moves;
  std::uint32_t left = 0;
  std::string waiting_for;  // the first instance the next batch waits for ("" when none)
  std::map<std::string, std::uint32_t> spread;  // after the moves
};

ServicePlan plan_service(const ClusterState& state, const ServiceEntry& service, const ServiceSpec& spec,
                         const std::vector<Member>& alive, Load& load) {
  ServicePlan plan;
  std::map<std::string, std::vector<const AssignmentEntry*>> by_node;
  for (const auto& member : alive)
    if (can_run(spec, member)) by_node[member.name];
  const std::uint32_t wanted = wanted_instances(service, spec);
  auto unplaced = [&](std::uint32_t index) {
    if (plan.waiting_for.empty()) plan.waiting_for = service.name + "/" + std::to_string(index) + " to be placed";
  };
  std::uint32_t next_index = 0;  // indexes below it are placed or already named
  for (const AssignmentEntry* assignment : placed_assignments(state, service.name, wanted)) {
    if (assignment->index != next_index) unplaced(next_index);  // the first index of a gap
    next_index = assignment->index + 1;
    auto node = by_node.find(assignment->node);
    if (node == by_node.end()) {  // placement moves it; the spread is known once it did
      if (plan.waiting_for.empty())
        plan.waiting_for = service.name + "/" + std::to_string(assignment->index) + " to leave " + assignment->node;
      continue;
    }
    node->second.push_back(assignment);
    if (plan.waiting_for.empty()) plan.waiting_for = not_running(state, *assignment, spec);
  }
  if (next_index < wanted) unplaced(next_index);
  plan.spread_over_two = by_node.size() >= 2;
  const bool settled = plan.waiting_for.empty();
  const std::uint32_t batch = spec.update ? spec.update->max_parallel : 1;
  // The nodes ranked by (this service's instances there, load, name), the idlest first; each
  // node's assignments stay sorted by index. A move costs O(log nodes + instances on the
  // receiving node): 10,000 instances over as many agents are planned in milliseconds
  // (a scan of every node and assignment per move took seconds, and the store fuzzer found
  // the store thread stalled on it).
  using Rank = std::tuple<std::size_t, std::uint32_t, std::string>;
  std::set<Rank> ranks;
  if (plan.spread_over_two)
    for (const auto& [node, assignments] : by_node) ranks.emplace(assignments.size(), load[node], node);
  const auto by_index = [](const AssignmentEntry* a, const AssignmentEntry* b) { return a->index < b->index; };
  while (plan.spread_over_two) {
    // The busiest: the most instances, then the most load, then the first by name.
    const auto& top = *ranks.rbegin();
    auto busiest_rank = ranks.lower_bound(Rank{std::get<0>(top), std::get<1>(top), std::string()});
    auto idlest_rank = ranks.begin();
    if (std::get<0>(*busiest_rank) <= std::get<0>(*idlest_rank) + 1) break;
    const std::string busiest = std::get<2>(*busiest_rank);
    const std::string idlest = std::get<2>(*idlest_rank);
    ranks.erase(busiest_rank);
    ranks.erase(idlest_rank);
    auto& from_node = by_node[busiest];
    auto& to_node = by_node[idlest];
    // The highest index moves: the lowest ones keep their places, as placement made them.
    const AssignmentEntry* from = from_node.back();
    from_node.pop_back();
    to_node.insert(std::upper_bound(to_node.begin(), to_node.end(), from, by_index), from);
    --load[busiest];
    ++load[idlest];
    ranks.emplace(from_node.size(), load[busiest], busiest);
    ranks.emplace(to_node.size(), load[idlest], idlest);
    if (settled && plan.moves.size() < batch) {
      AssignmentEntry move = *from;
      move.node = idlest;
      move.stamp = {};
      plan.moves.push_back(std::move(move));
    } else {
      ++plan.left;
    }
  }
  for (const auto& [node, assignments] : by_node) plan.spread[node] = static_cast<std::uint32_t>(assignments.size());
  return plan;
}

// "node-a 4, node-b 1", cut at about 1000 bytes (a record's text stays far below the door's
// 4096 however many agents there are).
std::string spread_text(const std::map<std::string, std::uint32_t>& spread) {
  constexpr std::size_t kMaxBytes = 1000;
  std::string text;
  for (const auto& [node, count] : spread) {
    std::string more = (text.empty() ? "" : ", ") + node + " " + std::to_string(count);
    if (text.size() + more.size() > kMaxBytes) return text + ", ...";
    text += more;
  }
  return text;
}

}  // namespace

RebalanceWrites plan_rebalance(const ClusterState& state, const std::vector<std::string>& services,
                               const std::vector<Member>& alive, const SpecOf& spec_of) {
  Load load = load_of(state);
  RebalanceWrites writes;
  for (const auto& name : services) {
    const ServiceEntry* service = state.service(name);
    const ServiceSpec* spec = service && !service->removed ? spec_of(*service) : nullptr;
    if (!spec) continue;
    auto plan = plan_service(state, *service, *spec, alive, load);
    writes.left += plan.left;
    std::move(plan.moves.begin(), plan.moves.end(), std::back_inserter(writes.moves));
  }
  return writes;
}

RebalanceWrites plan_owned_rebalances(const ClusterState& state, const std::vector<std::string>& targets,
                                      const std::vector<Member>& alive, const std::vector<Member>& live,
                                      const std::string& self, const SpecOf& spec_of) {
  std::vector<std::string> live_names;
  for (const auto& member : live) live_names.push_back(member.name);
  // Counted only when a target wants a rebalance: it walks every assignment, and this runs
  // on every change of every service this agent owns.
  std::optional<Load> load;
  RebalanceWrites writes;
  for (const auto& name : targets) {
    const ServiceEntry* service = state.service(name);
    if (!service || !rebalance_wanted(*service) || owner_of(name, live_names) != self) continue;
    const ServiceSpec* spec = spec_of(*service);
    if (!spec || rollout_active(*service)) continue;
    if (!load) load = load_of(state);
    auto plan = plan_service(state, *service, *spec, alive, *load);
    writes.left += plan.left;
    if (!plan.moves.empty()) {
      std::move(plan.moves.begin(), plan.moves.end(), std::back_inserter(writes.moves));
      continue;
    }
    if (plan.left > 0 || (plan.spread_over_two && !plan.waiting_for.empty())) continue;
    ServiceEntry done = *service;  // the same version, write id included (a retried deploy finds it)
    done.rebalance = std::string(kRebalanceDone) +
                     (plan.spread_over_two ? spread_text(plan.spread) : "nothing to move: fewer than two agents can run it");
    writes.services.push_back(std::move(done));
  }
  return writes;
}

std::string rebalance_spread(const ClusterState& state, const ServiceEntry& service, const std::vector<Member>& alive,
                             const SpecOf& spec_of) {
  const ServiceSpec* spec = service.removed ? nullptr : spec_of(service);
  if (!spec) return "";
  std::map<std::string, std::uint32_t> spread;
  for (const auto& member : alive)
    if (can_run(*spec, member)) spread[member.name];
  for (const AssignmentEntry* assignment : placed_assignments(state, service.name, wanted_instances(service, *spec)))
    ++spread[assignment->node];
  return spread_text(spread);
}

std::string rebalance_progress(const ClusterState& state, const ServiceEntry& service, const std::vector<Member>& alive,
                               const SpecOf& spec_of) {
  if (!rebalance_wanted(service)) return service.rebalance;
  const ServiceSpec* spec = spec_of(service);
  if (!spec) return "rebalancing: the spec cannot be read on this agent";
  Load load = load_of(state);
  auto plan = plan_service(state, service, *spec, alive, load);
  std::string text = "rebalancing: " + rebalance_spread(state, service, alive, spec_of) + "; ";
  if (rollout_active(service)) return text + "waiting for the rolling update to end";
  if (!plan.waiting_for.empty()) return text + "waiting for " + plan.waiting_for;
  return text + "the owner moves the next batch";
}

}  // namespace mob
