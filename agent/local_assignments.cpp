#include "agent/local_assignments.hpp"

#include <algorithm>

#include "agent/dependencies.hpp"
#include "agent/endpoints.hpp"
#include "agent/rollout_plan.hpp"
#include "agent/scheduling.hpp"

namespace mob {
namespace {

bool is_live(InstanceState state) { return state == InstanceState::running || state == InstanceState::starting; }

}  // namespace

bool LocalAssignments::Told::same_as(const ServiceAssignment& a) const {
  return a.version == version && a.instances == instances && a.enabled == enabled &&
         a.restart_generation == restart_generation && a.dependencies_ready == dependencies_ready &&
         a.spec_json == spec_json && a.waiting_reason == waiting_reason && a.stable_version == stable_version &&
         a.stable_spec_json == stable_spec_json && a.stable_instances == stable_instances &&
         a.dependency_env == dependency_env;
}

bool LocalAssignments::Told::runs(std::uint32_t index) const {
  return std::find(instances.begin(), instances.end(), index) != instances.end() ||
         std::find(stable_instances.begin(), stable_instances.end(), index) != stable_instances.end();
}

std::map<std::string, LocalAssignments::Told>::iterator LocalAssignments::forget_sent(
    std::map<std::string, Told, KeyOrder>::iterator sent) {
  local_instances_ -= sent->second.instances.size() + sent->second.stable_instances.size();
  return sent_.erase(sent);
}

LocalAssignments::Changes LocalAssignments::update(const ClusterState& state, const std::vector<std::string>& targets,
                                                   bool everything, const std::string& self, bool runs_nothing,
                                                   const SpecOf& spec_of, const SpecOf& stable_spec_of,
                                                   Clock::time_point now) {
  Changes changes;
  for (const auto& name : targets) {
    const ServiceEntry* service = state.service(name);
    auto sent = sent_.find(name);
    if (!service || service->removed) {
      if (sent != sent_.end()) {
        changes.to_supervisor.emplace_back(ServiceWithdrawn{name});
        forget_sent(sent);
      }
      continue;
    }
    if (sent == sent_.end() && (runs_nothing || !assigned_here(state, name, self)))
      continue;  // nothing of it here, nor told: its spec is not even parsed (most services, most agents)
    const ServiceSpec* spec = spec_of(*service);
    if (!spec) continue;
    std::vector<std::uint32_t> indices;
    std::vector<std::uint32_t> stable_indices;  // a rollout has not moved them yet
    // Past the wanted count (a scale down, or a reverted canary's slot before its owner
    // removes it): never started under the current spec, stopped if it runs.
    const std::uint32_t wanted = wanted_instances(*service, *spec);
    state.for_each_assignment(name, [&](const AssignmentEntry& assignment) {
      if (assignment.removed || assignment.index >= wanted) return;
      auto key = assignment_key(assignment.service, assignment.index);
      auto& runs = runs_stable(*service, assignment) ? stable_indices : indices;
      if (assignment.node == self) {
        runs.push_back(assignment.index);
        handovers_.erase(key);
        return;
      }
      // Moved away: keep running until the new copy runs (never lose the last copy). Only a
      // copy the supervisor was told to run and reports running: a handover never starts one
      // from a record of ours that is stale (an agent put right after its clock was off).
      if (sent == sent_.end() || !sent->second.runs(assignment.index)) return;
      const InstanceEntry* here = state.instance(name, assignment.index, self);
      if (!here || here->removed || here->status.state != InstanceState::running) return;
      const InstanceEntry* there = state.instance(name, assignment.index, assignment.node);
      // With checks, the new copy takes over once healthy: a move never makes it unready.
      bool taken_over = there && !there->removed && there->status.state == InstanceState::running &&
                        (spec->checks.empty() || there->status.health == Health::healthy);
      auto since = handovers_.try_emplace(key, now).first->second;
      if (!taken_over && now - since < kHandoverLimit) runs.push_back(assignment.index);
    });
    if (runs_nothing) {
      indices.clear();
      stable_indices.clear();
    }
    if (indices.empty() && stable_indices.empty() && sent == sent_.end()) continue;
    bool ready = dependencies_ready(state, *spec);
    // The stable version goes along even when nothing runs it here: instances launched from
    // it carry on, unrestarted, when a revert makes its spec current again.
    ServiceAssignment assignment{name, service->generation, service->spec_json.str(), indices,
                                 service->enabled, service->restart_generation, ready,
                                 ready ? "" : dependencies_problem(state, *spec, spec_of),
                                 service->stable_generation,
                                 stable_indices.empty() ? std::string() : service->stable_spec_json.str(),
                                 stable_indices, dependency_env(state, *spec)};
    if (sent != sent_.end() && sent->second.same_as(assignment)) continue;
    const ServiceSpec* stable = stable_indices.empty() ? nullptr : stable_spec_of(*service);
    if (!stable_indices.empty() && !stable) continue;  // its spec does not parse (logged)
    if (sent != sent_.end()) forget_sent(sent);
    local_instances_ += assignment.instances.size() + assignment.stable_instances.size();
    sent_.emplace(name, Told(assignment, *service));
    assignment.spec = *spec;
    if (stable) assignment.stable_spec = *stable;
    changes.to_supervisor.emplace_back(std::move(assignment));
  }
  if (everything) {
    // Services that vanished entirely (garbage-collected tombstones).
    for (auto it = sent_.begin(); it != sent_.end();) {
      if (state.service(it->first)) {
        ++it;
        continue;
      }
      changes.to_supervisor.emplace_back(ServiceWithdrawn{it->first});
      it = forget_sent(it);
    }
  }
  changes.stale = stale_instances(state, targets, self);
  return changes;
}

bool LocalAssignments::assigned_here(const ClusterState& state, const std::string& service, const std::string& self) {
  bool here = false;
  state.for_each_assignment(service, [&](const AssignmentEntry& assignment) {
    if (!assignment.removed && assignment.node == self) here = true;
  });
  return here;
}

// This agent's records of instances it neither runs nor is assigned.
std::vector<InstanceEntry> LocalAssignments::stale_instances(const ClusterState& state,
                                                             const std::vector<std::string>& targets,
                                                             const std::string& self) const {
  std::vector<InstanceEntry> stale;
  for (const auto& name : targets) {
    state.for_each_instance(name, [&](const InstanceEntry& instance) {
      const auto& status = instance.status;
      if (instance.removed || status.node != self) return;
      const ServiceEntry* service = state.service(status.service);
      const AssignmentEntry* assignment = state.assignment(status.service, status.index);
      bool mine = service && !service->removed && assignment && !assignment->removed && assignment->node == self;
      if (!mine && !is_live(status.state)) {
        stale.push_back(instance);
        stale.back().removed = true;
      }
    });
  }
  return stale;
}

}  // namespace mob
