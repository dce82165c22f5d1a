#include "agent/cluster_state.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <initializer_list>
#include <string_view>
#include <type_traits>

#include "agent/hashing.hpp"

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

std::uint64_t mix(std::uint64_t hash, std::uint64_t value) {
  hash ^= value + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
  return hash;
}

std::uint64_t hash_text(std::string_view text) { return fnv1a(text, kFnvShortBasis); }

// Sums of record hashes (the bucket summaries) must not cancel out for related records.
std::uint64_t scramble(std::uint64_t value) { return splitmix64_finalizer(value); }

// A member record's contribution: its key, incarnation, state, reporter and what it says of
// the member (addresses, providers, tags, version, problems), but not its heartbeat nor its
// load. Each agent stamps its own record again every --heartbeat-ms, so at hundreds of agents
// some heartbeat is always on its way and two states whose summaries counted it would never
// be equal; a heartbeat lost on the way is replaced by the next one, which anti-entropy need
// not repair. A heartbeat that carries a change (providers, tags, a problem) changes the hash.
std::uint64_t member_hash(const std::string& key, const MemberEntry& entry) {
  const Member& m = entry.member;
  std::uint64_t hash = scramble(hash_text(key));
  hash = scramble(hash ^ (m.incarnation * 4 + static_cast<std::uint64_t>(member_state_rank(m.state))));
  hash = scramble(hash ^ hash_text(entry.reported_by));
  for (const std::string* text : {&m.address, &m.pub_address, &m.version, &m.problem.str(), &m.degraded.str()})
    hash = scramble(hash ^ hash_text(*text));
  for (const auto& provider : m.providers) hash = scramble(hash ^ hash_text(provider) ^ 0x70);
  for (const auto& [tag, value] : m.tags) hash = scramble(hash ^ hash_text(tag) ^ (hash_text(value) << 1));
  if (!m.eligible) hash = scramble(hash ^ 0x1e);  // an eligible member hashes as before drain existed
  return hash;
}

std::uint64_t record_hash(const std::string& key, const MemberEntry& entry) { return member_hash(key, entry); }
// A stamped record's contribution to its bucket's summary: its key and its order (its
// digest entry's fields, digest_of), hashed in place: it runs twice on every merge.
template <class Entry>
std::uint64_t record_hash(const std::string& key, const Entry& entry) {
  std::uint64_t hash = scramble(hash_text(key));
  hash = scramble(hash ^ entry.stamp.hlc);
  hash = scramble(hash ^ (0 + 0x9e3779b97f4a7c15ULL));
  hash = scramble(hash ^ hash_text(entry.stamp.origin));
  return hash;
}

DigestEntry digest_of_record(const std::string& key, const MemberEntry& entry) { return digest_of(key, entry); }
template <class Entry>
DigestEntry digest_of_record(const std::string& key, const Entry& entry) { return digest_of(key, entry.stamp); }

// A record's digest entry without copies: its key and its order as digest_of gives them.
struct DigestView {
  const std::string* key = nullptr;
  std::uint64_t major = 0;
  std::uint64_t minor = 0;
  const std::string* tiebreak = nullptr;
};

DigestView view_of_record(const std::string& key, const MemberEntry& entry) {
  return {&key, entry.member.incarnation * 4 + static_cast<std::uint64_t>(member_state_rank(entry.member.state)),
          entry.heartbeat, &entry.reported_by};
}
template <class Entry>
DigestView view_of_record(const std::string& key, const Entry& entry) {
  return {&key, entry.stamp.hlc, 0, &entry.stamp.origin.str()};
}

// digest_newer(a, b) for a view and an entry of the wire, either way round.
bool view_newer(const DigestView& a, const DigestEntry& b) {
  return std::tie(a.major, a.minor, *a.tiebreak) > std::tie(b.major, b.minor, b.tiebreak);
}
bool entry_newer(const DigestEntry& a, const DigestView& b) {
  return std::tie(a.major, a.minor, a.tiebreak) > std::tie(b.major, b.minor, *b.tiebreak);
}

