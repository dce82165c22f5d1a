// The replicated cluster state: each record kind's order, the merge laws (commutative,
// associative, idempotent) on random deltas, what a merge reports as changed,
// anti-entropy between two states, and garbage collection of tombstones.
#include "agent/cluster_state.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include "bus/wire.hpp"

namespace mob {
namespace cluster_state_test {

// ---- building records ----------------------------------------------------------------------

MemberEntry member_entry(std::string name, std::uint64_t incarnation, MemberState state,
                         std::uint64_t heartbeat, std::string reported_by = "n0") {
  MemberEntry entry;
  entry.member.name = std::move(name);
  entry.member.incarnation = incarnation;
  entry.member.state = state;
  entry.heartbeat = heartbeat;
  entry.reported_by = std::move(reported_by);
  return entry;
}

Stamp stamp(std::uint64_t hlc, std::string origin = "n0") { return Stamp{hlc, std::move(origin)}; }

ServiceEntry service_entry(std::string name, Stamp at, bool removed = false, std::string spec_json = "{}") {
  ServiceEntry entry;
  entry.name = std::move(name);
  entry.spec_json = std::move(spec_json);
  entry.removed = removed;
  entry.stamp = std::move(at);
  return entry;
}

AssignmentEntry assignment_entry(std::string service, std::uint32_t index, std::string node, Stamp at,
                                 bool removed = false) {
  return AssignmentEntry{std::move(service), index, std::move(node), removed, std::move(at), 0, {}};
}

InstanceEntry instance_entry(std::string service, std::uint32_t index, std::string node, Stamp at,
                             bool removed = false, InstanceState state = InstanceState::running) {
  InstanceEntry entry;
  entry.status.service = std::move(service);
  entry.status.index = index;
  entry.status.node = std::move(node);
  entry.status.state = state;
  entry.removed = removed;
  entry.stamp = std::move(at);
  return entry;
}

// ---- comparing states ----------------------------------------------------------------------

// Every field, byte for byte.
template <class T>
std::string packed(const T& value) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  wire::pack(packer, value);
  return std::string(buffer.data(), buffer.size());
}

bool same(const ClusterState& a, const ClusterState& b) {
  return packed(a.everything()) == packed(b.everything()) && packed(a.digest()) == packed(b.digest());
}

std::size_t entry_count(const StateDelta& delta) {
  return delta.members.size() + delta.services.size() + delta.assignments.size() +
         delta.instances.size();
}

std::size_t record_count(const ClusterState& state) { return entry_count(state.everything()); }

// ---- any record, generically -----------------------------------------------------------------

using AnyEntry = std::variant<MemberEntry, ServiceEntry, AssignmentEntry, InstanceEntry>;

std::string key_of(const MemberEntry& entry) { return member_key(entry.member.name); }
std::string key_of(const ServiceEntry& entry) { return service_key(entry.name); }
std::string key_of(const AssignmentEntry& entry) { return assignment_key(entry.service, entry.index); }
std::string key_of(const InstanceEntry& entry) {
  return instance_key(entry.status.service, entry.status.index, entry.status.node);
}
std::string key_of(const AnyEntry& entry) {
  return std::visit([](const auto& e) { return key_of(e); }, entry);
}

void add(StateDelta& delta, const AnyEntry& entry) {
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, MemberEntry>) delta.members.push_back(e);
        else if constexpr (std::is_same_v<T, ServiceEntry>) delta.services.push_back(e);
        else if constexpr (std::is_same_v<T, AssignmentEntry>) delta.assignments.push_back(e);
        else delta.instances.push_back(e);
      },
      entry);
}

StateDelta delta_of(const std::vector<AnyEntry>& entries) {
  StateDelta delta;
  for (const auto& entry : entries) add(delta, entry);
  return delta;
}

std::vector<AnyEntry> entries_of(const StateDelta& delta) {
  std::vector<AnyEntry> out;
  out.insert(out.end(), delta.members.begin(), delta.members.end());
  out.insert(out.end(), delta.services.begin(), delta.services.end());
  out.insert(out.end(), delta.assignments.begin(), delta.assignments.end());
  out.insert(out.end(), delta.instances.begin(), delta.instances.end());
  return out;
}

bool merge_one(ClusterState& state, const AnyEntry& entry) {
  return std::visit([&](const auto& e) { return state.merge(e); }, entry);
}

ClusterState state_of(const std::vector<StateDelta>& deltas) {
  ClusterState state;
  for (const auto& delta : deltas) state.merge(delta);
  return state;
}

// Would `entry` replace what `state` holds under its key (or fill an empty key)?
bool would_change(const ClusterState& state, const AnyEntry& entry) {
  return std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, MemberEntry>) {
          const auto* held = state.member(e.member.name);
          return held == nullptr || is_newer(e, *held);
        } else if constexpr (std::is_same_v<T, ServiceEntry>) {
          const auto* held = state.service(e.name);
          return held == nullptr || is_newer(e.stamp, held->stamp);
        } else if constexpr (std::is_same_v<T, AssignmentEntry>) {
          const auto* held = state.assignment(e.service, e.index);
          return held == nullptr || is_newer(e.stamp, held->stamp);
        } else {
          const auto* held = state.instance(e.status.service, e.status.index, e.status.node);
          return held == nullptr || is_newer(e.stamp, held->stamp);
        }
      },
      entry);
}

// ---- random records ------------------------------------------------------------------------

// Random records over a small key space (4 members, 4 services, 9 assignments, 16 instances)
// and a short clock, so most keys see several writes, ties on the clock are broken by the
// origin (for members: by the reporter), and about a quarter of the writes are tombstones.
// A record's content is a function of its key and its order, as in the mesh, where one
// agent's stamp never names two writes.
class Generator {
 public:
  static constexpr std::uint64_t kClockSpan = 10;

  explicit Generator(std::uint32_t seed) : random_(seed) {}

  MemberEntry member() {
    // One statement per draw: the order of evaluating arguments is unspecified.
    MemberEntry entry;
    entry.member.name = node();
    entry.member.incarnation = below(3);
    entry.member.state = static_cast<MemberState>(below(4));
    entry.heartbeat = 1 + below(kClockSpan);
    entry.reported_by = node();
    auto print = fingerprint(key_of(entry) + "/" + std::to_string(entry.member.incarnation) + "/" +
                             std::to_string(static_cast<int>(entry.member.state)) + "/" +
                             std::to_string(entry.heartbeat) + "/" + entry.reported_by);
    entry.member.address = "tcp://10.0.0." + std::to_string(print % 250) + ":7946";
    entry.member.load = static_cast<double>(print % 100) / 10.0;
    entry.member.providers = print % 2 == 0 ? std::vector<std::string>{"bash"}
                                            : std::vector<std::string>{"bash", "docker"};
    return entry;
  }

  ServiceEntry service() {
    ServiceEntry entry;
    entry.name = "s" + std::to_string(below(4));
    entry.stamp = random_stamp();
    auto print = fingerprint_of(entry);
    entry.removed = print % 4 == 0;
    entry.spec_json = "{\"v\":" + std::to_string(print % 1000) + "}";
    entry.generation = print % 7;
    entry.enabled = print % 3 != 0;
    entry.restart_generation = print % 5;
    return entry;
  }

  AssignmentEntry assignment() {
    AssignmentEntry entry;
    entry.service = "s" + std::to_string(below(3));
    entry.index = static_cast<std::uint32_t>(below(3));
    entry.stamp = random_stamp();
    auto print = fingerprint_of(entry);
    entry.node = "n" + std::to_string(print % 4);
    entry.removed = print % 4 == 0;
    return entry;
  }

  InstanceEntry instance() {
    InstanceEntry entry;
    entry.status.service = "s" + std::to_string(below(2));
    entry.status.index = static_cast<std::uint32_t>(below(2));
    entry.status.node = node();
    entry.stamp = random_stamp();
    auto print = fingerprint_of(entry);
    entry.removed = print % 4 == 0;
    entry.status.state = static_cast<InstanceState>(print % static_cast<int>(InstanceState::count_));
    entry.status.pid = static_cast<std::int64_t>(print % 30000);
    entry.status.restarts = static_cast<std::uint32_t>(print % 3);
    entry.status.reason = print % 2 == 0 ? "" : "exited with code 1";
    return entry;
  }

  AnyEntry any() {
    switch (below(4)) {
      case 0: return member();
      case 1: return service();
      case 2: return assignment();
      default: return instance();
    }
  }

  std::vector<AnyEntry> entries(std::size_t count) {
    std::vector<AnyEntry> out;
    for (std::size_t i = 0; i < count; ++i) out.push_back(any());
    return out;
  }

  StateDelta delta(std::size_t count) { return delta_of(entries(count)); }

 private:
  std::uint64_t below(std::uint64_t bound) {
    return std::uniform_int_distribution<std::uint64_t>(0, bound - 1)(random_);
  }
  std::string node() { return "n" + std::to_string(below(4)); }
  Stamp random_stamp() {
    Stamp out;
    out.hlc = 1 + below(kClockSpan);
    out.origin = node();
    return out;
  }

  static std::uint64_t fingerprint(const std::string& text) { return std::hash<std::string>{}(text); }
  template <class Entry>
  static std::uint64_t fingerprint_of(const Entry& entry) {
    return fingerprint(key_of(entry) + "@" + std::to_string(entry.stamp.hlc) + "/" + entry.stamp.origin);
  }

