// Rebalance as a pure step (agent/rebalance.hpp): from the busiest agent to the idlest, a
// batch of update.max_parallel at a time, only once the last batch runs where it went; the
// wish in the service's record, carried out by whoever owns the service now, and what a
// request, a deploy, a merge, the disk and the events make of it.
#include "agent/rebalance.hpp"

#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "agent/change_events.hpp"
#include "agent/client_commands.hpp"
#include "agent/placement.hpp"
#include "agent/service_record.hpp"
#include "tests/support/records.hpp"

namespace mob {
namespace rebalance_test {

class RebalancePlan : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& name : {"a", "b", "c"}) {
      Member member;
      member.name = name;
      member.providers = {"bash"};
      alive_.push_back(member);
    }
  }

  // web with `nodes[i]` running instance i.
  void deploy(const std::vector<std::string>& nodes, std::optional<UpdateSpec> update = std::nullopt) {
    spec_.name = "web";
    spec_.provider = "bash";
    spec_.instances = static_cast<std::uint32_t>(nodes.size());
    spec_.update = update;
    ServiceEntry entry = test::service_record("web", "{}", 1, true, 0, false, Stamp{++stamp_, "x"});
    entry.write_id = "w-1";  // the deploy's
    state_.merge(entry);
    for (std::uint32_t index = 0; index < nodes.size(); ++index) place(index, nodes[index], InstanceState::running);
  }

  void place(std::uint32_t index, const std::string& node, InstanceState state, Health health = Health::healthy) {
    state_.merge(AssignmentEntry{"web", index, node, false, Stamp{++stamp_, "x"}, 0, {}});
    InstanceEntry instance;
    instance.status.service = "web";
    instance.status.index = index;
    instance.status.node = node;
    instance.status.state = state;
    instance.status.health = state == InstanceState::running ? health : Health::none;
    instance.stamp = Stamp{++stamp_, node};
    state_.merge(instance);
  }

  RebalanceWrites plan() {
    return plan_rebalance(state_, {"web"}, alive_, [&](const ServiceEntry&) { return &spec_; });
  }

  // The rebalance of web asked for: its record with the wish, as decide_rebalance writes it.
  void want_rebalance() {
    ServiceEntry entry = *state_.service("web");
    entry.rebalance = std::string(kRebalanceWanted);
    entry.stamp = Stamp{++stamp_, "x"};
    state_.merge(entry);
  }

  // The names of the members, and the one that owns web among them.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& member : alive_) out.push_back(member.name);
    return out;
  }
  std::string owner() const { return owner_of("web", names()); }

  // What `self` writes as the owner's step, applied to the state as the store would.
  RebalanceWrites owner_step(const std::string& self) {
    auto writes = plan_owned_rebalances(state_, {"web"}, alive_, alive_, self, lookup_);
    for (auto move : writes.moves) {
      move.stamp = Stamp{++stamp_, self};
      state_.merge(move);
    }
    for (auto service : writes.services) {
      service.stamp = Stamp{++stamp_, self};
      state_.merge(service);
    }
    return writes;
  }
  // The instances of `moves` start, then run, on their new nodes.
  void start(const std::vector<AssignmentEntry>& moves, InstanceState state) {
    for (const auto& move : moves) place(move.index, move.node, state);
  }
  std::map<std::string, int> spread() const {
    std::map<std::string, int> out;
    for (const auto& [key, assignment] : state_.assignments())
      if (!assignment.removed) ++out[assignment.node];
    return out;
  }

  ClusterState state_;
  ServiceSpec spec_;
  SpecOf lookup_ = [this](const ServiceEntry&) { return &spec_; };
  std::vector<Member> alive_;
  std::uint64_t stamp_ = 0;
};

TEST_F(RebalancePlan, AnEvenSpreadMovesNothing) {
  deploy({"a", "b", "c", "a", "b", "c", "a"});
  auto writes = plan();
  EXPECT_TRUE(writes.moves.empty());
  EXPECT_EQ(writes.left, 0u) << "3, 2, 2 differ by one at most";
}

