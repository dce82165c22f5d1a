// What the owner of a service writes (agent/scheduling.hpp), on a hand-made cluster state.
#include "agent/scheduling.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "agent/placement.hpp"
#include "tests/support/records.hpp"

namespace mob {
namespace scheduling_test {

using test::service_record;

class Scheduling : public ::testing::Test {
 protected:
  void add_member(const std::string& name, MemberState state, std::vector<std::string> providers = {"bash"},
                  bool eligible = true) {
    MemberEntry entry;
    entry.member.name = name;
    entry.member.state = state;
    entry.member.providers = std::move(providers);
    entry.member.eligible = eligible;
    entry.member.incarnation = 1;
    entry.heartbeat = ++stamp_;
    entry.reported_by = name;
    state_.merge(entry);
  }

  void add_service(const std::string& name, std::uint32_t instances, std::string provider = "bash",
                   bool removed = false) {
    ServiceSpec spec;
    spec.name = name;
    spec.provider = std::move(provider);
    spec.instances = instances;
    specs_[name] = spec;
    state_.merge(service_record(name, "{}", 1, true, 0, removed, Stamp{++stamp_, "x"}));
  }

  void assign(const std::string& service, std::uint32_t index, const std::string& node) {
    state_.merge(AssignmentEntry{service, index, node, false, Stamp{++stamp_, "x"}, 0, {}});
  }

  void report(const std::string& service, std::uint32_t index, const std::string& node,
              InstanceState state = InstanceState::running) {
    InstanceEntry entry;
    entry.status.service = service;
    entry.status.index = index;
    entry.status.node = node;
    entry.status.state = state;
    entry.stamp = Stamp{++stamp_, node};
    state_.merge(entry);
  }

  std::vector<Member> members(bool include_suspect) const { return state_.live_members(include_suspect); }

  // Plans as `self` would, for every service.
  OwnerWrites plan(const std::string& self) {
    std::vector<std::string> targets;
    for (const auto& [key, service] : state_.services()) targets.push_back(service.name);
    return plan_owned_services(state_, targets, members(false), members(true), self,
                               [&](const ServiceEntry& entry) -> const ServiceSpec* {
                                 auto spec = specs_.find(entry.name);
                                 return spec == specs_.end() ? nullptr : &spec->second;
                               });
  }

  std::string owner(const std::string& service) const {
    std::vector<std::string> names;
    for (const auto& member : members(true)) names.push_back(member.name);
    return owner_of(service, names);
  }

