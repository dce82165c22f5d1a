// Scheduling as a pure step: what the owner of services writes so that each one's wanted
// instances are placed on live agents that can run them, and nothing stays assigned past
// the wanted count or recorded on agents that are gone. The store stamps and merges what
// plan_owned_services returns.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "agent/cluster_state.hpp"
#include "agent/spec.hpp"
#include "bus/messages.hpp"

namespace mob {

struct OwnerWrites {
  // New placements (removed = false) and assignments past the wanted count or of a removed
  // service (removed = true), unstamped, in the order they were decided.
  std::vector<AssignmentEntry> assignments;
  // Instance records of agents that failed, left or are unknown, as tombstones (removed =
  // true), unstamped. A live agent tombstones its own records.
  std::vector<InstanceEntry> instance_tombstones;
};

// The parsed spec of a service record (null when it does not parse).
using SpecOf = std::function<const ServiceSpec*(const ServiceEntry&)>;

// How many instances `service` has assigned: its spec's, and its canaries while a rollout
// runs them beside the stable ones (indices `instances` and up; docs/spec.md, "Canaries").
inline std::uint32_t wanted_instances(const ServiceEntry& service, const ServiceSpec& spec) {
  return spec.instances + service.canaries;
}

// For each service named in `targets` whose owner (among `live`, suspects included) is
// `self`: places its unplaced instances on `alive` members (suspects excluded) that can run
// it, spread and by load (agent/placement.hpp).
OwnerWrites plan_owned_services(const ClusterState& state, const std::vector<std::string>& targets,
                                const std::vector<Member>& alive, const std::vector<Member>& live,
                                const std::string& self, const SpecOf& spec_of);

}  // namespace mob
