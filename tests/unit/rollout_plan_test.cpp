// Rolling updates as the owner plans them (agent/rollout_plan.hpp), on a hand-made cluster
// state and a hand-moved clock: batches of max_parallel, the wait for min_healthy_s, the
// deadline that stops or reverts, the end, and a new owner that carries on.
#include "agent/rollout_plan.hpp"

#include <gtest/gtest.h>

#include "agent/hlc.hpp"
#include "agent/placement.hpp"
#include "tests/support/records.hpp"

namespace mob {
namespace rollout_plan_test {

constexpr std::uint64_t kStart = 1'700'000'000'000;  // unix ms of the deploy

class RolloutPlan : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& name : {"a", "b", "c"}) {
      MemberEntry entry;
      entry.member.name = name;
      entry.member.providers = {"bash"};
      entry.member.incarnation = 1;
      entry.heartbeat = 1;
      entry.reported_by = name;
      state_.merge(entry);
    }
    owner_ = owner_of("web", {"a", "b", "c"});
  }

  // web at version 2 rolling from version 1: `instances` on a, b, a, b, ..., all running v1.
  void deploy(std::uint32_t instances, UpdateSpec update, bool checks = false) {
    ServiceSpec spec;
    spec.name = "web";
    spec.provider = "bash";
    spec.instances = instances;
    spec.update = update;
    if (checks) spec.checks.push_back(CheckSpec{});
    spec_ = spec;
    auto entry = test::service_record("web", "{\"v\": 2}", 2, true, 0, false, stamp_at(kStart));
    entry.stable_generation = 1;
    entry.stable_spec_json = "{\"v\": 1}";
    state_.merge(entry);
    for (std::uint32_t index = 0; index < instances; ++index) {
      state_.merge(AssignmentEntry{"web", index, node_of(index), false, stamp_at(kStart - 10'000), 0, {}});
      report(index, 1, InstanceState::running, kStart - 10'000, checks ? Health::healthy : Health::none);
    }
  }

  // web as deployed with `update.canary` = `canaries`: they are placed beside the others, on
  // the new version, and the history holds versions 1 and 2.
  void deploy_with_canaries(std::uint32_t instances, UpdateSpec update, std::uint32_t canaries) {
    update.canary = canaries;
    deploy(instances, update);
    ServiceEntry entry = *state_.service("web");
    entry.canaries = canaries;
    entry.history = {VersionRecord{1, 1, "a", "{\"v\": 1}", "healthy", 0}, VersionRecord{2, 2, "a", "{\"v\": 2}", "", 0}};
    entry.stamp = stamp_at(kStart);
    state_.merge(entry);
    for (std::uint32_t index = instances; index < instances + canaries; ++index)
      state_.merge(AssignmentEntry{"web", index, node_of(index), false, stamp_at(kStart), 2, {}});
  }

  static std::string node_of(std::uint32_t index) { return index % 2 ? "b" : "a"; }
  Stamp stamp_at(std::uint64_t ms) { return Stamp{(ms << 16) + ++counter_, "x"}; }

  void report(std::uint32_t index, std::uint64_t version, InstanceState state, std::uint64_t since_ms,
              Health health = Health::none, std::string reason = "") {
    InstanceEntry entry;
    entry.status.service = "web";
    entry.status.index = index;
    entry.status.node = node_of(index);
    entry.status.state = state;
    entry.status.spec_version = version;
    entry.status.since_ms = static_cast<std::int64_t>(since_ms);
    entry.status.health = health;
    entry.status.reason = std::move(reason);
    entry.stamp = stamp_at(since_ms);
    state_.merge(entry);
  }

  RolloutWrites plan(std::uint64_t now_ms, const std::string& self = "") {
    return plan_rollouts(state_, {"web"}, state_.live_members(true), self.empty() ? owner_ : self,
                         [&](const ServiceEntry&) { return &spec_; }, now_ms, /*history=*/10);
  }

  // Plans at `now_ms` and merges what it writes, stamped then.
  RolloutWrites step(std::uint64_t now_ms, const std::string& self = "") {
    auto writes = plan(now_ms, self);
    for (auto move : writes.moves) {
      move.stamp = stamp_at(now_ms);
      state_.merge(move);
    }
    for (auto service : writes.services) {
      service.stamp = stamp_at(now_ms);
      state_.merge(service);
    }
    return writes;
  }

  std::vector<std::uint32_t> moved(const RolloutWrites& writes) {
    std::vector<std::uint32_t> indexes;
    for (const auto& move : writes.moves) {
      EXPECT_EQ(move.generation, 2u);
      indexes.push_back(move.index);
    }
    return indexes;
  }

  ClusterState state_;
  ServiceSpec spec_;
  std::string owner_;
  std::uint64_t counter_ = 0;
};

TEST_F(RolloutPlan, NotMovedInstancesRunTheStableVersion) {
  deploy(2, UpdateSpec{});
  const ServiceEntry& service = *state_.service("web");
  EXPECT_TRUE(rollout_active(service));
  EXPECT_TRUE(runs_stable(service, *state_.assignment("web", 0)));
  EXPECT_FALSE(runs_stable(service, AssignmentEntry{"web", 0, "a", false, {}, 2, {}}));
  ServiceEntry plain = service;
  plain.stable_generation = 0;
  plain.stable_spec_json.clear();
  EXPECT_FALSE(rollout_active(plain)) << "no update block, no stable version: all at once, as before";
  EXPECT_FALSE(runs_stable(plain, *state_.assignment("web", 0)));
}

TEST_F(RolloutPlan, MovesMaxParallelAtATimeAfterTheLastBatchRanForMinHealthy) {
  deploy(4, UpdateSpec{1, 5'000, 60'000, true, 0});
  EXPECT_EQ(moved(step(kStart)), std::vector<std::uint32_t>{0});
  EXPECT_TRUE(moved(step(kStart + 100)).empty()) << "web/0 has not run the new version yet";

  report(0, 2, InstanceState::running, kStart + 1'000);
  auto waiting = step(kStart + 3'000);
  EXPECT_TRUE(moved(waiting).empty()) << "web/0 ran for 2 s of the 5 s";
  EXPECT_EQ(waiting.recheck_at_ms, kStart + 6'000);
  EXPECT_EQ(moved(step(kStart + 6'000)), std::vector<std::uint32_t>{1});

  EXPECT_EQ(to_string(rollout_progress(state_, *state_.service("web"), spec_)), "2 of 4 updated, 4 healthy");
}

TEST_F(RolloutPlan, ABatchIsMaxParallelInstances) {
  deploy(5, UpdateSpec{2, 0, 60'000, true, 0});
  EXPECT_EQ(moved(step(kStart)), (std::vector<std::uint32_t>{0, 1}));
  report(0, 2, InstanceState::running, kStart + 10);
  EXPECT_TRUE(moved(step(kStart + 20)).empty()) << "web/1 of the batch is not running yet";
  report(1, 2, InstanceState::running, kStart + 30);
  EXPECT_EQ(moved(step(kStart + 40)), (std::vector<std::uint32_t>{2, 3}));
}

TEST_F(RolloutPlan, WithChecksAnInstanceCountsOnlyOnceHealthy) {
  deploy(2, UpdateSpec{1, 1'000, 60'000, true, 0}, /*checks=*/true);
  step(kStart);
  report(0, 2, InstanceState::running, kStart + 10, Health::starting);
  EXPECT_TRUE(moved(step(kStart + 5'000)).empty());
  report(0, 2, InstanceState::running, kStart + 10, Health::healthy);
  EXPECT_EQ(moved(step(kStart + 5'000)), std::vector<std::uint32_t>{1});
}

TEST_F(RolloutPlan, WhenEveryInstanceRunsTheNewVersionItBecomesTheStableOne) {
  deploy(2, UpdateSpec{1, 0, 60'000, true, 0});
  step(kStart);
  report(0, 2, InstanceState::running, kStart + 10);
  step(kStart + 20);
  report(1, 2, InstanceState::running, kStart + 30);
  auto done = step(kStart + 40);
  ASSERT_EQ(done.services.size(), 1u);
  EXPECT_EQ(done.services[0].generation, 2u);
  EXPECT_EQ(done.services[0].stable_generation, 0u);
  EXPECT_TRUE(done.services[0].rollout.empty());
  EXPECT_TRUE(runs_healthy(state_, *state_.service("web"), spec_));
  auto after = step(kStart + 50);
  EXPECT_TRUE(after.moves.empty() && after.services.empty()) << "nothing more to do";
}

TEST_F(RolloutPlan, AnInstanceNotHealthyByTheDeadlineRevertsToTheStableSpecAsANewVersion) {
  deploy(4, UpdateSpec{1, 0, 10'000, true, 0});
  step(kStart);
  report(0, 2, InstanceState::restarting, kStart + 500, Health::none, "exited with code 3");
  auto before_deadline = step(kStart + 9'000);
  EXPECT_TRUE(before_deadline.services.empty() && before_deadline.moves.empty());
  EXPECT_EQ(before_deadline.recheck_at_ms, kStart + 10'000);
  auto reverted = step(kStart + 10'000);
  ASSERT_EQ(reverted.services.size(), 1u);
  const ServiceEntry& service = reverted.services[0];
  EXPECT_EQ(service.generation, 3u);
  EXPECT_EQ(service.spec_json, "{\"v\": 1}");
  EXPECT_EQ(service.rollout, "reverted: web/0 restarting: exited with code 3");
  EXPECT_FALSE(rollout_active(*state_.service("web")));
  for (std::uint32_t index = 0; index < 4; ++index)
    EXPECT_FALSE(runs_stable(*state_.service("web"), *state_.assignment("web", index)))
        << "version 3 is the stable spec: every instance runs it";
}

TEST_F(RolloutPlan, AFailedInstanceStopsTheRolloutAtOnceAndWithoutAutoRevertTheRestStays) {
  deploy(4, UpdateSpec{1, 0, 60'000, false, 0});
  step(kStart);
  report(0, 2, InstanceState::failed, kStart + 500, Health::none, "exited with code 3; gave up");
  auto failed = step(kStart + 600);
  ASSERT_EQ(failed.services.size(), 1u);
  EXPECT_EQ(failed.services[0].generation, 2u);
  EXPECT_EQ(failed.services[0].rollout, "failed: web/0 failed: exited with code 3; gave up");
  EXPECT_FALSE(rollout_active(*state_.service("web")));
  EXPECT_TRUE(runs_stable(*state_.service("web"), *state_.assignment("web", 1))) << "not moved: stays on version 1";
  EXPECT_TRUE(step(kStart + 100'000).moves.empty()) << "a stopped rollout moves nothing more";
}

TEST_F(RolloutPlan, UnhealthyChecksAreNamedInTheReason) {
  deploy(2, UpdateSpec{1, 0, 5'000, true, 0}, /*checks=*/true);
  step(kStart);
  report(0, 2, InstanceState::running, kStart + 100, Health::unhealthy);
  InstanceEntry entry = *state_.instance("web", 0, "a");
  entry.status.checks = {CheckResult{"http", false, kStart + 200, 3, "status 500"}};
  entry.stamp = stamp_at(kStart + 200);
  state_.merge(entry);
  auto reverted = step(kStart + 5'000);
  ASSERT_EQ(reverted.services.size(), 1u);
  EXPECT_EQ(reverted.services[0].rollout, "reverted: web/0 unhealthy: http: status 500");
}

TEST_F(RolloutPlan, OnlyTheOwnerMovesAndANewOwnerCarriesOnFromTheReplicatedState) {
  deploy(4, UpdateSpec{1, 1'000, 60'000, true, 0});
  const std::string other = owner_ == "a" ? "b" : "a";
  EXPECT_TRUE(plan(kStart, other).moves.empty()) << other << " does not own web";
  step(kStart);
  report(0, 2, InstanceState::running, kStart + 100);

  // The owner's agent fails: the next owner among the live ones takes the same state on.
  MemberEntry gone = state_.members().at(member_key(owner_));
  gone.member.state = MemberState::failed;
  gone.heartbeat = 2;
  state_.merge(gone);
  std::vector<std::string> live;
  for (const auto& member : state_.live_members(true)) live.push_back(member.name);
  const std::string next = owner_of("web", live);
  ASSERT_NE(next, owner_);
  EXPECT_TRUE(moved(plan(kStart + 500, next)).empty()) << "web/0 has run 0.4 s of 1 s";
  EXPECT_EQ(moved(step(kStart + 1'100, next)), std::vector<std::uint32_t>{1});
}

TEST_F(RolloutPlan, CanariesRunBesideTheOthersAndTheRolloutPausesOnceTheyRanHealthy) {
  deploy_with_canaries(4, UpdateSpec{1, 1'000, 60'000, true, 0}, 1);
  EXPECT_TRUE(moved(step(kStart)).empty()) << "no old instance moves before promote";
  report(4, 2, InstanceState::running, kStart + 100);
  EXPECT_TRUE(step(kStart + 600).services.empty()) << "the canary ran 0.5 s of 1 s";
  auto paused = step(kStart + 1'100);
  EXPECT_TRUE(paused.moves.empty());
  ASSERT_EQ(paused.services.size(), 1u);
  EXPECT_EQ(paused.services[0].rollout,
            "paused: 1 canary of version 2 healthy beside 4 of version 1; continue with: mob-tool promote web");
  EXPECT_FALSE(rollout_active(*state_.service("web")));
  for (std::uint32_t index = 0; index < 4; ++index)
    EXPECT_TRUE(runs_stable(*state_.service("web"), *state_.assignment("web", index)));
  EXPECT_TRUE(step(kStart + 100'000).moves.empty()) << "paused: nothing moves until promote";

  ServiceEntry promoted = *state_.service("web");
  promoted.promoted = true;
  promoted.rollout.clear();
  promoted.stamp = stamp_at(kStart + 100'001);
  state_.merge(promoted);
  EXPECT_EQ(moved(step(kStart + 100'002)), std::vector<std::uint32_t>{0});
  for (std::uint32_t index = 0; index < 4; ++index) {
    if (index > 0) {
      EXPECT_EQ(moved(step(kStart + 100'010 + index * 2'000)), std::vector<std::uint32_t>{index});
    }
    report(index, 2, InstanceState::running, kStart + 100'010 + index * 2'000);
  }
  auto done = step(kStart + 200'000);
  ASSERT_EQ(done.services.size(), 1u);
  EXPECT_EQ(done.services[0].stable_generation, 0u);
  EXPECT_EQ(done.services[0].canaries, 0u) << "the canary goes once every instance runs the new version";
  EXPECT_EQ(done.services[0].history.back().outcome, "healthy");
}

TEST_F(RolloutPlan, ACanaryThatFailsRevertsAndTheHistorySaysWhy) {
  deploy_with_canaries(4, UpdateSpec{1, 1'000, 60'000, true, 0}, 1);
  report(4, 2, InstanceState::failed, kStart + 100, Health::none, "exited with code 3; gave up");
  auto reverted = step(kStart + 200);
  ASSERT_EQ(reverted.services.size(), 1u);
  const ServiceEntry& service = reverted.services[0];
  EXPECT_EQ(service.generation, 3u);
  EXPECT_EQ(service.canaries, 0u);
  EXPECT_EQ(service.rollout, "reverted: web/4 failed: exited with code 3; gave up");
  ASSERT_EQ(service.history.size(), 3u);
  EXPECT_EQ(service.history[1].outcome, "reverted: web/4 failed: exited with code 3; gave up");
  EXPECT_EQ(service.history[2].version, 3u);
  EXPECT_EQ(service.history[2].rollback_of, 1u) << "version 3 runs version 1's spec again";
  EXPECT_EQ(service.history[2].through, owner_);
}

TEST_F(RolloutPlan, ACanaryOfAnEarlierNewVersionMovesToTheNewestOne) {
  deploy_with_canaries(4, UpdateSpec{1, 1'000, 60'000, true, 0}, 1);
  ServiceEntry again = *state_.service("web");
  again.generation = 3;
  again.spec_json = "{\"v\": 3}";
  again.stamp = stamp_at(kStart + 10);
  state_.merge(again);
  auto writes = plan(kStart + 20);
  ASSERT_EQ(writes.moves.size(), 1u);
  EXPECT_EQ(writes.moves[0].index, 4u);
  EXPECT_EQ(writes.moves[0].generation, 3u);
}

}  // namespace rollout_plan_test
}  // namespace mob