  std::mt19937 random_;
};

// ---- each record kind's order ------------------------------------------------------------------

// The maps' key order must be std::string's exactly: anti-entropy's prefix walks and every
// agent's iteration order (placement, digests) rely on it.
TEST(KeyOrder, OrdersKeysAsStdStringDoes) {
  std::mt19937 random(7);
  const std::string alphabet = std::string("ai/0123456789-.:") + '\x7f' + '\x80' + '\xff' + '\0';
  std::vector<std::string> keys = {"", "a", "a/", "a/b", "i/web/0/a", "i/web/0/a1", "i/web/10/a", "i/web/9/a",
                                   "i/web-0042/0/host:6666", "i/web-0042/0/host:6667", "i/web-0042/0/host:666"};
  for (int i = 0; i < 2000; ++i) {
    std::string key;
    const int length = static_cast<int>(random() % 40);
    for (int c = 0; c < length; ++c) key += alphabet[random() % alphabet.size()];
    keys.push_back(key);
    if (!key.empty()) keys.push_back(key.substr(0, random() % key.size()));  // a prefix of it
  }
  const KeyOrder order;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    for (std::size_t j = i; j < keys.size() && j < i + 40; ++j) {
      const auto& a = keys[i];
      const auto& b = keys[j];
      ASSERT_EQ(order(a, b), a < b) << '"' << a << "\" vs \"" << b << '"';
      ASSERT_EQ(order(b, a), b < a) << '"' << b << "\" vs \"" << a << '"';
      const int expected = a.compare(b) < 0 ? -1 : (a.compare(b) > 0 ? 1 : 0);
      ASSERT_EQ(KeyOrder::compare(a, b), expected);
    }
  }
  std::vector<std::string> sorted = keys;
  std::vector<std::string> by_key_order = keys;
  std::sort(sorted.begin(), sorted.end());
  std::sort(by_key_order.begin(), by_key_order.end(), order);
  EXPECT_EQ(sorted, by_key_order);
}

// A record is found by its name whatever its length, past the lookup's stack buffer too.
TEST(ClusterStateLookup, FindsRecordsWithLongNames) {
  ClusterState state;
  const std::string node(253, 'n');
  const std::string service(63, 's');
  InstanceEntry instance;
  instance.status.service = service;
  instance.status.index = 4294967295u;
  instance.status.node = node;
  instance.stamp = Stamp{5, node};
  ASSERT_TRUE(state.merge(instance));
  ASSERT_NE(state.instance(service, 4294967295u, node), nullptr);
  EXPECT_EQ(state.instance(service, 4294967295u, node)->stamp.hlc, 5u);
  EXPECT_EQ(state.instance(service, 429496729u, node), nullptr);
  const std::string longer(500, 'x');  // longer than any valid name: the key goes on the heap
  MemberEntry member;
  member.member.name = longer;
  member.reported_by = longer;
  ASSERT_TRUE(state.merge(member));
  ASSERT_NE(state.member(longer), nullptr);
  EXPECT_EQ(state.member(longer)->member.name, longer);
  EXPECT_EQ(state.member(longer.substr(1)), nullptr);
}

// A name peeked in a message may be empty with no data at all (a null pointer): a lookup by
// it finds nothing, and copies nothing from it (the UBSan build checks the copy).
TEST(ClusterStateLookup, AnEmptyNameWithoutDataFindsNothing) {
  ClusterState state;
  MemberEntry member;
  member.member.name = "a1";
  ASSERT_TRUE(state.merge(member));
  const std::string_view nothing;
  ASSERT_EQ(nothing.data(), nullptr);
  EXPECT_EQ(state.member(nothing), nullptr);
  EXPECT_EQ(state.service(nothing), nullptr);
  EXPECT_EQ(state.assignment(nothing, 0), nullptr);
  EXPECT_EQ(state.instance(nothing, 0, nothing), nullptr);
}

// The member index against a std::map of the same names, through inserts and erases in a
// random order: collisions, wrap-around and the backward shift of an erase included.
TEST(MemberIndex, FindsWhatAMapOfTheSameNamesFinds) {
  std::mt19937_64 random(7);
  std::map<std::string, MemberEntry> held;  // the entries the index points into (nodes stay put)
  MemberIndex index;
  auto check = [&] {
    ASSERT_EQ(index.size(), held.size());
    for (const auto& [name, entry] : held) ASSERT_EQ(index.find(name), &entry) << name;
    for (int i = 0; i < 50; ++i) {
      const std::string absent = "gone" + std::to_string(random() % 4000);
      ASSERT_EQ(index.find(absent), held.contains(absent) ? &held.at(absent) : nullptr) << absent;
    }
  };
  for (int round = 0; round < 6; ++round) {
    for (int i = 0; i < 300; ++i) {
      const std::string name = "gone" + std::to_string(random() % 4000);
      if (held.contains(name)) continue;
      MemberEntry entry;
      entry.member.name = name;
      index.insert(&held.emplace(name, entry).first->second);
    }
    check();
    for (auto it = held.begin(); it != held.end();) {
      if (random() % 3 != 0) {
        ++it;
        continue;
      }
      index.erase(&it->second);
      it = held.erase(it);
    }
    check();
  }
  MemberEntry stranger;
  stranger.member.name = "stranger";
  index.erase(&stranger);  // not indexed: nothing changes
  check();
  index.clear();
  EXPECT_EQ(index.find(held.begin()->first), nullptr);
}

// The state finds its members through the index after merges, a collection and a copy.
TEST(MemberIndex, TheStateFindsItsMembersAfterMergesCollectionAndCopies) {
  using enum MemberState;
  ClusterState state;
  for (int i = 0; i < 200; ++i) state.merge(member_entry("m" + std::to_string(i), 1, i % 2 ? failed : alive, 10));
  state.merge(member_entry("m4", 2, suspect, 11));  // replaced in place
  ClusterState copy = state;
  EXPECT_EQ(state.collect_garbage(100, 100), 100u) << "the failed ones";
  for (int i = 0; i < 200; ++i) {
    const std::string name = "m" + std::to_string(i);
    EXPECT_EQ(state.member(name) != nullptr, i % 2 == 0) << name;
    ASSERT_NE(copy.member(name), nullptr) << name;
    EXPECT_EQ(copy.member(name), &copy.members().at(member_key(name))) << "the copy's own record";
  }
  EXPECT_EQ(state.member("m4")->member.state, suspect);
  ClusterState moved = std::move(copy);
  EXPECT_EQ(moved.member("m7"), &moved.members().at(member_key("m7")));
}

// The state finds its service, assignment and instance records through their key indexes
// after merges (new and in place), tombstones, a collection, a copy and a move, and finds
// nothing where a record never was or was collected.
TEST(RecordIndex, TheStateFindsItsRecordsAfterMergesCollectionAndCopies) {
  ClusterState state;
  for (int i = 0; i < 300; ++i) {
    const std::string name = "svc-" + std::to_string(i);
    const bool removed = i % 3 == 0;
    state.merge(service_entry(name, stamp(10), removed));
    state.merge(assignment_entry(name, 0, "n" + std::to_string(i % 7), stamp(10), removed));
    state.merge(instance_entry(name, 0, "n" + std::to_string(i % 7), stamp(10), removed));
  }
  state.merge(service_entry("svc-1", stamp(20)));  // replaced in place
  auto check = [](const ClusterState& held, bool collected) {
    for (int i = 0; i < 300; ++i) {
      const std::string name = "svc-" + std::to_string(i);
      const std::string node = "n" + std::to_string(i % 7);
      const bool gone = collected && i % 3 == 0;
      ASSERT_EQ(held.service(name) != nullptr, !gone) << name;
      ASSERT_EQ(held.assignment(name, 0) != nullptr, !gone) << name;
      ASSERT_EQ(held.instance(name, 0, node) != nullptr, !gone) << name;
      if (gone) continue;
      EXPECT_EQ(held.service(name), &held.services().at(service_key(name))) << "the state's own record";
      EXPECT_EQ(held.assignment(name, 0), &held.assignments().at(assignment_key(name, 0)));
      EXPECT_EQ(held.instance(name, 0, node), &held.instances().at(instance_key(name, 0, node)));
      EXPECT_EQ(held.assignment(name, 1), nullptr) << "never assigned";
      EXPECT_EQ(held.instance(name, 0, node + "x"), nullptr) << "never reported";
    }
  };
  check(state, false);
  EXPECT_EQ(state.service("svc-1")->stamp.hlc, 20u);
  ClusterState copy = state;
  EXPECT_EQ(state.collect_garbage(100, 100), 300u) << "100 tombstones of each kind";
  check(state, true);
  check(copy, false);
  ClusterState moved = std::move(copy);
  check(moved, false);
  copy = state;  // assigned over a moved-from state
  check(copy, true);
  EXPECT_TRUE(same(copy, state));
}

TEST(MemberOrder, StateRanksAliveThenSuspectThenFailedThenLeft) {
  EXPECT_EQ(member_state_rank(MemberState::alive), 0);
  EXPECT_EQ(member_state_rank(MemberState::suspect), 1);
  EXPECT_EQ(member_state_rank(MemberState::failed), 2);
  EXPECT_EQ(member_state_rank(MemberState::left), 3);
}

