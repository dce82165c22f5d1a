// A service's version history (agent/version_history.hpp): what each new version records,
// how the one it replaces ends, what history shows and which spec a rollback deploys.
#include "agent/version_history.hpp"

#include <gtest/gtest.h>

namespace mob {
namespace version_history_test {

VersionRecord version(std::uint64_t number, std::string outcome = "") {
  return VersionRecord{number, static_cast<std::int64_t>(number) * 1000, "node-a",
                       "{\"v\": " + std::to_string(number) + "}", std::move(outcome), 0};
}

ServiceEntry web_with(std::vector<VersionRecord> history, std::uint64_t generation) {
  ServiceEntry entry;
  entry.name = "web";
  entry.generation = generation;
  entry.history = std::move(history);
  return entry;
}

TEST(VersionHistory, ANewVersionClosesTheOneItReplacesUnlessItAlreadyEnded) {
  std::vector<VersionRecord> history;
  add_version(history, version(1), kOutcomeReplaced, 10);
  add_version(history, version(2), kOutcomeHealthy, 10);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].outcome, "healthy");
  EXPECT_EQ(history[1].outcome, "") << "the current version has not ended";
  close_version(history, 2, "reverted: web/0 exited");
  add_version(history, version(3), kOutcomeReplaced, 10);
  EXPECT_EQ(history[1].outcome, "reverted: web/0 exited") << "an end already known stays";
}

TEST(VersionHistory, KeepsTheLastVersionsAndAtMostTheByteBudget) {
  std::vector<VersionRecord> history;
  for (std::uint64_t number = 1; number <= 12; ++number) add_version(history, version(number), kOutcomeReplaced, 10);
  ASSERT_EQ(history.size(), 10u);
  EXPECT_EQ(history.front().version, 3u);
  EXPECT_EQ(history.back().version, 12u);

  std::vector<VersionRecord> big;
  for (std::uint64_t number = 1; number <= 5; ++number) {
    VersionRecord large = version(number);
    large.spec_json = "\"" + std::string(kMaxHistoryBytes / 3, 'x') + "\"";
    add_version(big, large, kOutcomeReplaced, 1000);
  }
  EXPECT_EQ(big.size(), 2u) << "three specs of a third of the budget each do not fit";
  EXPECT_EQ(big.back().version, 5u);
}

TEST(VersionHistory, AVersionNumberWrittenAgainReplacesTheOneBefore) {
  std::vector<VersionRecord> history;
  add_version(history, version(1), kOutcomeReplaced, 10);
  add_version(history, version(2), kOutcomeReplaced, 10);
  add_version(history, version(2), kOutcomeReplaced, 10);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[1].version, 2u);
}

TEST(VersionHistory, ShownNewestFirstWithHowTheCurrentOneRuns) {
  std::vector<VersionRecord> history = {version(1, "healthy"), version(2, "replaced"), version(3)};
  auto shown = newest_first(history, 2, 3, "current, healthy");
  ASSERT_EQ(shown.size(), 2u);
  EXPECT_EQ(shown[0].version, 3u);
  EXPECT_EQ(shown[0].outcome, "current, healthy");
  EXPECT_EQ(shown[1].outcome, "replaced");
}

TEST(VersionHistory, RollbackTargetsTheVersionBeforeTheCurrentOneByDefault) {
  auto web = web_with({version(1, "healthy"), version(2, "healthy"), version(3)}, 3);
  auto target = rollback_target(web, 0);
  ASSERT_TRUE(target) << target.error().message;
  EXPECT_EQ(target->version, 2u);
  target = rollback_target(web, 1);
  ASSERT_TRUE(target) << target.error().message;
  EXPECT_EQ(target->spec_json, "{\"v\": 1}");
}

TEST(VersionHistory, RollbackErrorsSayWhatIsKept) {
  std::vector<VersionRecord> kept;
  for (std::uint64_t number = 3; number <= 12; ++number) kept.push_back(version(number));
  auto web = web_with(kept, 12);
  auto missing = rollback_target(web, 99);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_EQ(missing.error().message, "rollback web 99: no version 99 in the last 10 (oldest is 3)");
  auto current = rollback_target(web, 12);
  ASSERT_FALSE(current);
  EXPECT_EQ(current.error().message,
            "rollback web 12: version 12 is the current one; name an earlier one (mob-tool history web)");
  auto alone = rollback_target(web_with({version(1)}, 1), 0);
  ASSERT_FALSE(alone);
  EXPECT_EQ(alone.error().message, "rollback web: no version before the current one (1) is kept");
}

TEST(VersionHistory, ARemovedServiceRollsBackToItsLastVersionByDefault) {
  auto web = web_with({version(1, "healthy"), version(2, "removed")}, 2);
  web.removed = true;
  auto last = rollback_target(web, 0);
  ASSERT_TRUE(last) << last.error().message;
  EXPECT_EQ(last->version, 2u);
  auto named = rollback_target(web, 2);
  ASSERT_TRUE(named) << named.error().message;
  EXPECT_EQ(named->version, 2u);
}

}  // namespace version_history_test
}  // namespace mob
