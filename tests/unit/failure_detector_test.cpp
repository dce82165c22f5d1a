// SWIM with Lifeguard, driven by a simulated clock: round-robin probes, indirect probes,
// suspicion, the health penalty, the suspicion timeout and its confirmations, and the
// deadline an actor would poll until.
#include "agent/failure_detector.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mob {
namespace failure_detector_test {

using namespace std::chrono_literals;
using Clock = FailureDetector::Clock;
using Action = FailureDetector::Action;
using Kind = FailureDetector::Action::Kind;

// Most tests probe every 200 ms with a 100 ms ack wait (the fault tests' flags): the
// interval and the probe's window are then both 200 ms. The defaults are tested apart.
DetectorConfig fast() {
  DetectorConfig config;
  config.probe_interval = 200ms;
  config.probe_timeout = 100ms;
  return config;
}

// No helpers to ask (k = 0): a missed ack counts against this agent's health at once, as
// no nack can come to say the failure was not its own.
DetectorConfig fast_without_helpers() {
  DetectorConfig config = fast();
  config.indirect_probes = 0;
  return config;
}

// Any fixed point works; an hour past the epoch keeps `start - something` meaningful.
const Clock::time_point kStart = Clock::time_point{} + 1h;

std::vector<std::string> names(int count) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) out.push_back("m" + std::to_string(i));
  return out;
}

std::vector<Action> of_kind(const std::vector<Action>& actions, Kind kind) {
  std::vector<Action> out;
  std::copy_if(actions.begin(), actions.end(), std::back_inserter(out),
               [&](const Action& action) { return action.kind == kind; });
  return out;
}

bool declares_failed(const std::vector<Action>& actions, const std::string& target) {
  return std::any_of(actions.begin(), actions.end(), [&](const Action& action) {
    return action.kind == Kind::declare_failed && action.target == target;
  });
}

// Ticks at `now`, which must start exactly one probe, and returns it.
Action probe_at(FailureDetector& detector, Clock::time_point now) {
  auto actions = detector.tick(now);
  auto probes = of_kind(actions, Kind::probe);
  EXPECT_EQ(probes.size(), 1u);
  return probes.empty() ? Action{Kind::probe, "", 0, {}} : probes.front();
}

// Probes `count` times, one probe interval apart, acking each; returns the targets.
std::vector<std::string> acked_probes(FailureDetector& detector, Clock::time_point& now, int count) {
  std::vector<std::string> targets;
  for (int i = 0; i < count; ++i) {
    auto probe = probe_at(detector, now);
    targets.push_back(probe.target);
    detector.on_ack(probe.seq, now);
    now += 200ms;
  }
  return targets;
}

// ---- probes ----------------------------------------------------------------------------

TEST(FailureDetector, FirstTickProbesAtOnce) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(3));
  auto actions = detector.tick(kStart);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, Kind::probe);
  EXPECT_NE(actions[0].seq, 0u);
}

TEST(FailureDetector, NoMembersMeansNoProbes) {
  FailureDetector detector(fast(), 1);
  EXPECT_TRUE(detector.tick(kStart).empty());
  EXPECT_TRUE(detector.tick(kStart + 10s).empty());
}

TEST(FailureDetector, ProbesGoRoundRobinToEveryMemberOncePerCycle) {
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    FailureDetector detector(fast(), seed);
    auto members = names(5);
    detector.set_members(members);
    auto now = kStart;
    for (int cycle = 0; cycle < 4; ++cycle) {
      auto targets = acked_probes(detector, now, 5);
      std::sort(targets.begin(), targets.end());
      EXPECT_EQ(targets, members) << "seed " << seed << ", cycle " << cycle;
    }
  }
}

TEST(FailureDetector, EachProbeHasItsOwnSequenceNumber) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(3));
  auto now = kStart;
  std::set<std::uint64_t> seqs;
  for (int i = 0; i < 10; ++i) {
    auto probe = probe_at(detector, now);
    seqs.insert(probe.seq);
    detector.on_ack(probe.seq, now);
    now += 200ms;
  }
  EXPECT_EQ(seqs.size(), 10u);
}

TEST(FailureDetector, NoNewProbeBeforeTheProbeIntervalHasPassed) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(3));
  auto probe = probe_at(detector, kStart);
  detector.on_ack(probe.seq, kStart);
  EXPECT_TRUE(detector.tick(kStart + 199ms).empty());
  EXPECT_EQ(of_kind(detector.tick(kStart + 200ms), Kind::probe).size(), 1u);
}

TEST(FailureDetector, AnAckedProbeLeadsToNoSuspicion) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(4));
  auto probe = probe_at(detector, kStart);
  detector.on_ack(probe.seq, kStart);
  EXPECT_TRUE(detector.tick(kStart + 100ms).empty());
  auto next = detector.tick(kStart + 200ms);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].kind, Kind::probe);
  EXPECT_EQ(detector.health_penalty(), 0u);
}

TEST(FailureDetector, AnUnackedProbeAsksUpToKHelpersAfterTheProbeTimeout) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    FailureDetector detector(fast(), seed);
    auto members = names(6);
    detector.set_members(members);
    auto probe = probe_at(detector, kStart);
    EXPECT_TRUE(detector.tick(kStart + 99ms).empty());
    auto actions = detector.tick(kStart + 100ms);
    ASSERT_EQ(actions.size(), 1u);
    const auto& indirect = actions[0];
    EXPECT_EQ(indirect.kind, Kind::indirect_probe);
    EXPECT_EQ(indirect.target, probe.target);
    EXPECT_EQ(indirect.seq, probe.seq);
    ASSERT_EQ(indirect.helpers.size(), 3u);
    std::set<std::string> helpers(indirect.helpers.begin(), indirect.helpers.end());
    EXPECT_EQ(helpers.size(), 3u) << "a helper was asked twice";
    EXPECT_FALSE(helpers.contains(probe.target)) << "seed " << seed;
    for (const auto& helper : helpers)
      EXPECT_NE(std::find(members.begin(), members.end(), helper), members.end()) << helper;
    EXPECT_TRUE(detector.tick(kStart + 150ms).empty()) << "indirect probes are sent once";
  }
}