TEST(MemberOrder, IncarnationThenStateThenHeartbeatThenReporter) {
  using enum MemberState;
  struct Row {
    const char* why;
    MemberEntry newer;
    MemberEntry older;
  };
  const Row rows[] = {
      {"a higher incarnation beats any state and heartbeat",
       member_entry("x", 2, alive, 1, "a"), member_entry("x", 1, left, 99, "z")},
      {"suspect beats alive", member_entry("x", 1, suspect, 1), member_entry("x", 1, alive, 99)},
      {"failed beats suspect", member_entry("x", 1, failed, 1), member_entry("x", 1, suspect, 99)},
      {"left beats failed", member_entry("x", 1, left, 1), member_entry("x", 1, failed, 99)},
      {"left beats alive", member_entry("x", 1, left, 1), member_entry("x", 1, alive, 99)},
      {"a later heartbeat in the same incarnation and state", member_entry("x", 1, alive, 6, "a"),
       member_entry("x", 1, alive, 5, "z")},
      {"then the reporter's name", member_entry("x", 1, suspect, 5, "b"),
       member_entry("x", 1, suspect, 5, "a")},
  };
  for (const auto& row : rows) {
    EXPECT_TRUE(is_newer(row.newer, row.older)) << row.why;
    EXPECT_FALSE(is_newer(row.older, row.newer)) << row.why;
  }
}

TEST(MemberOrder, AnEntryIsNotNewerThanItself) {
  auto entry = member_entry("x", 3, MemberState::suspect, 7, "a");
  EXPECT_FALSE(is_newer(entry, entry));
}

TEST(StampOrder, ClockThenOrigin) {
  EXPECT_TRUE(is_newer(stamp(2, "a"), stamp(1, "z")));
  EXPECT_FALSE(is_newer(stamp(1, "z"), stamp(2, "a")));
  EXPECT_TRUE(is_newer(stamp(5, "b"), stamp(5, "a")));
  EXPECT_FALSE(is_newer(stamp(5, "a"), stamp(5, "b")));
  EXPECT_FALSE(is_newer(stamp(5, "a"), stamp(5, "a")));
}

// ---- merging single records ----------------------------------------------------------------------

TEST(ClusterStateMerge, KeepsTheNewerMemberWhicheverArrivesFirst) {
  auto older = member_entry("x", 1, MemberState::alive, 9);
  auto newer = member_entry("x", 1, MemberState::suspect, 3, "y");
  ClusterState one;
  EXPECT_TRUE(one.merge(older));
  EXPECT_TRUE(one.merge(newer));
  ClusterState other;
  EXPECT_TRUE(other.merge(newer));
  EXPECT_FALSE(other.merge(older));
  ASSERT_NE(other.member("x"), nullptr);
  EXPECT_EQ(other.member("x")->member.state, MemberState::suspect);
  EXPECT_TRUE(same(one, other));
}

TEST(ClusterStateMerge, AnEqualOrOlderRecordChangesNothing) {
  ClusterState state;
  ASSERT_TRUE(state.merge(service_entry("web", stamp(5, "b"), false, "{\"v\":2}")));
  ASSERT_TRUE(state.merge(assignment_entry("web", 0, "n1", stamp(5, "b"))));
  ASSERT_TRUE(state.merge(instance_entry("web", 0, "n1", stamp(5, "b"))));
  ASSERT_TRUE(state.merge(member_entry("n1", 2, MemberState::alive, 5)));
  auto before = packed(state.everything());
  EXPECT_FALSE(state.merge(service_entry("web", stamp(5, "b"), false, "{\"v\":2}")));
  EXPECT_FALSE(state.merge(service_entry("web", stamp(5, "a"), false, "{\"v\":1}")));
  EXPECT_FALSE(state.merge(service_entry("web", stamp(4, "z"), false, "{\"v\":1}")));
  EXPECT_FALSE(state.merge(assignment_entry("web", 0, "n2", stamp(4, "z"))));
  EXPECT_FALSE(state.merge(instance_entry("web", 0, "n1", stamp(5, "a"), true)));
  EXPECT_FALSE(state.merge(member_entry("n1", 1, MemberState::failed, 50)));
  EXPECT_EQ(packed(state.everything()), before);
}

TEST(ClusterStateMerge, ANewerTombstoneWinsAndAnOlderWriteDoesNotResurrectTheRecord) {
  ClusterState state;
  state.merge(service_entry("web", stamp(5)));
  state.merge(assignment_entry("web", 0, "n1", stamp(5)));
  state.merge(instance_entry("web", 0, "n1", stamp(5)));
  EXPECT_TRUE(state.merge(service_entry("web", stamp(6), true)));
  EXPECT_TRUE(state.merge(assignment_entry("web", 0, "", stamp(6), true)));
  EXPECT_TRUE(state.merge(instance_entry("web", 0, "n1", stamp(6), true)));
  EXPECT_FALSE(state.merge(service_entry("web", stamp(5, "z"))));
  EXPECT_FALSE(state.merge(assignment_entry("web", 0, "n2", stamp(5, "z"))));
  EXPECT_FALSE(state.merge(instance_entry("web", 0, "n1", stamp(5, "z"))));
  EXPECT_TRUE(state.service("web")->removed);
  EXPECT_TRUE(state.assignment("web", 0)->removed);
  EXPECT_TRUE(state.instance("web", 0, "n1")->removed);
}

TEST(ClusterStateMerge, KeysRecordsByKindAndEveryKeyPart) {
  ClusterState state;
  EXPECT_TRUE(state.merge(member_entry("web", 1, MemberState::alive, 1)));
  EXPECT_TRUE(state.merge(service_entry("web", stamp(1))));
  EXPECT_TRUE(state.merge(assignment_entry("web", 0, "n1", stamp(1))));
  EXPECT_TRUE(state.merge(assignment_entry("web", 1, "n1", stamp(1))));
  EXPECT_TRUE(state.merge(instance_entry("web", 0, "n1", stamp(1))));
  EXPECT_TRUE(state.merge(instance_entry("web", 0, "n2", stamp(1))));
  EXPECT_EQ(record_count(state), 6u);
  EXPECT_NE(state.instance("web", 0, "n2"), nullptr);
  EXPECT_EQ(state.instance("web", 1, "n2"), nullptr);
}

TEST(ClusterStateMerge, ADeltaNamingAKeyTwiceReportsEachWriteThatWon) {
  auto old_write = service_entry("web", stamp(1), false, "{\"v\":1}");
  auto new_write = service_entry("web", stamp(2), false, "{\"v\":2}");
  ClusterState upward;
  auto changed = upward.merge(StateDelta{{}, {old_write, new_write}, {}, {}});
  EXPECT_EQ(packed(changed.services), packed(std::vector{old_write, new_write}));
  ClusterState downward;
  changed = downward.merge(StateDelta{{}, {new_write, old_write}, {}, {}});
  EXPECT_EQ(packed(changed.services), packed(std::vector{new_write}));
  EXPECT_TRUE(same(upward, downward));
}

// ---- merge laws, on random deltas ------------------------------------------------------------------

TEST(MergeLaws, TheGeneratorCoversEveryKindWithCollisionsAndTombstones) {
  Generator generator(1);
  auto entries = generator.entries(400);
  ClusterState state;
  for (const auto& entry : entries) merge_one(state, entry);
  auto all = state.everything();
  EXPECT_GT(all.members.size(), 1u);
  EXPECT_GT(all.services.size(), 1u);
  EXPECT_GT(all.assignments.size(), 1u);
  EXPECT_GT(all.instances.size(), 1u);
  EXPECT_LT(record_count(state), entries.size() / 4) << "keys must collide";
  auto is_tombstone = [](const auto& entry) { return entry.removed; };
  auto tombstones = std::count_if(all.services.begin(), all.services.end(), is_tombstone) +
                    std::count_if(all.instances.begin(), all.instances.end(), is_tombstone);
  EXPECT_GT(tombstones, 0);
}

TEST(MergeLaws, TheOrderOfDeliveryDoesNotMatter) {
  for (std::uint32_t seed = 1; seed <= 10; ++seed) {
    Generator generator(seed);
    auto entries = generator.entries(400);
    ClusterState reference;
    for (const auto& entry : entries) merge_one(reference, entry);
    std::mt19937 random(seed);
    for (int round = 0; round < 30; ++round) {
      std::shuffle(entries.begin(), entries.end(), random);
      ClusterState shuffled;
      for (const auto& entry : entries) merge_one(shuffled, entry);
      ASSERT_TRUE(same(shuffled, reference)) << "seed " << seed << ", round " << round;
    }
  }
}

// deployed_services() is kept as records merge; it must equal a count of the map, whatever
// the order of delivery, and after tombstones are collected.
TEST(ClusterStateCount, DeployedServicesEqualsTheLiveServiceRecordsAfterAnyMergesAndCollection) {
  auto counted = [](const ClusterState& state) {
    return static_cast<std::size_t>(std::count_if(state.services().begin(), state.services().end(),
                                                  [](const auto& e) { return !e.second.removed; }));
  };
  for (std::uint32_t seed = 1; seed <= 10; ++seed) {
    Generator generator(seed);
    auto entries = generator.entries(400);
    std::mt19937 random(seed);
    std::shuffle(entries.begin(), entries.end(), random);
    ClusterState state;
    for (const auto& entry : entries) {
      merge_one(state, entry);
      ASSERT_EQ(state.deployed_services(), counted(state)) << "seed " << seed;
    }
    state.collect_garbage(std::numeric_limits<std::uint64_t>::max(), 0);
    EXPECT_EQ(state.deployed_services(), counted(state)) << "seed " << seed;
  }
}