TEST_F(RebalancePlan, MovesOneAtATimeWithoutAnUpdateBlockFromTheBusiestToTheIdlest) {
  deploy({"a", "a", "a", "a", "a", "a"});
  auto writes = plan();
  ASSERT_EQ(writes.moves.size(), 1u);
  EXPECT_EQ(writes.moves[0].index, 5u) << "the highest index moves";
  EXPECT_NE(writes.moves[0].node, "a");
  EXPECT_EQ(writes.left, 3u) << "6 on a: 4 moves make 2, 2, 2";
}

// The largest service a peer may send (10,000 instances, admission.hpp kMaxInstanceIndex),
// all on one of 100 agents: the plan is the same as for a small one. Planned move by move
// with a scan of every agent and every assignment per move, this took seconds, the store
// fuzzer found the store's thread stalled on it, and `status` plans every rebalancing service.
TEST_F(RebalancePlan, TheLargestServiceOnOneOfAHundredAgentsIsPlannedLikeASmallOne) {
  for (int i = 0; i < 97; ++i) {
    Member member;
    member.name = "n" + std::to_string(100 + i);
    member.providers = {"bash"};
    alive_.push_back(member);
  }
  deploy(std::vector<std::string>(10'000, "a"), UpdateSpec{3, 0, 60'000, true, 0});
  auto writes = plan();
  ASSERT_EQ(writes.moves.size(), 3u);
  EXPECT_EQ(writes.moves[0].index, 9'999u) << "the highest indexes move first";
  EXPECT_EQ(writes.moves[1].index, 9'998u);
  EXPECT_EQ(writes.left, 9'900u - 3u) << "100 on each of the 100 agents";
  std::set<std::string> to;
  for (const auto& move : writes.moves) to.insert(move.node);
  EXPECT_EQ(to.size(), 3u) << "each to another idle agent";
  EXPECT_FALSE(to.contains("a"));
}

TEST_F(RebalancePlan, ABatchIsMaxParallelAndTheNextWaitsUntilItRuns) {
  deploy({"a", "a", "a", "a", "a", "a"}, UpdateSpec{2, 0, 60'000, true, 0});
  auto first = plan();
  ASSERT_EQ(first.moves.size(), 2u);
  EXPECT_EQ(first.left, 2u);
  EXPECT_NE(first.moves[0].node, first.moves[1].node) << "one to b, one to c";
  for (const auto& move : first.moves) place(move.index, move.node, InstanceState::starting);
  auto waiting = plan();
  EXPECT_TRUE(waiting.moves.empty()) << "the moved instances do not run yet";
  EXPECT_EQ(waiting.left, 2u);
  for (const auto& move : first.moves) place(move.index, move.node, InstanceState::running);
  auto second = plan();
  EXPECT_EQ(second.moves.size(), 2u);
  EXPECT_EQ(second.left, 0u);
}

TEST_F(RebalancePlan, OnlyAgentsThatCanRunItCount) {
  alive_[2].eligible = false;
  deploy({"a", "a", "b", "b"});
  EXPECT_TRUE(plan().moves.empty()) << "c is ineligible: 2 and 2 on a and b is even";
}


TEST_F(RebalancePlan, NoOwnerMovesAnythingUntilARebalanceIsAsked) {
  deploy({"a", "a", "a", "a", "a", "a"});
  for (const auto& member : alive_) {
    auto writes = plan_owned_rebalances(state_, {"web"}, alive_, alive_, member.name, lookup_);
    EXPECT_TRUE(writes.moves.empty()) << member.name;
    EXPECT_TRUE(writes.services.empty()) << member.name;
  }
}

TEST_F(RebalancePlan, OnlyTheOwnerMovesABatchAndRecordsTheEndOnceTheLastBatchRuns) {
  deploy({"a", "a", "a", "a", "a", "a"}, UpdateSpec{2, 0, 60'000, true, 0});
  want_rebalance();
  for (const auto& member : alive_) {
    if (member.name == owner()) continue;
    EXPECT_TRUE(plan_owned_rebalances(state_, {"web"}, alive_, alive_, member.name, lookup_).moves.empty())
        << member.name << " does not own web";
  }
  auto first = owner_step(owner());
  ASSERT_EQ(first.moves.size(), 2u) << "max_parallel 2";
  EXPECT_TRUE(owner_step(owner()).moves.empty()) << "the batch is not placed on its new nodes yet";
  start(first.moves, InstanceState::starting);
  EXPECT_TRUE(owner_step(owner()).moves.empty()) << "the batch does not run yet";
  start(first.moves, InstanceState::running);
  auto second = owner_step(owner());
  ASSERT_EQ(second.moves.size(), 2u);
  EXPECT_TRUE(second.services.empty()) << "not done while the last batch does not run";
  start(second.moves, InstanceState::running);
  auto end = owner_step(owner());
  EXPECT_TRUE(end.moves.empty());
  ASSERT_EQ(end.services.size(), 1u);
  EXPECT_EQ(end.services[0].rebalance, "done: a 2, b 2, c 2");
  EXPECT_EQ(state_.service("web")->rebalance, "done: a 2, b 2, c 2");
  EXPECT_EQ(state_.service("web")->write_id, "w-1") << "the same version: a retried deploy still finds it";
  EXPECT_TRUE(owner_step(owner()).services.empty()) << "done once: no more writes";
  EXPECT_EQ(spread(), (std::map<std::string, int>{{"a", 2}, {"b", 2}, {"c", 2}}));
}

TEST_F(RebalancePlan, AnotherOwnerContinuesFromTheReplicatedStateWhenTheFirstFails) {
  deploy({"a", "a", "a", "a", "a", "a"});
  want_rebalance();
  const std::string first_owner = owner();
  auto first = owner_step(first_owner);
  ASSERT_EQ(first.moves.size(), 1u);
  start(first.moves, InstanceState::running);
  // The first owner fails: whoever owns web among the others goes on from what is recorded.
  std::erase_if(alive_, [&](const Member& member) { return member.name == first_owner; });
  for (std::uint32_t index = 0; index < 6; ++index) {  // its instances were placed elsewhere
    const AssignmentEntry* assignment = state_.assignment("web", index);
    if (assignment->node != first_owner) continue;
    place(index, alive_[0].name, InstanceState::running);
  }
  const std::string next_owner = owner();
  ASSERT_NE(next_owner, first_owner);
  for (int step = 0; step < 10 && state_.service("web")->rebalance == kRebalanceWanted; ++step)
    start(owner_step(next_owner).moves, InstanceState::running);
  EXPECT_EQ(state_.service("web")->rebalance, "done: " + alive_[0].name + " 3, " + alive_[1].name + " 3");
}

TEST_F(RebalancePlan, AnInstanceOnAnAgentThatCannotRunItHoldsTheEndUntilPlacementMovesIt) {
  deploy({"a", "b", "c", "a", "b", "c"});
  want_rebalance();
  alive_.pop_back();  // c failed: its instances are placement's to move
  auto writes = owner_step(owner());
  EXPECT_TRUE(writes.moves.empty());
  EXPECT_TRUE(writes.services.empty()) << "not done while web/2 and web/5 are on c";
  place(2, "a", InstanceState::running);
  place(5, "b", InstanceState::running);
  ASSERT_EQ(owner_step(owner()).services.size(), 1u);
  EXPECT_EQ(state_.service("web")->rebalance, "done: a 3, b 3");
}

TEST_F(RebalancePlan, ARollingUpdateGoesFirst) {
  deploy({"a", "a", "a", "a"});
  want_rebalance();
  ServiceEntry rolling = *state_.service("web");
  rolling.generation = 2;
  rolling.stable_generation = 1;
  rolling.stable_spec_json = "{}";
  rolling.stamp = Stamp{++stamp_, "x"};
  state_.merge(rolling);
  EXPECT_TRUE(owner_step(owner()).moves.empty()) << "both would move assignments";
  EXPECT_NE(rebalance_progress(state_, *state_.service("web"), alive_, lookup_).find("waiting for the rolling update"),
            std::string::npos);
}

TEST_F(RebalancePlan, ProgressSaysTheSpreadAndWhatTheNextBatchWaitsFor) {
  spec_.checks.push_back(CheckSpec{});
  deploy({"a", "a", "a", "a"});
  EXPECT_EQ(rebalance_progress(state_, *state_.service("web"), alive_, lookup_), "") << "never asked";
  want_rebalance();
  auto first = owner_step(owner());
  ASSERT_EQ(first.moves.size(), 1u);
  place(first.moves[0].index, first.moves[0].node, InstanceState::running, Health::starting);
  EXPECT_EQ(rebalance_progress(state_, *state_.service("web"), alive_, lookup_),
            "rebalancing: a 3, b 1, c 0; waiting for web/3 on b to be healthy (starting)");
  EXPECT_EQ(rebalance_spread(state_, *state_.service("web"), alive_, lookup_), "a 3, b 1, c 0");
}

TEST_F(RebalancePlan, ARequestWritesTheWishOnlyWhereSomethingIsToMoveAndOnlyOnce) {
  deploy({"a", "a", "a", "a"});
  const SpecLimits limits;
  std::uint64_t hlc = 1000;
  auto stamp = [&] { return Stamp{++hlc, "b"}; };
  CommandView view{state_, lookup_, "b", limits, 100, "", 10};
  auto write = decide_rebalance(view, RebalanceRequest{"web"}, alive_, stamp);
  ASSERT_TRUE(write) << write.error().message;
  ASSERT_EQ(write->entries.size(), 1u);
  EXPECT_EQ(write->entries[0].rebalance, kRebalanceWanted);
  EXPECT_EQ(write->entries[0].generation, 1u) << "no new version";
  EXPECT_EQ(write->entries[0].write_id, "w-1") << "the same version: a retried deploy still finds it";
  EXPECT_EQ(write->reply.services, std::vector<std::string>{"web"});
  EXPECT_EQ(write->reply.left, 2u) << "4 on a: 2 moves make 2, 1, 1";
  EXPECT_TRUE(write->reply.moves.empty()) << "the owner moves them";
  state_.merge(write->entries[0]);

  auto again = decide_rebalance(view, RebalanceRequest{}, alive_, stamp);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->entries.empty()) << "asked already: nothing written again";
  EXPECT_EQ(again->reply.services, std::vector<std::string>{"web"});

  auto unknown = decide_rebalance(view, RebalanceRequest{"nosuch"}, alive_, stamp);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message,
            "rebalance nosuch: service \"nosuch\" is not deployed (mob-tool status lists the services)");
  const std::string clock = "its clock is off";
  CommandView refusing{state_, lookup_, "b", limits, 100, clock, 10};
  EXPECT_FALSE(decide_rebalance(refusing, RebalanceRequest{"web"}, alive_, stamp));
}

TEST_F(RebalancePlan, AnEvenServiceGetsNoWish) {
  deploy({"a", "b", "c"});
  const SpecLimits limits;
  std::uint64_t hlc = 1000;
  CommandView view{state_, lookup_, "b", limits, 100, "", 10};
  auto write = decide_rebalance(view, RebalanceRequest{"web"}, alive_, [&] { return Stamp{++hlc, "b"}; });
  ASSERT_TRUE(write);
  EXPECT_TRUE(write->entries.empty());
  EXPECT_TRUE(write->reply.services.empty());
  EXPECT_EQ(write->reply.left, 0u);
}

TEST(RebalanceWish, MergesLikeTheRestOfTheRecordAndTheLaterWriteWins) {
  ServiceEntry asked = test::service_record("web", "{}", 3, true, 0, false, Stamp{100, "b"});
  asked.rebalance = std::string(kRebalanceWanted);
  ServiceEntry done = asked;
  done.rebalance = "done: a 2, b 2";
  done.stamp = Stamp{200, "c"};
  ClusterState one, other;
  one.merge(asked);
  one.merge(done);
  other.merge(done);
  other.merge(asked);
  EXPECT_EQ(one.service("web")->rebalance, "done: a 2, b 2");
  EXPECT_EQ(other.service("web")->rebalance, "done: a 2, b 2") << "in either order";
  EXPECT_FALSE(other.merge(done)) << "idempotent";
}

TEST(RebalanceWish, ADeployKeepsItAndTheDiskKeepsIt) {
  ClusterState state;
  ServiceEntry asked = test::service_record("web", R"({"name":"web","provider":"bash","params":{"command":"sleep 9"}})",
                                            1, true, 0, false, Stamp{100, "b"});
  asked.rebalance = std::string(kRebalanceWanted);
  state.merge(asked);
  std::map<std::string, ServiceSpec> specs;
  SpecOf lookup = [&](const ServiceEntry& entry) -> const ServiceSpec* {
    auto parsed = parse_spec(entry.spec_json);
    return parsed ? &(specs[entry.name] = *parsed) : nullptr;
  };
  const SpecLimits limits;
  CommandView view{state, lookup, "b", limits, 100, "", 10};
  auto deployed = decide_deploy(
      view, DeployRequest{R"({"name":"web","provider":"bash","instances":3,"params":{"command":"sleep 9"}})", ""},
      [] { return Stamp{300, "b"}; });
  ASSERT_TRUE(deployed) << deployed.error().message;
  ASSERT_TRUE(deployed->entry);
  EXPECT_EQ(deployed->entry->generation, 2u);
  EXPECT_EQ(deployed->entry->rebalance, kRebalanceWanted) << "a new version goes on with the rebalance";

  auto kept = parse_service_record(service_record_text(asked));
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_EQ(kept->rebalance, kRebalanceWanted);
  ServiceEntry plain = asked;
  plain.rebalance.clear();
  EXPECT_EQ(service_record_text(plain).find("rebalance"), std::string::npos) << "nothing written when never asked";
}

TEST(RebalanceWish, ItsChangesAreServiceRebalanceEventsNotUpdates) {
  const EventSource source{"node-a", 5000};
  ServiceEntry before = test::service_record("web", "{}", 3, true, 0, false, Stamp{100, "b"});
  ServiceEntry asked = before;
  asked.rebalance = std::string(kRebalanceWanted);
  asked.stamp = Stamp{200, "b"};
  auto started = change_events(asked, before, source);
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].topic, "service.rebalance");
  EXPECT_EQ(started[0].state, "started");
  EXPECT_EQ(started[0].agent, "b");

  ServiceEntry done = asked;
  done.rebalance = "done: a 2, b 2";
  done.stamp = Stamp{300, "c"};
  auto ended = change_events(done, asked, source);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].topic, "service.rebalance");
  EXPECT_EQ(ended[0].state, "done");
  EXPECT_EQ(ended[0].reason, "done: a 2, b 2");

  ServiceEntry stopped = asked;
  stopped.enabled = false;
  stopped.stamp = Stamp{300, "c"};
  auto updated = change_events(stopped, asked, source);
  ASSERT_EQ(updated.size(), 1u) << "the wish did not change: no rebalance event";
  EXPECT_EQ(updated[0].topic, "service.updated");
  EXPECT_EQ(updated[0].reason, "stopped");

  AssignmentEntry moved{"web", 5, "c", false, Stamp{400, "c"}, 0, {}};
  auto batch = rebalance_batch_event(moved, "a", "a 3, b 2, c 1", source);
  EXPECT_EQ(batch.topic, "service.rebalance");
  EXPECT_EQ(batch.state, "batch");
  EXPECT_EQ(batch.instance, 5);
  EXPECT_EQ(batch.from_node, "a");
  EXPECT_EQ(batch.node, "c");
  EXPECT_EQ(batch.reason, "a 3, b 2, c 1");
}

}  // namespace rebalance_test
}  // namespace mob
