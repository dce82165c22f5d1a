#include "agent/scheduling.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "agent/placement.hpp"

namespace mob {
namespace {

bool gone(const MemberEntry* node) {
  return !node || node->member.state == MemberState::failed || node->member.state == MemberState::left;
}

// The fixed ports that the assignments on each node hold, but those of `service` at `moving`.
std::map<std::string, std::set<std::uint32_t>> fixed_ports_by_node(const ClusterState& state, const SpecOf& spec_of,
                                                                   const std::string& service,
                                                                   const std::vector<std::uint32_t>& moving) {
  std::map<std::string, std::set<std::uint32_t>> held;
  for (const auto& [key, assignment] : state.assignments()) {
    if (assignment.removed) continue;
    if (assignment.service == service &&
        std::find(moving.begin(), moving.end(), assignment.index) != moving.end())
      continue;
    const ServiceEntry* entry = state.service(assignment.service);
    const ServiceSpec* spec = entry && !entry->removed ? spec_of(*entry) : nullptr;
    if (!spec || assignment.index >= wanted_instances(*entry, *spec)) continue;
    auto fixed = fixed_ports(*spec);
    held[assignment.node].insert(fixed.begin(), fixed.end());
  }
  return held;
}

// The instance could not start on `node` because a fixed port of it was in use there.
bool port_was_busy(const ClusterState& state, const std::string& service, std::uint32_t index,
                   const std::string& node) {
  const InstanceEntry* record = state.instance(service, index, node);
  return record && !record->removed && record->status.state == InstanceState::failed &&
         record->status.busy_port != 0;
}

// Instances of `service` on their way to another agent: an old copy still runs on a live
// agent other than the one the instance is assigned to.
std::uint32_t moves_in_flight(const ClusterState& state, const std::string& service,
                              const std::map<std::string, const Member*>& live_by_name) {
  // A move is in flight until its old copy stopped, not only until the new copy runs: the
  // old one stops once the new one is healthy, so counting it until then keeps at most
  // max_parallel extra copies running at any moment (the next move starting before the old
  // agent heard and stopped its copy ran one more).
  std::set<std::uint32_t> moving;
  state.for_each_instance(service, [&](const InstanceEntry& record) {
    if (record.removed || record.status.state != InstanceState::running || !live_by_name.contains(record.status.node))
      return;
    const AssignmentEntry* assignment = state.assignment(service, record.status.index);
    if (assignment && !assignment->removed && assignment->node != record.status.node)
      moving.insert(record.status.index);
  });
  return static_cast<std::uint32_t>(moving.size());
}

}  // namespace

OwnerWrites plan_owned_services(const ClusterState& state, const std::vector<std::string>& targets,
                                const std::vector<Member>& alive, const std::vector<Member>& live,
                                const std::string& self, const SpecOf& spec_of) {
  std::vector<std::string> live_names;
  std::map<std::string, const Member*> live_by_name;
  for (const auto& member : live) {
    live_names.push_back(member.name);
    live_by_name[member.name] = &member;
  }
  // How many instances each node runs, copied only when some placement needs it (the
  // placements of this pass add to the copy).
  std::optional<std::map<std::string, std::uint32_t>> load_cache;
  auto load = [&]() -> std::map<std::string, std::uint32_t>& {
    if (!load_cache) load_cache.emplace(state.assignments_per_node());
    return *load_cache;
  };

  OwnerWrites writes;
  for (const auto& name : targets) {
    const ServiceEntry* service = state.service(name);
    if (!service || owner_of(service->name, live_names) != self) continue;
    const ServiceSpec* spec = service->removed ? nullptr : spec_of(*service);
    std::uint32_t wanted = spec ? wanted_instances(*service, *spec) : 0;
    std::map<std::uint32_t, std::string> placed;
    std::vector<std::uint32_t> unplaced;
    PortConstraints ports;
    const bool has_fixed_ports = spec && !fixed_ports(*spec).empty();
    // On an agent that is live but can no longer run them (drained, tags changed): with an
    // update block they move update.max_parallel at a time, counting the moves in flight.
    std::vector<std::uint32_t> leaving;
    for (std::uint32_t index = 0; index < wanted; ++index) {
      const AssignmentEntry* assignment = state.assignment(service->name, index);
      auto node = assignment && !assignment->removed ? live_by_name.find(assignment->node) : live_by_name.end();
      if (assignment && !assignment->removed) ports.avoid[index] = assignment->avoid;
      bool runnable = node != live_by_name.end() && can_run(*spec, *node->second);
      if (runnable && has_fixed_ports && port_was_busy(state, service->name, index, node->first)) {
        // A fixed port was in use there: move it, while some agent that can run it was not tried.
        auto& avoid = ports.avoid[index];
        if (std::find(avoid.begin(), avoid.end(), node->first) == avoid.end()) avoid.push_back(node->first);
        bool elsewhere = std::any_of(alive.begin(), alive.end(), [&](const Member& member) {
          return can_run(*spec, member) && std::find(avoid.begin(), avoid.end(), member.name) == avoid.end();
        });
        runnable = !elsewhere;
      }
      if (runnable) placed[index] = node->first;
      else if (spec->update && node != live_by_name.end() && !can_run(*spec, *node->second)) leaving.push_back(index);
      else unplaced.push_back(index);
    }
    if (!leaving.empty()) {
      const std::uint32_t in_flight = moves_in_flight(state, service->name, live_by_name);
      std::size_t budget = spec->update->max_parallel > in_flight ? spec->update->max_parallel - in_flight : 0;
      for (auto index : leaving) {
        if (budget > 0) {
          unplaced.push_back(index);
          --budget;
        } else {
          placed[index] = state.assignment(service->name, index)->node;  // its turn comes
        }
      }
    }
    if (spec && !unplaced.empty()) {
      if (has_fixed_ports) ports.fixed_by_node = fixed_ports_by_node(state, spec_of, service->name, unplaced);
      for (const auto& [index, node] : place_instances(*spec, unplaced, placed, alive, load(), ports)) {
        const AssignmentEntry* before = state.assignment(service->name, index);
        if (before && !before->removed) --load()[before->node];
        ++load()[node];
        // A moved instance keeps the version it runs (a rollout may be under way); a canary
        // runs the new version from the start.
        std::uint64_t generation = before && !before->removed ? before->generation
                                   : index >= spec->instances ? service->generation
                                                              : 0;
        writes.assignments.push_back(AssignmentEntry{service->name, index, node, false, {}, generation, ports.avoid[index]});
      }
    }
    state.for_each_assignment(service->name, [&](const AssignmentEntry& assignment) {
      if (!assignment.removed && assignment.index >= wanted)
        writes.assignments.push_back(AssignmentEntry{service->name, assignment.index, assignment.node, true, {}, 0, {}});
    });
    state.for_each_instance(service->name, [&](const InstanceEntry& instance) {
      if (instance.removed || !gone(state.member(instance.status.node))) return;
      InstanceEntry tombstone = instance;
      tombstone.removed = true;
      writes.instance_tombstones.push_back(std::move(tombstone));
    });
  }
  return writes;
}

}  // namespace mob