// Garbage collection visits only the tombstones it indexes as records merge; what it leaves
// must be what a walk of every record would leave, whatever the order of merges, revivals
// (a tombstone replaced by a live record) and copies.
TEST(ClusterStateCount, CollectionByTheTombstoneIndexLeavesWhatAWalkOfEveryRecordWould) {
  auto tombstones = [](const ClusterState& state) {
    std::size_t count = 0;
    for (const auto& [key, entry] : state.services()) count += entry.removed;
    for (const auto& [key, entry] : state.assignments()) count += entry.removed;
    for (const auto& [key, entry] : state.instances()) count += entry.removed;
    return count;
  };
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    Generator generator(seed);
    ClusterState state;
    std::mt19937 random(seed);
    for (int round = 0; round < 6; ++round) {
      for (const auto& entry : generator.entries(150)) merge_one(state, entry);
      ASSERT_EQ(state.tombstone_count(), tombstones(state)) << "seed " << seed << " round " << round;
      const std::uint64_t cutoff = random() % (Generator::kClockSpan + 2);
      // What a walk of every record keeps: the live records, and tombstones at or after the cutoff.
      StateDelta kept = state.everything();
      std::erase_if(kept.services, [&](const auto& e) { return e.removed && e.stamp.hlc < cutoff; });
      std::erase_if(kept.assignments, [&](const auto& e) { return e.removed && e.stamp.hlc < cutoff; });
      std::erase_if(kept.instances, [&](const auto& e) { return e.removed && e.stamp.hlc < cutoff; });
      ClusterState copy;  // a copy indexes its own tombstones: by assignment, and constructed then moved
      if (round % 2) copy = state;
      else copy = ClusterState(state);
      copy.collect_garbage(cutoff, 0);
      StateDelta left = copy.everything();
      EXPECT_EQ(packed(left.services), packed(kept.services)) << "seed " << seed << " round " << round;
      EXPECT_EQ(packed(left.assignments), packed(kept.assignments)) << "seed " << seed << " round " << round;
      EXPECT_EQ(packed(left.instances), packed(kept.instances)) << "seed " << seed << " round " << round;
      EXPECT_EQ(copy.tombstone_count(), tombstones(copy)) << "seed " << seed << " round " << round;
      if (round % 3 == 2) state = copy;
    }
    std::vector<std::string> removed;
    for (const auto& [key, entry] : state.services())
      if (entry.removed) removed.push_back(entry.name);
    EXPECT_EQ(state.removed_services(), removed) << "seed " << seed;
  }
}

// The record keys, as the archive, the digests and the bucket hashes have always read them.
TEST(RecordKeys, AreKindSlashNameAndTheDecimalIndex) {
  EXPECT_EQ(member_key("a1"), "m/a1");
  EXPECT_EQ(service_key("web"), "s/web");
  EXPECT_EQ(assignment_key("web", 0), "a/web/0");
  EXPECT_EQ(assignment_key("web", 4294967295u), "a/web/4294967295");
  EXPECT_EQ(instance_key("web", 10, "node-b"), "i/web/10/node-b");
  const std::string long_name(300, 'x');
  EXPECT_EQ(instance_key(long_name, 7, long_name), "i/" + long_name + "/7/" + long_name);
}

// The load placement reads (assignments per node) is the count a walk of every assignment
// gives, through merges that move, remove and bring back assignments, and copies.
TEST(ClusterStateCount, AssignmentsPerNodeIsWhatAWalkOfEveryAssignmentCounts) {
  auto walked = [](const ClusterState& state) {
    std::map<std::string, std::uint32_t> load;
    for (const auto& [key, entry] : state.assignments())
      if (!entry.removed) ++load[entry.node];
    return load;
  };
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    Generator generator(seed);
    ClusterState state;
    for (int round = 0; round < 6; ++round) {
      for (const auto& entry : generator.entries(150)) merge_one(state, entry);
      ASSERT_EQ(state.assignments_per_node(), walked(state)) << "seed " << seed << " round " << round;
      ClusterState copy(state);
      EXPECT_EQ(copy.assignments_per_node(), walked(state)) << "seed " << seed << " round " << round;
      copy.collect_garbage(Generator::kClockSpan + 1, 0);
      EXPECT_EQ(copy.assignments_per_node(), walked(copy)) << "seed " << seed << " round " << round;
      if (round % 2) state = copy;
    }
  }
}

// newer_than as it was first written (a map of their digest, then our digest in order),
// the reference for the one that compares in place.
StateDelta newer_than_by_map(const ClusterState& ours, const std::vector<DigestEntry>& theirs,
                             std::vector<std::string>& they_have_newer, const std::vector<std::uint32_t>& scope,
                             std::size_t bucket_count) {
  auto newer = [](const DigestEntry& a, const DigestEntry& b) {
    return std::tie(a.major, a.minor, a.tiebreak) > std::tie(b.major, b.minor, b.tiebreak);
  };
  std::set<std::uint32_t> wanted(scope.begin(), scope.end());
  std::map<std::string, const DigestEntry*> their_index;
  for (const auto& entry : theirs)
    if (wanted.contains(static_cast<std::uint32_t>(ClusterState::bucket_of(entry.key) % bucket_count)))
      their_index[entry.key] = &entry;
  std::vector<std::string> ours_newer;
  for (const auto& mine : ours.digest(scope, bucket_count)) {
    auto found = their_index.find(mine.key);
    if (found == their_index.end() || newer(mine, *found->second)) ours_newer.push_back(mine.key);
    else if (newer(*found->second, mine)) they_have_newer.push_back(mine.key);
    if (found != their_index.end()) their_index.erase(found);
  }
  for (const auto& [key, entry] : their_index) they_have_newer.push_back(key);
  return ours.entries(ours_newer);
}

TEST(AntiEntropy, NewerThanGivesWhatTheMapOfTheirDigestGave) {
  for (std::uint32_t seed = 1; seed <= 30; ++seed) {
    Generator generator(seed);
    std::mt19937 random(seed);
    auto shared = generator.delta(100);
    ClusterState a = state_of({shared, generator.delta(60)});
    ClusterState b = state_of({shared, generator.delta(60)});
    for (std::size_t bucket_count : {std::size_t{1}, std::size_t{8}, std::size_t{64}}) {
      std::vector<std::uint32_t> scope;
      for (std::uint32_t bucket = 0; bucket < bucket_count; ++bucket)
        if (bucket_count == 1 || random() % 2) scope.push_back(bucket);
      auto theirs = a.digest(scope, bucket_count);
      if (!theirs.empty() && seed % 3 == 0) theirs.push_back(theirs[random() % theirs.size()]);  // a key twice
      if (!theirs.empty() && seed % 3 == 0) theirs.back().major += 1;                          // the last one counts
      std::vector<std::string> wanted, wanted_by_map;
      auto newer = b.newer_than(theirs, wanted, scope, bucket_count);
      auto by_map = newer_than_by_map(b, theirs, wanted_by_map, scope, bucket_count);
      EXPECT_EQ(packed(newer.members), packed(by_map.members)) << "seed " << seed << " buckets " << bucket_count;
      EXPECT_EQ(packed(newer.services), packed(by_map.services)) << "seed " << seed << " buckets " << bucket_count;
      EXPECT_EQ(packed(newer.assignments), packed(by_map.assignments)) << "seed " << seed << " buckets " << bucket_count;
      EXPECT_EQ(packed(newer.instances), packed(by_map.instances)) << "seed " << seed << " buckets " << bucket_count;
      EXPECT_EQ(wanted, wanted_by_map) << "seed " << seed << " buckets " << bucket_count;
      EXPECT_GT(entry_count(newer) + wanted.size(), 0u) << "the two states differ";
    }
  }
}

TEST(MergeLaws, DuplicatesDoNotMatter) {
  for (std::uint32_t seed = 1; seed <= 10; ++seed) {
    Generator generator(seed);
    auto entries = generator.entries(200);
    ClusterState reference;
    for (const auto& entry : entries) merge_one(reference, entry);
    std::mt19937 random(seed);
    for (int round = 0; round < 10; ++round) {
      std::vector<AnyEntry> repeated;
      for (const auto& entry : entries) repeated.insert(repeated.end(), 1 + random() % 3, entry);
      std::shuffle(repeated.begin(), repeated.end(), random);
      ClusterState with_duplicates;
      with_duplicates.merge(delta_of(repeated));
      ASSERT_TRUE(same(with_duplicates, reference)) << "seed " << seed << ", round " << round;
    }
  }
}

