#include "agent/scheduling.hpp"

#include <map>
#include <optional>

#include "agent/placement.hpp"

namespace mob {
namespace {

bool gone(const MemberEntry* node) {
  return !node || node->member.state == MemberState::failed || node->member.state == MemberState::left;
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
  // How many instances each node runs, counted only when some placement needs it.
  std::optional<std::map<std::string, std::uint32_t>> load_cache;
  auto load = [&]() -> std::map<std::string, std::uint32_t>& {
    if (!load_cache) {
      load_cache.emplace();
      for (const auto& [key, assignment] : state.assignments())
        if (!assignment.removed) ++(*load_cache)[assignment.node];
    }
    return *load_cache;
  };

  OwnerWrites writes;
  for (const auto& name : targets) {
    const ServiceEntry* service = state.service(name);
    if (!service || owner_of(service->name, live_names) != self) continue;
    const ServiceSpec* spec = service->removed ? nullptr : spec_of(*service);
    std::uint32_t wanted = spec ? spec->instances : 0;
    std::map<std::uint32_t, std::string> placed;
    std::vector<std::uint32_t> unplaced;
    for (std::uint32_t index = 0; index < wanted; ++index) {
      const AssignmentEntry* assignment = state.assignment(service->name, index);
      auto node = assignment && !assignment->removed ? live_by_name.find(assignment->node) : live_by_name.end();
      if (node != live_by_name.end() && can_run(*spec, *node->second)) placed[index] = node->first;
      else unplaced.push_back(index);
    }
    if (spec && !unplaced.empty()) {
      for (const auto& [index, node] : place_instances(*spec, unplaced, placed, alive, load())) {
        const AssignmentEntry* before = state.assignment(service->name, index);
        if (before && !before->removed) --load()[before->node];
        ++load()[node];
        // A moved instance keeps the version it runs (a rollout may be under way).
        std::uint64_t generation = before && !before->removed ? before->generation : 0;
        writes.assignments.push_back(AssignmentEntry{service->name, index, node, false, {}, generation});
      }
    }
    state.for_each_assignment(service->name, [&](const AssignmentEntry& assignment) {
      if (!assignment.removed && assignment.index >= wanted)
        writes.assignments.push_back(AssignmentEntry{service->name, assignment.index, assignment.node, true, {}, 0});
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
