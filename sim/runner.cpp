#include "sim/runner.hpp"

#include <malloc.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <functional>
#include <utility>

namespace mob::sim {
namespace {

// All agents start within the first second, a0 first; the others join through a0.
void join_storm(World& world, std::mt19937_64& random) {
  world.at(0, [&world] { world.start(0, {}); });
  std::uniform_int_distribution<Micros> when(kMillisecond, kSecond);
  for (int i = 1; i < world.agents(); ++i) world.at(when(random), [&world, i] { world.start(i, {0}); });
}

// The end of every fault: the network whole and clean, every paused agent resumed, every
// clock right, every crashed agent (except those dead for good) started with its data.
void make_whole(World& world, const FaultPlan& plan) {
  world.heal();
  world.set_link(LinkFaults{});
  for (int i = 0; i < world.agents(); ++i) {
    world.resume(i);
    world.set_skew_ms(i, 0);
    if (!world.up(i) && !plan.dead_for_good.contains(i)) world.start(i, {});
  }
}

// The CPU this process has spent (every simulated agent runs on the one thread).
double process_cpu_s() {
  timespec spent{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spent);
  return static_cast<double>(spent.tv_sec) + static_cast<double>(spent.tv_nsec) / 1e9;
}

// The measurement's figures are the first poll at which they hold.
constexpr Micros kPollStep = 100 * kMillisecond;

// Runs until `done` holds, polling; returns the virtual time it took, or -1 past `limit`.
Micros time_until(World& world, Micros limit, const std::function<bool()>& done) {
  const Micros begin = world.now();
  for (Micros t = begin; t <= begin + limit; t += kPollStep) {
    world.run_until(t);
    if (done()) return t - begin;
  }
  return -1;
}

double seconds(Micros t) { return static_cast<double>(t) / kSecond; }

// Bytes the allocator has handed out and not taken back (every agent's heap, and the
// world's): unlike RSS it does not keep pages a freed peak left behind.
double heap_in_use_bytes() { return static_cast<double>(mallinfo2().uordblks); }

// The most heap in use seen at the polls since the last take(): a phase's peak, which
// may come before its end (a partition's suspicions, before they turn into failures).
class HeapPeak {
 public:
  // mallinfo2() walks the allocator's free lists: once a virtual second of polls.
  void sample() {
    if (++polls_ % 10 == 0) peak_ = std::max(peak_, heap_in_use_bytes());
  }
  double take() {
    peak_ = std::max(peak_, heap_in_use_bytes());
    return std::exchange(peak_, 0.0);
  }

 private:
  std::uint64_t polls_ = 0;
  double peak_ = 0;
};

std::uint64_t resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      std::uint64_t kib = 0;
      status >> kib;
      return kib;
    }
  }
  return 0;
}

// The world a run's options ask for.
WorldConfig world_config(const RunOptions& options) {
  WorldConfig config;
  config.agents = options.agents;
  config.seed = options.seed;
  config.data_root = options.data_root;
  config.narrate = options.narrate;
  config.heartbeat_interval = options.heartbeat_interval;
  return config;
}

}  // namespace

