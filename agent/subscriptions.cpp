#include "agent/subscriptions.hpp"

#include "agent/placement.hpp"

namespace mob {

Subscriptions::Changes Subscriptions::update(const ClusterState& state, const std::set<std::string>& changed) {
  Changes changes;
  for (const auto& name : changed) {
    if (name == self_) continue;
    const MemberEntry* entry = state.member(name);
    const bool live = entry && is_live_member(entry->member.state);
    (live ? changes.added : changes.gone).push_back(name);
    if (auto was = candidates_.find(name); was != candidates_.end()) {
      ranked_.erase({was->second.first, name});
      candidates_.erase(was);
    }
    if (live && !entry->member.pub_address.empty()) {
      auto score = rendezvous_score(self_, name);
      candidates_.emplace(name, std::make_pair(score, entry->member.pub_address));
      ranked_.emplace(score, name);
    }
    if (entry && entry->member.state == MemberState::failed) failed_.insert(name);
    else failed_.erase(name);
    if (entry && entry->member.state == MemberState::left) changes.forget.push_back(entry->member.address);
  }
  std::vector<std::pair<const std::string*, const std::string*>> top;  // (name, PUB), the highest score first
  std::set<std::string> wanted;
  for (auto it = ranked_.begin(); it != ranked_.end() && top.size() < max_subscriptions_; ++it) {
    const std::string& pub = candidates_.at(it->second).second;
    top.emplace_back(&it->second, &pub);
    wanted.insert(pub);
  }
  for (auto it = subscribed_.begin(); it != subscribed_.end();) {
    if (wanted.contains(*it)) {
      ++it;
      continue;
    }
    changes.unsubscribe.push_back(*it);
    it = subscribed_.erase(it);
  }
  for (const auto& [name, pub] : top) {
    if (!subscribed_.insert(*pub).second) continue;
    changes.subscribe.push_back(*pub);
    changes.sync_first = *name;
  }
  return changes;
}

}  // namespace mob