TEST(FailureDetector, IndirectProbeAsksEveryOtherMemberWhenThereAreFewerThanK) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(3));
  auto probe = probe_at(detector, kStart);
  auto indirect = of_kind(detector.tick(kStart + 100ms), Kind::indirect_probe);
  ASSERT_EQ(indirect.size(), 1u);
  std::set<std::string> helpers(indirect[0].helpers.begin(), indirect[0].helpers.end());
  std::set<std::string> others;
  for (const auto& name : names(3))
    if (name != probe.target) others.insert(name);
  EXPECT_EQ(helpers, others);
}

TEST(FailureDetector, WithNoOtherMemberThereIsNoIndirectProbe) {
  FailureDetector detector(fast(), 1);
  detector.set_members({"m0"});
  probe_at(detector, kStart);
  EXPECT_TRUE(detector.tick(kStart + 100ms).empty());
  EXPECT_EQ(of_kind(detector.tick(kStart + 200ms), Kind::suspect).size(), 1u);
}

TEST(FailureDetector, AnUnackedProbeLeadsToSuspectAfterTheProbeInterval) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(4));
  auto probe = probe_at(detector, kStart);
  detector.tick(kStart + 100ms);
  EXPECT_TRUE(detector.tick(kStart + 199ms).empty());
  auto actions = detector.tick(kStart + 200ms);
  auto suspects = of_kind(actions, Kind::suspect);
  ASSERT_EQ(suspects.size(), 1u);
  EXPECT_EQ(suspects[0].target, probe.target);
  EXPECT_EQ(suspects[0].seq, probe.seq);
  auto probes = of_kind(actions, Kind::probe);
  ASSERT_EQ(probes.size(), 1u) << "the next probe starts on time";
  EXPECT_NE(probes[0].target, probe.target);
}

// The defaults probe once a second (Serf's rate, for an idle cost like Serf's), yet a probe
// still suspects 200 ms after it went out: the window is min(interval, 2 x ack wait).
TEST(FailureDetector, TheDefaultsProbeEverySecondAndSuspectTwoHundredMsAfterAnUnansweredProbe) {
  FailureDetector detector({}, 1);
  EXPECT_EQ(detector.probe_interval(), 1000ms);
  EXPECT_EQ(detector.probe_window(), 200ms);
  detector.set_members(names(4));
  auto probe = probe_at(detector, kStart);
  EXPECT_EQ(of_kind(detector.tick(kStart + 100ms), Kind::indirect_probe).size(), 1u);
  EXPECT_TRUE(detector.tick(kStart + 199ms).empty());
  auto suspects = of_kind(detector.tick(kStart + 200ms), Kind::suspect);
  ASSERT_EQ(suspects.size(), 1u);
  EXPECT_EQ(suspects[0].target, probe.target);
  // The helpers' nacks may come for one more window: without one, the missed ack counts
  // against this agent's health then.
  EXPECT_EQ(detector.next_deadline(), kStart + 400ms);
  EXPECT_TRUE(detector.tick(kStart + 400ms).empty());
  EXPECT_EQ(detector.health_penalty(), 1u);
  // The next round-robin probe keeps its time: one interval after the last one began (the
  // penalty stretches the probes that follow).
  EXPECT_EQ(detector.next_deadline(), kStart + 1000ms);
  EXPECT_TRUE(of_kind(detector.tick(kStart + 999ms), Kind::probe).empty());
  EXPECT_EQ(of_kind(detector.tick(kStart + 1000ms), Kind::probe).size(), 1u);
}

// Between two round-robin probes a second apart, a dropped connection is probed at once and
// suspected one window later, not one interval later.
TEST(FailureDetector, WithTheDefaultsADroppedConnectionIsSuspectedOneWindowAfterTheDrop) {
  FailureDetector detector({}, 1);
  detector.set_members(names(6));
  auto first = probe_at(detector, kStart);
  detector.on_ack(first.seq, kStart + 1ms);
  std::string dropped = first.target == "m3" ? "m4" : "m3";
  detector.probe_soon(dropped, kStart + 300ms);
  EXPECT_EQ(detector.next_deadline(), kStart + 300ms);
  auto probe = probe_at(detector, kStart + 300ms);
  EXPECT_EQ(probe.target, dropped);
  auto suspects = of_kind(detector.tick(kStart + 500ms), Kind::suspect);
  ASSERT_EQ(suspects.size(), 1u);
  EXPECT_EQ(suspects[0].target, dropped);
}

// The window stretches with the measured latency, as the ack wait does, and never exceeds
// the interval's share: with Serf's settings (1 s, 500 ms) it is the whole interval.
TEST(FailureDetector, TheWindowIsTheSmallerOfTheIntervalAndTwoAckWaits) {
  DetectorConfig serf_like;
  serf_like.probe_interval = 1000ms;
  serf_like.probe_timeout = 500ms;
  EXPECT_EQ(FailureDetector(serf_like, 1).probe_window(), 1000ms);
  FailureDetector detector({}, 1);
  detector.set_members(names(3));
  auto now = kStart;
  for (int i = 0; i < 20; ++i) {  // every ack takes 300 ms
    auto probe = probe_at(detector, now);
    detector.on_ack(probe.seq, now + 300ms);
    now = detector.next_deadline();
  }
  EXPECT_GT(detector.ack_timeout(), 300ms);
  EXPECT_EQ(detector.probe_window(), 2 * detector.ack_timeout());
  EXPECT_EQ(detector.probe_interval(), std::max(1000ms, 2 * detector.ack_timeout()));
}