TEST(MergeLaws, TheGroupingOfDeltasDoesNotMatter) {
  for (std::uint32_t seed = 1; seed <= 30; ++seed) {
    Generator generator(seed);
    auto a = generator.delta(150);
    auto b = generator.delta(150);
    auto c = generator.delta(150);
    auto ab = state_of({a, b}).everything();
    auto bc = state_of({b, c}).everything();
    auto reference = state_of({a, b, c});
    EXPECT_TRUE(same(state_of({ab, c}), reference)) << "(a b) c, seed " << seed;
    EXPECT_TRUE(same(state_of({a, bc}), reference)) << "a (b c), seed " << seed;
    EXPECT_TRUE(same(state_of({c, ab}), reference)) << "c (a b), seed " << seed;
    EXPECT_TRUE(same(state_of({bc, a}), reference)) << "(b c) a, seed " << seed;
    EXPECT_TRUE(same(state_of({c, b, a}), reference)) << "c b a, seed " << seed;
    EXPECT_TRUE(same(state_of({b, a, c}), reference)) << "b a c, seed " << seed;
  }
}

TEST(MergeLaws, MergingADeltaTwiceChangesNothingTheSecondTime) {
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    Generator generator(seed);
    ClusterState state;
    state.merge(generator.delta(200));
    auto delta = generator.delta(200);
    state.merge(delta);
    auto once = packed(state.everything());
    auto again = state.merge(delta);
    EXPECT_EQ(entry_count(again), 0u) << "seed " << seed;
    EXPECT_EQ(packed(state.everything()), once) << "seed " << seed;
    EXPECT_EQ(entry_count(state.merge(state.everything())), 0u) << "its own contents, seed " << seed;
  }
}

TEST(MergeLaws, MergeReturnsExactlyTheEntriesThatChangedTheState) {
  for (std::uint32_t seed = 1; seed <= 30; ++seed) {
    Generator generator(seed);
    ClusterState state;
    state.merge(generator.delta(150));
    // One write per key, so "changed" is decided against the state before the merge.
    std::vector<AnyEntry> writes;
    std::set<std::string> keys;
    for (const auto& entry : generator.entries(150))
      if (keys.insert(key_of(entry)).second) writes.push_back(entry);
    StateDelta expected;
    for (const auto& entry : writes)
      if (would_change(state, entry)) add(expected, entry);
    ASSERT_GT(entry_count(expected), 0u);
    ASSERT_LT(entry_count(expected), writes.size()) << "some writes must lose";

    ClusterState before = state;
    auto changed = state.merge(delta_of(writes));
    EXPECT_EQ(packed(changed), packed(expected)) << "seed " << seed;
    // What changed is all a peer holding the old state needs to catch up.
    before.merge(changed);
    EXPECT_TRUE(same(before, state)) << "seed " << seed;
  }
}

// ---- anti-entropy ----------------------------------------------------------------------------

// One sync round as the store runs it: A sends its digest; B answers with what it has newer
// (or A lacks) and the keys where A is newer; A pushes those back.
void sync(ClusterState& a, ClusterState& b) {
  std::vector<std::string> wanted;
  auto newer = b.newer_than(a.digest(), wanted);
  for (const auto& entry : entries_of(newer))
    EXPECT_TRUE(would_change(a, entry)) << key_of(entry) << " sent although A is as new";
  for (const auto& key : wanted) {
    auto ours = entries_of(a.entries({key}));
    ASSERT_EQ(ours.size(), 1u) << key << " wanted but A does not have it";
    EXPECT_TRUE(would_change(b, ours.front())) << key << " wanted although B is as new";
  }
  a.merge(newer);
  b.merge(a.entries(wanted));
}

TEST(AntiEntropy, OneExchangeInBothDirectionsLeavesEqualStates) {
  for (std::uint32_t seed = 1; seed <= 30; ++seed) {
    Generator generator(seed);
    ClusterState a = state_of({generator.delta(200)});
    ClusterState b = state_of({generator.delta(200)});
    ASSERT_NE(ClusterState::summary(a.digest()), ClusterState::summary(b.digest()));
    sync(a, b);
    EXPECT_EQ(packed(a.digest()), packed(b.digest())) << "seed " << seed;
    EXPECT_EQ(ClusterState::summary(a.digest()), ClusterState::summary(b.digest())) << "seed " << seed;
    EXPECT_TRUE(same(a, b)) << "seed " << seed;
    // Both now hold what merging everything would give.
    EXPECT_TRUE(same(a, state_of({a.everything(), b.everything()}))) << "seed " << seed;
  }
}

TEST(AntiEntropy, StatesInSyncExchangeNothing) {
  Generator generator(3);
  ClusterState a = state_of({generator.delta(200)});
  ClusterState b = a;
  std::vector<std::string> wanted;
  EXPECT_EQ(entry_count(b.newer_than(a.digest(), wanted)), 0u);
  EXPECT_TRUE(wanted.empty());
}

TEST(AntiEntropy, AnEmptyStateGetsEverything) {
  Generator generator(4);
  ClusterState full = state_of({generator.delta(200)});
  ClusterState empty;
  sync(empty, full);
  EXPECT_TRUE(same(empty, full));
}

TEST(AntiEntropy, AnEmptyResponderAsksForEverything) {
  Generator generator(5);
  ClusterState full = state_of({generator.delta(200)});
  ClusterState empty;
  std::vector<std::string> wanted;
  EXPECT_EQ(entry_count(empty.newer_than(full.digest(), wanted)), 0u);
  EXPECT_EQ(wanted.size(), record_count(full));
  sync(full, empty);
  EXPECT_TRUE(same(empty, full));
}

TEST(AntiEntropy, TheDigestOrdersMembersAsMergeDoes) {
  Generator generator(6);
  for (int pair = 0; pair < 2000; ++pair) {
    auto one = generator.member();
    auto other = generator.member();
    other.member.name = one.member.name;
    ClusterState a = state_of({StateDelta{{one}, {}, {}, {}}});
    ClusterState b = state_of({StateDelta{{other}, {}, {}, {}}});
    std::vector<std::string> wanted;
    auto newer = b.newer_than(a.digest(), wanted);
    EXPECT_EQ(newer.members.size(), is_newer(other, one) ? 1u : 0u) << "pair " << pair;
    EXPECT_EQ(wanted.size(), is_newer(one, other) ? 1u : 0u) << "pair " << pair;
  }
}

TEST(AntiEntropy, TheSummaryChangesWhenAnyRecordChanges) {
  Generator generator(7);
  ClusterState base = state_of({generator.delta(200)});
  const auto reference = ClusterState::summary(base.digest());
  auto everything = base.everything();
  for (auto entry : everything.members) {
    ClusterState changed = base;
    entry.heartbeat += 1;
    ASSERT_TRUE(changed.merge(entry));
    EXPECT_NE(ClusterState::summary(changed.digest()), reference) << key_of(entry);
  }
  auto bump = [&](auto entry) {
    ClusterState changed = base;
    entry.stamp.hlc += 1;
    ASSERT_TRUE(changed.merge(entry));
    EXPECT_NE(ClusterState::summary(changed.digest()), reference) << key_of(entry);
  };
  for (const auto& entry : everything.services) bump(entry);
  for (const auto& entry : everything.assignments) bump(entry);
  for (const auto& entry : everything.instances) bump(entry);
  // A record less, or a record more.
  auto all = entries_of(everything);
  for (std::size_t skip = 0; skip < all.size(); ++skip) {
    ClusterState fewer;
    for (std::size_t i = 0; i < all.size(); ++i)
      if (i != skip) merge_one(fewer, all[i]);
    EXPECT_NE(ClusterState::summary(fewer.digest()), reference) << "without " << key_of(all[skip]);
  }
  ClusterState more = base;
  ASSERT_TRUE(more.merge(service_entry("brand-new", stamp(1))));
  EXPECT_NE(ClusterState::summary(more.digest()), reference);
}

TEST(AntiEntropy, TheSummaryTellsOriginsAndKeysApart) {
  ClusterState a = state_of({StateDelta{{}, {service_entry("web", stamp(5, "n1"))}, {}, {}}});
  ClusterState b = state_of({StateDelta{{}, {service_entry("web", stamp(5, "n2"))}, {}, {}}});
  ClusterState c = state_of({StateDelta{{}, {service_entry("api", stamp(5, "n1"))}, {}, {}}});
  EXPECT_NE(ClusterState::summary(a.digest()), ClusterState::summary(b.digest()));
  EXPECT_NE(ClusterState::summary(a.digest()), ClusterState::summary(c.digest()));
}

// ---- summary-first anti-entropy (bucket summaries) -------------------------------------------

// The two rounds as the store runs them (agent/store.cpp sync_with, handle_sync,
// send_digests): A sends the sum of its record hashes; B, whose sum differs, answers its
// bucket summaries; A sends the digests of the buckets that differ; B answers what it has
// newer there and the keys where A is newer; A pushes those back. Returns the number of
// buckets that differed.
std::size_t sync_by_buckets(ClusterState& a, ClusterState& b, std::size_t bucket_count) {
  if (a.total_summary() == b.total_summary()) return 0;
  auto differing = a.differing_buckets(b.bucket_summaries(bucket_count));
  if (differing.empty()) return 0;
  std::vector<std::string> wanted;
  auto newer = b.newer_than(a.digest(differing, bucket_count), wanted, differing, bucket_count);
  for (const auto& entry : entries_of(newer))
    EXPECT_TRUE(would_change(a, entry)) << key_of(entry) << " sent although A is as new";
  a.merge(newer);
  b.merge(a.entries(wanted));
  return differing.size();
}

