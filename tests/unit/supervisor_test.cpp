// The supervisor's restart policy with backoff, driven a turn at a time on a ManualTime over
// inproc pipes: the test plays the store and the bash worker. No thread, no sleep.
#include "agent/supervisor.hpp"

#include <csignal>
#include <set>

#include <gtest/gtest.h>

#include "agent/actor.hpp"
#include "agent/spec.hpp"

namespace mob {
namespace supervisor_test {

using namespace std::chrono_literals;

constexpr const char* kFailingSpec = R"({"name": "web", "provider": "bash",
    "params": {"command": "exit 1"}, "instances": 1,
    "restart": {"policy": "always", "max_restarts": 5, "window_s": 60, "backoff_ms": 100,
                "backoff_max_ms": 400}})";

class SupervisorOnManualTime : public ::testing::Test {
 protected:
  SupervisorOnManualTime() {
    auto store = make_pipe(context_, "test-store");
    auto io = make_pipe(context_, "test-io");
    auto control = make_pipe(context_, "test-control");
    auto worker = make_pipe(context_, "test-worker");
    auto health = make_pipe(context_, "test-health");
    store_ = std::move(store.first);
    io_ = std::move(io.first);
    control_ = std::move(control.first);
    worker_ = std::move(worker.first);
    health_ = std::move(health.first);
    std::map<std::string, zmq::socket_t> workers;
    workers.emplace("bash", std::move(worker.second));
    SupervisorConfig config{"node-a", &time_, "10.0.0.5", PortRange{12000, 12009},
                            [this](std::uint32_t port) { return !busy_ports_.contains(port); }};
    loop_ = std::make_unique<SupervisorLoop>(std::move(config), std::move(store.second),
                                             std::move(io.second), std::move(control.second),
                                             std::move(workers), std::move(health.second));
  }

  // Every internal message waiting on `socket`, in order.
  static std::vector<InternalBody> drain(zmq::socket_t& socket) {
    std::vector<InternalBody> bodies;
    while (auto message = receive_any(socket))
      if (auto* internal = std::get_if<InternalMessage>(&*message)) bodies.push_back(std::move(internal->envelope.body));
    return bodies;
  }

  // The ProviderStarts the worker got since the last look.
  std::size_t starts() {
    std::size_t count = 0;
    for (const auto& body : drain(worker_)) count += std::holds_alternative<ProviderStart>(body);
    return count;
  }

  // The state of web/0 in the store's last report since the last look.
  std::optional<InstanceStatus> last_report() {
    std::optional<InstanceStatus> last;
    for (const auto& body : drain(store_))
      if (const auto* report = std::get_if<InstanceReport>(&body)) last = report->status;
    return last;
  }

  void turn() { loop_->turn(0ms); }

  // Sends the supervisor `assignment` with its specs parsed, as the store does.
  void assign(ServiceAssignment assignment) {
    assignment.spec = *parse_spec(assignment.spec_json);
    if (!assignment.stable_instances.empty()) assignment.stable_spec = *parse_spec(assignment.stable_spec_json);
    send_internal(store_, std::move(assignment));
  }

  // The worker reports that the process started and exited with code 1.
  void start_and_fail() {
    send_internal(worker_, ProviderEvent{"web.0", ProviderEventKind::started, 4242, -1, 0, ""});
    turn();
    send_internal(worker_, ProviderEvent{"web.0", ProviderEventKind::exited, 0, 1, 0, ""});
    turn();
  }

  std::set<std::uint32_t> busy_ports_;  // ports "in use" on this machine
  ManualTime time_;
  zmq::context_t context_{1};
  zmq::socket_t store_, io_, control_, worker_, health_;
  std::unique_ptr<SupervisorLoop> loop_;
};