TEST(FailureDetector, AnAckRelayedAfterTheIndirectProbePreventsTheSuspicion) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(4));
  auto probe = probe_at(detector, kStart);
  EXPECT_EQ(of_kind(detector.tick(kStart + 100ms), Kind::indirect_probe).size(), 1u);
  detector.on_ack(probe.seq, kStart + 150ms);
  auto actions = detector.tick(kStart + 200ms);
  EXPECT_TRUE(of_kind(actions, Kind::suspect).empty());
  EXPECT_EQ(detector.health_penalty(), 0u);
}

TEST(FailureDetector, AnAckForAnotherProbeDoesNotCount) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(4));
  auto probe = probe_at(detector, kStart);
  detector.on_ack(probe.seq + 1, kStart);
  detector.on_ack(probe.seq - 1, kStart);
  EXPECT_EQ(of_kind(detector.tick(kStart + 200ms), Kind::suspect).size(), 1u);
}

// The store trusts a clock sample only from the member its own probe went to.
TEST(FailureDetector, NamesTheTargetOfTheProbeInFlightOnly) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(4));
  auto probe = probe_at(detector, kStart);
  EXPECT_EQ(detector.probe_target(probe.seq), probe.target);
  EXPECT_EQ(detector.probe_target(probe.seq + 1), "");
  EXPECT_EQ(detector.probe_target(0), "");
}

TEST(FailureDetector, AnAckArrivingAfterTheSuspicionChangesNothing) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(4));
  auto probe = probe_at(detector, kStart);
  detector.tick(kStart + 200ms);
  detector.tick(kStart + 400ms);  // no nack came
  ASSERT_EQ(detector.health_penalty(), 1u);
  detector.on_ack(probe.seq, kStart + 450ms);
  EXPECT_EQ(detector.health_penalty(), 1u);
}

// ---- Lifeguard's local health --------------------------------------------------------------

TEST(FailureDetector, AMissedAckRaisesTheHealthPenaltyAndStretchesTheNextProbe) {
  FailureDetector detector(fast_without_helpers(), 1);
  detector.set_members(names(4));
  probe_at(detector, kStart);
  auto after_miss = detector.tick(kStart + 200ms);  // suspect + the next probe, penalty 1
  ASSERT_EQ(of_kind(after_miss, Kind::suspect).size(), 1u);
  ASSERT_EQ(of_kind(after_miss, Kind::probe).size(), 1u);
  EXPECT_EQ(detector.health_penalty(), 1u);
  // The window and the interval are now twice as long: 400 ms after the probe.
  EXPECT_TRUE(detector.tick(kStart + 599ms).empty());
  auto second_miss = detector.tick(kStart + 600ms);
  EXPECT_EQ(of_kind(second_miss, Kind::suspect).size(), 1u);
  EXPECT_EQ(of_kind(second_miss, Kind::probe).size(), 1u);
  EXPECT_EQ(detector.health_penalty(), 2u);
  // Three times as long now.
  EXPECT_TRUE(detector.tick(kStart + 1199ms).empty());
  EXPECT_EQ(of_kind(detector.tick(kStart + 1200ms), Kind::suspect).size(), 1u);
}

// Lifeguard's nacks: a helper that heard us and could not reach the target either says so,
// and then the failed probe is the target's, not a sign of this agent's own slowness. (The
// defaults: a probe a second, its window 200 ms, helpers asked after 100 ms.)
// With the defaults, a probe at kStart, its helpers asked at 100 ms, its target suspected at
// 200 ms: the probe.
Action failed_probe_with_helpers(FailureDetector& detector) {
  detector.set_members(names(4));
  auto probe = probe_at(detector, kStart);
  EXPECT_EQ(of_kind(detector.tick(kStart + 100ms), Kind::indirect_probe).size(), 1u);
  EXPECT_EQ(of_kind(detector.tick(kStart + 200ms), Kind::suspect).size(), 1u);
  return probe;
}

TEST(FailureDetector, AMissedAckThatAHelperNacksLeavesTheHealthPenaltyAlone) {
  FailureDetector detector({}, 1);
  auto probe = failed_probe_with_helpers(detector);
  EXPECT_EQ(detector.probes_awaiting_nacks(), 1u);
  EXPECT_EQ(detector.next_deadline(), kStart + 400ms) << "a nack may come for one more window";
  EXPECT_TRUE(detector.on_nack(probe.seq));
  EXPECT_EQ(detector.probes_awaiting_nacks(), 0u);
  EXPECT_FALSE(detector.on_nack(probe.seq)) << "the other helpers' nacks change nothing more";
  EXPECT_EQ(detector.next_deadline(), kStart + 1000ms);
  probe_at(detector, kStart + 1000ms);
  EXPECT_EQ(detector.health_penalty(), 0u);
  EXPECT_EQ(detector.next_deadline(), kStart + 1100ms) << "the next probe's ack wait is not stretched";
}

TEST(FailureDetector, AMissedAckThatNoHelperNacksCountsOneWindowAfterTheSuspicion) {
  FailureDetector detector({}, 1);
  auto probe = failed_probe_with_helpers(detector);
  EXPECT_EQ(detector.health_penalty(), 0u) << "a helper's nack may still come";
  EXPECT_TRUE(detector.tick(kStart + 399ms).empty());
  EXPECT_EQ(detector.health_penalty(), 0u);
  EXPECT_TRUE(detector.tick(kStart + 400ms).empty());
  EXPECT_EQ(detector.health_penalty(), 1u);
  EXPECT_EQ(detector.probes_awaiting_nacks(), 0u);
  EXPECT_FALSE(detector.on_nack(probe.seq)) << "a nack after the window is too late";
  EXPECT_EQ(detector.health_penalty(), 1u);
  EXPECT_EQ(detector.next_deadline(), kStart + 1000ms);
  probe_at(detector, kStart + 1000ms);
  EXPECT_EQ(detector.next_deadline(), kStart + 1200ms) << "the next probe's ack wait is stretched";
}