// Equal but for members' heartbeats and loads, which the bucket summaries leave out.
bool same_but_heartbeats(const ClusterState& a, const ClusterState& b) {
  auto blind = [](StateDelta delta) {
    for (auto& entry : delta.members) {
      entry.heartbeat = 0;
      entry.member.load = 0;
    }
    return packed(delta);
  };
  return blind(a.everything()) == blind(b.everything());
}

TEST(AntiEntropy, SummariesLeaveOutHeartbeatsAndLoadsButNotWhatAMemberSays) {
  using enum MemberState;
  auto base = member_entry("n1", 3, alive, 100, "n1");
  base.member.providers = {"bash"};
  ClusterState a = state_of({StateDelta{{base}, {}, {}, {}}});
  auto later = base;
  later.heartbeat = 200;
  later.member.load = 7;
  ClusterState b = state_of({StateDelta{{later}, {}, {}, {}}});
  EXPECT_EQ(a.total_summary(), b.total_summary());
  EXPECT_EQ(a.bucket_summaries(256), b.bucket_summaries(256));
  auto changes = std::vector<std::function<void(MemberEntry&)>>{
      [](MemberEntry& e) { e.member.providers.push_back("docker"); },
      [](MemberEntry& e) { e.member.tags["zone"] = "a"; },
      [](MemberEntry& e) { e.member.address = "tcp://10.0.0.1:7000"; },
      [](MemberEntry& e) { e.member.problem = "clock 400 s ahead"; },
      [](MemberEntry& e) { e.member.degraded = "disk refuses writes"; },
      [](MemberEntry& e) { e.member.version = "0.2.0"; },
      [](MemberEntry& e) { e.member.state = MemberState::suspect; },
      [](MemberEntry& e) { e.member.incarnation = 4; },
      [](MemberEntry& e) { e.reported_by = "n2"; },
  };
  for (std::size_t i = 0; i < changes.size(); ++i) {
    auto changed = later;
    changes[i](changed);
    ClusterState c = state_of({StateDelta{{changed}, {}, {}, {}}});
    EXPECT_NE(a.total_summary(), c.total_summary()) << "change " << i;
  }
}

TEST(AntiEntropy, BucketSummariesAreKeptUpToDateByEveryMergeAndCollection) {
  for (std::uint32_t seed = 1; seed <= 30; ++seed) {
    Generator generator(seed);
    ClusterState state;
    for (int round = 0; round < 5; ++round) {
      state.merge(generator.delta(100));
      if (round == 3) state.collect_garbage(50, 30);
    }
    // The same records merged at once, in another order, give the same summaries.
    auto everything = state.everything();
    std::reverse(everything.members.begin(), everything.members.end());
    std::reverse(everything.instances.begin(), everything.instances.end());
    ClusterState fresh = state_of({everything});
    for (std::size_t count = 1; count <= ClusterState::kSummaryBuckets; count *= 2)
      EXPECT_EQ(state.bucket_summaries(count), fresh.bucket_summaries(count)) << "seed " << seed << " count " << count;
    EXPECT_EQ(state.total_summary(), fresh.total_summary()) << "seed " << seed;
    EXPECT_TRUE(state.differing_buckets(fresh.bucket_summaries(64)).empty()) << "seed " << seed;
  }
  // Collecting everything leaves the summaries of an empty state.
  ClusterState emptied = state_of({Generator(9).delta(50)});
  emptied.collect_garbage(~0ULL, ~0ULL);
  auto left = emptied.everything();
  ClusterState again = state_of({left});
  EXPECT_EQ(emptied.bucket_summaries(256), again.bucket_summaries(256));
}

TEST(AntiEntropy, OneChangedRecordMakesOneBucketDiffer) {
  Generator generator(11);
  ClusterState base = state_of({generator.delta(300)});
  for (auto entry : base.everything().services) {
    ClusterState changed = base;
    entry.stamp.hlc += 1;
    ASSERT_TRUE(changed.merge(entry));
    for (std::size_t count = 1; count <= ClusterState::kSummaryBuckets; count *= 4) {
      auto differing = base.differing_buckets(changed.bucket_summaries(count));
      ASSERT_EQ(differing.size(), 1u) << key_of(entry) << " count " << count;
      EXPECT_EQ(differing[0], ClusterState::bucket_of(service_key(entry.name)) % count);
      // The digest of that bucket holds the record, and no record of another bucket.
      auto digest = changed.digest(differing, count);
      EXPECT_TRUE(std::any_of(digest.begin(), digest.end(),
                              [&](const DigestEntry& d) { return d.key == service_key(entry.name); }));
      for (const auto& d : digest) EXPECT_EQ(ClusterState::bucket_of(d.key) % count, differing[0]) << d.key;
      EXPECT_EQ(changed.bucket_sizes(differing, count).at(0), digest.size());
    }
  }
}

TEST(AntiEntropy, TwoRoundsByBucketsLeaveEqualStatesAndInSyncStatesExchangeOneRound) {
  for (std::uint32_t seed = 1; seed <= 30; ++seed) {
    Generator generator(seed);
    ClusterState a = state_of({generator.delta(200)});
    ClusterState b = state_of({generator.delta(200)});
    std::size_t count = std::size_t{1} << (seed % 9);  // 1 to 256
    EXPECT_GT(sync_by_buckets(a, b, count), 0u) << "seed " << seed;
    EXPECT_TRUE(same_but_heartbeats(a, b)) << "seed " << seed << " count " << count;
    EXPECT_TRUE(same_but_heartbeats(a, state_of({a.everything(), b.everything()}))) << "seed " << seed;
    EXPECT_EQ(sync_by_buckets(a, b, count), 0u) << "seed " << seed;
    EXPECT_EQ(a.total_summary(), b.total_summary());
  }
}

TEST(AntiEntropy, ADigestOfSomeBucketsDoesNotMakeTheResponderAskForTheOthers) {
  Generator generator(12);
  ClusterState a = state_of({generator.delta(300)});
  ClusterState b = a;
  auto entry = a.everything().services.at(0);
  entry.stamp.hlc += 1;
  ASSERT_TRUE(a.merge(entry));
  auto differing = a.differing_buckets(b.bucket_summaries(64));
  ASSERT_EQ(differing.size(), 1u);
  std::vector<std::string> wanted;
  auto newer = b.newer_than(a.digest(differing, 64), wanted, differing, 64);
  EXPECT_EQ(entry_count(newer), 0u);
  EXPECT_EQ(wanted, std::vector<std::string>{service_key(entry.name)});
}

TEST(AntiEntropy, BadBucketCountsGiveNothing) {
  ClusterState state = state_of({Generator(13).delta(50)});
  for (std::size_t count : {0u, 3u, 12u, 512u}) {
    EXPECT_FALSE(ClusterState::is_bucket_count(count)) << count;
    EXPECT_TRUE(state.bucket_summaries(count).empty()) << count;
    EXPECT_TRUE(state.digest({0}, count).empty()) << count;
  }
  EXPECT_TRUE(state.differing_buckets({1, 2, 3}).empty());  // 3 summaries: not a bucket count
}

// ---- garbage collection -------------------------------------------------------------------------

// ---- spec texts held once ------------------------------------------------------------------

// A record as it arrives decoded from the wire: every text and name a string of its own.
template <class Entry>
Entry decoded(const Entry& entry) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  wire::pack(packer, entry);
  auto handle = msgpack::unpack(buffer.data(), buffer.size());
  Entry out;
  EXPECT_TRUE(wire::read(handle.get(), out));
  return out;
}

VersionRecord version_record(std::uint64_t version, std::string spec_json) {
  VersionRecord record;
  record.version = version;
  record.spec_json = std::move(spec_json);
  return record;
}

TEST(SpecTexts, AKeptRecordHoldsItsCurrentSpecOnceThoughItsHistoryNamesItToo) {
  ServiceEntry v1 = service_entry("web", stamp(10), false, R"({"name":"web","instances":1})");
  v1.generation = 1;
  v1.history = {version_record(1, R"({"name":"web","instances":1})")};
  const ServiceEntry arrived = decoded(v1);
  ASSERT_FALSE(arrived.history[0].spec_json.shares_with(arrived.spec_json));  // the wire gives two

  ClusterState state;
  ASSERT_TRUE(state.merge(arrived));
  const ServiceEntry* held = state.service("web");
  ASSERT_NE(held, nullptr);
  EXPECT_TRUE(held->history[0].spec_json.shares_with(held->spec_json));
  EXPECT_EQ(held->history[0].spec_json, arrived.spec_json.str());
  EXPECT_EQ(packed(*held), packed(arrived));  // the same record
}

