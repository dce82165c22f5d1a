// The hybrid logical clock: stamps only move forward, follow the wall clock when it moves
// forward, and order after every stamp observed from another agent.
#include "agent/hlc.hpp"

#include <cstdint>
#include <random>

#include <gtest/gtest.h>

namespace mob {
namespace hlc_test {

constexpr std::uint64_t kWallMs = 1'700'000'000'000;  // a realistic unix time in ms

TEST(HybridClock, StampsFollowTheWallClockWhenItMovesForward) {
  HybridClock clock;
  EXPECT_EQ(clock.now(kWallMs), kWallMs << 16);
  EXPECT_EQ(clock.now(kWallMs + 5), (kWallMs + 5) << 16);
}

TEST(HybridClock, StampsInTheSameMillisecondCountUp) {
  HybridClock clock;
  auto first = clock.now(kWallMs);
  EXPECT_EQ(clock.now(kWallMs), first + 1);
  EXPECT_EQ(clock.now(kWallMs), first + 2);
}

TEST(HybridClock, NowIsStrictlyIncreasingWhenTheWallClockGoesBackwards) {
  HybridClock clock;
  auto before = clock.now(kWallMs);
  auto after_step_back = clock.now(kWallMs - 60'000);
  EXPECT_GT(after_step_back, before);
  EXPECT_GT(clock.now(kWallMs - 120'000), after_step_back);
  EXPECT_GT(clock.now(0), after_step_back);
}

TEST(HybridClock, NowIsStrictlyIncreasingUnderARandomWalkOfTheWallClock) {
  std::mt19937 random(7);
  std::uniform_int_distribution<std::int64_t> step(-50, 50);
  HybridClock clock;
  std::int64_t wall = static_cast<std::int64_t>(kWallMs);
  std::uint64_t previous = 0;
  for (int i = 0; i < 10'000; ++i) {
    wall += step(random);
    auto stamp = clock.now(static_cast<std::uint64_t>(wall));
    ASSERT_GT(stamp, previous) << "at step " << i;
    EXPECT_EQ(clock.last(), stamp);
    previous = stamp;
  }
}

TEST(HybridClock, StampsAfterObservingARemoteStampOrderAfterIt) {
  HybridClock clock;
  clock.now(kWallMs);
  auto remote = (kWallMs + 10'000) << 16 | 42;  // a peer whose clock runs 10 s ahead
  clock.observe(remote);
  EXPECT_EQ(clock.last(), remote);
  auto next = clock.now(kWallMs + 1);
  EXPECT_GT(next, remote);
  EXPECT_GT(clock.now(kWallMs + 2), next);
}

TEST(HybridClock, ObservingAnOlderStampDoesNotMoveTheClockBack) {
  HybridClock clock;
  auto mine = clock.now(kWallMs);
  clock.observe((kWallMs - 1000) << 16);
  EXPECT_EQ(clock.last(), mine);
  EXPECT_GT(clock.now(kWallMs), mine);
}

TEST(HybridClock, NowExceedsEveryStampIssuedOrObserved) {
  std::mt19937 random(11);
  std::uniform_int_distribution<std::uint64_t> wall_jitter(0, 2000);
  std::uniform_int_distribution<std::uint64_t> counter(0, 0xffff);
  HybridClock clock;
  std::uint64_t highest = 0;
  for (int i = 0; i < 5'000; ++i) {
    if (random() % 2 == 0) {
      auto remote = ((kWallMs + wall_jitter(random)) << 16) | counter(random);
      clock.observe(remote);
      highest = std::max(highest, remote);
    } else {
      auto stamp = clock.now(kWallMs + wall_jitter(random));
      ASSERT_GT(stamp, highest) << "at step " << i;
      highest = stamp;
    }
  }
}

TEST(HybridClock, WallMsOfRecoversTheMillisecondsOfAStamp) {
  for (std::uint64_t wall : {std::uint64_t{0}, std::uint64_t{1}, kWallMs, (std::uint64_t{1} << 48) - 1}) {
    HybridClock clock;
    EXPECT_EQ(HybridClock::wall_ms_of(clock.now(wall)), wall) << wall;
    // The counter of later stamps in the same millisecond does not leak into it.
    EXPECT_EQ(HybridClock::wall_ms_of(clock.now(wall)), wall) << wall;
  }
}

TEST(HybridClock, WallMsOfAStampAheadOfTheLocalClockIsTheRemoteTime) {
  HybridClock clock;
  clock.observe((kWallMs + 300) << 16 | 7);
  EXPECT_EQ(HybridClock::wall_ms_of(clock.now(kWallMs)), kWallMs + 300);
}

}  // namespace hlc_test
}  // namespace mob