TEST(FailureDetector, ANackThatOvertakesTheGiveUpStillSparesTheHealthPenalty) {
  FailureDetector detector({}, 1);
  detector.set_members(names(4));
  auto probe = probe_at(detector, kStart);
  detector.tick(kStart + 100ms);
  EXPECT_TRUE(detector.on_nack(probe.seq)) << "a helper with a shorter ack wait";
  ASSERT_EQ(of_kind(detector.tick(kStart + 200ms), Kind::suspect).size(), 1u) << "the target is suspected all the same";
  EXPECT_EQ(detector.probes_awaiting_nacks(), 0u);
  EXPECT_EQ(detector.next_deadline(), kStart + 1000ms);
  detector.tick(kStart + 1000ms);
  EXPECT_EQ(detector.health_penalty(), 0u);
}

TEST(FailureDetector, ANackForAProbeNotInFlightOrNotSentToHelpersCountsForNothing) {
  FailureDetector detector({}, 1);
  detector.set_members(names(4));
  auto probe = probe_at(detector, kStart);
  EXPECT_FALSE(detector.on_nack(probe.seq)) << "no helper was asked yet";
  EXPECT_FALSE(detector.on_nack(probe.seq + 1000));
  detector.tick(kStart + 100ms);
  detector.tick(kStart + 200ms);
  detector.tick(kStart + 400ms);
  EXPECT_EQ(detector.health_penalty(), 1u);
}

TEST(FailureDetector, AcksLowerTheHealthPenaltyDownToZero) {
  FailureDetector detector(fast_without_helpers(), 1);
  detector.set_members(names(4));
  auto now = kStart;
  probe_at(detector, now);
  now += 200ms;  // missed: penalty 1, interval 400 ms
  auto probe = probe_at(detector, now);
  now += 400ms;  // missed: penalty 2, interval 600 ms
  probe = probe_at(detector, now);
  ASSERT_EQ(detector.health_penalty(), 2u);
  detector.on_ack(probe.seq, now);
  EXPECT_EQ(detector.health_penalty(), 1u);
  detector.on_ack(probe.seq, now);
  EXPECT_EQ(detector.health_penalty(), 1u) << "one probe, one ack";
  now += 600ms;
  probe = probe_at(detector, now);  // begun at penalty 1: a 400 ms interval
  detector.on_ack(probe.seq, now);
  EXPECT_EQ(detector.health_penalty(), 0u);
  now += 400ms;
  probe = probe_at(detector, now);
  detector.on_ack(probe.seq, now);
  EXPECT_EQ(detector.health_penalty(), 0u);
  EXPECT_EQ(detector.next_deadline(), now + 200ms) << "back to the plain interval";
}

TEST(FailureDetector, TheHealthPenaltyIsCapped) {
  DetectorConfig config = fast();
  config.max_health_penalty = 3;
  FailureDetector detector(config, 1);
  detector.set_members(names(4));
  auto now = kStart;
  for (int missed = 0; missed < 10; ++missed) {
    probe_at(detector, now);
    now += 200ms * (1 + detector.health_penalty());
  }
  EXPECT_EQ(detector.health_penalty(), 3u);
  detector.on_refuted_self();
  EXPECT_EQ(detector.health_penalty(), 3u);
  // The intervals stop growing at (1 + cap) times the configured ones.
  EXPECT_EQ(detector.next_deadline(), now - 800ms + 400ms) << "indirect probe at 4 x 100 ms";
}

TEST(FailureDetector, RefutingASuspicionOfSelfRaisesTheHealthPenalty) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(4));
  detector.on_refuted_self();
  EXPECT_EQ(detector.health_penalty(), 1u);
  auto probe = probe_at(detector, kStart);
  detector.on_ack(probe.seq, kStart);
  EXPECT_EQ(detector.health_penalty(), 0u);
  EXPECT_EQ(detector.next_deadline(), kStart + 400ms) << "the probe began while slow";
}

// ---- suspicion timeouts -----------------------------------------------------------------

struct TimeoutRow {
  std::size_t confirmations;
  std::size_t n;
  long expected_ms;
};

TEST(SuspicionTimeout, FollowsLifeguardsFormula) {
  // fast(): window 200 ms, k = 3, min = 4 * max(1, log10 n) * window, max = 4 * min.
  // Timeout = max - (max - min) * log(c) / log(k' + 1), where c is the number of
  // confirmations besides the accuser's and k' = min(k, n - 2).
  const TimeoutRow rows[] = {
      {0, 10, 3200},   {1, 10, 3200},  {2, 10, 2000},   {3, 10, 1298},  {4, 10, 800},
      {9, 10, 800},    {1, 100, 6400}, {2, 100, 4000},  {4, 100, 1600}, {1, 1000, 9600},
      {4, 1000, 2400}, {1, 4, 3200},   {2, 4, 1685},    {3, 4, 800},    {1, 3, 3200},
      {2, 3, 800},     {1, 2, 800},    {1, 1, 800},     {0, 0, 800},
  };
  FailureDetector detector(fast(), 1);
  for (const auto& row : rows)
    EXPECT_EQ(detector.suspicion_timeout(row.confirmations, row.n).count(), row.expected_ms)
        << "confirmations " << row.confirmations << ", n " << row.n;
}

TEST(SuspicionTimeout, ComesFromTheConfiguredMultipliersAndInterval) {
  DetectorConfig config = fast();
  config.probe_interval = 100ms;
  config.suspicion_min_mult = 5.0;
  config.suspicion_max_mult = 6.0;
  FailureDetector detector(config, 1);
  EXPECT_EQ(detector.suspicion_timeout(1, 10), 3000ms);
  EXPECT_EQ(detector.suspicion_timeout(4, 10), 500ms);
  EXPECT_EQ(detector.suspicion_timeout(1, 2), 500ms);
}