TEST(SpecTexts, AnUpdateSharesTheTextsTheRecordBeforeItHeld) {
  const std::string spec1 = R"({"name":"web","instances":1})", spec2 = R"({"name":"web","instances":2})";
  ServiceEntry v1 = service_entry("web", stamp(10), false, spec1);
  v1.generation = 1;
  v1.history = {version_record(1, spec1)};
  ServiceEntry v2 = service_entry("web", stamp(20), false, spec2);
  v2.generation = 2;
  v2.stable_generation = 1;
  v2.stable_spec_json = spec1;
  v2.history = {version_record(1, spec1), version_record(2, spec2)};
  ServiceEntry v3 = v2;  // disabled: a new record of the same version
  v3.enabled = false;
  v3.stamp = stamp(30);

  ClusterState state;
  ASSERT_TRUE(state.merge(decoded(v1)));
  const SpecText first = state.service("web")->spec_json;
  ASSERT_TRUE(state.merge(decoded(v2)));
  const ServiceEntry* held = state.service("web");
  EXPECT_TRUE(held->stable_spec_json.shares_with(first));  // the version the update replaced
  EXPECT_TRUE(held->history[0].spec_json.shares_with(first));
  EXPECT_TRUE(held->history[1].spec_json.shares_with(held->spec_json));
  const SpecText second = held->spec_json;
  ASSERT_TRUE(state.merge(decoded(v3)));
  held = state.service("web");
  EXPECT_TRUE(held->spec_json.shares_with(second));
  EXPECT_TRUE(held->stable_spec_json.shares_with(first));
  EXPECT_EQ(packed(*held), packed(v3));
  // An older record loses as before, shared texts or not.
  EXPECT_FALSE(state.merge(decoded(v2)));
}

TEST(SpecTexts, ASpecTextPacksAsTheStringItHolds) {
  msgpack::sbuffer as_text, as_string;
  msgpack::packer<msgpack::sbuffer> text_packer(as_text), string_packer(as_string);
  wire::pack(text_packer, SpecText(std::string(R"({"name":"web"})")));
  wire::pack(string_packer, std::string(R"({"name":"web"})"));
  EXPECT_EQ(std::string(as_text.data(), as_text.size()), std::string(as_string.data(), as_string.size()));
  SpecText empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty, std::string());
  EXPECT_EQ(SpecText(std::string()), empty);

  // Read back from a string, from bytes (BIN, as strings are), and refused from anything else.
  auto unpacked = [](const msgpack::sbuffer& bytes) {
    auto handle = msgpack::unpack(bytes.data(), bytes.size());
    SpecText text;
    auto read = wire::read(handle.get(), text);
    return read ? std::optional<SpecText>(text) : std::nullopt;
  };
  EXPECT_EQ(unpacked(as_text), std::optional<SpecText>(R"({"name":"web"})"));
  msgpack::sbuffer as_bin, as_number;
  msgpack::packer<msgpack::sbuffer>(as_bin).pack_bin(3).pack_bin_body("abc", 3);
  msgpack::packer<msgpack::sbuffer>(as_number).pack(7);
  EXPECT_EQ(unpacked(as_bin), std::optional<SpecText>("abc"));
  EXPECT_EQ(unpacked(as_number), std::nullopt);
  const SpecText text(std::string(R"({"name":"web"})"));
  SpecText copy = text;
  EXPECT_TRUE(copy.shares_with(text));
  EXPECT_EQ(copy.view(), R"({"name":"web"})");
  EXPECT_EQ(std::string(copy.data()), R"({"name":"web"})") << "the text ends with a zero";
  copy.clear();
  EXPECT_TRUE(copy.empty());
  EXPECT_EQ(text.size(), 14u);
  for (std::string_view tiny : {"x", "{}", "abc"}) {  // shorter than the block's own size
    const SpecText held(tiny);
    EXPECT_EQ(held.view(), tiny);
    EXPECT_EQ(held.data()[tiny.size()], '\0');
  }
}

// ---- agent and host names held once ----------------------------------------------------------

TEST(SharedNames, ANamePacksAsTheStringItHoldsAndItsCopiesShareOneString) {
  EXPECT_EQ(packed(SharedName("worker-7.example.internal")), packed(std::string("worker-7.example.internal")));
  EXPECT_EQ(packed(SharedName()), packed(std::string()));
  SharedName empty(std::string{});
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.holders(), 0u);
  EXPECT_EQ(empty, "");

  SharedName name("worker-7.example.internal");
  EXPECT_EQ(name.holders(), 1u);
  {
    SharedName copy = name;
    EXPECT_TRUE(copy.shares_with(name));
    EXPECT_EQ(name.holders(), 2u);
    SharedName moved = std::move(copy);
    EXPECT_TRUE(copy.empty());  // NOLINT(bugprone-use-after-move): a moved-from name is empty
    EXPECT_EQ(name.holders(), 2u);
  }
  EXPECT_EQ(name.holders(), 1u) << "a copy gone lets go of the string";
  SharedName other("worker-7.example.internal");
  EXPECT_FALSE(other.shares_with(name));
  EXPECT_EQ(other, name) << "equal texts are equal names, shared or not";
  EXPECT_EQ(name, std::string("worker-7.example.internal"));
  EXPECT_EQ(name, std::string_view("worker-7.example.internal"));
  EXPECT_LT(SharedName("a"), SharedName("b"));
  EXPECT_EQ("i/" + name + "/0", "i/worker-7.example.internal/0");
  name = other;
  EXPECT_TRUE(name.shares_with(other));
  EXPECT_EQ(other.holders(), 2u);
}

TEST(SharedNames, RecordsMergedIntoAStateHoldEachAgentAndHostNameOnce) {
  const std::string writer = "agent-with-a-long-name-01", runner = "worker-7.example.internal", host = "10.0.0.7";
  ClusterState state;
  for (int i = 0; i < 50; ++i) {
    const std::string name = "svc" + std::to_string(i);
    ServiceEntry service = service_entry(name, stamp(10, writer));
    service.history = {version_record(1, "{}")};
    service.history[0].through = writer;
    InstanceEntry instance = instance_entry(name, 0, runner, stamp(11, runner));
    instance.status.host = host;
    const AssignmentEntry assignment = assignment_entry(name, 0, runner, stamp(10, writer));
    // Each arrives decoded on its own, as from gossip: its names are strings of its own.
    ASSERT_TRUE(state.merge(decoded(service)));
    ASSERT_TRUE(state.merge(decoded(assignment)));
    ASSERT_TRUE(state.merge(decoded(instance)));
    // What is held is what arrived, byte for byte.
    EXPECT_EQ(packed(*state.service(name)), packed(service));
    EXPECT_EQ(packed(*state.assignment(name, 0)), packed(assignment));
    EXPECT_EQ(packed(*state.instance(name, 0, runner)), packed(instance));
  }
  EXPECT_EQ(state.shared_names(), 3u) << "the writer, the agent that runs the instances and its host";
  const ServiceEntry& first = *state.service("svc0");
  const InstanceEntry& instance = *state.instance("svc49", 0, runner);
  EXPECT_TRUE(state.service("svc49")->stamp.origin.shares_with(first.stamp.origin));
  EXPECT_TRUE(state.service("svc49")->history[0].through.shares_with(first.stamp.origin));
  EXPECT_TRUE(state.assignment("svc49", 0)->stamp.origin.shares_with(first.stamp.origin));
  EXPECT_TRUE(instance.status.node.shares_with(state.assignment("svc0", 0)->node));
  EXPECT_TRUE(instance.stamp.origin.shares_with(instance.status.node));
  EXPECT_TRUE(instance.status.host.shares_with(state.instance("svc0", 0, runner)->status.host));
  // 50 services, each holding the writer's name 3 times: 150 records' names and the table's.
  EXPECT_EQ(first.stamp.origin.holders(), 151u);

  // A newer record of the same key shares the names too; a copy of the state holds its own
  // table of the same names.
  InstanceEntry restarted = instance_entry("svc0", 0, runner, stamp(20, runner));
  restarted.status.host = host;
  ASSERT_TRUE(state.merge(decoded(restarted)));
  EXPECT_TRUE(state.instance("svc0", 0, runner)->status.node.shares_with(instance.status.node));
  ClusterState copy = state;
  EXPECT_EQ(copy.shared_names(), 3u);
  ASSERT_TRUE(copy.merge(decoded(instance_entry("svc50", 0, runner, stamp(30, runner)))));
  EXPECT_TRUE(copy.instance("svc50", 0, runner)->status.node.shares_with(instance.status.node));

  // Names no record holds any more are forgotten when garbage is collected.
  ClusterState small;
  ASSERT_TRUE(small.merge(decoded(assignment_entry("web", 0, runner, stamp(10, writer)))));
  ASSERT_TRUE(small.merge(decoded(instance_entry("db", 0, "db-host-01.example.internal", stamp(10, writer)))));
  EXPECT_EQ(small.shared_names(), 3u);
  ASSERT_TRUE(small.merge(decoded(instance_entry("db", 0, "db-host-01.example.internal", stamp(20, writer), true))));
  small.collect_garbage(15, 0);
  EXPECT_EQ(small.shared_names(), 3u) << "the tombstone is newer than the cutoff: kept";
  small.collect_garbage(25, 0);
  EXPECT_EQ(small.instance("db", 0, "db-host-01.example.internal"), nullptr);
  EXPECT_EQ(small.shared_names(), 2u) << "db-host-01 is named by no record now";
  EXPECT_EQ(small.assignment("web", 0)->node, runner);
  EXPECT_EQ(small.assignment("web", 0)->stamp.origin.holders(), 2u);
}

