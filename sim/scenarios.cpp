#include "sim/scenarios.hpp"

#include <algorithm>
#include <memory>

#include "agent/placement.hpp"

namespace mob::sim {
namespace {

// Longer than failure detection (a few probe rounds, suspicion, confirmation) at any size.
constexpr Micros kPartitionHeld = 15 * kSecond;

std::vector<int> range(int from, int to) {
  std::vector<int> out;
  for (int i = from; i < to; ++i) out.push_back(i);
  return out;
}

int pick(std::mt19937_64& random, int from, int to_inclusive) {
  return std::uniform_int_distribution<int>(from, to_inclusive)(random);
}

Micros pick_time(std::mt19937_64& random, Micros from, Micros to) {
  return std::uniform_int_distribution<Micros>(from, to)(random);
}

// Crashes agent `i` at `when` and starts it again `down_for` later, with its data dir or a
// fresh one (which then joins through `seed`).
void crash_and_restart(World& world, int i, Micros when, Micros down_for, bool keep_data, int seed) {
  world.at(when, [&world, i] { world.crash(i); });
  world.at(when + down_for, [&world, i, keep_data, seed] {
    if (keep_data) world.start(i, {});
    else world.start(i, {seed}, /*fresh=*/true);
  });
}

void partition(World& world, Micros when, Micros held, bool both_ways, int split) {
  const int n = world.agents();
  world.at(when, [&world, split, n, both_ways] { world.cut(range(0, split), range(split, n), both_ways); });
  world.at(when + held, [&world] { world.heal(); });
}

FaultPlan no_faults(World&, Micros from, std::mt19937_64&) { return {from, {}}; }

FaultPlan symmetric_partition(World& world, Micros from, std::mt19937_64&) {
  partition(world, from, kPartitionHeld, true, world.agents() / 2);
  return {from + kPartitionHeld, {}};
}

FaultPlan one_way_partition(World& world, Micros from, std::mt19937_64&) {
  partition(world, from, kPartitionHeld, false, world.agents() / 2);
  return {from + kPartitionHeld, {}};
}

FaultPlan sigstop(World& world, Micros from, std::mt19937_64&) {
  auto stopped = std::make_shared<int>(-1);
  world.at(from, [&world, stopped] {
    *stopped = std::max(0, world.agent_running("svc1"));
    world.pause(*stopped);
  });
  world.at(from + 8 * kSecond, [&world, stopped] { world.resume(*stopped); });
  return {from + 8 * kSecond, {}};
}

FaultPlan restart_one(World& world, Micros from, std::mt19937_64&) {
  crash_and_restart(world, 1 % world.agents(), from, 3 * kSecond, true, 0);
  return {from + 3 * kSecond, {}};
}

FaultPlan restart_all(World& world, Micros from, std::mt19937_64& random) {
  Micros latest = from;
  for (int i = 0; i < world.agents(); ++i) {
    Micros back = from + 2 * kSecond + pick_time(random, 0, 200 * kMillisecond);
    world.at(from, [&world, i] { world.crash(i); });
    world.at(back, [&world, i] { world.start(i, {}); });
    latest = std::max(latest, back);
  }
  return {latest, {}};
}

FaultPlan restart_lost_data(World& world, Micros from, std::mt19937_64&) {
  crash_and_restart(world, 1 % world.agents(), from, 3 * kSecond, false, 0);
  return {from + 3 * kSecond, {}};
}

FaultPlan crash_forever(World& world, Micros from, std::mt19937_64&) {
  const int victim = world.agents() - 1;
  world.at(from, [&world, victim] { world.crash(victim); });
  return {from, {victim}};
}

// A rebalance owned by the network: 8 instances of a service pile up on a0 while the others
// are down, they come back, a rebalance is asked through a0 and, mid-way (after its first
// batches), the owner of the service, which drives it, is killed; it returns 3 s later with
// its data. The service is one a0 does not own, so that a0 keeps its instances running.
FaultPlan rebalance_owner_crash(World& world, Micros from, std::mt19937_64&) {
  const int n = world.agents();
  if (n < 3) return {from, {}};
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back(world.name(i));
  std::string service;
  for (int k = 3; service.empty(); ++k)
    if (owner_of("svc" + std::to_string(k), names) != names[0]) service = "svc" + std::to_string(k);
  const int driver = static_cast<int>(std::find(names.begin(), names.end(), owner_of(service, names)) - names.begin());
  for (int i = 1; i < n; ++i) world.at(from, [&world, i] { world.crash(i); });
  world.at(from + 3 * kSecond, [&world, service] { world.deploy(0, service, service_spec(service, 8)); });
  for (int i = 1; i < n; ++i) world.at(from + 5 * kSecond, [&world, i] { world.start(i, {}); });
  world.at(from + 8 * kSecond, [&world, service] { world.rebalance(0, service); });
  const Micros kill = from + 8 * kSecond + 20 * kMillisecond;
  world.at(kill, [&world, driver] { world.crash(driver); });
  world.at(kill + 3 * kSecond, [&world, driver] { world.start(driver, {}); });
  return {kill + 3 * kSecond, {}};
}

FaultPlan concurrent_deploy(World& world, Micros from, std::mt19937_64&) {
  world.at(from, [&world] {
    world.deploy(0, "svc0", service_spec("svc0", 2, 1));
    world.deploy(1 % world.agents(), "svc0", service_spec("svc0", 2, 2));
  });
  return {from, {}};
}

FaultPlan clock_skew(World& world, Micros from, std::mt19937_64&) {
  const int skewed = 2 % world.agents();
  world.at(from, [&world, skewed] { world.set_skew_ms(skewed, -10 * 60 * 1000); });
  world.at(from + 20 * kSecond, [&world, skewed] { world.set_skew_ms(skewed, 0); });
  return {from + 20 * kSecond, {}};
}

// Ahead: the agent stamps its writes (hybrid logical clock) in the future while it is off,
// and its peers refuse stamps more than 300 s ahead of theirs.
FaultPlan clock_ahead(World& world, Micros from, std::mt19937_64&) {
  const int skewed = 2 % world.agents();
  world.at(from, [&world, skewed] { world.set_skew_ms(skewed, 10 * 60 * 1000); });
  world.at(from + 5 * kSecond, [&world, skewed] { world.set_skew_ms(skewed, 0); });
  return {from + 5 * kSecond, {}};
}

FaultPlan crash_during_deploy(World& world, Micros from, std::mt19937_64& random) {
  const int through = 1 % world.agents();
  world.at(from, [&world, through] { world.deploy(through, "svc2", service_spec("svc2", 2)); });
  // The request arrives 0.1 ms after it is sent and is handled 0.5 ms later; the answer
  // reaches the client 0.1 ms after that: the crash falls before the write, between the
  // write and the acknowledgement, or after it.
  crash_and_restart(world, through, from + pick_time(random, 0, kMillisecond), 3 * kSecond, true, 0);
  return {from + 3 * kSecond, {}};
}

FaultPlan lossy(World& world, Micros from, std::mt19937_64&) {
  world.at(from, [&world] {
    LinkFaults bad = world.link();
    bad.loss = 0.05;
    bad.duplicate = 0.02;
    bad.reorder = 0.1;
    world.set_link(bad);
  });
  world.at(from + 20 * kSecond, [&world] { world.set_link(LinkFaults{}); });
  return {from + 20 * kSecond, {}};
}

// Swarm testing: each fault kind is on or off for this seed; those on happen once or twice
// at random times between `from` and `from` + 30 s, each for up to 15 s.
FaultPlan swarm(World& world, Micros from, std::mt19937_64& random, bool clocks_ahead) {
  const int n = world.agents();
  FaultPlan plan{from, {}};
  auto on = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(random) < p; };
  auto window = [&](Micros longest) {
    Micros start = from + pick_time(random, 0, 30 * kSecond);
    Micros length = pick_time(random, std::min(100 * kMillisecond, longest), longest);
    plan.faults_end = std::max(plan.faults_end, start + length);
    return std::pair{start, length};
  };
  auto times = [&] { return pick(random, 1, 2); };
  if (on(0.5)) {
    LinkFaults bad;
    bad.loss = std::uniform_real_distribution<double>(0, 0.1)(random);
    bad.duplicate = std::uniform_real_distribution<double>(0, 0.05)(random);
    bad.reorder = std::uniform_real_distribution<double>(0, 0.2)(random);
    auto [start, length] = window(15 * kSecond);
    world.at(start, [&world, bad] { world.set_link(bad); });
    world.at(start + length, [&world] { world.set_link(LinkFaults{}); });
  }
  if (on(0.5))
    for (int k = times(); k > 0; --k) {
      auto [start, length] = window(15 * kSecond);
      partition(world, start, length, on(0.5), pick(random, 1, n - 1));
    }
  if (on(0.5))
    for (int k = times(); k > 0; --k) {
      auto [start, length] = window(10 * kSecond);
      int victim = pick(random, 0, n - 1);
      world.at(start, [&world, victim] { world.pause(victim); });
      world.at(start + length, [&world, victim] { world.resume(victim); });
    }
  if (on(0.5))
    for (int k = times(); k > 0; --k) {
      auto [start, length] = window(10 * kSecond);
      int victim = pick(random, 1, std::max(1, n - 2));  // never the one crashed for good
      crash_and_restart(world, victim, start, length, on(0.7), 0);
    }
  if (on(0.3) && n >= 3) {
    auto [start, length] = window(1);
    world.at(start, [&world, victim = n - 1] { world.crash(victim); });
    plan.dead_for_good.insert(n - 1);
  }
  if (on(0.4)) {
    auto [start, length] = window(20 * kSecond);
    int skewed = pick(random, 0, n - 1);
    std::int64_t skew_ms = pick(random, -600'000, clocks_ahead ? 600'000 : 0);
    world.at(start, [&world, skewed, skew_ms] { world.set_skew_ms(skewed, skew_ms); });
    world.at(start + length, [&world, skewed] { world.set_skew_ms(skewed, 0); });
  }
  if (on(0.5)) {
    auto [start, length] = window(1);
    int a = pick(random, 0, n - 1), b = pick(random, 0, n - 1);
    int instances = pick(random, 1, 3);
    world.at(start, [&world, a, b, instances] {
      world.deploy(a, "svc0", service_spec("svc0", instances, 1));
      world.deploy(b, "svc0", service_spec("svc0", instances, 2));
    });
  }
  if (on(0.3)) {
    auto [start, length] = window(1);
    int through = pick(random, 1, std::max(1, n - 2));
    world.at(start, [&world, through] { world.deploy(through, "svc2", service_spec("svc2", 2)); });
    crash_and_restart(world, through, start + pick_time(random, 0, 2 * kMillisecond), 3 * kSecond, true, 0);
    plan.faults_end = std::max(plan.faults_end, start + 3 * kSecond);
  }
  return plan;
}

FaultPlan random_faults(World& world, Micros from, std::mt19937_64& random) {
  return swarm(world, from, random, true);
}

FaultPlan random_clocks_behind(World& world, Micros from, std::mt19937_64& random) {
  return swarm(world, from, random, false);
}

}  // namespace