// The suspicion timeout counts in windows, not intervals: probing less often does not make a
// suspected member wait longer to be declared failed. Serf-like settings count 1 s windows.
TEST(SuspicionTimeout, CountsInProbeWindowsNotProbeIntervals) {
  FailureDetector defaults({}, 1);
  EXPECT_EQ(defaults.suspicion_timeout(4, 10), 800ms);
  EXPECT_EQ(defaults.suspicion_timeout(1, 10), 3200ms);
  DetectorConfig serf_like;
  serf_like.probe_interval = 1000ms;
  serf_like.probe_timeout = 500ms;
  EXPECT_EQ(FailureDetector(serf_like, 1).suspicion_timeout(4, 10), 4000ms);
}

TEST(SuspicionTimeout, WithoutIndirectProbesIsTheMinimum) {
  DetectorConfig config = fast();
  config.indirect_probes = 0;
  FailureDetector detector(config, 1);
  EXPECT_EQ(detector.suspicion_timeout(1, 10), 800ms);
}

TEST(SuspicionTimeout, NeverGrowsWithMoreConfirmations) {
  FailureDetector detector(fast(), 1);
  for (std::size_t n = 0; n < 200; ++n)
    for (std::size_t c = 0; c < 10; ++c)
      ASSERT_LE(detector.suspicion_timeout(c + 1, n), detector.suspicion_timeout(c, n))
          << "c " << c << ", n " << n;
}

class Suspicion : public ::testing::Test {
 protected:
  void SetUp() override { detector.set_members(names(9)); }  // n = 10 with this agent

  // The first tick at or after `from`, in 1 ms steps, that declares `target` failed. The
  // probes this agent sends meanwhile are acked at once: it stays healthy (penalty 0).
  std::optional<Clock::duration> declared_after(const std::string& target, Clock::time_point from,
                                                Clock::duration limit = 10s) {
    for (auto now = from; now <= from + limit; now += 1ms) {
      auto actions = detector.tick(now);
      for (const auto& probe : of_kind(actions, Kind::probe)) detector.on_ack(probe.seq, now);
      if (declares_failed(actions, target)) return now - kStart;
    }
    return std::nullopt;
  }

  FailureDetector detector{fast(), 1};
};

TEST_F(Suspicion, OneConfirmationDeclaresFailedAfterTheMaxTimeout) {
  detector.on_suspected("m0", "self", kStart);
  EXPECT_EQ(declared_after("m0", kStart), Clock::duration(3200ms));
}

TEST_F(Suspicion, KIndependentConfirmationsDeclareFailedAfterTheMinTimeout) {
  for (const auto* by : {"self", "m1", "m2", "m3"}) detector.on_suspected("m0", by, kStart);
  EXPECT_EQ(declared_after("m0", kStart), Clock::duration(800ms));
}

TEST_F(Suspicion, EachIndependentConfirmationShortensTheTimeout) {
  detector.on_suspected("m0", "self", kStart);
  detector.on_suspected("m0", "m1", kStart);
  EXPECT_EQ(declared_after("m0", kStart), Clock::duration(2000ms));
}

TEST_F(Suspicion, RepeatedConfirmationsFromOneMemberCountOnce) {
  for (int i = 0; i < 5; ++i) detector.on_suspected("m0", "m1", kStart + i * 10ms);
  EXPECT_EQ(declared_after("m0", kStart), Clock::duration(3200ms));
}

TEST_F(Suspicion, ATimerRunsFromTheFirstSuspicionNotTheLatestConfirmation) {
  detector.on_suspected("m0", "self", kStart);
  EXPECT_FALSE(declares_failed(detector.tick(kStart + 1000ms), "m0"));
  for (const auto* by : {"m1", "m2", "m3"}) detector.on_suspected("m0", by, kStart + 1000ms);
  EXPECT_TRUE(declares_failed(detector.tick(kStart + 1000ms), "m0"))
      << "1000 ms have passed; k confirmations need only 800 ms";
}

TEST_F(Suspicion, ATinyNetworkDeclaresFailedAfterTheMinTimeout) {
  detector.set_members({"m0"});  // n = 2: nobody else can confirm
  detector.on_suspected("m0", "self", kStart);
  EXPECT_EQ(declared_after("m0", kStart), Clock::duration(800ms));
}

TEST_F(Suspicion, IsFullyConfirmedOnceItHasTheConfirmationsThatBringTheTimeoutToItsMinimum) {
  EXPECT_FALSE(detector.suspicion_fully_confirmed("m0")) << "not suspected at all";
  detector.on_suspected("m0", "self", kStart);
  for (const auto* by : {"m1", "m2"}) {
    EXPECT_FALSE(detector.suspicion_fully_confirmed("m0"));
    detector.on_suspected("m0", by, kStart);
  }
  detector.on_suspected("m0", "m2", kStart);  // again: counts once
  EXPECT_FALSE(detector.suspicion_fully_confirmed("m0"));
  detector.on_suspected("m0", "m3", kStart);  // the accuser and k = 3 others
  EXPECT_TRUE(detector.suspicion_fully_confirmed("m0"));
  EXPECT_EQ(declared_after("m0", kStart), Clock::duration(800ms)) << "the minimum: one more would change nothing";
  detector.on_cleared("m0");
  EXPECT_FALSE(detector.suspicion_fully_confirmed("m0"));
}

