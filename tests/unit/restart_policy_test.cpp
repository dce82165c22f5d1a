// Restart decisions: which exits restart under each policy, and the backoff sequence.
#include "agent/restart_policy.hpp"

#include <gtest/gtest.h>

namespace mob {
namespace restart_policy_test {

using namespace std::chrono_literals;

TEST(RestartPolicy, AlwaysRestartsAfterAnyExit) {
  EXPECT_TRUE(wants_restart(RestartPolicy::always, {0, 0, false}));
  EXPECT_TRUE(wants_restart(RestartPolicy::always, {1, 0, false}));
}

TEST(RestartPolicy, OnFailureRestartsOnlyAfterFailure) {
  EXPECT_FALSE(wants_restart(RestartPolicy::on_failure, {0, 0, false}));
  EXPECT_TRUE(wants_restart(RestartPolicy::on_failure, {3, 0, false}));
  EXPECT_TRUE(wants_restart(RestartPolicy::on_failure, {-1, 9, false}));
  EXPECT_TRUE(wants_restart(RestartPolicy::on_failure, {-1, 0, true}));
}

TEST(RestartPolicy, NeverRestarts) {
  EXPECT_FALSE(wants_restart(RestartPolicy::never, {1, 0, false}));
  EXPECT_FALSE(wants_restart(RestartPolicy::never, {-1, 9, false}));
}

TEST(RestartPolicy, TheNamesOfANormalizedSpecReadBackAsTheirPolicy) {
  for (auto policy : {RestartPolicy::always, RestartPolicy::on_failure, RestartPolicy::never})
    EXPECT_EQ(restart_policy_named(to_string(policy)), policy) << to_string(policy);
  EXPECT_EQ(restart_policy_named("on_error"), std::nullopt);  // an original form, not normalized
  EXPECT_EQ(restart_policy_named(""), std::nullopt);
  EXPECT_EQ(restart_policy_named("Always"), std::nullopt);
}

TEST(RestartPolicy, FirstRestartIsImmediateThenBackoffDoublesToTheCap) {
  RestartSpec spec{RestartPolicy::always, 10, 60, 100, 500};
  std::vector<std::chrono::steady_clock::time_point> recent;
  auto now = std::chrono::steady_clock::time_point{} + 1000s;
  std::vector<long> delays;
  for (int i = 0; i < 6; ++i) {
    auto delay = next_restart_delay(spec, recent, now);
    ASSERT_TRUE(delay);
    delays.push_back(delay->count());
    recent.push_back(now);
  }
  EXPECT_EQ(delays, (std::vector<long>{0, 100, 200, 400, 500, 500}));
}

TEST(RestartPolicy, MoreThanMaxRestartsInWindowFails) {
  RestartSpec spec{RestartPolicy::always, 3, 60, 0, 0};
  std::vector<std::chrono::steady_clock::time_point> recent;
  auto now = std::chrono::steady_clock::time_point{} + 1000s;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(next_restart_delay(spec, recent, now));
    recent.push_back(now);
  }
  EXPECT_FALSE(next_restart_delay(spec, recent, now + 1s));
}

TEST(RestartPolicy, RestartsOutsideTheWindowAreForgotten) {
  RestartSpec spec{RestartPolicy::always, 2, 10, 100, 1000};
  std::vector<std::chrono::steady_clock::time_point> recent;
  auto start = std::chrono::steady_clock::time_point{} + 1000s;
  recent = {start, start + 1s};
  EXPECT_FALSE(next_restart_delay(spec, recent, start + 5s));
  auto later = next_restart_delay(spec, recent, start + 12s);
  ASSERT_TRUE(later);
  EXPECT_EQ(later->count(), 0);
  EXPECT_TRUE(recent.empty());
}

TEST(RestartPolicy, ZeroMaxRestartsFailsAtOnce) {
  RestartSpec spec{RestartPolicy::always, 0, 60, 100, 1000};
  std::vector<std::chrono::steady_clock::time_point> recent;
  EXPECT_FALSE(next_restart_delay(spec, recent, std::chrono::steady_clock::now()));
}

}  // namespace restart_policy_test
}  // namespace mob
