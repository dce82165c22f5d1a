// Dependency rules as pure functions over the replicated state: whether a service's
// dependencies run, a cycle through it, a dependency no longer deployed, and the words that
// tell a user what to do about each.
#pragma once

#include <string>

#include "agent/cluster_state.hpp"
#include "agent/scheduling.hpp"
#include "agent/spec.hpp"

namespace mob {

// Every dependency is deployed, enabled (not stopped by `mob-tool stop`, whose instances may
// still be reported running for a moment) and runs somewhere live; a dependency with health
// checks runs once an instance is healthy (InstanceStatus.health), not merely started.
bool dependencies_ready(const ClusterState& state, const ServiceSpec& spec);

// A dependency cycle through `spec` ("a -> b -> a"), with `spec` as it would be deployed
// and the others as `state` holds them; "" when there is none.
std::string find_dependency_cycle(const ClusterState& state, const ServiceSpec& spec, const SpecOf& spec_of);

// A dependency rule `spec` breaks now (a cycle, or a dependency that is not deployed), said
// with what to do; "" when it breaks none.
std::string dependency_fault(const ClusterState& state, const ServiceSpec& spec, const SpecOf& spec_of);

// Why `spec`'s dependencies hold its instances back, in words that say what to do: a fault
// above, a dependency stopped, or the ones not running yet.
std::string dependencies_problem(const ClusterState& state, const ServiceSpec& spec, const SpecOf& spec_of);

}  // namespace mob
