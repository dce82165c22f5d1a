// The replicated cluster state: members, service specs, assignments and instance states.
// Merging is commutative, associative and idempotent; delivery order and duplicates do not
// matter. Pure data structure, owned by the store thread.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "agent/flat_index.hpp"
#include "agent/key_order.hpp"
#include "agent/member_index.hpp"
#include "agent/name_table.hpp"
#include "bus/messages.hpp"

namespace mob {

int member_state_rank(MemberState state);
// Is `a` newer than `b`, by each record kind's order?
bool is_newer(const MemberEntry& a, const MemberEntry& b);
bool is_newer(const Stamp& a, const Stamp& b);
// is_newer(a, b) for a stamp read in place from a message (`hlc`, `origin`).
bool is_newer(std::uint64_t hlc, std::string_view origin, const Stamp& b);

std::string member_key(const std::string& name);
std::string service_key(const std::string& name);
std::string assignment_key(const std::string& service, std::uint32_t index);

// A member that is still taken to run (alive, or suspect and not yet failed).
inline bool is_live_member(MemberState state) {
  return state == MemberState::alive || state == MemberState::suspect;
}
std::string instance_key(const std::string& service, std::uint32_t index, const std::string& node);

// The records of one kind by key.
template <class Entry>
using RecordMap = std::map<std::string, Entry, KeyOrder>;

// The records of one kind by key through a hash (pointers to a RecordMap's values): what the
// store looks up for every copy of a record it receives, a probe where the tree is a walk.
struct RecordKeyOf {
  template <class Record>
  std::string_view operator()(const Record& record) const { return record.first; }
};
template <class Entry>
using RecordIndex = FlatIndex<typename RecordMap<Entry>::value_type, RecordKeyOf>;

class ClusterState {
 public:
  ClusterState() = default;
  // A copy indexes its own records (the bucket indexes point into this state's maps).
  ClusterState(const ClusterState& other);
  ClusterState& operator=(const ClusterState& other);
  ClusterState(ClusterState&&) = default;  // map nodes move with their maps
  ClusterState& operator=(ClusterState&&) = default;

  // Each merge keeps the newer entry and returns true when this state changed.
  bool merge(const MemberEntry& entry);
  bool merge(const ServiceEntry& entry);
  bool merge(const AssignmentEntry& entry);
  bool merge(const InstanceEntry& entry);
  // Merges every entry; returns those that changed this state.
  StateDelta merge(const StateDelta& delta);

  const RecordMap<MemberEntry>& members() const { return members_; }
  const RecordMap<ServiceEntry>& services() const { return services_; }
  // Services deployed and not removed; kept as records merge, so asking costs nothing.
  std::size_t deployed_services() const { return deployed_services_; }
  const RecordMap<AssignmentEntry>& assignments() const { return assignments_; }
  // How many assignments (tombstones aside) name each node, by node: placement's load, kept
  // as records merge, so that placing one service does not walk every assignment.
  const std::map<std::string, std::uint32_t>& assignments_per_node() const { return assignments_per_node_; }
  const RecordMap<InstanceEntry>& instances() const { return instances_; }

  const MemberEntry* member(std::string_view name) const;
  // The members alive (and suspect, with `include_suspect`), by name.
  std::vector<Member> live_members(bool include_suspect) const;
  const ServiceEntry* service(std::string_view name) const;  // removed ones too
  const AssignmentEntry* assignment(std::string_view service, std::uint32_t index) const;
  const InstanceEntry* instance(std::string_view service, std::uint32_t index, std::string_view node) const;

  // Visits the assignments / instance records of one service (a key-prefix range).
  template <class Visit>
  void for_each_assignment(const std::string& service, Visit&& visit) const {
    visit_prefix(assignments_, "a/" + service + "/", visit);
  }
  template <class Visit>
  void for_each_instance(const std::string& service, Visit&& visit) const {
    visit_prefix(instances_, "i/" + service + "/", visit);
  }

  // Anti-entropy: the order of every record, a hash of it, what is newer here than in
  // `theirs` (plus what they lack), and the keys where they are newer.
  std::vector<DigestEntry> digest() const;
  static std::uint64_t summary(const std::vector<DigestEntry>& digest);
  StateDelta newer_than(const std::vector<DigestEntry>& theirs,
                        std::vector<std::string>& they_have_newer) const;