std::string service_spec(const std::string& name, int instances, int variant) {
  return R"({"name":")" + name + R"(","provider":"bash","params":{"command":"sleep 100000 # )" +
         std::to_string(variant) + R"("},"instances":)" + std::to_string(instances) + "}";
}

const std::vector<Scenario>& scenarios() {
  static const std::vector<Scenario> all = {
      {"join-storm", "every agent starts within 1 s through a0; two services deployed; no fault", no_faults},
      {"partition-symmetric", "the agents split in two halves, cut both ways for 15 s (past failure detection), then healed",
       symmetric_partition},
      {"partition-one-way", "messages from one half to the other dropped for 15 s, the other way kept, then healed",
       one_way_partition},
      {"sigstop", "the agent running svc1 paused 8 s (SIGSTOP), then resumed", sigstop},
      {"restart-one", "a1 killed, restarted 3 s later with its data dir and no -j", restart_one},
      {"restart-all", "every agent killed, restarted 2 s later with its data dir and no -j", restart_all},
      {"restart-lost-data", "a1 killed, restarted 3 s later with an empty data dir, joining through a0",
       restart_lost_data},
      {"crash-forever", "the last agent killed for good: its instances move, nothing stays assigned to it",
       crash_forever},
      {"concurrent-deploy", "two different specs of svc0 deployed at the same moment through a0 and a1",
       concurrent_deploy},
      {"rebalance-owner-crash", "8 instances pile up on a0, a rebalance is asked, and its driver (the service's "
                                "owner) is killed 20 ms later, back 3 s after",
       rebalance_owner_crash},
      {"clock-skew", "a2's wall clock 10 min behind for 20 s, then fixed", clock_skew},
      {"clock-ahead", "a2's wall clock 10 min ahead for 5 s, then fixed",
       clock_ahead},
      {"crash-during-deploy", "a deploy of svc2 through a1, a1 killed within 1 ms of it, restarted with its data",
       crash_during_deploy},
      {"lossy", "5% loss, 2% duplication, 10% reordering on every link for 20 s", lossy},
      {"random", "swarm testing: the seed picks which faults are on (loss, partitions, pauses, crashes, skew, "
                 "concurrent deploys, crash during a deploy) and when",
       random_faults},
      {"random-clocks-behind", "as random, but a skewed clock is only ever behind (a swarm that leaves the clock-ahead "
                               "faults out looks harder for others)",
       random_clocks_behind},
  };
  return all;
}

const Scenario* find_scenario(const std::string& name) {
  for (const auto& scenario : scenarios())
    if (scenario.name == name) return &scenario;
  return nullptr;
}

}  // namespace mob::sim