TEST(SharedNames, ATableOfManyNamesFindsEachAgain) {
  NameTable table;
  std::vector<SharedName> held;
  for (int i = 0; i < 1000; ++i) {
    SharedName name("agent-" + std::to_string(i));
    table.intern(name);
    held.push_back(name);
  }
  EXPECT_EQ(table.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    SharedName again("agent-" + std::to_string(i));
    table.intern(again);
    EXPECT_TRUE(again.shares_with(held[static_cast<std::size_t>(i)])) << i;
  }
  EXPECT_EQ(table.size(), 1000u);
  held.resize(10);  // the others now held by the table only (and `again`, gone)
  EXPECT_EQ(table.forget_unheld(), 990u);
  EXPECT_EQ(table.size(), 10u);
  SharedName ninth("agent-9");
  table.intern(ninth);
  EXPECT_TRUE(ninth.shares_with(held[9]));
  SharedName empty;
  table.intern(empty);
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(table.size(), 10u);
}

TEST(CollectGarbage, DropsOnlyTombstonesAndGoneMembersOlderThanTheCutoff) {
  using enum MemberState;
  ClusterState state;
  state.merge(service_entry("live-old", stamp(10)));
  state.merge(service_entry("dead-old", stamp(10), true));
  state.merge(service_entry("dead-at-cutoff", stamp(100), true));
  state.merge(service_entry("dead-new", stamp(150), true));
  state.merge(assignment_entry("live-old", 0, "n1", stamp(10)));
  state.merge(assignment_entry("dead-old", 0, "n1", stamp(10), true));
  state.merge(assignment_entry("dead-new", 0, "n1", stamp(150), true));
  state.merge(instance_entry("live-old", 0, "n1", stamp(10)));
  state.merge(instance_entry("dead-old", 0, "n1", stamp(10), true));
  state.merge(instance_entry("dead-new", 0, "n1", stamp(150), true));
  state.merge(member_entry("alive-old", 1, alive, 10));
  state.merge(member_entry("suspect-old", 1, suspect, 10));
  state.merge(member_entry("failed-old", 1, failed, 10));
  state.merge(member_entry("left-old", 1, left, 10));
  state.merge(member_entry("failed-new", 1, failed, 150));
  state.merge(member_entry("left-at-cutoff", 1, left, 100));

  ClusterState keeps_failed = state;
  EXPECT_EQ(keeps_failed.collect_garbage(100, 5), 4u) << "a failed member is kept until its own cutoff";
  EXPECT_NE(keeps_failed.member("failed-old"), nullptr);
  EXPECT_EQ(keeps_failed.member("left-old"), nullptr);

  EXPECT_EQ(state.collect_garbage(100, 100), 5u);

  EXPECT_NE(state.service("live-old"), nullptr);
  EXPECT_EQ(state.service("dead-old"), nullptr);
  EXPECT_NE(state.service("dead-at-cutoff"), nullptr);
  EXPECT_NE(state.service("dead-new"), nullptr);
  EXPECT_NE(state.assignment("live-old", 0), nullptr);
  EXPECT_EQ(state.assignment("dead-old", 0), nullptr);
  EXPECT_NE(state.assignment("dead-new", 0), nullptr);
  EXPECT_NE(state.instance("live-old", 0, "n1"), nullptr);
  EXPECT_EQ(state.instance("dead-old", 0, "n1"), nullptr);
  EXPECT_NE(state.instance("dead-new", 0, "n1"), nullptr);
  EXPECT_NE(state.member("alive-old"), nullptr);
  EXPECT_NE(state.member("suspect-old"), nullptr);
  EXPECT_EQ(state.member("failed-old"), nullptr);
  EXPECT_EQ(state.member("left-old"), nullptr);
  EXPECT_NE(state.member("failed-new"), nullptr);
  EXPECT_NE(state.member("left-at-cutoff"), nullptr);
  EXPECT_EQ(state.collect_garbage(100, 100), 0u) << "nothing left to collect";
}

TEST(CollectGarbage, TheEarliestFailureIsOfAFailedMemberNotYetReaped) {
  using enum MemberState;
  ClusterState state;
  EXPECT_EQ(state.earliest_failure(0), std::nullopt);
  state.merge(member_entry("alive", 1, alive, 10));
  state.merge(member_entry("suspect", 1, suspect, 20));
  state.merge(member_entry("left", 1, left, 30));
  EXPECT_EQ(state.earliest_failure(0), std::nullopt) << "only failed members count";
  state.merge(member_entry("failed-late", 1, failed, 90));
  state.merge(member_entry("failed-early", 1, failed, 50));
  EXPECT_EQ(state.earliest_failure(0), 50u);
  EXPECT_EQ(state.earliest_failure(50), 50u);
  EXPECT_EQ(state.earliest_failure(51), 90u) << "one past its reconnect timeout is being reaped";
  EXPECT_EQ(state.earliest_failure(91), std::nullopt);
}

TEST(CollectGarbage, KeepsEveryLiveRecordAndEveryRecentOne) {
  auto collectable = [](const AnyEntry& entry, std::uint64_t cutoff, std::uint64_t failed_cutoff) {
    return std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, MemberEntry>)
            return (e.member.state == MemberState::failed && e.heartbeat < failed_cutoff) ||
                   (e.member.state == MemberState::left && e.heartbeat < cutoff);
          else
            return e.removed && e.stamp.hlc < cutoff;
        },
        entry);
  };
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    Generator generator(seed);
    ClusterState state = state_of({generator.delta(300)});
    const std::uint64_t cutoff = 1 + seed % Generator::kClockSpan;
    const std::uint64_t failed_cutoff = cutoff / 2;
    std::set<std::string> kept_expected;
    std::size_t dropped_expected = 0;
    for (const auto& entry : entries_of(state.everything())) {
      if (collectable(entry, cutoff, failed_cutoff)) ++dropped_expected;
      else kept_expected.insert(packed(delta_of({entry})));
    }
    EXPECT_EQ(state.collect_garbage(cutoff, failed_cutoff), dropped_expected) << "seed " << seed;
    std::set<std::string> kept;
    for (const auto& entry : entries_of(state.everything())) kept.insert(packed(delta_of({entry})));
    EXPECT_EQ(kept, kept_expected) << "seed " << seed;
  }
}

}  // namespace cluster_state_test
}  // namespace mob

namespace mob {
namespace cluster_state_test {

// The keys of `state` in the digest's order (members, services, assignments, instances, each
// by key) whose bucket at `bucket_count` is in `scope`: what a walk of every record gives.
std::vector<std::string> keys_in_scope(const ClusterState& state, const std::vector<std::uint32_t>& scope,
                                       std::size_t bucket_count) {
  std::vector<std::string> keys;
  auto add = [&](const auto& map) {
    for (const auto& [key, entry] : map) {
      auto bucket = ClusterState::bucket_of(key) % bucket_count;
      if (std::find(scope.begin(), scope.end(), bucket) != scope.end()) keys.push_back(key);
    }
  };
  add(state.members());
  add(state.services());
  add(state.assignments());
  add(state.instances());
  return keys;
}

// The bucket index (digest and bucket_sizes by scope) gives what a walk of every record gives,
// through merges, garbage collection, copies and moves.
TEST(AntiEntropy, ADigestByScopeHoldsExactlyTheRecordsOfItsBuckets) {
  for (std::uint32_t seed = 1; seed <= 12; ++seed) {
    Generator generator(seed);
    ClusterState grown = state_of({generator.delta(300)});
    grown.merge(generator.delta(300));
    ClusterState collected = grown;
    collected.collect_garbage(~std::uint64_t{0}, ~std::uint64_t{0});
    ASSERT_LT(record_count(collected), record_count(grown)) << "seed " << seed << ": nothing was collected";
    ClusterState copied;
    copied = collected;
    ClusterState moved = std::move(copied);
    std::mt19937 random(seed);
    for (const ClusterState* state : {&grown, &collected, &moved}) {
      const auto everything = state->digest();
      for (std::size_t bucket_count : {1u, 2u, 8u, 64u, 256u}) {
        std::vector<std::uint32_t> scope;
        for (std::uint32_t bucket = 0; bucket < bucket_count; ++bucket)
          if (random() % 3 == 0 || bucket_count == 1) scope.push_back(bucket);
        const auto digest = state->digest(scope, bucket_count);
        const auto wanted = keys_in_scope(*state, scope, bucket_count);
        ASSERT_EQ(digest.size(), wanted.size()) << "seed " << seed << ", " << bucket_count << " buckets";
        for (std::size_t i = 0; i < digest.size(); ++i) {
          ASSERT_EQ(digest[i].key, wanted[i]) << "seed " << seed << ", " << bucket_count << " buckets, entry " << i;
          auto same_key = std::find_if(everything.begin(), everything.end(),
                                       [&](const DigestEntry& entry) { return entry.key == wanted[i]; });
          ASSERT_NE(same_key, everything.end());
          EXPECT_EQ(packed(std::vector<DigestEntry>{digest[i]}), packed(std::vector<DigestEntry>{*same_key}));
        }
        const auto sizes = state->bucket_sizes(scope, bucket_count);
        for (std::size_t i = 0; i < scope.size(); ++i)
          EXPECT_EQ(sizes[i], keys_in_scope(*state, {scope[i]}, bucket_count).size())
              << "seed " << seed << ", bucket " << scope[i] << " of " << bucket_count;
      }
    }
  }
}

}  // namespace cluster_state_test
}  // namespace mob