// Past the accuser and k others nothing changes (the timeout is at its minimum), so a
// suspicion keeps no more names: a partition's members are accused by dozens each.
TEST_F(Suspicion, KeepsNoConfirmationPastTheOnesThatShortenTheTimeoutAndCountsTheRestAsHeard) {
  EXPECT_FALSE(detector.counted("m0", "m1")) << "not suspected at all";
  EXPECT_FALSE(detector.counted("m0", "")) << "not suspected at all";
  detector.on_suspected("m0", "self", kStart);
  EXPECT_TRUE(detector.counted("m0", "")) << "the suspicion runs";
  EXPECT_TRUE(detector.counted("m0", "self"));
  EXPECT_FALSE(detector.counted("m0", "m1")) << "a new confirmation would shorten the timeout";
  for (const auto* by : {"m1", "m2", "m3"}) detector.on_suspected("m0", by, kStart);
  ASSERT_TRUE(detector.suspicion_fully_confirmed("m0"));
  detector.on_suspected("m0", "m4", kStart);
  EXPECT_FALSE(detector.suspicion_confirmed_by("m0", "m4")) << "past the cap: not kept";
  EXPECT_TRUE(detector.counted("m0", "m4")) << "yet hearing it again would change nothing";
  EXPECT_TRUE(detector.counted("m0", "m5"));
  EXPECT_TRUE(detector.suspicion_confirmed_by("m0", "m3"));
  EXPECT_EQ(declared_after("m0", kStart), Clock::duration(800ms));
}

TEST_F(Suspicion, InATinyNetworkTheAccusersOwnSuspicionIsAllTheConfirmationThereWillBe) {
  detector.set_members({"m0"});  // n = 2
  detector.on_suspected("m0", "self", kStart);
  EXPECT_TRUE(detector.suspicion_fully_confirmed("m0"));
}

TEST_F(Suspicion, AMemberIsDeclaredFailedOnce) {
  detector.on_suspected("m0", "self", kStart);
  ASSERT_TRUE(declared_after("m0", kStart));
  EXPECT_FALSE(declared_after("m0", kStart + 3201ms));
}

TEST_F(Suspicion, ClearingASuspicionCancelsItsDeclaration) {
  detector.on_suspected("m0", "self", kStart);
  detector.on_suspected("m1", "self", kStart);
  detector.on_cleared("m0");
  auto due = detector.tick(kStart + 3200ms);
  EXPECT_TRUE(declares_failed(due, "m1")) << "others stay suspect";
  EXPECT_FALSE(declares_failed(due, "m0"));
  EXPECT_FALSE(declared_after("m0", kStart + 3200ms));
}

TEST_F(Suspicion, RemovingAMemberDropsItsSuspicion) {
  detector.on_suspected("m0", "self", kStart);
  auto without_m0 = names(9);
  without_m0.erase(without_m0.begin());
  detector.set_members(without_m0);
  detector.set_members(names(9));  // back again: a fresh start, no old timer
  EXPECT_FALSE(declared_after("m0", kStart));
}

TEST_F(Suspicion, IndependentSuspicionsHaveIndependentTimers) {
  detector.on_suspected("m0", "self", kStart);
  for (const auto* by : {"self", "m2", "m3", "m4"}) detector.on_suspected("m1", by, kStart + 100ms);
  EXPECT_EQ(declared_after("m1", kStart), Clock::duration(900ms));
  EXPECT_EQ(declared_after("m0", kStart + 900ms), Clock::duration(3200ms));
}

// ---- the ack wait follows the acks' latency ---------------------------------------------------

TEST(FailureDetector, AcksSlowerThanTheProbeTimeoutStretchTheWaitAndTheInterval) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(4));
  EXPECT_EQ(detector.ack_timeout(), 100ms);
  EXPECT_EQ(detector.probe_interval(), 200ms);
  auto now = kStart;
  for (int i = 0; i < 20; ++i) {
    auto probe = probe_at(detector, now);
    detector.tick(now + 140ms);  // past 100 ms at first: helpers are asked
    detector.on_ack(probe.seq, now + 150ms);
    ASSERT_EQ(detector.health_penalty(), 0u) << "every probe was acked";
    now = detector.next_deadline();  // the next probe
  }
  // Smoothed round trip 150 ms, its deviation near 0: the wait is a little over 150 ms.
  EXPECT_GT(detector.ack_timeout(), 150ms);
  EXPECT_LT(detector.ack_timeout(), 200ms);
  EXPECT_EQ(detector.probe_interval(), 2 * detector.ack_timeout());
  // Now a 150 ms ack comes in time: no helper is asked.
  auto probe = probe_at(detector, now);
  EXPECT_TRUE(of_kind(detector.tick(now + 150ms), Kind::indirect_probe).empty());
  detector.on_ack(probe.seq, now + 150ms);
}

TEST(FailureDetector, TheAckWaitStaysBetweenTheConfiguredTimeoutAndItsCap) {
  DetectorConfig config = fast();
  config.max_probe_timeout = 300ms;
  FailureDetector detector(config, 1);
  detector.set_members(names(4));
  auto now = kStart;
  for (int i = 0; i < 30; ++i) {  // each ack just before the probe gives up
    auto probe = probe_at(detector, now);
    auto wait = detector.probe_interval() - 1ms;
    detector.tick(now + wait);
    detector.on_ack(probe.seq, now + wait);
    now = detector.next_deadline();
  }
  EXPECT_EQ(detector.ack_timeout(), 300ms);
  EXPECT_EQ(detector.probe_interval(), 600ms);
  for (int i = 0; i < 40; ++i) {  // then instant acks: back to the configured 100 ms
    detector.on_ack(probe_at(detector, now).seq, now);
    now = detector.next_deadline();
  }
  EXPECT_EQ(detector.ack_timeout(), 100ms);
  EXPECT_EQ(detector.probe_interval(), 200ms);
}

