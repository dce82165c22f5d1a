// Membership across a partition, on mob-sim's world (the real stores on virtual time): each
// half finds the whole other half failed within a bound. It guards Lifeguard's nacks: a
// probe across the cut fails, and if each such failure counted against the prober's own
// health, every agent's probe interval would stretch up to nine times and the halves would
// take two to three times as long to find each other (22-26 s at 20 agents, seeds 1-5).
#include <gtest/gtest.h>

#include <vector>

#include "bus/log.hpp"
#include "sim/world.hpp"
#include "tests/support/process.hpp"

namespace mob::sim {
namespace sim_partition_test {

// Virtual time from now until `done` holds, polled every 100 ms; -1 past `limit`.
Micros time_until(World& world, Micros limit, const std::function<bool()>& done) {
  const Micros begin = world.now();
  for (Micros t = begin; t <= begin + limit; t += 100 * kMillisecond) {
    world.run_until(t);
    if (done()) return t - begin;
  }
  return -1;
}

TEST(SimPartition, EachHalfOfTwentyAgentsListsTheWholeOtherHalfFailedWithinFifteenSeconds) {
  log::set_level(log::Level::error);
  constexpr int kAgents = 20;
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    test::TempDir root;
    WorldConfig config;
    config.agents = kAgents;
    config.seed = seed;
    config.data_root = root.path();
    World world(config);
    world.start(0, {});
    for (int i = 1; i < kAgents; ++i) world.start(i, {0});
    ASSERT_GE(time_until(world, 30 * kSecond, [&] { return world.agents_with_full_view() == kAgents; }), 0)
        << "seed " << seed << ": no full view after the joins";

    std::vector<int> first, second;
    for (int i = 0; i < kAgents; ++i) (i < kAgents / 2 ? first : second).push_back(i);
    world.cut(first, second, true);
    const Micros found = time_until(world, 60 * kSecond, [&] {
      return world.agents_listing_all_failed(first, second) == kAgents / 2 &&
             world.agents_listing_all_failed(second, first) == kAgents / 2;
    });
    ASSERT_GE(found, 0) << "seed " << seed << ": the halves did not find each other failed in 60 s";
    EXPECT_LE(found, 15 * kSecond) << "seed " << seed << ": " << found / kMillisecond << " ms";

    world.heal();
    EXPECT_GE(time_until(world, 30 * kSecond, [&] { return world.agents_with_full_view() == kAgents; }), 0)
        << "seed " << seed << ": not whole again 30 s after the heal";
  }
}

}  // namespace sim_partition_test
}  // namespace mob::sim
