#include "agent/client_commands.hpp"

#include <algorithm>

#include "agent/dependencies.hpp"
#include "agent/hlc.hpp"
#include "agent/placement.hpp"
#include "agent/rebalance.hpp"
#include "agent/rollout_plan.hpp"
#include "agent/version_history.hpp"

namespace mob {
namespace {

bool is_deployed(const ClusterState& state, const std::string& name) {
  const ServiceEntry* entry = state.service(name);
  return entry && !entry->removed;
}

Result<void> check_writable(const CommandView& view) {
  if (view.write_refusal.empty()) return {};
  return fail(Errc::unavailable, std::string(view.write_refusal));
}

// The record of `service` when its last write was `write_id`: the write went through
// another agent (or this one forgot it), and a retry gets the outcome that record shows.
const ServiceEntry* written_by(const ClusterState& state, const std::string& write_id,
                               const std::string& service) {
  const ServiceEntry* entry = state.service(service);
  return !write_id.empty() && entry && entry->write_id == write_id ? entry : nullptr;
}

// Failed instances, and instances that exited for good, wait for a new generation.
bool any_instance_given_up(const ClusterState& state, const std::string& name) {
  bool given_up = false;
  state.for_each_instance(name, [&](const InstanceEntry& instance) {
    auto s = instance.status.state;
    given_up = given_up || (!instance.removed && (s == InstanceState::failed || s == InstanceState::exited));
  });
  return given_up;
}

// The services whose specs depend on `name`, as "a, b"; "" when none does.
std::string dependents_of(const CommandView& view, const std::string& name) {
  std::string dependents;
  for (const auto& [key, other] : view.state.services()) {
    // A text that names no dependency is not parsed (after a quiet spell no spec is held).
    if (other.removed || other.name == name || !may_name_dependencies(other.spec_json.view())) continue;
    const ServiceSpec* spec = view.spec_of(other);
    if (spec && std::find(spec->depends_on.begin(), spec->depends_on.end(), name) != spec->depends_on.end())
      dependents += (dependents.empty() ? "" : ", ") + other.name;
  }
  return dependents;
}

ServiceStatus status_of(const CommandView& view, const ServiceEntry& entry,
                        const std::function<std::vector<Member>()>& fit_members) {
  const ServiceSpec* spec = view.spec_of(entry);
  ServiceStatus out{entry.name, spec ? spec->provider : "", entry.generation,
                    spec ? spec->instances : 0, entry.enabled, entry.spec_json.str(), {},
                    entry.stamp.origin, entry.stamp.hlc, "", entry.stable_generation, entry.rollout, ""};
  if (!spec) return out;
  out.problem = dependency_fault(view.state, *spec, view.spec_of);
  if (rollout_active(entry))
    out.rollout = "rolling out from version " + std::to_string(entry.stable_generation) + ": " +
                  to_string(rollout_progress(view.state, entry, *spec));
  out.rebalance = rebalance_wanted(entry) ? rebalance_progress(view.state, entry, fit_members(), view.spec_of)
                                          : entry.rebalance.str();
  std::optional<std::string> placement;  // why unplaced instances wait, asked once
  const std::uint32_t wanted = wanted_instances(entry, *spec);  // canaries included
  for (std::uint32_t index = 0; index < wanted; ++index) {
    const AssignmentEntry* assignment = view.state.assignment(entry.name, index);
    InstanceStatus status;
    status.service = entry.name;
    status.index = index;
    status.state = InstanceState::pending;
    status.spec_version = entry.generation;
    if (assignment && !assignment->removed) {
      status.node = assignment->node;
      const InstanceEntry* instance = view.state.instance(entry.name, index, assignment->node);
      const MemberEntry* node = view.state.member(assignment->node);
      if (instance && !instance->removed) {
        status = instance->status;
        if (node && !is_live_member(node->member.state)) {
          status.reason = "agent " + assignment->node + " is " + std::string(to_string(node->member.state)) +
                          "; moving it";
        } else if (node && !can_run(*spec, node->member)) {
          // Drained, or its tags changed: it runs on there until another agent can take it.
          auto fit = fit_members();
          std::erase_if(fit, [&](const Member& member) { return member.name == assignment->node; });
          auto problem = placement_problem(*spec, fit);
          status.reason = "agent " + assignment->node + " can no longer run it (" +
                          (node->member.eligible ? "its tags changed" : "ineligible") + "); " +
                          (problem.empty() ? "moving it" : "it stays until another can take it: " + problem);
        }
      } else {
        status.reason = "assigned to " + assignment->node + "; waiting for it to start";
      }
    } else {
      if (!placement) placement = placement_problem(*spec, fit_members());
      if (placement->empty() && !fixed_ports(*spec).empty()) {
        std::string listed;
        for (auto port : fixed_ports(*spec)) listed += (listed.empty() ? "" : ", ") + std::to_string(port);
        placement = "waiting for placement: every agent that can run it already runs an instance listening on port " +
                    listed + " (a fixed port: one instance per agent; add agents, or use \"port\": 0)";
      }
      status.reason = placement->empty() ? "waiting for placement" : *placement;
    }
    out.instance_list.push_back(std::move(status));
  }
  return out;
}

// A new version of a service with an `update` block that runs differently (not just another
// instance count): the instances move to it a batch at a time from the last version that ran
// healthy everywhere, kept in the record (docs/spec.md, "update"). Without one, or when the
// running version is not healthy, every instance takes the new version at once.
void keep_stable_version(const CommandView& view, const ServiceEntry* existing, const ServiceSpec& spec,
                         ServiceEntry& entry) {
  if (!spec.update || !existing || existing->removed) return;
  const ServiceSpec* before = view.spec_of(*existing);
  if (!before || run_spec_of(*before) == run_spec_of(spec)) return;
  const bool stable_kept = existing->stable_generation != 0 && existing->stable_generation != existing->generation &&
                           !existing->stable_spec_json.empty() &&
                           !existing->rollout.starts_with(kRolloutReverted);
  if (stable_kept) {  // a rollout under way (or stopped): the instances not moved run that one
    entry.stable_generation = existing->stable_generation;
    entry.stable_spec_json = existing->stable_spec_json;
  } else if (existing->enabled && runs_healthy(view.state, *existing, *before)) {
    entry.stable_generation = existing->generation;
    entry.stable_spec_json = existing->spec_json;
  }
  // Canaries start beside the stable instances; a deploy while they wait replaces them.
  if (entry.stable_generation != 0 && spec.update->canary > 0) entry.canaries = spec.update->canary;
}

// How the version `entry` replaces ended: healthy when it ran healthy everywhere.
std::string_view replaced_outcome(const CommandView& view, const ServiceEntry& existing) {
  if (existing.removed) return "removed";
  const ServiceSpec* spec = view.spec_of(existing);
  return spec && existing.enabled && runs_healthy(view.state, existing, *spec) ? kOutcomeHealthy : kOutcomeReplaced;
}

// Records `entry`'s new version in its history (taken over from `existing`).
void record_version(const CommandView& view, const ServiceEntry* existing, ServiceEntry& entry,
                    std::uint64_t rollback_of) {
  if (existing) entry.history = existing->history;
  add_version(entry.history,
              VersionRecord{entry.generation, static_cast<std::int64_t>(HybridClock::wall_ms_of(entry.stamp.hlc)),
                            std::string(view.self), entry.spec_json, "", rollback_of},
              existing ? replaced_outcome(view, *existing) : kOutcomeReplaced, view.history);
}

std::string not_deployed(const std::string& command, const std::string& service) {
  return command + ": service \"" + service + "\" is not deployed (mob-tool status lists the services)";
}

Result<ClientWrite<DeployReply>> deploy_version(const CommandView& view, const DeployRequest& request,
                                                const std::function<Stamp()>& stamp, std::uint64_t rollback_of);

}  // namespace

Result<ClientWrite<DeployReply>> decide_deploy(const CommandView& view, const DeployRequest& request,
                                               const std::function<Stamp()>& stamp) {
  return deploy_version(view, request, stamp, 0);
}

Result<ClientWrite<DeployReply>> decide_rollback(const CommandView& view, const RollbackRequest& request,
                                                 const std::function<Stamp()>& stamp) {
  const ServiceEntry* existing = view.state.service(request.service);
  const std::string command = "rollback " + request.service + (request.version ? " " + std::to_string(request.version) : "");
  if (!existing) return fail(Errc::not_found, not_deployed(command, request.service));
  if (const ServiceEntry* done = written_by(view.state, request.write_id, request.service))
    return ClientWrite<DeployReply>{std::nullopt,
                                    DeployReply{done->name, done->generation, false, spec_identity(done->spec_json),
                                                done->stamp.origin, done->stamp.hlc}};
  auto target = rollback_target(*existing, request.version);
  if (!target) return std::unexpected(target.error());
  // A kept spec runs this service again, never another (records from before the door checked it).
  auto parsed = parse_spec(target->spec_json, view.limits);
  if (!parsed) return std::unexpected(parsed.error().with_context(command + ": the spec kept for version " +
                                                                   std::to_string(target->version)));
  if (parsed->name != request.service)
    return fail(Errc::invalid_argument, command + ": the spec kept for version " + std::to_string(target->version) +
                                            " names the service \"" + parsed->name + "\", not \"" + request.service +
                                            "\"; deploy a spec file of " + request.service + " instead");
  auto write = deploy_version(view, DeployRequest{target->spec_json.str(), request.write_id}, stamp, target->version);
  if (!write) return std::unexpected(write.error().with_context(command));
  return write;
}

Result<ClientWrite<ControlReply>> decide_promote(const CommandView& view, const PromoteRequest& request,
                                                 const std::function<Stamp()>& stamp) {
  const std::string command = "promote " + request.service;
  if (const ServiceEntry* done = written_by(view.state, request.write_id, request.service))
    return ClientWrite<ControlReply>{std::nullopt, ControlReply{done->name, done->generation}};
  if (auto writable = check_writable(view); !writable) return std::unexpected(writable.error());
  const ServiceEntry* existing = view.state.service(request.service);
  if (!existing || existing->removed) return fail(Errc::not_found, not_deployed(command, request.service));
  if (existing->canaries == 0 || existing->promoted || existing->stable_generation == 0)
    return fail(Errc::conflict, command + ": no canary waiting");
  if (!existing->rollout.starts_with(kRolloutPaused))
    return fail(Errc::conflict, command + ": the canaries of version " + std::to_string(existing->generation) +
                                    " are not healthy yet; mob-tool status " + request.service + " shows them");
  ServiceEntry entry = *existing;
  entry.promoted = true;
  entry.rollout.clear();
  entry.stamp = stamp();
  entry.write_id = request.write_id;
  return ClientWrite<ControlReply>{std::move(entry), ControlReply{request.service, existing->generation}};
}

Result<RebalanceWrite> decide_rebalance(const CommandView& view, const RebalanceRequest& request,
                                        const std::vector<Member>& alive, const std::function<Stamp()>& stamp) {
  if (auto writable = check_writable(view); !writable) return std::unexpected(writable.error());
  std::vector<std::string> services;
  if (!request.service.empty()) {
    if (!is_deployed(view.state, request.service))
      return fail(Errc::not_found, not_deployed("rebalance " + request.service, request.service));
    services.push_back(request.service);
  } else {
    for (const auto& [key, entry] : view.state.services())
      if (!entry.removed) services.push_back(entry.name);
  }
  RebalanceWrite write;
  for (const auto& name : services) {
    auto wanted = plan_rebalance(view.state, {name}, alive, view.spec_of);
    const auto moves = static_cast<std::uint32_t>(wanted.moves.size()) + wanted.left;
    const ServiceEntry& existing = *view.state.service(name);
    if (moves == 0 && !rebalance_wanted(existing)) continue;  // even already
    write.reply.left += moves;
    write.reply.services.push_back(name);
    if (rebalance_wanted(existing)) continue;  // asked already: its owner is at it
    ServiceEntry entry = existing;
    entry.rebalance = std::string(kRebalanceWanted);
    entry.stamp = stamp();  // the version and its write id stay: a retried deploy still finds its record
    write.entries.push_back(std::move(entry));
  }
  return write;
}

Result<HistoryReply> service_history(const CommandView& view, const HistoryRequest& request) {
  const ServiceEntry* entry = view.state.service(request.service);
  if (!entry) return fail(Errc::not_found, not_deployed("history " + request.service, request.service));
  std::string current = "current";
  if (const ServiceSpec* spec = entry->removed ? nullptr : view.spec_of(*entry)) {
    if (!entry->enabled) current += ", stopped";
    else if (rollout_active(*entry)) current += ", rolling out: " + to_string(rollout_progress(view.state, *entry, *spec));
    else if (!entry->rollout.empty()) current += ", " + entry->rollout;
    else if (runs_healthy(view.state, *entry, *spec)) current += ", healthy";
  }
  return HistoryReply{entry->name, entry->removed, newest_first(entry->history, view.history, entry->generation, current)};
}

namespace {

Result<ClientWrite<DeployReply>> deploy_version(const CommandView& view, const DeployRequest& request,
                                                const std::function<Stamp()>& stamp, std::uint64_t rollback_of) {
  if (auto writable = check_writable(view); !writable) return std::unexpected(writable.error());
  auto parsed = parse_spec(request.spec_json, view.limits);
  if (!parsed) return std::unexpected(parsed.error());
  const ServiceSpec& spec = *parsed;
  if (const ServiceEntry* done = written_by(view.state, request.write_id, spec.name))
    return ClientWrite<DeployReply>{std::nullopt,
                                    DeployReply{done->name, done->generation, done->generation == 1,
                                                spec_identity(done->spec_json), done->stamp.origin, done->stamp.hlc}};
  for (const auto& dependency : spec.depends_on)
    if (!is_deployed(view.state, dependency))
      return fail(Errc::invalid_argument, "depends_on: service \"" + dependency +
                                              "\" is not deployed; deploy it first, or remove it from depends_on");
  if (auto cycle = find_dependency_cycle(view.state, spec, view.spec_of); !cycle.empty())
    return fail(Errc::invalid_argument, "depends_on: dependency cycle " + cycle);
  const ServiceEntry* existing = view.state.service(spec.name);
  bool created = !existing || existing->removed;
  if (created && deployed_count(view.state) >= view.max_services)
    return fail(Errc::too_large, "the network already holds " + std::to_string(deployed_count(view.state)) +
                                     " services, the limit (--max-services); remove some first");
  ServiceEntry entry;
  entry.name = spec.name;
  entry.spec_json = to_json(spec).dump();
  entry.generation = existing ? existing->generation + 1 : 1;
  entry.restart_generation = existing ? existing->restart_generation : 0;
  keep_stable_version(view, existing, spec, entry);
  if (existing && !existing->removed) entry.rebalance = existing->rebalance;  // a new version goes on with it
  entry.stamp = stamp();
  entry.write_id = request.write_id;
  record_version(view, existing, entry, rollback_of);
  DeployReply reply{entry.name, entry.generation, created, spec_identity(entry.spec_json),
                    std::string(view.self), entry.stamp.hlc};
  return ClientWrite<DeployReply>{std::move(entry), std::move(reply), std::move(*parsed)};
}

}  // namespace

Result<ClientWrite<ControlReply>> decide_control(const CommandView& view, const ControlRequest& request,
                                                 const std::function<Stamp()>& stamp) {
  if (const ServiceEntry* done = written_by(view.state, request.write_id, request.service))
    return ClientWrite<ControlReply>{std::nullopt, ControlReply{done->name, done->generation}};
  if (auto writable = check_writable(view); !writable) return std::unexpected(writable.error());
  const ServiceEntry* existing = view.state.service(request.service);
  if (!existing || existing->removed)
    return fail(Errc::not_found,
                "service \"" + request.service + "\" is not deployed (mob-tool status lists the services)");
  ServiceEntry entry = *existing;
  std::optional<ServiceSpec> new_spec;  // scale's
  switch (request.action) {
    case ControlAction::stop: entry.enabled = false; break;
    case ControlAction::start:
      entry.enabled = true;
      if (any_instance_given_up(view.state, entry.name)) ++entry.restart_generation;
      break;
    case ControlAction::restart:
      entry.enabled = true;
      ++entry.restart_generation;
      break;
    case ControlAction::remove:
    case ControlAction::force_remove: {
      std::string dependents = dependents_of(view, entry.name);
      if (!dependents.empty() && request.action == ControlAction::remove) {
        const ServiceSpec* own = view.spec_of(entry);
        if (auto cycle = own ? find_dependency_cycle(view.state, *own, view.spec_of) : ""; !cycle.empty())
          return fail(Errc::conflict, "cannot remove \"" + entry.name + "\": it is in the dependency cycle " +
                                          cycle + " (deploys through different agents at the same time can "
                                          "make one); break it with: mob-tool remove --force " + entry.name);
        return fail(Errc::conflict, "cannot remove \"" + entry.name + "\": " + dependents +
                                        " depend on it; remove those first, or remove it anyway with: "
                                        "mob-tool remove --force " + entry.name +
                                        " (they then wait until it is deployed again)");
      }
      entry.removed = true;
      close_version(entry.history, entry.generation, "removed");
      break;
    }
    case ControlAction::scale: {
      const ServiceSpec* own = view.spec_of(entry);
      if (!own)
        return fail(Errc::malformed, "the spec of \"" + entry.name +
                                         "\" cannot be read on this agent; deploy it again with mob-tool deploy");
      if (request.instances > view.limits.max_instances)
        return fail(Errc::invalid_argument, "instances: expected an integer from 0 to " +
                                                std::to_string(view.limits.max_instances) + ", got " +
                                                std::to_string(request.instances) +
                                                " (the agent's limit, --max-instances)");
      if (request.instances == own->instances)  // nothing to change: no new version
        return ClientWrite<ControlReply>{std::nullopt, ControlReply{entry.name, entry.generation}};
      // Canaries are the indices from `instances` up: another count would make a canary's
      // slot an ordinary instance (and an ordinary one a canary's).
      if (entry.canaries > 0 && !entry.promoted)
        return fail(Errc::conflict,
                    entry.name + " version " + std::to_string(entry.generation) + " runs " +
                        (entry.canaries == 1 ? "a canary" : std::to_string(entry.canaries) + " canaries") +
                        " beside version " + std::to_string(entry.stable_generation) +
                        " until it is promoted: a scale now would turn a canary's slot into an ordinary "
                        "instance; promote first (mob-tool promote " + entry.name +
                        "), or drop the canaries (mob-tool rollback " + entry.name + "), then scale");
      if (entry.canaries > 0)
        return fail(Errc::conflict, entry.name + " version " + std::to_string(entry.generation) +
                                        " is rolling out after its canaries were promoted; scale once it is done "
                                        "(mob-tool status " + entry.name + " shows it)");
      ServiceSpec scaled = *own;
      scaled.instances = request.instances;
      entry.spec_json = to_json(scaled).dump();
      new_spec = std::move(scaled);
      ++entry.generation;
      break;
    }
    case ControlAction::count_: break;
  }
  entry.stamp = stamp();
  entry.write_id = request.write_id;
  if (entry.generation != existing->generation) record_version(view, existing, entry, 0);
  ControlReply reply{request.service, entry.generation};
  return ClientWrite<ControlReply>{std::move(entry), std::move(reply), std::move(new_spec)};
}

Result<StatusReply> service_statuses(const CommandView& view, const StatusRequest& request,
                                     const std::function<std::vector<Member>()>& fit_members) {
  StatusReply reply;
  for (const auto& [key, entry] : view.state.services()) {
    if (entry.removed || (!request.service.empty() && entry.name != request.service)) continue;
    reply.services.push_back(status_of(view, entry, fit_members));
  }
  if (!request.service.empty() && reply.services.empty())
    return fail(Errc::not_found,
                "service \"" + request.service + "\" is not deployed (mob-tool status lists the services)");
  return reply;
}

MembersReply member_list(const ClusterState& state) {
  MembersReply reply;
  for (const auto& [key, entry] : state.members()) reply.members.push_back(entry.member);
  return reply;
}

std::size_t deployed_count(const ClusterState& state) { return state.deployed_services(); }

void RecentWrites::forget_expired(Clock::time_point now) {
  while (!order_.empty() && (order_.size() > capacity_ || now - order_.front().first > life_)) {
    answers_.erase(order_.front().second);
    order_.pop_front();
  }
}

std::optional<Body> RecentWrites::answer_to(const std::string& write_id, Clock::time_point now) {
  if (write_id.empty()) return std::nullopt;
  forget_expired(now);
  auto found = answers_.find(write_id);
  if (found == answers_.end()) return std::nullopt;
  return std::visit([](const auto& reply) { return Body{reply}; }, found->second);
}

}  // namespace mob