  // Summary-first anti-entropy (docs/architecture.md, "Anti-entropy"). Every record falls in
  // one of kSummaryBuckets buckets by its key; each bucket's summary is the sum of its
  // records' hashes, kept up to date on every merge and collection, so comparing two states
  // costs O(buckets), not O(records). A member's hash leaves out its heartbeat and load
  // (cluster_state.cpp, member_hash): states that differ only there have equal summaries. Two agents compare the summaries at a coarser
  // `bucket_count` (a power of two up to kSummaryBuckets: bucket b at that count holds the
  // buckets b, b + count, ...) and exchange digests only of the buckets that differ.
  static constexpr std::size_t kSummaryBuckets = kMaxSyncBuckets;
  static bool is_bucket_count(std::uint64_t count);
  std::vector<std::uint64_t> bucket_summaries(std::size_t bucket_count) const;
  // The sum of every record's hash: equal states have equal totals.
  std::uint64_t total_summary() const;
  std::size_t record_count() const { return members_.size() + services_.size() + assignments_.size() + instances_.size(); }
  // The buckets (at `bucket_count`) whose summaries differ from `theirs`.
  std::vector<std::uint32_t> differing_buckets(const std::vector<std::uint64_t>& theirs) const;
  // The digest of the records in the `scope` buckets at `bucket_count`.
  std::vector<DigestEntry> digest(const std::vector<std::uint32_t>& scope, std::size_t bucket_count) const;
  // newer_than over the records in the `scope` buckets only: what `theirs` (a digest of the
  // same buckets) lacks is counted only there.
  StateDelta newer_than(const std::vector<DigestEntry>& theirs, std::vector<std::string>& they_have_newer,
                        const std::vector<std::uint32_t>& scope, std::size_t bucket_count) const;
  // How many records each of the `scope` buckets holds, in the order of `scope`.
  std::vector<std::size_t> bucket_sizes(const std::vector<std::uint32_t>& scope, std::size_t bucket_count) const;
  static std::size_t bucket_of(const std::string& key);
  StateDelta entries(const std::vector<std::string>& keys) const;
  StateDelta everything() const;

  // Drops tombstones and left members stamped before `cutoff_hlc`, and failed members
  // stamped before `failed_cutoff_hlc` (they are retried until then: they may come back).
  std::size_t collect_garbage(std::uint64_t cutoff_hlc, std::uint64_t failed_cutoff_hlc);
  // The earliest stamp of a member declared failed and not yet past `failed_cutoff_hlc`
  // (still retried: it may come back, holding what it had when it was cut off), if any.
  std::optional<std::uint64_t> earliest_failure(std::uint64_t failed_cutoff_hlc) const;
  // The names of the services whose records are tombstones (a walk of the tombstones only).
  std::vector<std::string> removed_services() const;
  // How many service, assignment and instance records are tombstones.
  std::size_t tombstone_count() const { return tombstones_.size(); }
  // How many distinct agent and host names the records hold (each held once).
  std::size_t shared_names() const { return names_.size(); }

 private:
  template <class Map, class Visit>
  static void visit_prefix(const Map& map, const std::string& prefix, Visit& visit) {
    for (auto it = map.lower_bound(prefix); it != map.end() && it->first.starts_with(prefix); ++it)
      visit(it->second);
  }

