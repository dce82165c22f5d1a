#include "agent/subscriptions.hpp"

#include <string_view>

#include "agent/placement.hpp"

namespace mob {

Subscriptions::Changes Subscriptions::update(const ClusterState& state, const std::set<std::string>& changed) {
  Changes changes;
  bool ranking_changed = false;
  for (const auto& name : changed) {
    if (name == self_) continue;
    const MemberEntry* entry = state.member(name);
    const bool live = entry && is_live_member(entry->member.state);
    (live ? changes.added : changes.gone).push_back(name);
    const bool candidate = live && !entry->member.pub_address.empty();
    auto was = candidates_.find(name);
    // A heartbeat of a live member leaves its rank and PUB as they were: most calls stop here.
    if (!(candidate && was != candidates_.end() && was->second.second == entry->member.pub_address)) {
      ranking_changed = true;
      if (was != candidates_.end()) {
        ranked_.erase({was->second.first, name});
        candidates_.erase(was);
      }
      if (candidate) {
        auto score = rendezvous_score(self_, name);
        candidates_.emplace(name, std::make_pair(score, entry->member.pub_address));
        ranked_.emplace(score, name);
      }
    }
    if (entry && entry->member.state == MemberState::failed) failed_.insert(name);
    else failed_.erase(name);
    if (entry && entry->member.state == MemberState::left) changes.forget.push_back(entry->member.address);
  }
  if (!ranking_changed) return changes;
  std::vector<std::pair<const std::string*, const std::string*>> top;  // (name, PUB), the highest score first
  top.reserve(max_subscriptions_);
  bool same_as_read = true;  // the top is exactly what is read already
  for (auto it = ranked_.begin(); it != ranked_.end() && top.size() < max_subscriptions_; ++it) {
    const std::string& pub = candidates_.at(it->second).second;
    top.emplace_back(&it->second, &pub);
    if (same_as_read && !subscribed_.contains(pub)) same_as_read = false;
    for (std::size_t i = 0; same_as_read && i + 1 < top.size(); ++i)
      if (*top[i].second == pub) same_as_read = false;  // two members share a PUB: the long way
  }
  if (same_as_read && top.size() == subscribed_.size()) return changes;
  std::set<std::string_view> wanted;
  for (const auto& [name, pub] : top) wanted.insert(*pub);
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
