// mob-sim's network model: a message's fate on a link, partitions, the event order and the
// trace hash (sim/network_model.hpp).
#include "sim/network_model.hpp"

#include <gtest/gtest.h>

namespace mob::sim {
namespace sim_network_model_test {

TEST(SimLink, ACleanLinkDeliversOnceWithinTheLatencyBounds) {
  LinkFaults link;
  std::mt19937_64 random(1);
  for (int i = 0; i < 1000; ++i) {
    auto delays = delivery_delays(link, random);
    ASSERT_EQ(delays.size(), 1u);
    EXPECT_GE(delays[0], link.latency_min);
    EXPECT_LE(delays[0], link.latency_max);
  }
}

TEST(SimLink, FullLossDropsEverything) {
  LinkFaults link;
  link.loss = 1.0;
  std::mt19937_64 random(2);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(delivery_delays(link, random).empty());
}

TEST(SimLink, FullDuplicationDeliversTwice) {
  LinkFaults link;
  link.duplicate = 1.0;
  std::mt19937_64 random(3);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(delivery_delays(link, random).size(), 2u);
}

TEST(SimLink, ReorderingHoldsAMessageBackAtMostTheReorderDelay) {
  LinkFaults link;
  link.reorder = 1.0;
  std::mt19937_64 random(4);
  bool some_held = false;
  for (int i = 0; i < 1000; ++i) {
    auto delays = delivery_delays(link, random);
    ASSERT_EQ(delays.size(), 1u);
    EXPECT_LE(delays[0], link.latency_max + link.reorder_delay);
    some_held = some_held || delays[0] > link.latency_max;
  }
  EXPECT_TRUE(some_held);
}

TEST(SimLink, LossRateIsAboutTheProbabilityAsked) {
  LinkFaults link;
  link.loss = 0.1;
  std::mt19937_64 random(5);
  int lost = 0;
  for (int i = 0; i < 10000; ++i) lost += delivery_delays(link, random).empty() ? 1 : 0;
  EXPECT_NEAR(lost, 1000, 150);
}

TEST(SimLink, AFaultSwitchedOnDoesNotShiftLaterDraws) {
  LinkFaults clean;
  LinkFaults lossy;
  lossy.loss = 0.5;
  std::mt19937_64 a(6), b(6);
  for (int i = 0; i < 50; ++i) {
    delivery_delays(clean, a);
    delivery_delays(lossy, b);
  }
  EXPECT_EQ(a(), b());
}

TEST(SimLink, TheSameSeedGivesTheSameFates) {
  LinkFaults link;
  link.loss = 0.2;
  link.duplicate = 0.2;
  link.reorder = 0.2;
  std::mt19937_64 a(7), b(7);
  for (int i = 0; i < 500; ++i) EXPECT_EQ(delivery_delays(link, a), delivery_delays(link, b));
}

TEST(SimPartitions, ASymmetricCutBlocksBothWaysBetweenTheSidesOnly) {
  Partitions p;
  p.cut({0, 1}, {2, 3}, true);
  EXPECT_TRUE(p.blocked(0, 2));
  EXPECT_TRUE(p.blocked(3, 1));
  EXPECT_FALSE(p.blocked(0, 1));
  EXPECT_FALSE(p.blocked(2, 3));
  EXPECT_FALSE(p.whole());
}

TEST(SimPartitions, AOneWayCutBlocksOneDirection) {
  Partitions p;
  p.cut({0}, {1}, false);
  EXPECT_TRUE(p.blocked(0, 1));
  EXPECT_FALSE(p.blocked(1, 0));
}

TEST(SimPartitions, HealMakesTheNetworkWhole) {
  Partitions p;
  p.cut({0}, {1, 2}, true);
  p.heal();
  EXPECT_TRUE(p.whole());
  EXPECT_FALSE(p.blocked(0, 1));
}

TEST(SimPartitions, AnAgentIsNeverCutFromItself) {
  Partitions p;
  p.cut({0, 1}, {1, 2}, true);
  EXPECT_FALSE(p.blocked(1, 1));
}

TEST(SimEventQueue, RunsInTimeOrderAndTiesInTheOrderScheduled) {
  EventQueue q;
  std::vector<int> order;
  q.schedule(20, [&] { order.push_back(3); });
  q.schedule(10, [&] { order.push_back(1); });
  q.schedule(10, [&] { order.push_back(2); });
  q.schedule(5, [&] { order.push_back(0); });
  std::vector<Micros> times;
  while (!q.empty()) {
    auto [at, action] = q.pop();
    times.push_back(at);
    action();
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(times, (std::vector<Micros>{5, 10, 10, 20}));
}

TEST(SimEventQueue, ManyTiesKeepTheirOrder) {
  EventQueue q;
  std::vector<int> order;
  for (int i = 0; i < 1000; ++i) q.schedule(7, [&order, i] { order.push_back(i); });
  while (!q.empty()) q.pop().second();
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(order[static_cast<std::size_t>(i)], i);
}

TEST(SimTrace, TheHashDependsOnOrderAndContent) {
  TraceHash a, b, c;
  a.add("x");
  a.add("y");
  b.add("y");
  b.add("x");
  c.add("x");
  c.add("y");
  EXPECT_NE(a.value(), b.value());
  EXPECT_EQ(a.value(), c.value());
  TraceHash d, e;
  d.add(std::uint64_t{1});
  e.add(std::uint64_t{2});
  EXPECT_NE(d.value(), e.value());
}

TEST(SimSeeds, DerivedSeedsDifferByStreamAndRepeat) {
  EXPECT_EQ(derive_seed(1, 2), derive_seed(1, 2));
  EXPECT_NE(derive_seed(1, 2), derive_seed(1, 3));
  EXPECT_NE(derive_seed(1, 2), derive_seed(2, 2));
}

}  // namespace sim_network_model_test
}  // namespace mob::sim