TEST_F(SupervisorOnManualTime, RestartBackoffDoublesUpToItsMaximumThenGivesUp) {
  assign(ServiceAssignment{"web", 1, kFailingSpec, {0}, true, 0, true, "", 0, "", {}, {}});
  turn();
  ASSERT_EQ(starts(), 1u);

  // The first restart in the window is at once; then 100 ms doubling to 400.
  const std::vector<std::chrono::milliseconds> delays = {0ms, 100ms, 200ms, 400ms, 400ms};
  for (std::size_t i = 0; i < delays.size(); ++i) {
    SCOPED_TRACE("restart " + std::to_string(i + 1));
    start_and_fail();
    if (delays[i] == 0ms) {
      EXPECT_EQ(starts(), 1u) << "the first restart waits for nothing";
      continue;
    }
    auto report = last_report();
    ASSERT_TRUE(report);
    EXPECT_EQ(report->state, InstanceState::restarting);
    EXPECT_EQ(report->reason, "exited with code 1; restarting in " + std::to_string(delays[i].count()) + " ms");
    EXPECT_EQ(starts(), 0u);
    time_.advance(delays[i] - 1ms);
    turn();
    EXPECT_EQ(starts(), 0u) << "1 ms early";
    time_.advance(1ms);
    turn();
    EXPECT_EQ(starts(), 1u) << "on time";
    EXPECT_EQ(last_report()->restarts, i + 1);
  }

  // A sixth exit within window_s spends the budget of max_restarts (5).
  start_and_fail();
  auto report = last_report();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->state, InstanceState::failed);
  EXPECT_NE(report->reason.find("gave up after 5 restarts within 60 s"), std::string::npos) << report->reason;
  time_.advance(1h);
  turn();
  EXPECT_EQ(starts(), 0u);
}

TEST_F(SupervisorOnManualTime, TheBudgetComesBackOnceTheWindowHasPassed) {
  assign(ServiceAssignment{"web", 1, kFailingSpec, {0}, true, 0, true, "", 0, "", {}, {}});
  turn();
  ASSERT_EQ(starts(), 1u);
  start_and_fail();
  ASSERT_EQ(starts(), 1u);  // at once
  start_and_fail();
  ASSERT_EQ(starts(), 0u);  // 100 ms
  time_.advance(100ms);
  turn();
  ASSERT_EQ(starts(), 1u);
  // A long healthy run: the window (60 s) forgets the restarts, so the next one is at once.
  time_.advance(61s);
  start_and_fail();
  EXPECT_EQ(starts(), 1u);
}

// A rolling update: an instance the owner has not moved keeps the stable version's process;
// a moved one restarts from the new version; a revert (the stable spec current again)
// restarts none of those that ran it.
TEST_F(SupervisorOnManualTime, ARollingUpdateRestartsOnlyTheMovedInstancesAndARevertNone) {
  const std::string v1 = R"({"name": "web", "provider": "bash", "params": {"command": "exec sleep 1"}, "instances": 2})";
  const std::string v2 = R"({"name": "web", "provider": "bash", "params": {"command": "exec sleep 2"}, "instances": 2})";
  auto stops = [&](std::vector<std::string>& keys, std::size_t& started) {
    for (const auto& body : drain(worker_)) {
      if (const auto* stop = std::get_if<ProviderStop>(&body)) keys.push_back(stop->key);
      started += std::holds_alternative<ProviderStart>(body);
    }
  };
  assign(ServiceAssignment{"web", 1, v1, {0, 1}, true, 0, true, "", 0, "", {}, {}});
  turn();
  ASSERT_EQ(starts(), 2u);
  for (const char* key : {"web.0", "web.1"}) send_internal(worker_, ProviderEvent{key, ProviderEventKind::started, 10, -1, 0, ""});
  turn();
  drain(store_);

  // Version 2 deployed with a rollout: nothing moved yet, both run version 1.
  assign(ServiceAssignment{"web", 2, v2, {}, true, 0, true, "", 1, v1, {0, 1}, {}});
  turn();
  std::vector<std::string> stopped;
  std::size_t started = 0;
  stops(stopped, started);
  EXPECT_TRUE(stopped.empty()) << "not moved: no restart";
  EXPECT_EQ(started, 0u);

  // The owner moves web/0: it alone restarts, from version 2.
  assign(ServiceAssignment{"web", 2, v2, {0}, true, 0, true, "", 1, v1, {1}, {}});
  turn();
  stops(stopped, started);
  EXPECT_EQ(stopped, std::vector<std::string>{"web.0"});
  send_internal(worker_, ProviderEvent{"web.0", ProviderEventKind::stopped, 0, -1, 15, ""});
  turn();
  std::vector<InternalBody> to_worker = drain(worker_);
  ASSERT_EQ(to_worker.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<ProviderStart>(to_worker[0]));
  EXPECT_NE(std::get<ProviderStart>(to_worker[0]).params.at("command").get<std::string>().find("sleep 2"), std::string::npos);
  send_internal(worker_, ProviderEvent{"web.0", ProviderEventKind::started, 11, -1, 0, ""});
  turn();

  // Reverted: version 3 holds version 1's spec; web/1 (launched from version 1) carries on,
  // web/0 (version 2) starts from it again.
  assign(ServiceAssignment{"web", 3, v1, {0, 1}, true, 0, true, "", 1, "", {}, {}});
  turn();
  stopped.clear();
  stops(stopped, started);
  EXPECT_EQ(stopped, std::vector<std::string>{"web.0"});
  bool web1_reported_at_3 = false;
  for (const auto& body : drain(store_))
    if (const auto* report = std::get_if<InstanceReport>(&body))
      web1_reported_at_3 = web1_reported_at_3 || (report->status.index == 1 && report->status.spec_version == 3 &&
                                                   report->status.state == InstanceState::running && report->status.pid == 10);
  EXPECT_TRUE(web1_reported_at_3) << "web/1 runs on as version 3 with its process";
}