// A starved agent (its process did not run) finds its probe's deadline long past when it
// wakes; the ack may be unread. It suspects no one for that, once: it counts the lateness
// against its own health and waits one ack timeout more.
TEST(FailureDetector, AnAgentThatWakesLongPastTheDeadlineWaitsOnceMoreBeforeSuspecting) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(4));
  auto probe = probe_at(detector, kStart);
  auto woke = kStart + 1000ms;  // the deadline was kStart + 200 ms
  auto actions = detector.tick(woke);
  EXPECT_TRUE(of_kind(actions, Kind::suspect).empty());
  EXPECT_EQ(detector.health_penalty(), 1u);
  EXPECT_EQ(detector.next_deadline(), woke + 200ms) << "one ack timeout, times the penalty 1 + 1";
  // Still no ack by then: now it suspects.
  EXPECT_EQ(of_kind(detector.tick(woke + 200ms), Kind::suspect).size(), 1u);
  EXPECT_EQ(detector.health_penalty(), 1u) << "the helpers' nacks may still come";
  detector.tick(woke + 200ms + 400ms);
  EXPECT_EQ(detector.health_penalty(), 2u);

  // The ack read in the turn after the late wake-up ends the probe: no suspicion.
  FailureDetector other({}, 1);
  other.set_members(names(4));
  auto second = probe_at(other, kStart);
  EXPECT_TRUE(of_kind(other.tick(woke), Kind::suspect).empty());
  other.on_ack(second.seq, woke + 1ms);
  EXPECT_TRUE(of_kind(other.tick(woke + 200ms), Kind::suspect).empty());
}

TEST(FailureDetector, ATickALittleLateStillSuspects) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(4));
  probe_at(detector, kStart);
  EXPECT_EQ(of_kind(detector.tick(kStart + 249ms), Kind::suspect).size(), 1u) << "49 ms late: under half the wait";
}

// ---- membership changes --------------------------------------------------------------------

TEST(FailureDetector, RemovingAProbedMemberMidCycleSkipsNoOne) {
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    FailureDetector detector(fast(), seed);
    auto members = names(6);
    detector.set_members(members);
    auto now = kStart;
    auto probed = acked_probes(detector, now, 2);
    std::erase(members, probed[0]);
    detector.set_members(members);
    auto rest = acked_probes(detector, now, 4);
    std::set<std::string> expected(members.begin(), members.end());
    expected.erase(probed[1]);
    EXPECT_EQ(std::set<std::string>(rest.begin(), rest.end()), expected) << "seed " << seed;
  }
}

TEST(FailureDetector, AddingAMemberMidCycleProbesNoOneTwiceInTheCycle) {
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    FailureDetector detector(fast(), seed);
    auto members = names(5);
    detector.set_members(members);
    auto now = kStart;
    auto probed = acked_probes(detector, now, 2);
    members.push_back("newcomer");
    detector.set_members(members);
    for (const auto& target : acked_probes(detector, now, 3))
      EXPECT_TRUE(target != probed[0] && target != probed[1])
          << target << " probed twice in one cycle, seed " << seed;
  }
}

TEST(FailureDetector, AMemberRemovedWhileUnderProbeIsNeitherSuspectedNorHeldAgainstUs) {
  FailureDetector detector(fast(), 1);
  auto members = names(4);
  detector.set_members(members);
  auto probe = probe_at(detector, kStart);
  std::erase(members, probe.target);
  detector.set_members(members);
  auto actions = detector.tick(kStart + 200ms);
  EXPECT_TRUE(of_kind(actions, Kind::suspect).empty());
  EXPECT_EQ(detector.health_penalty(), 0u);
  ASSERT_EQ(of_kind(actions, Kind::probe).size(), 1u) << "the next probe starts on time";
}

// ---- deadlines -------------------------------------------------------------------------

TEST(FailureDetector, AFreshDetectorIsDueAtOnce) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(2));
  EXPECT_LE(detector.next_deadline(), kStart);
}

TEST(FailureDetector, NextDeadlineWalksThroughIndirectProbeSuspicionAndNextProbe) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(4));
  probe_at(detector, kStart);
  EXPECT_EQ(detector.next_deadline(), kStart + 100ms);
  EXPECT_EQ(of_kind(detector.tick(detector.next_deadline()), Kind::indirect_probe).size(), 1u);
  EXPECT_EQ(detector.next_deadline(), kStart + 200ms);
  auto actions = detector.tick(detector.next_deadline());
  EXPECT_EQ(of_kind(actions, Kind::suspect).size(), 1u);
  EXPECT_EQ(of_kind(actions, Kind::probe).size(), 1u);
}

TEST(FailureDetector, NextDeadlineAfterAnAckIsTheNextProbe) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(4));
  auto probe = probe_at(detector, kStart);
  detector.on_ack(probe.seq, kStart);
  EXPECT_EQ(detector.next_deadline(), kStart + 200ms);
}

TEST(FailureDetector, NextDeadlineIncludesSuspicionTimers) {
  FailureDetector detector(fast(), 1);
  detector.set_members(names(9));
  for (const auto* by : {"self", "m1", "m2", "m3"}) detector.on_suspected("m0", by, kStart + 30ms);
  // Step from deadline to deadline, acking every probe: the declaration comes exactly on time.
  auto now = kStart;
  for (int step = 0; step < 100; ++step) {
    auto actions = detector.tick(now);
    for (const auto& probe : of_kind(actions, Kind::probe)) detector.on_ack(probe.seq, now);
    if (declares_failed(actions, "m0")) break;
    now = detector.next_deadline();
  }
  EXPECT_EQ(now, kStart + 830ms);
}

