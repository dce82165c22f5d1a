// An instance's health from its checks' results (agent/health_state.hpp), on a ManualTime.
#include "agent/health_state.hpp"

#include <gtest/gtest.h>

#include "agent/time_source.hpp"

namespace mob {
namespace health_state_test {

using std::chrono::milliseconds;

CheckSpec check(std::string name, std::uint32_t failures = 3, std::uint32_t successes = 1,
                std::uint32_t grace_ms = 0, bool restart = true) {
  CheckSpec spec;
  spec.name = std::move(name);
  spec.type = CheckType::tcp;
  spec.port = 80;
  spec.interval_ms = 1000;
  spec.timeout_ms = 500;
  spec.failures = failures;
  spec.successes = successes;
  spec.grace_ms = grace_ms;
  spec.restart_on_failure = restart;
  return spec;
}

class HealthTracking : public ::testing::Test {
 protected:
  std::optional<HealthTracker::Change> result(HealthTracker& tracker, std::size_t index, bool passed,
                                              std::string output = "") {
    time_.advance(milliseconds(1000));
    return tracker.record(index, passed, std::move(output), time_.steady_now(),
                          static_cast<std::int64_t>(time_.wall_ms()));
  }
  ManualTime time_;
};

TEST_F(HealthTracking, HealthyOnceEveryCheckPassedSinceTheStart) {
  HealthTracker tracker({check("tcp"), check("http")}, time_.steady_now());
  EXPECT_EQ(tracker.health(), Health::starting);
  auto first = result(tracker, 0, true, "connected");
  ASSERT_TRUE(first) << "a first result is reported";
  EXPECT_EQ(first->health, Health::starting);
  auto second = result(tracker, 1, true, "HTTP 200");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->health, Health::healthy);
  EXPECT_EQ(second->decided_by, 1u);
  EXPECT_FALSE(second->restart);
  EXPECT_FALSE(result(tracker, 1, true)) << "the same result again changes nothing";
  EXPECT_EQ(tracker.results()[1].in_a_row, 2u);
}

TEST_F(HealthTracking, UnhealthyAfterFailuresInARowAndRestartWhenTheCheckSaysSo) {
  HealthTracker tracker({check("tcp", 3), check("http", 2, 1, 0, false)}, time_.steady_now());
  result(tracker, 0, true);
  result(tracker, 1, true);
  ASSERT_EQ(tracker.health(), Health::healthy);
  auto turned = result(tracker, 0, false, "connection refused");
  ASSERT_TRUE(turned) << "the result flipped: the record shows it";
  EXPECT_EQ(turned->health, Health::healthy);
  EXPECT_FALSE(result(tracker, 0, false, "connection refused"));
  auto unhealthy = result(tracker, 0, false, "connection refused");
  ASSERT_TRUE(unhealthy);
  EXPECT_EQ(unhealthy->health, Health::unhealthy);
  EXPECT_EQ(unhealthy->decided_by, 0u);
  EXPECT_TRUE(unhealthy->restart);
  EXPECT_EQ(tracker.describe(0), "tcp: connection refused (3 in a row)");
  EXPECT_FALSE(result(tracker, 0, false)) << "still failing: no second restart";

  HealthTracker reported_only({check("http", 2, 1, 0, false)}, time_.steady_now());
  result(reported_only, 0, false, "HTTP 500");
  auto only = result(reported_only, 0, false, "HTTP 500");
  ASSERT_TRUE(only);
  EXPECT_EQ(only->health, Health::unhealthy);
  EXPECT_FALSE(only->restart) << "on_failure none: only reported";
}

TEST_F(HealthTracking, APassBreaksARunOfFailures) {
  HealthTracker tracker({check("tcp", 3)}, time_.steady_now());
  result(tracker, 0, true);
  result(tracker, 0, false);
  result(tracker, 0, false);
  result(tracker, 0, true);
  result(tracker, 0, false);
  result(tracker, 0, false);
  EXPECT_EQ(tracker.health(), Health::healthy) << "never 3 failures in a row";
}

TEST_F(HealthTracking, HealthyAgainAfterSuccessesInARow) {
  HealthTracker tracker({check("tcp", 1, 3)}, time_.steady_now());
  result(tracker, 0, false);
  ASSERT_EQ(tracker.health(), Health::unhealthy);
  result(tracker, 0, true);
  result(tracker, 0, true);
  EXPECT_EQ(tracker.health(), Health::unhealthy);
  auto healthy = result(tracker, 0, true);
  ASSERT_TRUE(healthy);
  EXPECT_EQ(healthy->health, Health::healthy);
}

TEST_F(HealthTracking, FailuresWithinTheGracePeriodDoNotCount) {
  HealthTracker tracker({check("tcp", 1, 1, 2500)}, time_.steady_now());
  result(tracker, 0, false);  // at 1 s
  result(tracker, 0, false);  // at 2 s
  EXPECT_EQ(tracker.health(), Health::starting);
  auto after = result(tracker, 0, false);  // at 3 s: past the grace period
  ASSERT_TRUE(after);
  EXPECT_EQ(after->health, Health::unhealthy);
  EXPECT_EQ(tracker.results()[0].in_a_row, 3u) << "the record still says how many in a row";
}

TEST_F(HealthTracking, APassWithinTheGracePeriodMakesItHealthy) {
  HealthTracker tracker({check("tcp", 1, 1, 60000)}, time_.steady_now());
  auto change = result(tracker, 0, true);
  ASSERT_TRUE(change);
  EXPECT_EQ(change->health, Health::healthy);
}

TEST_F(HealthTracking, LongOutputKeepsItsEnd) {
  HealthTracker tracker({check("exec")}, time_.steady_now());
  result(tracker, 0, false, std::string(2000, 'x') + "the end");
  EXPECT_EQ(tracker.results()[0].output.size(), kMaxCheckOutputBytes);
  EXPECT_TRUE(tracker.results()[0].output.ends_with("the end"));
}

TEST_F(HealthTracking, NoChecksMeansNoHealth) {
  HealthTracker tracker({}, time_.steady_now());
  EXPECT_EQ(tracker.health(), Health::none);
  EXPECT_FALSE(tracker.record(0, true, "", time_.steady_now(), 1));
}

}  // namespace health_state_test
}  // namespace mob