// ---- service discovery -----------------------------------------------------------------

constexpr const char* kDb = R"({"name": "db", "provider": "bash", "params": {"command": "x"},
    "ports": {"pg": 0, "metrics": 9100}})";

std::string web_spec(const std::string& on_change) {
  return R"({"name": "web", "provider": "bash", "params": {"command": "x"}, "depends_on": ["db"])" +
         (on_change.empty() ? std::string() : R"(, "on_dependency_change": ")" + on_change + "\"") + "}";
}

TEST_F(SupervisorOnManualTime, AnInstanceStartsWithItsPortsAndReportsWhereItListens) {
  assign(ServiceAssignment{"db", 1, kDb, {0, 1}, true, 0, true, "", 0, "", {}, {}});
  turn();
  std::vector<ProviderStart> started;
  for (auto& body : drain(worker_))
    if (auto* start = std::get_if<ProviderStart>(&body)) started.push_back(*start);
  ASSERT_EQ(started.size(), 1u) << "db/1 cannot share 9100 with db/0 on one agent";
  const ProviderStart& first = started[0];
  EXPECT_EQ(first.env.at("MOB_HOST"), "10.0.0.5");
  EXPECT_EQ(first.env.at("MOB_PORT_METRICS"), "9100");
  const std::uint32_t pg = std::stoul(first.env.at("MOB_PORT_PG"));
  EXPECT_GE(pg, 12000u);
  EXPECT_LE(pg, 12009u);
  ASSERT_EQ(first.ports.size(), 2u);
  for (const auto& binding : first.ports) EXPECT_EQ(binding.host_port, binding.container_port);
  send_internal(worker_, ProviderEvent{first.key, ProviderEventKind::started, 77, -1, 0, ""});
  turn();
  std::map<std::uint32_t, InstanceStatus> last;
  for (const auto& body : drain(store_))
    if (const auto* report = std::get_if<InstanceReport>(&body)) last[report->status.index] = report->status;
  const InstanceStatus& running = last.at(first.index);
  EXPECT_EQ(running.state, InstanceState::running);
  EXPECT_EQ(running.host, "10.0.0.5");
  EXPECT_EQ(running.ports, (std::map<std::string, std::uint32_t>{{"pg", pg}, {"metrics", 9100}}));
  const InstanceStatus& other = last.at(1 - first.index);
  EXPECT_EQ(other.state, InstanceState::failed);
  EXPECT_EQ(other.reason, "port 9100 is in use on node-a");
  EXPECT_EQ(other.busy_port, 9100u);
}

TEST_F(SupervisorOnManualTime, AFixedPortInUseOnTheMachineFailsTheInstanceNamingPortAndAgent) {
  busy_ports_.insert(9100);
  assign(ServiceAssignment{"db", 1, kDb, {0}, true, 0, true, "", 0, "", {}, {}});
  turn();
  EXPECT_EQ(starts(), 0u);
  std::optional<InstanceStatus> report;
  for (const auto& body : drain(store_))
    if (const auto* r = std::get_if<InstanceReport>(&body)) report = r->status;
  ASSERT_TRUE(report);
  EXPECT_EQ(report->state, InstanceState::failed);
  EXPECT_EQ(report->reason, "port 9100 is in use on node-a");
  EXPECT_EQ(report->busy_port, 9100u);
  time_.advance(1h);
  turn();
  EXPECT_EQ(starts(), 0u) << "it waits for the owner to move it";
}