bool in_scope(std::size_t bucket, const std::vector<bool>& wanted) { return bucket < wanted.size() && wanted[bucket]; }

std::vector<bool> scope_mask(const std::vector<std::uint32_t>& scope, std::size_t bucket_count) {
  std::vector<bool> mask(bucket_count, false);
  for (auto bucket : scope)
    if (bucket < bucket_count) mask[bucket] = true;
  return mask;
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

bool is_newer(const Stamp& a, const Stamp& b) { return is_newer(a.hlc, a.origin, b); }

bool is_newer(std::uint64_t hlc, std::string_view origin, const Stamp& b) {
  return hlc != b.hlc ? hlc > b.hlc : origin > std::string_view(b.origin);
}

// Record keys: on the stack for a lookup, in one allocation (or none, when short) for a key
// kept.
namespace {
// A record key, "kind/part/part...", built on the stack (on the heap only when longer than
// any key of valid names): a lookup allocates nothing.
class LookupKey {
 public:
  LookupKey(char kind, std::initializer_list<std::string_view> parts) {
    std::size_t size = 1;
    for (auto part : parts) size += 1 + part.size();
    char* out = inline_.data();
    if (size > inline_.size()) {
      long_.resize(size);
      out = long_.data();
    }
    view_ = {out, size};
    *out++ = kind;
    for (auto part : parts) {
      *out++ = '/';
      if (part.empty()) continue;  // its data may be null (an empty string peeked in a message)
      std::memcpy(out, part.data(), part.size());
      out += part.size();
    }
  }
  LookupKey(const LookupKey&) = delete;
  LookupKey& operator=(const LookupKey&) = delete;
  std::string_view view() const { return view_; }

 private:
  std::array<char, 384> inline_;  // i/ + a service name + an index + an agent name fit
  std::string long_;
  std::string_view view_;
};

std::string key_of(char kind, std::initializer_list<std::string_view> parts) {
  return std::string(LookupKey(kind, parts).view());
}

// The decimal digits of `index` in `buffer`, as std::to_string writes them.
std::string_view decimal(std::uint32_t index, std::array<char, 10>& buffer) {
  auto end = buffer.data() + buffer.size();
  auto begin = end;
  do {
    *--begin = static_cast<char>('0' + index % 10);
    index /= 10;
  } while (index != 0);
  return {begin, static_cast<std::size_t>(end - begin)};
}

}  // namespace

std::string member_key(const std::string& name) { return key_of('m', {name}); }
std::string service_key(const std::string& name) { return key_of('s', {name}); }
std::string assignment_key(const std::string& service, std::uint32_t index) {
  std::array<char, 10> digits;
  return key_of('a', {service, decimal(index, digits)});
}
std::string instance_key(const std::string& service, std::uint32_t index, const std::string& node) {
  std::array<char, 10> digits;
  return key_of('i', {service, decimal(index, digits), node});
}

void ClusterState::account(const std::string& key, std::uint64_t removed_hash, std::uint64_t added_hash) {
  bucket_sums_[bucket_of(key)] += added_hash - removed_hash;
}

ClusterState::ClusterState(const ClusterState& other)
    : members_(other.members_),
      services_(other.services_),
      deployed_services_(other.deployed_services_),
      assignments_(other.assignments_),
      instances_(other.instances_),
      bucket_sums_(other.bucket_sums_),
      names_(other.names_) {
  reindex();
}

ClusterState& ClusterState::operator=(const ClusterState& other) {
  if (this == &other) return *this;
  members_ = other.members_;
  services_ = other.services_;
  deployed_services_ = other.deployed_services_;
  assignments_ = other.assignments_;
  instances_ = other.instances_;
  bucket_sums_ = other.bucket_sums_;
  names_ = other.names_;
  reindex();
  return *this;
}

template <class Entry>
void ClusterState::index_record(const RecordMap<Entry>& map, typename RecordMap<Entry>::value_type& record) {
  buckets_of(map)[bucket_of(record.first)].push_back(&record);
  if constexpr (std::is_same_v<Entry, MemberEntry>) member_index_.insert(&record.second);
  else keys_of(map).insert(&record);
}

template <class Entry>
void ClusterState::unindex_record(const RecordMap<Entry>& map, const typename RecordMap<Entry>::value_type& record) {
  if constexpr (std::is_same_v<Entry, MemberEntry>) member_index_.erase(&record.second);
  else keys_of(map).erase(&record);
  auto& bucket = buckets_of(map)[bucket_of(record.first)];
  auto found = std::find(bucket.begin(), bucket.end(), &record);
  if (found == bucket.end()) return;
  *found = bucket.back();
  bucket.pop_back();
}

void ClusterState::reindex() {
  auto add = [this](auto& map) {
    for (auto& bucket : buckets_of(map)) bucket.clear();
    for (auto& record : map) index_record(map, record);
  };
  member_index_.clear();
  service_keys_.clear();
  assignment_keys_.clear();
  instance_keys_.clear();
  add(members_);
  add(services_);
  add(assignments_);
  add(instances_);
  tombstones_.clear();
  auto add_tombstones = [this](const auto& map) {
    for (const auto& [key, entry] : map)
      if (entry.removed) tombstones_.insert(tombstones_.end(), key);
  };
  add_tombstones(services_);
  add_tombstones(assignments_);
  add_tombstones(instances_);
  assignments_per_node_.clear();
  for (const auto& [key, entry] : assignments_)
    if (!entry.removed) ++assignments_per_node_[entry.node];
}

bool ClusterState::merge(const MemberEntry& entry) {
  // The record held, through the index (the tree's walk was most of a merge's cost); the
  // tree is walked only for a member not held yet, to insert it.
  MemberEntry* held = member_index_.find(entry.member.name);
  if (held && !is_newer(entry, *held)) return false;
  auto key = member_key(entry.member.name);
  if (held) {
    account(key, record_hash(key, *held), record_hash(key, entry));
    *held = entry;
    return true;
  }
  return replace(members_, nullptr, std::move(key), entry);
}

template <class Map, class Entry>
bool ClusterState::replace(Map& map, typename Map::value_type* found, std::string key, const Entry& entry) {
  std::uint64_t before = found ? record_hash(key, found->second) : 0;
  account(key, before, record_hash(key, entry));
  if (found) {
    found->second = entry;
    share_names(found->second);
    return true;
  }
  auto& record = *map.emplace(std::move(key), entry).first;
  share_names(record.second);
  index_record(map, record);
  return true;
}

void ClusterState::share_names(ServiceEntry& entry) {
  names_.intern(entry.stamp.origin);
  for (auto& version : entry.history) names_.intern(version.through);
}
void ClusterState::share_names(AssignmentEntry& entry) {
  names_.intern(entry.node);
  names_.intern(entry.stamp.origin);
}
void ClusterState::share_names(InstanceEntry& entry) {
  names_.intern(entry.status.node);
  names_.intern(entry.status.host);
  names_.intern(entry.stamp.origin);
}

template <class Entry>
bool ClusterState::merge_lww(RecordMap<Entry>& into, std::string key, const Entry& entry) {
  auto* found = keys_of(into).find(key);  // before the key moves into the call
  return merge_lww(into, found, std::move(key), entry);
}

template <class Entry>
bool ClusterState::merge_lww(RecordMap<Entry>& into, typename RecordMap<Entry>::value_type* found,
                             std::string key, const Entry& entry) {
  if (found && !is_newer(entry.stamp, found->second.stamp)) return false;
  if (entry.removed) tombstones_.insert(key);
  else if (found && found->second.removed) tombstones_.erase(key);
  return replace(into, found, std::move(key), entry);
}

namespace {

// Makes the spec texts of `entry` that equal one already held share its string: a version in
// its history that runs its current or its stable spec, and a version `before` (the record it
// replaces) held already. A record kept this way holds each distinct spec text once.
void share_spec_texts(ServiceEntry& entry, const ServiceEntry* before) {
  if (before) {
    entry.spec_json.share_if_equal(before->spec_json);
    if (!entry.stable_spec_json.share_if_equal(before->stable_spec_json))
      entry.stable_spec_json.share_if_equal(before->spec_json);  // the version the update replaced
  }
  for (auto& version : entry.history) {
    if (version.spec_json.share_if_equal(entry.spec_json) || version.spec_json.share_if_equal(entry.stable_spec_json))
      continue;
    if (!before) continue;
    for (const auto& held : before->history)
      if (held.version == version.version && version.spec_json.share_if_equal(held.spec_json)) break;
  }
}

}  // namespace

bool ClusterState::merge(const ServiceEntry& entry) {
  const ServiceEntry* before = service(entry.name);
  const bool was_deployed = before && !before->removed;
  if (before && !is_newer(entry.stamp, before->stamp)) return false;
  ServiceEntry kept = entry;  // its texts are shared, not copied
  share_spec_texts(kept, before);
  if (!merge_lww(services_, service_key(entry.name), kept)) return false;
  if (was_deployed && entry.removed) --deployed_services_;
  if (!was_deployed && !entry.removed) ++deployed_services_;
  return true;
}

bool ClusterState::merge(const AssignmentEntry& entry) {
  auto key = assignment_key(entry.service, entry.index);
  auto* held = assignment_keys_.find(key);
  const bool was_counted = held && !held->second.removed;
  std::string was_on = was_counted ? held->second.node.str() : std::string();  // replace() overwrites it
  if (!merge_lww(assignments_, held, std::move(key), entry)) return false;
  if (was_counted) {
    auto count = assignments_per_node_.find(was_on);
    if (count != assignments_per_node_.end() && --count->second == 0) assignments_per_node_.erase(count);
  }
  if (!entry.removed) ++assignments_per_node_[entry.node];
  return true;
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

const MemberEntry* ClusterState::member(std::string_view name) const {
  return member_index_.find(name);
}

const ServiceEntry* ClusterState::service(std::string_view name) const {
  auto* found = service_keys_.find(LookupKey('s', {name}).view());
  return found ? &found->second : nullptr;
}

const AssignmentEntry* ClusterState::assignment(std::string_view service, std::uint32_t index) const {
  std::array<char, 10> digits;
  auto* found = assignment_keys_.find(LookupKey('a', {service, decimal(index, digits)}).view());
  return found ? &found->second : nullptr;
}

const InstanceEntry* ClusterState::instance(std::string_view service, std::uint32_t index,
                                            std::string_view node) const {
  std::array<char, 10> digits;
  auto* found = instance_keys_.find(LookupKey('i', {service, decimal(index, digits), node}).view());
  return found ? &found->second : nullptr;
}

std::vector<DigestEntry> ClusterState::digest() const { return digest({0}, 1); }

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
  return newer_than(theirs, they_have_newer, {0}, 1);
}

bool ClusterState::is_bucket_count(std::uint64_t count) {
  return count >= 1 && count <= kSummaryBuckets && (count & (count - 1)) == 0;
}

std::size_t ClusterState::bucket_of(const std::string& key) {
  return static_cast<std::size_t>(scramble(hash_text(key)) % kSummaryBuckets);
}

std::vector<std::uint64_t> ClusterState::bucket_summaries(std::size_t bucket_count) const {
  if (!is_bucket_count(bucket_count)) return {};
  std::vector<std::uint64_t> out(bucket_count, 0);
  for (std::size_t bucket = 0; bucket < kSummaryBuckets; ++bucket) out[bucket % bucket_count] += bucket_sums_[bucket];
  return out;
}

std::uint64_t ClusterState::total_summary() const {
  std::uint64_t total = 0;
  for (auto sum : bucket_sums_) total += sum;
  return total;
}

std::vector<std::uint32_t> ClusterState::differing_buckets(const std::vector<std::uint64_t>& theirs) const {
  auto mine = bucket_summaries(theirs.size());
  std::vector<std::uint32_t> out;
  for (std::size_t bucket = 0; bucket < mine.size(); ++bucket)
    if (mine[bucket] != theirs[bucket]) out.push_back(static_cast<std::uint32_t>(bucket));
  return out;
}

std::vector<DigestEntry> ClusterState::digest(const std::vector<std::uint32_t>& scope, std::size_t bucket_count) const {
  std::vector<DigestEntry> out;
  if (!is_bucket_count(bucket_count)) return out;
  auto wanted = scope_mask(scope, bucket_count);
  // In the maps' order (members, services, assignments, instances, each by key), from only
  // the buckets in scope.
  auto add = [&](const auto& index) {
    std::vector<typename std::decay_t<decltype(index)>::value_type::value_type> records;
    for (std::size_t bucket = 0; bucket < kSummaryBuckets; ++bucket)
      if (in_scope(bucket % bucket_count, wanted)) records.insert(records.end(), index[bucket].begin(), index[bucket].end());
    std::sort(records.begin(), records.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
    for (const auto* record : records) out.push_back(digest_of_record(record->first, record->second));
  };
  add(member_buckets_);
  add(service_buckets_);
  add(assignment_buckets_);
  add(instance_buckets_);
  return out;
}

std::vector<std::size_t> ClusterState::bucket_sizes(const std::vector<std::uint32_t>& scope, std::size_t bucket_count) const {
  std::vector<std::size_t> out(scope.size(), 0);
  if (!is_bucket_count(bucket_count)) return out;
  std::vector<std::size_t> per_bucket(bucket_count, 0);
  for (std::size_t bucket = 0; bucket < kSummaryBuckets; ++bucket)
    per_bucket[bucket % bucket_count] += member_buckets_[bucket].size() + service_buckets_[bucket].size() +
                                         assignment_buckets_[bucket].size() + instance_buckets_[bucket].size();
  for (std::size_t i = 0; i < scope.size(); ++i)
    if (scope[i] < bucket_count) out[i] = per_bucket[scope[i]];
  return out;
}

StateDelta ClusterState::newer_than(const std::vector<DigestEntry>& theirs, std::vector<std::string>& they_have_newer,
                                    const std::vector<std::uint32_t>& scope, std::size_t bucket_count) const {
  if (!is_bucket_count(bucket_count)) return {};
  auto wanted = scope_mask(scope, bucket_count);
  // Their entries in scope by key; of entries with the same key the last one counts.
  std::vector<const DigestEntry*> their_sorted;
  their_sorted.reserve(theirs.size());
  for (const auto& entry : theirs)
    if (in_scope(bucket_of(entry.key) % bucket_count, wanted)) their_sorted.push_back(&entry);
  std::stable_sort(their_sorted.begin(), their_sorted.end(),
                   [](const DigestEntry* a, const DigestEntry* b) { return a->key < b->key; });
  std::size_t unique = 0;
  for (std::size_t i = 0; i < their_sorted.size(); ++i) {
    if (i + 1 < their_sorted.size() && their_sorted[i + 1]->key == their_sorted[i]->key) continue;
    their_sorted[unique++] = their_sorted[i];
  }
  their_sorted.resize(unique);
  std::vector<bool> matched(unique, false);

  // Ours in digest()'s order: members, services, assignments, instances, each by key.
  StateDelta newer;
  auto compare = [&](const auto& index, auto& into) {
    std::vector<typename std::decay_t<decltype(index)>::value_type::value_type> records;
    for (std::size_t bucket = 0; bucket < kSummaryBuckets; ++bucket)
      if (in_scope(bucket % bucket_count, wanted)) records.insert(records.end(), index[bucket].begin(), index[bucket].end());
    std::sort(records.begin(), records.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
    for (const auto* record : records) {
      const DigestView mine = view_of_record(record->first, record->second);
      auto found = std::lower_bound(their_sorted.begin(), their_sorted.end(), record->first,
                                    [](const DigestEntry* entry, const std::string& key) { return entry->key < key; });
      const bool held = found != their_sorted.end() && (*found)->key == record->first;
      if (!held || view_newer(mine, **found)) {
        into.push_back(record->second);
      } else if (entry_newer(**found, mine)) {
        they_have_newer.push_back(record->first);
      }
      if (held) matched[static_cast<std::size_t>(found - their_sorted.begin())] = true;
    }
  };
  compare(member_buckets_, newer.members);
  compare(service_buckets_, newer.services);
  compare(assignment_buckets_, newer.assignments);
  compare(instance_buckets_, newer.instances);
  for (std::size_t i = 0; i < unique; ++i)
    if (!matched[i]) they_have_newer.push_back(their_sorted[i]->key);
  return newer;
}

StateDelta ClusterState::entries(const std::vector<std::string>& keys) const {
  StateDelta out;
  for (const auto& key : keys) {
    if (auto m = members_.find(key); m != members_.end()) out.members.push_back(m->second);
    else if (auto* s = service_keys_.find(key)) out.services.push_back(s->second);
    else if (auto* a = assignment_keys_.find(key)) out.assignments.push_back(a->second);
    else if (auto* i = instance_keys_.find(key)) out.instances.push_back(i->second);
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

template <class Map>
void ClusterState::erase_accounted(Map& map, auto should_erase) {
  for (auto it = map.begin(); it != map.end();) {
    if (should_erase(it->second)) {
      account(it->first, record_hash(it->first, it->second), 0);
      unindex_record(map, *it);
      it = map.erase(it);
    } else {
      ++it;
    }
  }
}

template <class Map>
bool ClusterState::erase_if_collected(Map& map, const std::string& key, std::uint64_t cutoff_hlc) {
  auto* record = keys_of(map).find(key);
  if (!record) return true;  // not held: nothing to keep it for
  if (!record->second.removed) return true;
  if (record->second.stamp.hlc >= cutoff_hlc) return false;
  account(record->first, record_hash(record->first, record->second), 0);
  unindex_record(map, *record);
  map.erase(map.find(key));
  return true;
}

std::vector<std::string> ClusterState::removed_services() const {
  std::vector<std::string> names;
  for (auto it = tombstones_.lower_bound("s/"); it != tombstones_.end() && it->starts_with("s/"); ++it)
    names.push_back(it->substr(2));
  return names;
}

std::size_t ClusterState::collect_garbage(std::uint64_t cutoff_hlc, std::uint64_t failed_cutoff_hlc) {
  std::size_t before = record_count();
  // Only the tombstones are visited (tombstones_), so an idle agent holding many live
  // records pays nothing for them here.
  for (auto it = tombstones_.begin(); it != tombstones_.end();) {
    const std::string& key = *it;
    bool gone = key.starts_with("s/")   ? erase_if_collected(services_, key, cutoff_hlc)
                : key.starts_with("a/") ? erase_if_collected(assignments_, key, cutoff_hlc)
                                        : erase_if_collected(instances_, key, cutoff_hlc);
    it = gone ? tombstones_.erase(it) : std::next(it);
  }
  erase_accounted(members_, [&](const MemberEntry& entry) {
        auto state = entry.member.state;
        return (state == MemberState::failed && entry.heartbeat < failed_cutoff_hlc) ||
               (state == MemberState::left && entry.heartbeat < cutoff_hlc);
      });
  names_.forget_unheld();  // the names of agents no record names any more
  return before - record_count();
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
