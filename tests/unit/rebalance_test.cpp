// Rebalance as a pure step (agent/rebalance.hpp): from the busiest agent to the idlest, a
// batch of update.max_parallel at a time, only once the last batch runs where it went.
#include "agent/rebalance.hpp"

#include <gtest/gtest.h>

#include "tests/support/records.hpp"

namespace mob {
namespace {

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
    state_.merge(test::service_record("web", "{}", 1, true, 0, false, Stamp{++stamp_, "x"}));
    for (std::uint32_t index = 0; index < nodes.size(); ++index) place(index, nodes[index], InstanceState::running);
  }

  void place(std::uint32_t index, const std::string& node, InstanceState state) {
    state_.merge(AssignmentEntry{"web", index, node, false, Stamp{++stamp_, "x"}, 0, {}});
    InstanceEntry instance;
    instance.status.service = "web";
    instance.status.index = index;
    instance.status.node = node;
    instance.status.state = state;
    instance.stamp = Stamp{++stamp_, node};
    state_.merge(instance);
  }

  RebalanceWrites plan() {
    return plan_rebalance(state_, {"web"}, alive_, [&](const ServiceEntry&) { return &spec_; });
  }

  ClusterState state_;
  ServiceSpec spec_;
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

}  // namespace
}  // namespace mob