RunResult run_scenario(const Scenario& scenario, const RunOptions& options) {
  World world(world_config(options));
  std::mt19937_64 schedule(derive_seed(options.seed, 0x5c4ed));
  world.trace().add(scenario.name);
  join_storm(world, schedule);
  // The services every scenario starts from, deployed through random agents.
  std::uniform_int_distribution<int> any(0, options.agents - 1);
  int through0 = any(schedule), through1 = any(schedule);
  world.at(3 * kSecond, [&world, through0, agents = options.agents] {
    world.deploy(through0, "svc0", service_spec("svc0", std::min(3, agents)));
  });
  world.at(3 * kSecond + 10 * kMillisecond,
           [&world, through1] { world.deploy(through1, "svc1", service_spec("svc1", 1)); });
  FaultPlan plan = scenario.schedule(world, 5 * kSecond, schedule);
  std::uint64_t starts_when_whole = 0;
  world.at(plan.faults_end, [&world, plan, &starts_when_whole] {
    make_whole(world, plan);
    starts_when_whole = world.instance_starts();
  });

  RunResult result;
  result.faults_end = plan.faults_end;
  const Micros last = std::min(options.max_virtual, plan.faults_end + options.convergence_bound);
  std::optional<Violation> latest;
  // Convergence is checked each virtual second once the faults stopped; it must still hold
  // 5 s later (no flapping).
  for (Micros t = plan.faults_end + kSecond; t <= last; t += kSecond) {
    world.run_until(t);
    if (auto broken = world.check_continuous()) {
      latest = broken;
      break;
    }
    latest = world.check_converged();
    if (latest) continue;
    result.converged_after = t - plan.faults_end;
    world.run_until(t + 5 * kSecond);
    latest = world.check_continuous();
    if (!latest) latest = world.check_converged();
    if (latest) result.converged_after = -1;
    break;
  }
  // Once whole, the network settles: each instance moves a few times at most (back to a
  // restarted agent, a handover, a rebalance), never in a storm of placements.
  const std::uint64_t starts = world.instance_starts() - starts_when_whole;
  result.starts_after_faults = starts;
  if (!latest) {
    const std::uint64_t bound = 4 * world.wanted_instances() + 2 * static_cast<std::uint64_t>(options.agents);
    if (starts > bound)
      latest = Violation{"churn-bounded", world.now(),
                         std::to_string(starts) + " processes started after the faults stopped, more than " +
                             std::to_string(bound) + " (4 per wanted instance and 2 per agent)"};
  }
  if (latest && result.converged_after < 0 && latest->invariant != "subscriptions-bounded" &&
      latest->invariant != "inbox-bounded" && latest->invariant != "traffic-bounded")
    latest->detail += " (still, " + std::to_string((world.now() - plan.faults_end) / kSecond) +
                      " s after the faults stopped)";
  result.violation = latest;
  result.virtual_end = world.now();
  result.traffic = world.traffic();
  result.trace = world.trace().value();
  return result;
}

std::uint64_t run_measurement(const RunOptions& options, std::ostream& out) {
  World world(world_config(options));
  std::mt19937_64 schedule(derive_seed(options.seed, 0x5c4ed));
  const int n = options.agents;
  auto metric = [&](const std::string& name, double value) { out << "metric " << name << " " << value << std::endl; };

  // The CPU each phase took and the most heap it held, for the sizes that take hours and
  // need most of the machine's memory (docs/performance.md, "Simulation").
  double phase_start = process_cpu_s();
  HeapPeak heap;
  auto phase_cpu = [&](const std::string& phase) {
    const double now_cpu = process_cpu_s();
    metric("cpu_s_" + phase, now_cpu - phase_start);
    metric("peak_heap_kib_per_agent_" + phase, heap.take() / 1024 / n);
    phase_start = now_cpu;
  };

  join_storm(world, schedule);
  world.run_until(kSecond);
  Micros full = time_until(world, 300 * kSecond, [&] {
    heap.sample();
    return world.all_have_full_view();
  });
  metric("full_view_after_join_storm_s", full < 0 ? -1 : seconds(kSecond + full));
  phase_cpu("join_storm");

  // The traffic per agent per second between two counts `span` apart, as metrics named
  // `prefix` + gossip_messages_per_agent_per_s and the like.
  auto traffic_metrics = [&](const std::string& prefix, const TrafficCounts& before, const TrafficCounts& after,
                             Micros span) {
    auto per_agent_second = [&](std::uint64_t a, std::uint64_t b) {
      return static_cast<double>(b - a) / n / seconds(span);
    };
    metric(prefix + "gossip_messages_per_agent_per_s", per_agent_second(before.gossip_messages, after.gossip_messages));
    metric(prefix + "gossip_bytes_per_agent_per_s", per_agent_second(before.gossip_bytes, after.gossip_bytes));
    metric(prefix + "peer_messages_per_agent_per_s", per_agent_second(before.peer_messages, after.peer_messages));
    metric(prefix + "peer_bytes_per_agent_per_s", per_agent_second(before.peer_bytes, after.peer_bytes));
  };
  const TrafficCounts before = world.traffic();
  const Micros window = 10 * kSecond;
  world.run_until(world.now() + window);
  traffic_metrics("", before, world.traffic(), window);
  phase_cpu("idle");

  const int victim = n - 1;
  world.crash(victim);
  Micros detected = time_until(world, 120 * kSecond, [&] {
    heap.sample();
    return world.all_list(victim, MemberState::failed);
  });
  metric("failure_detected_everywhere_s", detected < 0 ? -1 : seconds(detected));
  phase_cpu("crash");

  // A partition in halves, held until each side lists every member of the other side as
  // failed (the time that takes is the figure), then healed.
  std::vector<int> first_half, second_half;
  for (int i = 0; i < n; ++i) (i < n / 2 ? first_half : second_half).push_back(i);
  std::erase(second_half, victim);  // crashed: listed failed already
  world.cut(first_half, second_half, true);
  const TrafficCounts cut_at = world.traffic();
  const Micros cut_time = world.now();
  Micros split = time_until(world, 300 * kSecond, [&] {
    heap.sample();
    return world.all_list_all_failed(first_half, second_half) && world.all_list_all_failed(second_half, first_half);
  });
  metric("partition_detected_both_sides_s", split < 0 ? -1 : seconds(split));
  traffic_metrics("partition_", cut_at, world.traffic(), world.now() - cut_time);
  // How many agents of each side list a member of the other side (a0 and a[n/2]) as failed
  // when it heals: the whole other side, unless the detection above timed out.
  metric("at_heal_listing_a0_failed", world.agents_listing(0, MemberState::failed));
  metric("at_heal_listing_other_side_failed", world.agents_listing(n / 2, MemberState::failed));
  phase_cpu("partition");
  world.heal();
  Micros healed = time_until(world, 300 * kSecond, [&] {
    heap.sample();
    return world.all_have_full_view();
  });
  metric("converged_after_partition_s", healed < 0 ? -1 : seconds(healed));
  phase_cpu("heal");
  metric("resident_kib_per_agent", static_cast<double>(resident_kib()) / n);
  metric("virtual_s", seconds(world.now()));
  return world.trace().value();
}


