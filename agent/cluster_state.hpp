// The replicated cluster state: members, service specs, assignments and instance states.
// Merging is commutative, associative and idempotent; delivery order and duplicates do not
// matter. Pure data structure, owned by the store thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "bus/messages.hpp"

namespace mob {

int member_state_rank(MemberState state);
// Is `a` newer than `b`, by each record kind's order?
bool is_newer(const MemberEntry& a, const MemberEntry& b);
bool is_newer(const Stamp& a, const Stamp& b);

std::string member_key(const std::string& name);
std::string service_key(const std::string& name);
std::string assignment_key(const std::string& service, std::uint32_t index);

// A member that is still taken to run (alive, or suspect and not yet failed).
inline bool is_live_member(MemberState state) {
  return state == MemberState::alive || state == MemberState::suspect;
}
std::string instance_key(const std::string& service, std::uint32_t index, const std::string& node);

class ClusterState {
 public:
  // Each merge keeps the newer entry and returns true when this state changed.
  bool merge(const MemberEntry& entry);
  bool merge(const ServiceEntry& entry);
  bool merge(const AssignmentEntry& entry);
  bool merge(const InstanceEntry& entry);
  // Merges every entry; returns those that changed this state.
  StateDelta merge(const StateDelta& delta);

  const std::map<std::string, MemberEntry>& members() const { return members_; }
  const std::map<std::string, ServiceEntry>& services() const { return services_; }
  const std::map<std::string, AssignmentEntry>& assignments() const { return assignments_; }
  const std::map<std::string, InstanceEntry>& instances() const { return instances_; }

  const MemberEntry* member(const std::string& name) const;
  // The members alive (and suspect, with `include_suspect`), by name.
  std::vector<Member> live_members(bool include_suspect) const;
  const ServiceEntry* service(const std::string& name) const;  // removed ones too
  const AssignmentEntry* assignment(const std::string& service, std::uint32_t index) const;
  const InstanceEntry* instance(const std::string& service, std::uint32_t index,
                                const std::string& node) const;

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
  StateDelta entries(const std::vector<std::string>& keys) const;
  StateDelta everything() const;

  // Drops tombstones and left members stamped before `cutoff_hlc`, and failed members
  // stamped before `failed_cutoff_hlc` (they are retried until then: they may come back).
  std::size_t collect_garbage(std::uint64_t cutoff_hlc, std::uint64_t failed_cutoff_hlc);
  // The earliest stamp of a member declared failed and not yet past `failed_cutoff_hlc`
  // (still retried: it may come back, holding what it had when it was cut off), if any.
  std::optional<std::uint64_t> earliest_failure(std::uint64_t failed_cutoff_hlc) const;

 private:
  template <class Map, class Visit>
  static void visit_prefix(const Map& map, const std::string& prefix, Visit& visit) {
    for (auto it = map.lower_bound(prefix); it != map.end() && it->first.starts_with(prefix); ++it)
      visit(it->second);
  }

  std::map<std::string, MemberEntry> members_;
  std::map<std::string, ServiceEntry> services_;
  std::map<std::string, AssignmentEntry> assignments_;
  std::map<std::string, InstanceEntry> instances_;
};

}  // namespace mob
