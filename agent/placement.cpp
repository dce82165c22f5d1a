#include "agent/placement.hpp"

#include <algorithm>
#include <tuple>

#include "agent/hashing.hpp"

namespace mob {

std::uint64_t rendezvous_score(const std::string& key, const std::string& node) {
  std::uint64_t hash = kFnvShortBasis;
  auto feed = [&](const std::string& text) {
    hash = fnv1a(text, hash);
    hash = (hash ^ 0xff) * 1099511628211ULL;  // a separator no name holds
  };
  feed(key);
  feed(node);
  return splitmix64_finalizer(hash);  // FNV alone clusters on similar names
}

std::string owner_of(const std::string& service, const std::vector<std::string>& alive) {
  std::string best;
  std::uint64_t best_score = 0;
  for (const auto& node : alive) {
    auto score = rendezvous_score(service, node);
    if (best.empty() || score > best_score || (score == best_score && node < best)) {
      best = node;
      best_score = score;
    }
  }
  return best;
}

bool can_run(const ServiceSpec& spec, const Member& member) {
  if (!member.eligible) return false;
  if (std::find(member.providers.begin(), member.providers.end(), spec.provider) ==
      member.providers.end())
    return false;
  for (const auto& [key, value] : spec.constraint_tags) {
    auto tag = member.tags.find(key);
    if (tag == member.tags.end() || tag->second != value) return false;
  }
  return true;
}

std::string placement_problem(const ServiceSpec& spec, const std::vector<Member>& alive) {
  bool provider_seen = false;
  std::vector<std::string> ineligible;  // that could run it but for their eligibility
  for (const auto& member : alive) {
    if (can_run(spec, member)) return "";
    Member if_eligible = member;
    if_eligible.eligible = true;
    if (can_run(spec, if_eligible)) ineligible.push_back(member.name);
    provider_seen = provider_seen || std::find(member.providers.begin(), member.providers.end(),
                                               spec.provider) != member.providers.end();
  }
  if (!ineligible.empty()) {
    std::string names;
    for (const auto& name : ineligible) names += (names.empty() ? "" : ", ") + name;
    return "the only alive agents that can run it are ineligible for instances (" + names +
           "; mob-tool eligibility NODE on); it will be placed when one is eligible";
  }
  if (!provider_seen)
    return "no alive agent runs provider \"" + spec.provider + "\" (start one with -P " +
           spec.provider + "); it will be placed when one joins";
  std::string wanted;
  for (const auto& [key, value] : spec.constraint_tags)
    wanted += (wanted.empty() ? "" : ", ") + key + "=" + value;
  return "no alive agent with provider \"" + spec.provider + "\" has tags " + wanted +
         " (start one with --tag); it will be placed when one joins";
}

std::set<std::uint32_t> fixed_ports(const ServiceSpec& spec) {
  std::set<std::uint32_t> fixed;
  for (const auto& [name, port] : spec.ports)
    if (port.port != 0) fixed.insert(port.port);
  return fixed;
}

std::map<std::uint32_t, std::string> place_instances(const ServiceSpec& spec,
                                                     const std::vector<std::uint32_t>& unplaced,
                                                     const std::map<std::uint32_t, std::string>& placed,
                                                     const std::vector<Member>& alive,
                                                     std::map<std::string, std::uint32_t> load,
                                                     PortConstraints ports) {
  const auto fixed = fixed_ports(spec);
  auto holds_a_fixed_port = [&](const std::string& node) {
    auto held = ports.fixed_by_node.find(node);
    if (held == ports.fixed_by_node.end()) return false;
    for (auto port : fixed)
      if (held->second.contains(port)) return true;
    return false;
  };
  std::vector<const Member*> candidates;
  for (const auto& member : alive)
    if (can_run(spec, member)) candidates.push_back(&member);
  std::map<std::uint32_t, std::string> chosen;
  if (candidates.empty()) return chosen;
  std::map<std::string, std::uint32_t> of_this_service;
  for (const auto& [index, node] : placed) ++of_this_service[node];
  for (auto index : unplaced) {
    const std::string key = spec.name + "/" + std::to_string(index);
    const Member* best = nullptr;
    auto rank = [&](const Member* member) {
      // Fewest instances of this service, then least loaded, then a stable hash.
      return std::make_tuple(of_this_service[member->name], load[member->name],
                             ~rendezvous_score(key, member->name));
    };
    const auto& avoid = ports.avoid[index];
    auto avoided = [&](const Member* member) {
      return std::find(avoid.begin(), avoid.end(), member->name) != avoid.end();
    };
    for (const auto* member : candidates) {
      if (holds_a_fixed_port(member->name)) continue;
      if (best == nullptr || std::make_tuple(avoided(member), rank(member)) < std::make_tuple(avoided(best), rank(best)))
        best = member;
    }
    if (best == nullptr) continue;
    chosen[index] = best->name;
    ports.fixed_by_node[best->name].insert(fixed.begin(), fixed.end());
    ++of_this_service[best->name];
    ++load[best->name];
  }
  return chosen;
}

}  // namespace mob
