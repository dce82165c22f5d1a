#include "agent/rollout_plan.hpp"

#include <algorithm>

#include "agent/hlc.hpp"
#include "agent/placement.hpp"
#include "agent/version_history.hpp"

namespace mob {
namespace {

const InstanceStatus* status_of(const ClusterState& state, const AssignmentEntry& assignment) {
  const InstanceEntry* instance = state.instance(assignment.service, assignment.index, assignment.node);
  return instance && !instance->removed ? &instance->status : nullptr;
}

bool is_healthy(const InstanceStatus& status, const ServiceSpec& spec) {
  return status.state == InstanceState::running && (spec.checks.empty() || status.health == Health::healthy);
}

// Why the new instance of `assignment` is not (yet) running healthy, in words.
std::string why_not_healthy(const InstanceStatus* status, const AssignmentEntry& assignment, const ServiceSpec& spec,
                            std::uint64_t generation) {
  std::string who = assignment.service + "/" + std::to_string(assignment.index);
  if (!status || status->spec_version != generation) return who + " did not start on " + assignment.node;
  if (status->state != InstanceState::running)
    return who + " " + std::string(to_string(status->state)) + (status->reason.empty() ? "" : ": " + status->reason);
  if (!spec.checks.empty() && status->health != Health::healthy) {
    std::string said;
    for (const auto& check : status->checks)
      if (!check.passed) said = check.name + (check.output.empty() ? " failed" : ": " + check.output);
    return who + " unhealthy" + (said.empty() ? "" : ": " + said);
  }
  return who + " did not stay running";
}

}  // namespace

bool rollout_active(const ServiceEntry& service) {
  return !service.removed && service.stable_generation != 0 && service.stable_generation != service.generation &&
         !service.stable_spec_json.empty() && service.rollout.empty();
}

bool runs_stable(const ServiceEntry& service, const AssignmentEntry& assignment) {
  return service.stable_generation != 0 && service.stable_generation != service.generation &&
         !service.stable_spec_json.empty() && !service.rollout.starts_with(kRolloutReverted) &&
         assignment.generation != service.generation;
}

bool runs_healthy(const ClusterState& state, const ServiceEntry& service, const ServiceSpec& spec) {
  for (std::uint32_t index = 0; index < spec.instances; ++index) {
    const AssignmentEntry* assignment = state.assignment(service.name, index);
    if (!assignment || assignment->removed || runs_stable(service, *assignment)) return false;
    const InstanceStatus* status = status_of(state, *assignment);
    if (!status || status->spec_version != service.generation || !is_healthy(*status, spec)) return false;
  }
  return true;
}

RolloutProgress rollout_progress(const ClusterState& state, const ServiceEntry& service, const ServiceSpec& spec) {
  RolloutProgress progress;
  progress.wanted = spec.instances;
  for (std::uint32_t index = 0; index < spec.instances; ++index) {
    const AssignmentEntry* assignment = state.assignment(service.name, index);
    if (!assignment || assignment->removed) continue;
    if (!runs_stable(service, *assignment)) ++progress.updated;
    const InstanceStatus* status = status_of(state, *assignment);
    if (status && is_healthy(*status, spec)) ++progress.healthy;
  }
  return progress;
}

std::string to_string(const RolloutProgress& progress) {
  return std::to_string(progress.updated) + " of " + std::to_string(progress.wanted) + " updated, " +
         std::to_string(progress.healthy) + " healthy";
}

RolloutWrites plan_rollouts(const ClusterState& state, const std::vector<std::string>& targets,
                            const std::vector<Member>& live, const std::string& self, const SpecOf& spec_of,
                            std::uint64_t now_ms, std::uint32_t history) {
  std::vector<std::string> live_names;
  for (const auto& member : live) live_names.push_back(member.name);
  RolloutWrites writes;
  auto recheck_at = [&](std::uint64_t at_ms) {
    writes.recheck_at_ms = std::min(writes.recheck_at_ms.value_or(at_ms), at_ms);
  };
  for (const auto& name : targets) {
    const ServiceEntry* service = state.service(name);
    if (!service || !rollout_active(*service) || owner_of(name, live_names) != self) continue;
    const ServiceSpec* spec = spec_of(*service);
    if (!spec) continue;
    const UpdateSpec update = spec->update.value_or(UpdateSpec{});
    const bool canary_phase = service->canaries > 0 && !service->promoted;
    std::vector<const AssignmentEntry*> unmoved;
    std::vector<const AssignmentEntry*> stale_canaries;  // of an earlier new version
    bool all_placed = true;
    bool batch_settled = true;
    std::string failure;
    // An instance that runs the new version counts once it ran it (healthy) for min_healthy_s.
    auto judge = [&](const AssignmentEntry& assignment) {
      const InstanceStatus* status = status_of(state, assignment);
      const bool healthy = status && status->spec_version == service->generation && is_healthy(*status, *spec);
      const std::uint64_t since = healthy ? static_cast<std::uint64_t>(std::max<std::int64_t>(status->since_ms, 0)) : 0;
      if (healthy && now_ms >= since + update.min_healthy_ms) return;
      batch_settled = false;
      const std::uint64_t deadline = HybridClock::wall_ms_of(assignment.stamp.hlc) + update.healthy_deadline_ms;
      // Failed, or exited and not to be restarted: it will not run unless someone acts.
      const bool gave_up = status && status->spec_version == service->generation &&
                           (status->state == InstanceState::failed || status->state == InstanceState::exited);
      if (gave_up || now_ms >= deadline) {
        failure = why_not_healthy(status, assignment, *spec, service->generation);
        return;
      }
      recheck_at(healthy ? std::min(deadline, since + update.min_healthy_ms) : deadline);
    };
    const std::uint32_t wanted = wanted_instances(*service, *spec);
    for (std::uint32_t index = 0; index < wanted && failure.empty(); ++index) {
      const AssignmentEntry* assignment = state.assignment(name, index);
      if (!assignment || assignment->removed) {
        all_placed = false;
        continue;
      }
      if (index >= spec->instances) {  // a canary: the new version beside the stable ones
        if (assignment->generation != service->generation) stale_canaries.push_back(assignment);
        else if (canary_phase) judge(*assignment);
        continue;
      }
      if (runs_stable(*service, *assignment)) {
        unmoved.push_back(assignment);
        continue;
      }
      judge(*assignment);
    }
    if (!failure.empty()) {
      ServiceEntry ended = *service;
      ended.write_id.clear();  // the owner's write, no client's
      ended.canaries = 0;
      ended.promoted = false;
      if (update.auto_revert) {
        ended.rollout = std::string(kRolloutReverted) + failure;
        close_version(ended.history, service->generation, ended.rollout);
        ended.generation = service->generation + 1;
        ended.spec_json = service->stable_spec_json;
        add_version(ended.history,
                    VersionRecord{ended.generation, static_cast<std::int64_t>(now_ms), self, ended.spec_json, "",
                                  service->stable_generation},
                    kOutcomeReplaced, history);
      } else {
        ended.rollout = std::string(kRolloutFailed) + failure;
        close_version(ended.history, service->generation, ended.rollout);
      }
      writes.services.push_back(std::move(ended));
      continue;
    }
    for (const auto* canary : stale_canaries) {  // a deploy replaced the version they ran
      AssignmentEntry moved = *canary;
      moved.generation = service->generation;
      moved.stamp = {};
      writes.moves.push_back(std::move(moved));
    }
    if (!stale_canaries.empty() || !batch_settled || !all_placed) continue;
    if (canary_phase) {  // the canaries run healthy: wait for promote
      ServiceEntry paused = *service;
      paused.write_id.clear();
      const std::uint32_t canaries = service->canaries;
      paused.rollout = std::string(kRolloutPaused) + std::to_string(canaries) + (canaries == 1 ? " canary" : " canaries") +
                       " of version " + std::to_string(service->generation) + " healthy beside " +
                       std::to_string(spec->instances) + " of version " + std::to_string(service->stable_generation) +
                       "; continue with: mob-tool promote " + name;
      writes.services.push_back(std::move(paused));
      continue;
    }
    if (unmoved.empty()) {  // every instance runs the new version: it is the stable one now
      ServiceEntry done = *service;
      done.write_id.clear();
      done.stable_generation = 0;
      done.stable_spec_json.clear();
      done.canaries = 0;
      done.promoted = false;
      close_version(done.history, service->generation, kOutcomeHealthy);
      writes.services.push_back(std::move(done));
      continue;
    }
    const std::size_t batch = std::min<std::size_t>(update.max_parallel, unmoved.size());
    for (std::size_t i = 0; i < batch; ++i) {
      AssignmentEntry moved = *unmoved[i];
      moved.generation = service->generation;
      moved.stamp = {};
      writes.moves.push_back(std::move(moved));
    }
  }
  return writes;
}

}  // namespace mob
