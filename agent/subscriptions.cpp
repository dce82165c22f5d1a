#include "agent/subscriptions.hpp"

#include <algorithm>
#include <string_view>

#include "agent/hashing.hpp"
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
    const std::uint64_t pub_hash = candidate ? fnv1a(entry->member.pub_address) : 0;
    Rank rank{rendezvous_score(self_, name), name};
    auto was = ranked_.find(rank);
    // A heartbeat of a live member leaves its rank and PUB as they were: most calls stop here.
    if (!(candidate && was != ranked_.end() && was->second == pub_hash)) {
      ranking_changed = true;
      if (was != ranked_.end()) ranked_.erase(was);
      if (candidate) ranked_.emplace(std::move(rank), pub_hash);
    }
    if (entry && entry->member.state == MemberState::failed) failed_.insert(name);
    else failed_.erase(name);
    if (entry && entry->member.state == MemberState::left) changes.forget.push_back(entry->member.address);
  }
  if (!ranking_changed) return changes;
  // The top by score, compared with what is read by the hashes of the PUB endpoints: no
  // lookup in the state unless the subscriptions change.
  std::vector<std::uint64_t> read;  // the hashes of the PUB endpoints read now
  for (const auto& pub : subscribed_) read.push_back(fnv1a(pub));
  std::vector<std::pair<const std::string*, std::uint64_t>> top;  // (name, PUB hash), the highest score first
  top.reserve(max_subscriptions_);
  bool same_as_read = true;  // the top is exactly what is read already
  for (auto it = ranked_.begin(); it != ranked_.end() && top.size() < max_subscriptions_; ++it) {
    const std::uint64_t pub_hash = it->second;
    if (same_as_read && std::find(read.begin(), read.end(), pub_hash) == read.end()) same_as_read = false;
    for (std::size_t i = 0; same_as_read && i < top.size(); ++i)
      if (top[i].second == pub_hash) same_as_read = false;  // two members share a PUB: the long way
    top.emplace_back(&it->first.second, pub_hash);
  }
  if (same_as_read && top.size() == subscribed_.size()) return changes;
  std::vector<std::pair<const std::string*, const std::string*>> wanted_top;  // (name, PUB)
  for (const auto& [name, pub_hash] : top)
    if (const MemberEntry* entry = state.member(*name)) wanted_top.emplace_back(name, &entry->member.pub_address);
  std::set<std::string_view> wanted;
  for (const auto& [name, pub] : wanted_top) wanted.insert(*pub);
  for (auto it = subscribed_.begin(); it != subscribed_.end();) {
    if (wanted.contains(*it)) {
      ++it;
      continue;
    }
    changes.unsubscribe.push_back(*it);
    it = subscribed_.erase(it);
  }
  for (const auto& [name, pub] : wanted_top) {
    if (!subscribed_.insert(*pub).second) continue;
    changes.subscribe.push_back(*pub);
    changes.sync_first = *name;
  }
  return changes;
}

void RelayCoverage::update(const ClusterState& state) {
  covered_.clear();
  // The live members that publish (this agent among them), as Subscriptions ranks them.
  std::vector<const std::string*> live;
  for (const auto& [key, entry] : state.members()) {
    if (!is_live_member(entry.member.state) || entry.member.pub_address.empty()) continue;
    if (live.size() == max_members_) return;
    live.push_back(&entry.member.name);
  }
  const std::size_t n = live.size();
  std::size_t self = n;
  for (std::size_t i = 0; i < n; ++i)
    if (*live[i] == self_) self = i;
  if (self == n) return;  // not live in its own view (leaving): relay everything
  // reads[x][p]: member x reads member p (p among x's max_subscriptions highest ranked).
  std::vector<std::vector<bool>> reads(n, std::vector<bool>(n, false));
  std::vector<std::pair<std::uint64_t, std::size_t>> ranked;
  for (std::size_t x = 0; x < n; ++x) {
    ranked.clear();
    for (std::size_t p = 0; p < n; ++p)
      if (p != x) ranked.emplace_back(rendezvous_score(*live[x], *live[p]), p);
    // Highest score first, then the greater name: Subscriptions' order.
    auto higher = [&](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : *live[a.second] > *live[b.second];
    };
    const std::size_t top = std::min<std::size_t>(max_subscriptions_, ranked.size());
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(top), ranked.end(), higher);
    for (std::size_t i = 0; i < top; ++i) reads[x][ranked[i].second] = true;
  }
  for (std::size_t sender = 0; sender < n; ++sender) {
    if (sender == self) continue;
    bool every_reader_reads_it = true;
    for (std::size_t x = 0; x < n && every_reader_reads_it; ++x)
      if (x != self && x != sender && reads[x][self] && !reads[x][sender]) every_reader_reads_it = false;
    if (every_reader_reads_it) covered_.insert(*live[sender]);
  }
}

}  // namespace mob