  ClusterState state_;
  std::map<std::string, ServiceSpec> specs_;
  std::uint64_t stamp_ = 0;
};

TEST_F(Scheduling, TheOwnerPlacesEveryInstanceOnDistinctAgentsThatRunItsProvider) {
  add_member("a", MemberState::alive);
  add_member("b", MemberState::alive);
  add_member("c", MemberState::alive, {"docker"});
  add_service("web", 2);
  auto writes = plan(owner("web"));
  ASSERT_EQ(writes.assignments.size(), 2u);
  std::set<std::string> nodes;
  for (const auto& write : writes.assignments) {
    EXPECT_FALSE(write.removed);
    EXPECT_NE(write.node, "c") << "c does not run bash";
    nodes.insert(write.node);
  }
  EXPECT_EQ(nodes, (std::set<std::string>{"a", "b"}));
  EXPECT_TRUE(writes.instance_tombstones.empty());
}

TEST_F(Scheduling, OnlyTheOwnerWrites) {
  add_member("a", MemberState::alive);
  add_member("b", MemberState::alive);
  add_service("web", 2);
  std::string other = owner("web") == "a" ? "b" : "a";
  auto writes = plan(other);
  EXPECT_TRUE(writes.assignments.empty());
  EXPECT_TRUE(writes.instance_tombstones.empty());
}

TEST_F(Scheduling, AnInstanceOnAFailedAgentMovesAndItsRecordIsTombstoned) {
  add_member("a", MemberState::alive);
  add_member("b", MemberState::alive);
  add_member("dead", MemberState::failed);
  add_service("web", 1);
  assign("web", 0, "dead");
  report("web", 0, "dead");
  auto writes = plan(owner("web"));
  ASSERT_EQ(writes.assignments.size(), 1u);
  EXPECT_NE(writes.assignments[0].node, "dead");
  EXPECT_FALSE(writes.assignments[0].removed);
  ASSERT_EQ(writes.instance_tombstones.size(), 1u);
  EXPECT_EQ(writes.instance_tombstones[0].status.node, "dead");
  EXPECT_TRUE(writes.instance_tombstones[0].removed);
}

// A drained (ineligible) agent: its instances are placed elsewhere, and its record stays
// (it runs its copy until the new one runs: agent/local_assignments.hpp).
TEST_F(Scheduling, AnInstanceOnAnIneligibleAgentMovesAndNoNewOneGoesThere) {
  add_member("a", MemberState::alive);
  add_member("b", MemberState::alive);
  add_member("drained", MemberState::alive, {"bash"}, /*eligible=*/false);
  add_service("web", 3);
  assign("web", 0, "drained");
  report("web", 0, "drained");
  auto writes = plan(owner("web"));
  ASSERT_EQ(writes.assignments.size(), 3u);
  for (const auto& write : writes.assignments) EXPECT_NE(write.node, "drained") << "web/" << write.index;
  EXPECT_TRUE(writes.instance_tombstones.empty());
}

TEST_F(Scheduling, AnInstanceWithNowhereElseToGoStaysOnAnIneligibleAgent) {
  add_member("drained", MemberState::alive, {"bash"}, /*eligible=*/false);
  add_member("other", MemberState::alive, {"docker"});
  add_service("web", 1);
  assign("web", 0, "drained");
  report("web", 0, "drained");
  auto writes = plan(owner("web"));
  EXPECT_TRUE(writes.assignments.empty());
}

TEST_F(Scheduling, AMovedInstanceKeepsTheVersionARolloutGaveIt) {
  add_member("a", MemberState::alive);
  add_member("dead", MemberState::failed);
  add_service("web", 2);
  state_.merge(AssignmentEntry{"web", 0, "dead", false, Stamp{++stamp_, "x"}, 7, {}});
  auto writes = plan(owner("web"));
  ASSERT_EQ(writes.assignments.size(), 2u);
  for (const auto& write : writes.assignments) {
    EXPECT_EQ(write.node, "a");
    EXPECT_EQ(write.generation, write.index == 0 ? 7u : 0u) << "web/" << write.index;
  }
}

TEST_F(Scheduling, ASuspectKeepsItsInstancesButGetsNoNewOnes) {
  add_member("a", MemberState::alive);
  add_member("slow", MemberState::suspect);
  add_service("web", 2);
  assign("web", 0, "slow");
  report("web", 0, "slow");
  auto writes = plan(owner("web"));
  ASSERT_EQ(writes.assignments.size(), 1u);
  EXPECT_EQ(writes.assignments[0].index, 1u);
  EXPECT_EQ(writes.assignments[0].node, "a");
  EXPECT_TRUE(writes.instance_tombstones.empty());
}

TEST_F(Scheduling, AssignmentsPastTheWantedCountOrOfARemovedServiceAreTombstoned) {
  add_member("a", MemberState::alive);
  add_service("web", 1);
  assign("web", 0, "a");
  assign("web", 1, "a");
  assign("web", 2, "a");
  auto writes = plan("a");
  ASSERT_EQ(writes.assignments.size(), 2u);
  for (const auto& write : writes.assignments) {
    EXPECT_TRUE(write.removed);
    EXPECT_GE(write.index, 1u);
  }
  add_service("gone", 2, "bash", /*removed=*/true);
  assign("gone", 0, "a");
  auto after_remove = plan("a");
  auto tombstones = std::count_if(after_remove.assignments.begin(), after_remove.assignments.end(),
                                  [](const AssignmentEntry& w) { return w.service == "gone" && w.removed; });
  EXPECT_EQ(tombstones, 1);
}

TEST_F(Scheduling, NoAgentRunsTheProviderNothingIsPlaced) {
  add_member("a", MemberState::alive);
  add_service("box", 1, "docker");
  EXPECT_TRUE(plan("a").assignments.empty());
}

TEST_F(Scheduling, AnInstanceWhoseFixedPortWasInUseMovesToAnotherAgentAndRemembersWhy) {
  add_member("a", MemberState::alive);
  add_member("b", MemberState::alive);
  add_member("c", MemberState::alive);
  add_service("api", 1);
  specs_["api"].ports = {{"http", {9100, 0}}};
  assign("api", 0, "a");
  EXPECT_TRUE(plan(owner("api")).assignments.empty()) << "no record yet: it stays";
  InstanceEntry failed;
  failed.status.service = "api";
  failed.status.index = 0;
  failed.status.node = "a";
  failed.status.state = InstanceState::failed;
  failed.status.reason = "port 9100 is in use on a";
  failed.status.busy_port = 9100;
  failed.stamp = Stamp{++stamp_, "a"};
  state_.merge(failed);
  auto writes = plan(owner("api"));
  ASSERT_EQ(writes.assignments.size(), 1u);
  EXPECT_NE(writes.assignments[0].node, "a");
  EXPECT_EQ(writes.assignments[0].avoid, std::vector<std::string>{"a"});
  // Busy there too: on to the last one; then, every agent tried, it stays where it is.
  const std::string second = writes.assignments[0].node;
  state_.merge(AssignmentEntry{"api", 0, second, false, Stamp{++stamp_, "x"}, 0, {"a"}});
  failed.status.node = second;
  failed.stamp = Stamp{++stamp_, second};
  state_.merge(failed);
  auto third = plan(owner("api"));
  ASSERT_EQ(third.assignments.size(), 1u);
  EXPECT_EQ(third.assignments[0].avoid, (std::vector<std::string>{"a", second}));
  const std::string last = third.assignments[0].node;
  EXPECT_TRUE(last != "a" && last != second);
  state_.merge(AssignmentEntry{"api", 0, last, false, Stamp{++stamp_, "x"}, 0, third.assignments[0].avoid});
  failed.status.node = last;
  failed.stamp = Stamp{++stamp_, last};
  state_.merge(failed);
  EXPECT_TRUE(plan(owner("api")).assignments.empty());
}

TEST_F(Scheduling, AFailureForAnotherReasonDoesNotMoveAnInstance) {
  add_member("a", MemberState::alive);
  add_member("b", MemberState::alive);
  add_service("api", 1);
  specs_["api"].ports = {{"http", {9100, 0}}};
  assign("api", 0, "a");
  InstanceEntry failed;
  failed.status.service = "api";
  failed.status.node = "a";
  failed.status.state = InstanceState::failed;
  failed.stamp = Stamp{++stamp_, "a"};
  state_.merge(failed);
  EXPECT_TRUE(plan(owner("api")).assignments.empty());
}

TEST_F(Scheduling, InstancesLeaveADrainedAgentMaxParallelAtATimeWithAnUpdateBlock) {
  add_member("a", MemberState::alive);
  add_member("b", MemberState::alive, {"bash"}, /*eligible=*/false);
  add_service("web", 3);
  specs_["web"].update = UpdateSpec{1, 0, 60'000, true, 0};
  for (std::uint32_t index = 0; index < 3; ++index) {
    assign("web", index, "b");
    report("web", index, "b");
  }
  auto first = plan(owner("web"));
  ASSERT_EQ(first.assignments.size(), 1u) << "one move at a time";
  EXPECT_EQ(first.assignments[0].node, "a");
  const std::uint32_t moving = first.assignments[0].index;
  assign("web", moving, "a");
  EXPECT_TRUE(plan(owner("web")).assignments.empty()) << "the new copy does not run yet; the old one does";
  report("web", moving, "a");
  EXPECT_TRUE(plan(owner("web")).assignments.empty())
      << "the new copy runs but the old one has not stopped yet: one move is still in flight";
  report("web", moving, "b", InstanceState::stopped);
  auto second = plan(owner("web"));
  ASSERT_EQ(second.assignments.size(), 1u) << "the last move's old copy stopped: the next one goes";
  EXPECT_NE(second.assignments[0].index, moving);

  specs_["web"].update.reset();
  EXPECT_EQ(plan(owner("web")).assignments.size(), 2u) << "without an update block every instance moves at once";
}

}  // namespace scheduling_test
}  // namespace mob
