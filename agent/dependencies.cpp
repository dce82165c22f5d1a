#include "agent/dependencies.hpp"

#include <set>
#include <vector>

namespace mob {
namespace {

bool is_deployed(const ClusterState& state, const std::string& name) {
  const ServiceEntry* entry = state.service(name);
  return entry && !entry->removed;
}

// Running, and healthy when its service has checks (a record without checks says none).
bool is_ready(const InstanceStatus& status) {
  return status.state == InstanceState::running &&
         (status.health == Health::none || status.health == Health::healthy);
}

bool runs_somewhere_live(const ClusterState& state, const std::string& service) {
  bool running = false;
  state.for_each_instance(service, [&](const InstanceEntry& instance) {
    if (instance.removed || !is_ready(instance.status)) return;
    const MemberEntry* node = state.member(instance.status.node);
    running = running || (node && (node->member.state == MemberState::alive ||
                                   node->member.state == MemberState::suspect));
  });
  return running;
}

// Whether a dependency of `spec` reports health checks on one of its instances.
bool any_checked(const ClusterState& state, const ServiceSpec& spec) {
  bool checked = false;
  for (const auto& dependency : spec.depends_on)
    state.for_each_instance(dependency, [&](const InstanceEntry& instance) {
      checked = checked || (!instance.removed && instance.status.health != Health::none);
    });
  return checked;
}

}  // namespace

bool dependencies_ready(const ClusterState& state, const ServiceSpec& spec) {
  for (const auto& dependency : spec.depends_on) {
    const ServiceEntry* service = state.service(dependency);
    if (!service || service->removed || !service->enabled) return false;
    if (!runs_somewhere_live(state, dependency)) return false;
  }
  return true;
}

std::string find_dependency_cycle(const ClusterState& state, const ServiceSpec& spec, const SpecOf& spec_of) {
  auto dependencies_of = [&](const std::string& name) -> std::vector<std::string> {
    if (name == spec.name) return spec.depends_on;
    const ServiceEntry* entry = state.service(name);
    if (!entry || entry->removed) return {};
    const ServiceSpec* other = spec_of(*entry);
    return other ? other->depends_on : std::vector<std::string>{};
  };
  // Depth-first, without recursion (a chain may be as long as the services deployed): each
  // frame is a service and how many of its dependencies were tried.
  struct Frame {
    std::string name;
    std::vector<std::string> next;
    std::size_t tried = 0;
  };
  // A service on the path or done is not entered again: a cycle among the others (made by
  // writes through different agents) is not one through `spec`, and must not loop.
  std::vector<Frame> path{{spec.name, dependencies_of(spec.name), 0}};
  std::set<std::string> seen{spec.name};
  bool found = false;
  while (!path.empty() && !found) {
    Frame& frame = path.back();
    if (frame.tried == frame.next.size()) {
      path.pop_back();
      continue;
    }
    std::string next = frame.next[frame.tried++];
    if (next == spec.name) {
      path.push_back({next, {}, 0});
      found = true;
    } else if (seen.insert(next).second) {
      auto deps = dependencies_of(next);
      path.push_back({std::move(next), std::move(deps), 0});
    }
  }
  if (!found) return "";
  std::string text;
  for (const auto& frame : path) text += (text.empty() ? "" : " -> ") + frame.name;
  return text;
}

std::string dependency_fault(const ClusterState& state, const ServiceSpec& spec, const SpecOf& spec_of) {
  if (spec.depends_on.empty()) return "";
  if (auto cycle = find_dependency_cycle(state, spec, spec_of); !cycle.empty())
    return "in the dependency cycle " + cycle + "; break it with mob-tool remove --force " + spec.name +
           ", or deploy one of them without the other";
  for (const auto& dependency : spec.depends_on)
    if (!is_deployed(state, dependency))
      return "dependency " + dependency + " is not deployed (it was removed); deploy it, or deploy " + spec.name +
             " without it";
  return "";
}

std::string dependencies_problem(const ClusterState& state, const ServiceSpec& spec, const SpecOf& spec_of) {
  if (auto fault = dependency_fault(state, spec, spec_of); !fault.empty()) return fault;
  std::string waiting;
  for (const auto& dependency : spec.depends_on) {
    const ServiceEntry* service = state.service(dependency);
    if (service && !service->enabled)
      return "dependency " + dependency + " is stopped; run it with: mob-tool start " + dependency;
    waiting += (waiting.empty() ? "" : ", ") + dependency;
  }
  return "waiting for dependencies to run" + std::string(any_checked(state, spec) ? " and be healthy" : "") +
         ": " + waiting;
}

}  // namespace mob