// Drives the detector through random events, always ticking at next_deadline(): nothing is
// due just before it, something is due at it, and a tick leaves nothing overdue.
TEST(FailureDetector, TickingAtNextDeadlineAlwaysFindsWorkAndNothingIsDueBefore) {
  const auto everyone = names(8);
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 random(static_cast<std::mt19937::result_type>(seed));
    auto pick = [&](const std::vector<std::string>& from) { return from[random() % from.size()]; };
    FailureDetector detector(fast(), seed);
    std::vector<std::string> members(everyone.begin(), everyone.begin() + 5);
    detector.set_members(members);
    auto now = kStart;
    std::optional<std::uint64_t> last_probe;
    auto run = [&](const std::vector<Action>& actions) {
      for (const auto& probe : of_kind(actions, Kind::probe)) last_probe = probe.seq;
    };
    run(detector.tick(now));
    for (int step = 0; step < 300; ++step) {
      switch (random() % 7) {
        case 0:
          if (last_probe) detector.on_ack(*last_probe, now);
          break;
        case 1:
          detector.on_suspected(pick(members), pick(everyone), now);
          break;
        case 2:
          detector.on_cleared(pick(members));
          break;
        case 3: {
          members = everyone;
          std::shuffle(members.begin(), members.end(), random);
          members.resize(2 + random() % (everyone.size() - 1));
          detector.set_members(members);
          break;
        }
        case 4:
          detector.on_refuted_self();
          break;
        case 5:
          if (last_probe && random() % 2 == 0) detector.on_nack(*last_probe);
          break;
        default:
          break;
      }
      // A confirmation can make a suspicion overdue: then the deadline is now or earlier.
      auto deadline = detector.next_deadline();
      if (deadline > now) {
        ASSERT_TRUE(detector.tick(deadline - 1ms).empty()) << "seed " << seed << ", step " << step;
        now = deadline;
      }
      const auto awaiting = detector.probes_awaiting_nacks();
      auto actions = detector.tick(now);
      // Work: something to do, or a failed probe's nack window closed.
      ASSERT_TRUE(!actions.empty() || detector.probes_awaiting_nacks() < awaiting) << "seed " << seed << ", step " << step;
      run(actions);
      ASSERT_GT(detector.next_deadline(), now) << "left overdue work, seed " << seed << ", step " << step;
    }
  }
}

// ---- out-of-turn probes (a peer's connection dropped) ----------------------------------

// A detector of `count` members (m0, m1, ...) whose first probe started at kStart, and a
// member that probe is not for.
struct FirstProbeStarted {
  explicit FirstProbeStarted(int count) {
    detector.set_members(names(count));
    first = probe_at(detector, kStart);
    other = first.target == "m1" ? "m2" : "m1";
  }
  FailureDetector detector{fast(), 1};
  Action first;
  std::string other;
};

TEST(FailureDetector, ADroppedConnectionIsProbedAtOnceWhenNoProbeIsInFlight) {
  FirstProbeStarted started(5);
  auto& detector = started.detector;
  detector.on_ack(started.first.seq, kStart);
  // Mid-interval: the next regular probe is 150 ms away.
  const auto now = kStart + 50ms;
  detector.probe_soon(started.other, now);
  EXPECT_EQ(detector.next_deadline(), now);
  EXPECT_EQ(probe_at(detector, now).target, started.other);
  // It is a probe like any other: unanswered, it leads to a suspicion one interval later.
  EXPECT_TRUE(of_kind(detector.tick(now + 199ms), Kind::suspect).empty());
  auto suspects = of_kind(detector.tick(now + 200ms), Kind::suspect);
  ASSERT_EQ(suspects.size(), 1u);
  EXPECT_EQ(suspects[0].target, started.other);
}

TEST(FailureDetector, ADroppedConnectionWaitsForTheProbeInFlight) {
  FirstProbeStarted started(5);
  auto& detector = started.detector;
  detector.probe_soon(started.other, kStart + 10ms);
  EXPECT_TRUE(of_kind(detector.tick(kStart + 20ms), Kind::probe).empty());
  // The ack ends the probe in flight; the dropped member is next, not at the interval.
  detector.on_ack(started.first.seq, kStart + 20ms);
  EXPECT_LE(detector.next_deadline(), kStart + 20ms);
  EXPECT_EQ(probe_at(detector, kStart + 30ms).target, started.other);
}

TEST(FailureDetector, ProbeSoonIgnoresStrangersDuplicatesAndTheMemberUnderProbe) {
  FirstProbeStarted started(3);
  auto& detector = started.detector;
  detector.probe_soon(started.first.target, kStart);  // already being probed
  detector.probe_soon("stranger", kStart);            // not a member
  detector.on_ack(started.first.seq, kStart);
  // Nothing queued: the next probe comes at the regular interval.
  EXPECT_EQ(detector.next_deadline(), kStart + 200ms);
  EXPECT_TRUE(of_kind(detector.tick(kStart + 100ms), Kind::probe).empty());

  detector.probe_soon(started.other, kStart + 100ms);
  detector.probe_soon(started.other, kStart + 100ms);
  EXPECT_EQ(probe_at(detector, kStart + 100ms).target, started.other);
  EXPECT_TRUE(of_kind(detector.tick(kStart + 150ms), Kind::probe).empty())
      << "asked twice, probed once";
}

TEST(FailureDetector, AMemberThatLeftIsNotProbedOutOfTurn) {
  FirstProbeStarted started(3);
  auto& detector = started.detector;
  detector.probe_soon(started.other, kStart);
  auto rest = names(3);
  std::erase(rest, started.other);
  detector.set_members(rest);
  detector.on_ack(started.first.seq, kStart);
  EXPECT_EQ(detector.next_deadline(), kStart + 200ms);
  EXPECT_NE(probe_at(detector, kStart + 200ms).target, started.other);
}

TEST(FailureDetector, OutOfTurnProbesLeaveEveryMemberItsTurnInTheCycle) {
  FailureDetector detector(fast(), 3);
  auto members = names(5);
  detector.set_members(members);
  auto now = kStart;
  std::vector<std::string> regular;
  for (int i = 0; i < 5; ++i) {
    const auto regular_at = now;
    regular.push_back(acked_probes(detector, now, 1).front());
    // Between two regular probes, one out of turn; the next regular one is due an
    // interval after it.
    detector.probe_soon(members[static_cast<std::size_t>(i)], regular_at + 50ms);
    detector.on_ack(probe_at(detector, regular_at + 50ms).seq, regular_at + 50ms);
    now = regular_at + 250ms;
  }
  std::sort(regular.begin(), regular.end());
  EXPECT_EQ(regular, members);
}

}  // namespace failure_detector_test
}  // namespace mob