std::uint64_t run_deploy_measurement(const RunOptions& options, int services, std::ostream& out) {
  World world(world_config(options));
  std::mt19937_64 schedule(derive_seed(options.seed, 0x5c4ed));
  const int n = options.agents;
  auto metric = [&](const std::string& name, double value) { out << "metric " << name << " " << value << std::endl; };
  world.trace().add("measure-deploys");
  join_storm(world, schedule);
  world.run_until(kSecond);
  Micros full = time_until(world, 300 * kSecond, [&] { return world.all_have_full_view(); });
  metric("full_view_after_join_storm_s", full < 0 ? -1 : seconds(kSecond + full));
  world.run_until(world.now() + 5 * kSecond);

  const double heap_before = heap_in_use_bytes();
  const double cpu_before = process_cpu_s();
  const Micros start = world.now();
  const std::uint64_t in_flight = 64;
  std::uint64_t sent = 0;
  const auto wanted = static_cast<std::uint64_t>(services);
  char name[32];
  while (world.writes_answered() < wanted) {
    while (sent < wanted && sent - world.writes_answered() < in_flight) {
      std::snprintf(name, sizeof name, "svc-%05llu", static_cast<unsigned long long>(sent));
      world.deploy(0, name, service_spec(name, 1));
      ++sent;
    }
    if (world.now() - start > 600 * kSecond) break;
    world.run_until(world.now() + kMillisecond);
  }
  std::uint64_t refused = 0, held_alone = 0;
  for (const auto& write : world.writes()) {
    refused += write.answered && !write.acked ? 1 : 0;
    held_alone += write.acked && write.told_held_alone() ? 1 : 0;
  }
  metric("deploys_answered_s", seconds(world.now() - start));
  metric("deploys_refused", static_cast<double>(refused));
  metric("deploys_answered_held_alone", static_cast<double>(held_alone));
  Micros running = time_until(world, 600 * kSecond, [&] { return world.running_instances() >= wanted; });
  metric("all_running_s", running < 0 ? -1 : seconds(world.now() - start));
  metric("cpu_s_until_all_running", process_cpu_s() - cpu_before);
  // At rest: the last records gossiped, synced and archived; the garbage of the deploys
  // freed, and the parsed specs no duty reads dropped (two sweeps, 10 s apart, after use).
  world.run_until(world.now() + 30 * kSecond);
  metric("heap_bytes_per_service_per_agent", (heap_in_use_bytes() - heap_before) / services / n);
  metric("resident_kib_per_agent", static_cast<double>(resident_kib()) / n);
  metric("virtual_s", seconds(world.now()));
  return world.trace().value();
}

}  // namespace mob::sim
