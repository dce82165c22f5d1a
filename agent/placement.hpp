// Placement as pure functions: which alive agent owns a service (rendezvous hashing), which
// agents can run it, and where each of its instances should go.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/spec.hpp"
#include "bus/messages.hpp"

namespace mob {

std::uint64_t rendezvous_score(const std::string& key, const std::string& node);

// The alive agent with the highest rendezvous score for `service`; empty if none.
std::string owner_of(const std::string& service, const std::vector<std::string>& alive);

// Why no agent among `candidates` can run `spec`, or "" when some can.
std::string placement_problem(const ServiceSpec& spec, const std::vector<Member>& alive);
// Whether `member` may run `spec`: it is eligible (mob-tool eligibility), runs its provider
// and has every tag of its constraints. An instance on a member that no longer can moves.
bool can_run(const ServiceSpec& spec, const Member& member);

// What keeps instances apart for their fixed ports (docs/spec.md, "Service discovery").
struct PortConstraints {
  // The fixed ports that what each node is assigned listens on: an instance that needs one of
  // them goes elsewhere.
  std::map<std::string, std::set<std::uint32_t>> fixed_by_node;
  // By instance index: the nodes where a fixed port of it was in use, passed over while
  // another node can run it.
  std::map<std::uint32_t, std::vector<std::string>> avoid;
};

// The fixed ports of `spec` (its `ports` other than 0).
std::set<std::uint32_t> fixed_ports(const ServiceSpec& spec);

// Chooses nodes for the instances in `unplaced`, given where the other instances already
// are (`placed`: index -> node) and how many instances each node runs overall (`load`).
// Spreads one service's instances over distinct nodes where possible, then by load. With
// fixed ports, never on a node that holds one of them (`ports`): such an instance stays
// unplaced when no node is left.
std::map<std::uint32_t, std::string> place_instances(const ServiceSpec& spec,
                                                     const std::vector<std::uint32_t>& unplaced,
                                                     const std::map<std::uint32_t, std::string>& placed,
                                                     const std::vector<Member>& alive,
                                                     std::map<std::string, std::uint32_t> load,
                                                     PortConstraints ports = {});

}  // namespace mob