class DependencyChanges : public SupervisorOnManualTime {
 protected:
  // web/0 runs, started with db at `address`; the worker's messages since are drained.
  void run_web(const std::string& on_change, const std::string& port) {
    assign(ServiceAssignment{"web", 1, web_spec(on_change), {0}, true, 0, true, "", 0, "", {},
                                        {{"MOB_DB_HOST", "10.0.0.6"}, {"MOB_DB_PORT_PG", port}}});
    turn();
    auto to_worker = drain(worker_);
    ASSERT_EQ(to_worker.size(), 1u);
    const auto& start = std::get<ProviderStart>(to_worker[0]);
    EXPECT_EQ(start.env.at("MOB_DB_PORT_PG"), port);
    EXPECT_EQ(start.env.count("MOB_HOST"), 0u) << "web names no ports of its own";
    send_internal(worker_, ProviderEvent{"web.0", ProviderEventKind::started, 50, -1, 0, ""});
    turn();
    drain(store_);
  }
  void db_moves_to(const std::string& port, bool ready = true) {
    assign(ServiceAssignment{"web", 1, web_spec(on_change_), {0}, true, 0, ready, "", 0, "", {},
                                        {{"MOB_DB_HOST", "10.0.0.7"}, {"MOB_DB_PORT_PG", port}}});
    turn();
  }
  std::string on_change_;
};

TEST_F(DependencyChanges, ByDefaultTheDependentRestartsWithTheNewAddress) {
  run_web("", "12001");
  db_moves_to("12002");
  auto to_worker = drain(worker_);
  ASSERT_EQ(to_worker.size(), 1u);
  EXPECT_EQ(std::get<ProviderStop>(to_worker[0]).key, "web.0");
  send_internal(worker_, ProviderEvent{"web.0", ProviderEventKind::stopped, 0, -1, 15, ""});
  turn();
  to_worker = drain(worker_);
  ASSERT_EQ(to_worker.size(), 1u);
  const auto& start = std::get<ProviderStart>(to_worker[0]);
  EXPECT_EQ(start.env.at("MOB_DB_HOST"), "10.0.0.7");
  EXPECT_EQ(start.env.at("MOB_DB_PORT_PG"), "12002");
  db_moves_to("12002");
  EXPECT_TRUE(drain(worker_).empty()) << "the same addresses again: nothing to do";
}

TEST_F(DependencyChanges, SignalSendsTheSignalOnceAndNoneDoesNothing) {
  on_change_ = "signal:SIGHUP";
  run_web(on_change_, "12001");
  db_moves_to("12002");
  auto to_worker = drain(worker_);
  ASSERT_EQ(to_worker.size(), 1u);
  const auto& signal = std::get<ProviderSignal>(to_worker[0]);
  EXPECT_EQ(signal.key, "web.0");
  EXPECT_EQ(signal.signal, SIGHUP);
  db_moves_to("12002");
  EXPECT_TRUE(drain(worker_).empty());
}

TEST_F(DependencyChanges, NoneLeavesTheInstanceAlone) {
  on_change_ = "none";
  run_web(on_change_, "12001");
  db_moves_to("12002");
  EXPECT_TRUE(drain(worker_).empty());
}

TEST_F(DependencyChanges, WhileTheDependencyServesNowhereTheDependentCarriesOn) {
  run_web("", "12001");
  assign(ServiceAssignment{"web", 1, web_spec(""), {0}, true, 0, false, "waiting", 0, "", {}, {}});
  turn();
  EXPECT_TRUE(drain(worker_).empty()) << "no address to give it: it keeps the one it has";
}

// The supervisor runs what the store parsed: it never parses a spec's text, which only says
// which spec a version runs.
TEST_F(SupervisorOnManualTime, RunsTheParsedSpecOfItsAssignmentWithoutParsingTheText) {
  ServiceAssignment assignment{"web", 1, "the text of version 1, never parsed here", {0}, true, 0, true, "", 0, "", {}, {}};
  assignment.spec = *parse_spec(R"({"name": "web", "provider": "bash", "params": {"command": "sleep 60"}})");
  send_internal(store_, std::move(assignment));
  turn();
  auto to_worker = drain(worker_);
  ASSERT_EQ(to_worker.size(), 1u);
  const auto& start = std::get<ProviderStart>(to_worker[0]);
  EXPECT_EQ(start.key, "web.0");
  EXPECT_EQ(start.params.at("command"), "sleep 60") << "the params go to the worker as a JSON value";
  auto report = last_report();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->state, InstanceState::starting);
}

}  // namespace supervisor_test
}  // namespace mob
