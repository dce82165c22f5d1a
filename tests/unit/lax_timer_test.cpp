#include "agent/lax_timer.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace mob {
namespace lax_timer_test {

using namespace std::chrono_literals;
using Clock = LaxTimer::Clock;

TEST(LaxTimer, RunsAtOnceTheFirstTime) {
  LaxTimer timer(1s);
  Clock::time_point start{100s};
  EXPECT_TRUE(timer.due(start));
  timer.ran(start);
  EXPECT_FALSE(timer.due(start + 499ms));
  EXPECT_TRUE(timer.due(start + 500ms));
  EXPECT_EQ(timer.latest(), start + 1500ms);
}

// An idle loop wakes only for a strict timer of the same period at another phase (the
// failure detector's probes): the lax work moves into those wake-ups instead of adding its
// own, and still runs once a period.
TEST(LaxTimer, JoinsTheWakeUpsOfAStrictTimerAtAnyPhase) {
  for (auto phase : {0ms, 100ms, 270ms, 499ms, 501ms, 730ms, 999ms}) {
    LaxTimer timer(1s);
    Clock::time_point now{100s};
    Clock::time_point next_probe = now + phase;
    int runs = 0, wakeups = 0;
    const Clock::time_point end = now + 100s;
    while (now < end) {
      ++wakeups;
      if (now >= next_probe) next_probe += 1s;
      if (timer.due(now)) {
        timer.ran(now);
        ++runs;
      }
      now = std::min(next_probe, timer.latest());
    }
    SCOPED_TRACE(phase.count());
    EXPECT_NEAR(runs, 100, 2);  // a run a period, on average
    // One wake-up a second once aligned (a strict timer alone: 100), plus at most a few
    // before the lax work settled on the probes' phase.
    EXPECT_LE(wakeups, 103);
  }
}

TEST(LaxTimer, NeverRunsTwiceWithinHalfAPeriod) {
  LaxTimer timer(1s);
  Clock::time_point now{100s};
  std::vector<Clock::time_point> runs;
  // A busy loop: a wake-up every 10 ms.
  for (int i = 0; i < 10000; ++i, now += 10ms)
    if (timer.due(now)) {
      timer.ran(now);
      runs.push_back(now);
    }
  ASSERT_GT(runs.size(), 90u);
  for (std::size_t i = 1; i < runs.size(); ++i) EXPECT_GE(runs[i] - runs[i - 1], 500ms);
  EXPECT_LE(runs.size(), 101u);  // and no more often than once a period on average
}

TEST(LaxTimer, ALoopThatSleptThroughPeriodsStartsAgainFromNow) {
  LaxTimer timer(1s);
  Clock::time_point now{100s};
  timer.ran(now);
  now += 60s;  // a paused process
  EXPECT_TRUE(timer.due(now));
  timer.ran(now);
  EXPECT_FALSE(timer.due(now + 100ms));  // not a burst of the missed runs
  EXPECT_EQ(timer.latest(), now + 1500ms);
}

// Whatever the wake-ups (late ones included: a loop held up, a process paused), the work
// is due whenever its latest time has come: else the loop's deadline would stay in the past
// while nothing runs, and the loop would spin. (The store fuzzer found a run late by more
// than half a period doing that.)
TEST(LaxTimer, IsAlwaysDueOnceItsLatestTimeHasCome) {
  std::uint64_t state = 12345;
  auto next_random = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  LaxTimer timer(1s);
  Clock::time_point now{100s};
  for (int i = 0; i < 100000; ++i) {
    // Mostly small steps, sometimes a jump of up to 3 periods.
    now += next_random() % 10 == 0 ? std::chrono::milliseconds(next_random() % 3000)
                                   : std::chrono::milliseconds(next_random() % 200);
    if (now >= timer.latest()) {
      ASSERT_TRUE(timer.due(now)) << "step " << i;
    }
    if (timer.due(now)) timer.ran(now);
    ASSERT_GT(timer.latest(), now) << "step " << i;
  }
}

TEST(LaxTimer, ARunLateByMoreThanHalfAPeriodLeavesItsNextTimeAhead) {
  LaxTimer timer(1s);
  Clock::time_point start{100s};
  timer.ran(start);                       // next time 101 s
  const auto late = start + 2400ms;       // past the window's end (101.5 s), within the period after
  ASSERT_TRUE(timer.due(late));
  timer.ran(late);
  EXPECT_GT(timer.latest(), late);
  EXPECT_TRUE(timer.due(timer.latest()));
}

}  // namespace lax_timer_test
}  // namespace mob
