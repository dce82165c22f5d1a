#include "agent/cluster_state.hpp"

#include <algorithm>

namespace mob {
namespace {

auto member_order(const MemberEntry& entry) {
  return std::make_tuple(entry.member.incarnation, member_state_rank(entry.member.state),
                         entry.heartbeat, std::cref(entry.reported_by));
}

DigestEntry digest_of(const std::string& key, const MemberEntry& entry) {
  return {key,
          entry.member.incarnation * 4 + static_cast<std::uint64_t>(member_state_rank(entry.member.state)),
          entry.heartbeat, entry.reported_by};
}

DigestEntry digest_of(const std::string& key, const Stamp& stamp) {
  return {key, stamp.hlc, 0, stamp.origin};
}

bool digest_newer(const DigestEntry& a, const DigestEntry& b) {
  return std::tie(a.major, a.minor, a.tiebreak) > std::tie(b.major, b.minor, b.tiebreak);
}

template <class Entry>
bool merge_lww(std::map<std::string, Entry>& into, const std::string& key, const Entry& entry) {
  auto found = into.find(key);
  if (found != into.end() && !is_newer(entry.stamp, found->second.stamp)) return false;
  into.insert_or_assign(key, entry);
  return true;
}

std::uint64_t mix(std::uint64_t hash, std::uint64_t value) {
  hash ^= value + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
  return hash;
}

std::uint64_t hash_text(const std::string& text) {
  std::uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ULL;
  return hash;
}

}  // namespace

int member_state_rank(MemberState state) {
  switch (state) {
    case MemberState::alive: return 0;
    case MemberState::suspect: return 1;
    case MemberState::failed: return 2;
    case MemberState::left: return 3;
    case MemberState::count_: break;
  }
  return 0;
}

bool is_newer(const MemberEntry& a, const MemberEntry& b) { return member_order(a) > member_order(b); }

bool is_newer(const Stamp& a, const Stamp& b) {
  return std::tie(a.hlc, a.origin) > std::tie(b.hlc, b.origin);
}

std::string member_key(const std::string& name) { return "m/" + name; }
std::string service_key(const std::string& name) { return "s/" + name; }
std::string assignment_key(const std::string& service, std::uint32_t index) {
  return "a/" + service + "/" + std::to_string(index);
}
std::string instance_key(const std::string& service, std::uint32_t index, const std::string& node) {
  return "i/" + service + "/" + std::to_string(index) + "/" + node;
}

bool ClusterState::merge(const MemberEntry& entry) {
  auto key = member_key(entry.member.name);
  auto found = members_.find(key);
  if (found != members_.end() && !is_newer(entry, found->second)) return false;
  members_.insert_or_assign(key, entry);
  return true;
}

bool ClusterState::merge(const ServiceEntry& entry) {
  return merge_lww(services_, service_key(entry.name), entry);
}

bool ClusterState::merge(const AssignmentEntry& entry) {
  return merge_lww(assignments_, assignment_key(entry.service, entry.index), entry);
}

bool ClusterState::merge(const InstanceEntry& entry) {
  const auto& status = entry.status;
  return merge_lww(instances_, instance_key(status.service, status.index, status.node), entry);
}

StateDelta ClusterState::merge(const StateDelta& delta) {
  StateDelta changed;
  for (const auto& entry : delta.members)
    if (merge(entry)) changed.members.push_back(entry);
  for (const auto& entry : delta.services)
    if (merge(entry)) changed.services.push_back(entry);
  for (const auto& entry : delta.assignments)
    if (merge(entry)) changed.assignments.push_back(entry);
  for (const auto& entry : delta.instances)
    if (merge(entry)) changed.instances.push_back(entry);
  return changed;
}

std::vector<Member> ClusterState::live_members(bool include_suspect) const {
  std::vector<Member> out;
  for (const auto& [key, entry] : members_) {
    auto state = entry.member.state;
    if (state == MemberState::alive || (include_suspect && state == MemberState::suspect))
      out.push_back(entry.member);
  }
  return out;
}

const MemberEntry* ClusterState::member(const std::string& name) const {
  auto found = members_.find(member_key(name));
  return found == members_.end() ? nullptr : &found->second;
}

const ServiceEntry* ClusterState::service(const std::string& name) const {
  auto found = services_.find(service_key(name));
  return found == services_.end() ? nullptr : &found->second;
}

const AssignmentEntry* ClusterState::assignment(const std::string& service,
                                                std::uint32_t index) const {
  auto found = assignments_.find(assignment_key(service, index));
  return found == assignments_.end() ? nullptr : &found->second;
}

const InstanceEntry* ClusterState::instance(const std::string& service, std::uint32_t index,
                                            const std::string& node) const {
  auto found = instances_.find(instance_key(service, index, node));
  return found == instances_.end() ? nullptr : &found->second;
}

std::vector<DigestEntry> ClusterState::digest() const {
  std::vector<DigestEntry> out;
  out.reserve(members_.size() + services_.size() + assignments_.size() + instances_.size());
  for (const auto& [key, entry] : members_) out.push_back(digest_of(key, entry));
  for (const auto& [key, entry] : services_) out.push_back(digest_of(key, entry.stamp));
  for (const auto& [key, entry] : assignments_) out.push_back(digest_of(key, entry.stamp));
  for (const auto& [key, entry] : instances_) out.push_back(digest_of(key, entry.stamp));
  return out;
}

std::uint64_t ClusterState::summary(const std::vector<DigestEntry>& digest) {
  std::uint64_t hash = digest.size();
  for (const auto& entry : digest) {
    hash = mix(hash, hash_text(entry.key));
    hash = mix(hash, entry.major);
    hash = mix(hash, entry.minor);
    hash = mix(hash, hash_text(entry.tiebreak));
  }
  return hash;
}

StateDelta ClusterState::newer_than(const std::vector<DigestEntry>& theirs,
                                    std::vector<std::string>& they_have_newer) const {
  std::map<std::string, const DigestEntry*> their_index;
  for (const auto& entry : theirs) their_index[entry.key] = &entry;
  std::vector<std::string> ours_newer;
  for (const auto& mine : digest()) {
    auto found = their_index.find(mine.key);
    if (found == their_index.end() || digest_newer(mine, *found->second)) {
      ours_newer.push_back(mine.key);
    } else if (digest_newer(*found->second, mine)) {
      they_have_newer.push_back(mine.key);
    }
    if (found != their_index.end()) their_index.erase(found);
  }
  for (const auto& [key, entry] : their_index) they_have_newer.push_back(key);
  return entries(ours_newer);
}

StateDelta ClusterState::entries(const std::vector<std::string>& keys) const {
  StateDelta out;
  for (const auto& key : keys) {
    if (auto m = members_.find(key); m != members_.end()) out.members.push_back(m->second);
    else if (auto s = services_.find(key); s != services_.end()) out.services.push_back(s->second);
    else if (auto a = assignments_.find(key); a != assignments_.end()) out.assignments.push_back(a->second);
    else if (auto i = instances_.find(key); i != instances_.end()) out.instances.push_back(i->second);
  }
  return out;
}

StateDelta ClusterState::everything() const {
  StateDelta out;
  for (const auto& [key, entry] : members_) out.members.push_back(entry);
  for (const auto& [key, entry] : services_) out.services.push_back(entry);
  for (const auto& [key, entry] : assignments_) out.assignments.push_back(entry);
  for (const auto& [key, entry] : instances_) out.instances.push_back(entry);
  return out;
}

std::size_t ClusterState::collect_garbage(std::uint64_t cutoff_hlc, std::uint64_t failed_cutoff_hlc) {
  std::size_t before = members_.size() + services_.size() + assignments_.size() + instances_.size();
  std::erase_if(services_, [&](const auto& e) { return e.second.removed && e.second.stamp.hlc < cutoff_hlc; });
  std::erase_if(assignments_, [&](const auto& e) { return e.second.removed && e.second.stamp.hlc < cutoff_hlc; });
  std::erase_if(instances_, [&](const auto& e) { return e.second.removed && e.second.stamp.hlc < cutoff_hlc; });
  std::erase_if(members_, [&](const auto& e) {
    auto state = e.second.member.state;
    return (state == MemberState::failed && e.second.heartbeat < failed_cutoff_hlc) ||
           (state == MemberState::left && e.second.heartbeat < cutoff_hlc);
  });
  return before - (members_.size() + services_.size() + assignments_.size() + instances_.size());
}

std::optional<std::uint64_t> ClusterState::earliest_failure(std::uint64_t failed_cutoff_hlc) const {
  std::optional<std::uint64_t> earliest;
  for (const auto& [key, entry] : members_)
    if (entry.member.state == MemberState::failed && entry.heartbeat >= failed_cutoff_hlc &&
        (!earliest || entry.heartbeat < *earliest))
      earliest = entry.heartbeat;
  return earliest;
}

}  // namespace mob