  // Keeps bucket_sums_ in step with a record whose hash goes from `removed_hash` to
  // `added_hash` (0: none).
  void account(const std::string& key, std::uint64_t removed_hash, std::uint64_t added_hash);
  // Puts `entry` at `key` (in `found`, or new when null) and accounts for it.
  template <class Map, class Entry>
  bool replace(Map& map, typename Map::value_type* found, std::string key, const Entry& entry);
  // Last writer wins by stamp; `found` is the record held at `key` in `into` (null: none).
  template <class Entry>
  bool merge_lww(RecordMap<Entry>& into, std::string key, const Entry& entry);
  template <class Entry>
  bool merge_lww(RecordMap<Entry>& into, typename RecordMap<Entry>::value_type* found,
                 std::string key, const Entry& entry);
  // Makes a record just stored share this state's copy of each agent and host name it holds.
  void share_names(ServiceEntry& entry);
  void share_names(AssignmentEntry& entry);
  void share_names(InstanceEntry& entry);
  void share_names(MemberEntry&) {}  // one record per member: nothing repeats
  template <class Map>
  void erase_accounted(Map& map, auto should_erase);
  // Erases the record at `key` if it is a tombstone stamped before `cutoff_hlc`; false while
  // it is a tombstone to keep.
  template <class Map>
  bool erase_if_collected(Map& map, const std::string& key, std::uint64_t cutoff_hlc);

  RecordMap<MemberEntry> members_;
  MemberIndex member_index_;  // members_ by name (pointers to its values)
  RecordMap<ServiceEntry> services_;
  std::size_t deployed_services_ = 0;  // entries of services_ that are not tombstones
  RecordMap<AssignmentEntry> assignments_;
  std::map<std::string, std::uint32_t> assignments_per_node_;  // assignments_ not removed, by node
  RecordMap<InstanceEntry> instances_;
  std::array<std::uint64_t, kSummaryBuckets> bucket_sums_{};
  NameTable names_;  // the agent and host names the records hold, each once
  // The keys of the service, assignment and instance records that are tombstones, kept as
  // records merge, so that garbage collection visits them and not every record.
  std::set<std::string> tombstones_;
  // The records of each bucket, per kind (pointers to the maps' nodes, which std::map keeps in
  // place), so that a digest or a bucket's size costs the buckets asked for, not a walk of
  // every record hashing each key: anti-entropy asks for many scopes while a large network
  // changes (docs/performance.md, "Anti-entropy by bucket index").
  template <class Entry>
  using BucketIndex = std::array<std::vector<const typename RecordMap<Entry>::value_type*>, kSummaryBuckets>;
  BucketIndex<MemberEntry> member_buckets_{};
  BucketIndex<ServiceEntry> service_buckets_{};
  BucketIndex<AssignmentEntry> assignment_buckets_{};
  BucketIndex<InstanceEntry> instance_buckets_{};
  BucketIndex<MemberEntry>& buckets_of(const RecordMap<MemberEntry>&) { return member_buckets_; }
  BucketIndex<ServiceEntry>& buckets_of(const RecordMap<ServiceEntry>&) { return service_buckets_; }
  BucketIndex<AssignmentEntry>& buckets_of(const RecordMap<AssignmentEntry>&) { return assignment_buckets_; }
  BucketIndex<InstanceEntry>& buckets_of(const RecordMap<InstanceEntry>&) { return instance_buckets_; }
  // services_, assignments_ and instances_ by key (members_ are found by name, member_index_).
  RecordIndex<ServiceEntry> service_keys_;
  RecordIndex<AssignmentEntry> assignment_keys_;
  RecordIndex<InstanceEntry> instance_keys_;
  RecordIndex<ServiceEntry>& keys_of(const RecordMap<ServiceEntry>&) { return service_keys_; }
  RecordIndex<AssignmentEntry>& keys_of(const RecordMap<AssignmentEntry>&) { return assignment_keys_; }
  RecordIndex<InstanceEntry>& keys_of(const RecordMap<InstanceEntry>&) { return instance_keys_; }
  const RecordIndex<ServiceEntry>& keys_of(const RecordMap<ServiceEntry>&) const { return service_keys_; }
  const RecordIndex<AssignmentEntry>& keys_of(const RecordMap<AssignmentEntry>&) const { return assignment_keys_; }
  const RecordIndex<InstanceEntry>& keys_of(const RecordMap<InstanceEntry>&) const { return instance_keys_; }
  // Adds a record just put in `map` to the bucket and key indexes, or takes it out of them
  // before it is erased.
  template <class Entry>
  void index_record(const RecordMap<Entry>& map, typename RecordMap<Entry>::value_type& record);
  template <class Entry>
  void unindex_record(const RecordMap<Entry>& map, const typename RecordMap<Entry>::value_type& record);
  void reindex();
};

}  // namespace mob
