// History, rollback, canaries and rebalance with real agents and real processes (docs/spec.md,
// "History and rollback", "Canaries", "Rebalance"): every version is listed with how it ended
// and an earlier one comes back as a new version; a canary runs beside the old instances until
// promote; instances spread over the agents and a rebalance evens them out again while the
// processes are counted every 20 ms, and goes on when the mob-tool that asked for it or the
// agent that drives it is killed.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <functional>
#include <set>
#include <thread>

#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/placement.hpp"
#include "tests/support/network.hpp"

namespace mob::test {
namespace rollout_commands_test {

class RolloutCommands : public AgentNetwork {
 protected:
  // web: `instances` processes of `version`, each with ROLL=<this test's tag>-<version> in its
  // environment from the start (so the real processes of a version are counted exactly).
  std::string web(const std::string& version, std::uint32_t instances, const std::string& update = "") const {
    nlohmann::json doc = {{"name", "web"},
                          {"provider", "bash"},
                          {"instances", instances},
                          {"stop_timeout_s", 1},
                          {"params", {{"command", "exec sleep 1000"}, {"env", {{"ROLL", marker(version)}}}}}};
    if (!update.empty()) doc["update"] = nlohmann::json::parse(update);
    return doc.dump();
  }
  // web whose instances turn healthy 0.3 s after they start (an exec check): the marker is
  // in the command, not in params.env, which the check's processes share.
  std::string checked_web(const std::string& version, std::uint32_t instances, const std::string& update) const {
    nlohmann::json doc = nlohmann::json::parse(web(version, instances, update));
    doc["params"] = {{"command", "exec env ROLL=" + marker(version) + " sleep 1000"}};
    doc["checks"] = nlohmann::json::array(
        {{{"name", "up"}, {"type", "exec"}, {"command", "sleep 0.3"}, {"interval_s", 5}, {"timeout_s", 2}}});
    return doc.dump();
  }
  // `spec_json` under another service name.
  static std::string named(const std::string& name, const std::string& spec_json) {
    auto doc = nlohmann::json::parse(spec_json);
    doc["name"] = name;
    return doc.dump();
  }
  std::string marker(const std::string& version) const { return tag_ + "-" + version; }
  std::size_t processes_of(const std::string& version) const {
    return processes_with_env("ROLL=" + marker(version)).size();
  }
  // The processes of `version` that `agent` started.
  std::size_t processes_of(const std::string& version, const AgentProcess& agent) const {
    auto mine = agent.service_processes();
    std::set<pid_t> started(mine.begin(), mine.end());
    auto all = processes_with_env("ROLL=" + marker(version));
    return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [&](pid_t pid) { return started.contains(pid); }));
  }

  CommandResult tool(AgentProcess& agent, std::vector<std::string> args, const std::string& input = {},
                     std::chrono::milliseconds timeout = 60s) {
    args.insert(args.begin(), {MOB_TOOL_BIN, "-a", agent.endpoint()});
    return run_command(args, timeout, input);
  }

  std::string tag_ = "rollcmd-" + std::to_string(::getpid()) + "-" +
                     std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
};

class History : public RolloutCommands {};
class Canary : public RolloutCommands {};
class Rebalance : public RolloutCommands {};
class RolloutDrain : public RolloutCommands {};

TEST_F(History, ListsEveryVersionWithHowItEndedAndARollbackRunsAnEarlierSpecAsANewVersion) {
  auto& agent = start();
  for (const char* version : {"v1", "v2", "v3"}) {
    auto deployed = tool(agent, {"deploy", "-"}, web(version, 2));
    ASSERT_EQ(deployed.exit_code, 0) << deployed.out << deployed.err;
  }
  ASSERT_TRUE(wait_until([&] { return processes_of("v3") == 2 && processes_of("v1") == 0; }));

  auto listed = tool(agent, {"history", "web", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  std::vector<nlohmann::json> versions;
  std::istringstream lines(listed.out);
  for (std::string line; std::getline(lines, line);) versions.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(versions.size(), 3u) << listed.out;
  EXPECT_EQ(versions[0]["version"], 3);
  EXPECT_EQ(versions[0]["outcome"], "current, healthy");
  EXPECT_EQ(versions[1]["version"], 2);
  EXPECT_EQ(versions[1]["outcome"], "healthy") << "it ran on every instance when version 3 replaced it";
  EXPECT_EQ(versions[2]["outcome"], "healthy");
  EXPECT_EQ(versions[2]["through"], agent.name());
  EXPECT_EQ(versions[2]["spec"]["params"]["env"]["ROLL"], marker("v1"));

  auto rolled = tool(agent, {"rollback", "web", "1"});
  ASSERT_EQ(rolled.exit_code, 0) << rolled.out << rolled.err;
  EXPECT_NE(rolled.out.find("rolled web back: version 4 runs the spec of version 1"), std::string::npos) << rolled.out;
  EXPECT_NE(rolled.out.find("web version 4: 2 of 2 instance(s) running"), std::string::npos) << rolled.out;
  ASSERT_TRUE(wait_until([&] { return processes_of("v1") == 2 && processes_of("v3") == 0; }))
      << processes_of("v1") << " of version 1's processes, " << processes_of("v3") << " of version 3's";
  auto status = agent.service("web");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->version, 4u);

  auto table = tool(agent, {"history", "web"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("(the spec of version 1)"), std::string::npos) << table.out;
  EXPECT_EQ(table.out.find("VERSION"), 0u) << table.out;
  EXPECT_LT(table.out.find("\n4 "), table.out.find("\n3 ")) << "newest first:\n" << table.out;
}

TEST_F(History, RollbackAndHistoryErrorsSayWhatIsWrongAndARemovedServiceStillAnswers) {
  auto& agent = start("bash", {"--history", "3"});
  for (const char* version : {"v1", "v2", "v3", "v4"})
    ASSERT_EQ(tool(agent, {"deploy", "-"}, web(version, 1)).exit_code, 0);

  auto missing = tool(agent, {"rollback", "web", "99"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "mob-tool: rollback web 99: no version 99 in the last 3 (oldest is 2)\n");
  auto forgotten = tool(agent, {"rollback", "web", "1"});
  EXPECT_EQ(forgotten.err, "mob-tool: rollback web 1: no version 1 in the last 3 (oldest is 2)\n");
  auto current = tool(agent, {"rollback", "web", "4"});
  EXPECT_EQ(current.err, "mob-tool: rollback web 4: version 4 is the current one; name an earlier one "
                         "(mob-tool history web)\n");
  auto unknown = tool(agent, {"rollback", "nosuch"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.err, "mob-tool: rollback nosuch: service \"nosuch\" is not deployed (mob-tool status lists the services)\n");
  auto unknown_history = tool(agent, {"history", "nosuch"});
  EXPECT_EQ(unknown_history.err, "mob-tool: history nosuch: service \"nosuch\" is not deployed (mob-tool status lists the services)\n");
  auto bad = tool(agent, {"rollback", "web", "zero"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;

  ASSERT_EQ(tool(agent, {"remove", "web"}).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return processes_of("v4") == 0; }));
  auto after = tool(agent, {"history", "web"});
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_NE(after.out.find("web was removed; its history stays until its tombstone is collected"), std::string::npos)
      << after.out;
  EXPECT_NE(after.out.find("removed"), after.out.rfind("removed")) << "version 4 ended removed:\n" << after.out;

  auto refused = run_command({MOB_AGENT_BIN, "-p", "1", "--history", "0"}, 10s);
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("--history: expected a number of versions from 1 to 1000, got 0"), std::string::npos)
      << refused.err;
}

TEST_F(Canary, ACanaryRunsBesideTheOldInstancesUntilPromoteMovesTheRest) {
  for (int i = 0; i < 2; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(2));
  const std::string update = R"({"max_parallel": 1, "min_healthy_s": 0.5, "healthy_deadline_s": 30, "canary": 1})";
  ASSERT_EQ(tool(*agents_[0], {"deploy", "-"}, web("v1", 4, update)).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return processes_of("v1") == 4; }));

  auto canary = tool(*agents_[1], {"deploy", "-"}, web("v2", 4, update));
  ASSERT_EQ(canary.exit_code, 0) << canary.out << canary.err;
  EXPECT_NE(canary.out.find("web version 2: 1 canary of version 2 healthy beside 4 of version 1; continue with: "
                            "mob-tool promote web"),
            std::string::npos)
      << canary.out;
  EXPECT_EQ(processes_of("v2"), 1u);
  EXPECT_EQ(processes_of("v1"), 4u) << "the old instances keep running beside the canary";
  auto paused = agents_[0]->service("web");
  ASSERT_TRUE(paused);
  EXPECT_EQ(paused->rollout.rfind("paused: ", 0), 0u) << paused->rollout;
  EXPECT_EQ(paused->instance_list.size(), 5u) << "status lists the canary as web/4";

  // A scale now would make the canary's slot (web/4) an ordinary instance of version 1.
  auto scaled = tool(*agents_[0], {"scale", "web", "5"});
  EXPECT_EQ(scaled.exit_code, 1) << scaled.out;
  EXPECT_NE(scaled.err.find("a scale now would turn a canary's slot into an ordinary instance; promote first "
                            "(mob-tool promote web)"),
            std::string::npos)
      << scaled.err;
  EXPECT_EQ(processes_of("v2"), 1u);
  EXPECT_EQ(processes_of("v1"), 4u);

  // A new deploy while the canary waits replaces it: the canary runs the newest version.
  auto replaced = tool(*agents_[1], {"deploy", "-"}, web("v3", 4, update));
  ASSERT_EQ(replaced.exit_code, 0) << replaced.out << replaced.err;
  EXPECT_NE(replaced.out.find("web version 3: 1 canary of version 3 healthy beside 4 of version 1"), std::string::npos)
      << replaced.out;
  EXPECT_EQ(processes_of("v3"), 1u);
  EXPECT_EQ(processes_of("v2"), 0u);
  EXPECT_EQ(processes_of("v1"), 4u);

  auto promoted = tool(*agents_[0], {"promote", "web"});
  ASSERT_EQ(promoted.exit_code, 0) << promoted.out << promoted.err;
  EXPECT_NE(promoted.out.find("web version 3: 4 of 4 instance(s) running"), std::string::npos) << promoted.out;
  ASSERT_TRUE(wait_until([&] { return processes_of("v3") == 4 && processes_of("v1") == 0; }, 20s))
      << processes_of("v1") << " old, " << processes_of("v3") << " new";
  auto history = tool(*agents_[0], {"history", "web", "--json"});
  EXPECT_NE(history.out.find(R"("version":2,)"), std::string::npos) << history.out;
  EXPECT_NE(history.out.find(R"("outcome":"replaced")"), std::string::npos) << "version 2 never ran everywhere:\n"
                                                                          << history.out;

  auto again = tool(*agents_[0], {"promote", "web"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.err, "mob-tool: promote web: no canary waiting\n");
}

TEST_F(Canary, ACanaryThatExitsIsRevertedAndTheOldInstancesNeverStop) {
  auto& agent = start();
  const std::string update = R"({"max_parallel": 1, "min_healthy_s": 0.5, "healthy_deadline_s": 30, "canary": 1})";
  ASSERT_EQ(tool(agent, {"deploy", "-"}, web("v1", 4, update)).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return processes_of("v1") == 4; }));
  auto before = processes_with_env("ROLL=" + marker("v1"));

  auto bad = nlohmann::json::parse(web("v2", 4, update));
  bad["params"]["command"] = "exit 3";
  bad["restart"] = {{"policy", "never"}};
  auto reverted = tool(agent, {"deploy", "-"}, bad.dump());
  EXPECT_EQ(reverted.exit_code, 1) << reverted.out << reverted.err;
  EXPECT_NE(reverted.err.find("web version 2 was reverted: web/4 exited"), std::string::npos) << reverted.err;
  ASSERT_TRUE(wait_until([&] {
    auto status = agent.service("web");
    return status && status->version == 3 && status->instance_list.size() == 4;
  })) << "the revert is version 3 and the canary goes";
  auto after = processes_with_env("ROLL=" + marker("v1"));
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  EXPECT_EQ(after, before) << "the old instances kept their processes";
  auto history = tool(agent, {"history", "web", "--json"});
  EXPECT_NE(history.out.find(R"("outcome":"reverted: web/4 exited)"), std::string::npos) << history.out;
}

TEST_F(Rebalance, InstancesSpreadOverTheAgentsAndARebalanceEvensThemOutAfterARestart) {
  for (int i = 0; i < 3; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(3));
  const std::string update = R"({"max_parallel": 1, "min_healthy_s": 0.5, "healthy_deadline_s": 30})";
  ASSERT_EQ(tool(*agents_[0], {"deploy", "-"}, checked_web("v1", 6, update)).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return processes_of("v1") == 6; }));
  for (const auto& agent : agents_) EXPECT_EQ(processes_of("v1", *agent), 2u) << agent->name();

  // Two agents restart: their instances run on the first meanwhile, and stay there after.
  for (int i = 1; i < 3; ++i) EXPECT_EQ(agents_[i]->terminate(), 0);
  ASSERT_TRUE(wait_until([&] { return processes_of("v1", *agents_[0]) == 6; }, 20s)) << processes_of("v1", *agents_[0]);
  for (int i = 1; i < 3; ++i) agents_[i]->restart();
  ASSERT_TRUE(everyone_sees_alive(3));
  EXPECT_EQ(processes_of("v1", *agents_[0]), 6u);

  std::atomic<std::size_t> fewest{1000}, samples{0};
  std::jthread sampler([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      fewest = std::min(fewest.load(), processes_of("v1"));
      ++samples;
      std::this_thread::sleep_for(20ms);
    }
  });
  auto rebalanced = tool(*agents_[1], {"rebalance", "web", "--deadline", "40"});
  sampler.request_stop();
  sampler.join();
  ASSERT_EQ(rebalanced.exit_code, 0) << rebalanced.out << rebalanced.err;
  EXPECT_NE(rebalanced.out.find("rebalance web: done, 4 instances moved"), std::string::npos) << rebalanced.out;
  std::size_t moves = 0;
  for (auto at = rebalanced.out.find("  moving from " + agents_[0]->name() + " to "); at != std::string::npos;
       at = rebalanced.out.find("  moving from " + agents_[0]->name() + " to ", at + 1))
    ++moves;
  EXPECT_EQ(moves, 4u) << rebalanced.out;
  EXPECT_GE(samples.load(), 20u) << "4 moves, each healthy 0.3 s after it starts";
  ASSERT_TRUE(wait_until([&] {
    return processes_of("v1") == 6 && processes_of("v1", *agents_[0]) == 2 && processes_of("v1", *agents_[1]) == 2;
  })) << processes_of("v1", *agents_[0]) << " " << processes_of("v1", *agents_[1]) << " " << processes_of("v1", *agents_[2]);
  EXPECT_GE(fewest.load(), 5u) << "at some 20 ms sample fewer than 6 - max_parallel instances ran (" << samples.load()
                               << " samples)";
  auto unknown = tool(*agents_[0], {"rebalance", "nosuch"});
  EXPECT_EQ(unknown.err, "mob-tool: rebalance nosuch: service \"nosuch\" is not deployed (mob-tool status lists the services)\n");
}

// Counts the processes of one version every 20 ms on a thread of its own until stopped.
class ProcessSampler {
 public:
  explicit ProcessSampler(std::function<std::size_t()> count)
      : thread_([this, count = std::move(count)](std::stop_token stop) {
          while (!stop.stop_requested()) {
            fewest_ = std::min(fewest_.load(), count());
            ++samples_;
            std::this_thread::sleep_for(20ms);
          }
        }) {}
  void stop() {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
  }
  std::size_t fewest() const { return fewest_; }
  std::size_t samples() const { return samples_; }

 private:
  std::atomic<std::size_t> fewest_{1000}, samples_{0};
  std::jthread thread_;
};

TEST_F(Rebalance, GoesOnWhenTheMobToolThatAskedForItIsKilled) {
  AgentProcess& first = start();
  const std::string update = R"({"max_parallel": 1, "min_healthy_s": 0.5, "healthy_deadline_s": 30})";
  ASSERT_EQ(tool(first, {"deploy", "-"}, checked_web("v1", 6, update)).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return processes_of("v1", first) == 6; }));
  for (int i = 0; i < 2; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(3));
  EXPECT_EQ(processes_of("v1", first), 6u) << "nothing moves to the newcomers by itself";

  ProcessSampler sampler([&] { return processes_of("v1"); });
  Child asking({MOB_TOOL_BIN, "-a", agents_[1]->endpoint(), "rebalance", "web", "--deadline", "60"},
               dir_.path() / "rebalance.out");
  ASSERT_TRUE(wait_until([&] { return asking.output().find("  moving from ") != std::string::npos; }, 20s))
      << asking.output();
  asking.signal(SIGKILL);
  ASSERT_NE(asking.wait(5s), -1);
  const std::string said = asking.output();
  EXPECT_EQ(said.find(": done"), std::string::npos) << "killed after the first batch, before the end:\n" << said;

  // No mob-tool asks any more; the owner of web goes on until the spread is even.
  ASSERT_TRUE(wait_until([&] {
    return processes_of("v1") == 6 && processes_of("v1", *agents_[0]) == 2 && processes_of("v1", *agents_[1]) == 2 &&
           processes_of("v1", *agents_[2]) == 2;
  }, 40s)) << processes_of("v1", *agents_[0]) << " " << processes_of("v1", *agents_[1]) << " "
           << processes_of("v1", *agents_[2]);
  ASSERT_TRUE(wait_until([&] {
    auto status = agents_[2]->service("web");
    return status && status->rebalance.starts_with("done: ");
  })) << "the owner records the end";
  sampler.stop();
  EXPECT_GE(sampler.fewest(), 5u) << "at some 20 ms sample fewer than 6 - max_parallel instances ran ("
                                  << sampler.samples() << " samples)";
  auto status = agents_[0]->service("web");
  ASSERT_TRUE(status);
  std::vector<std::string> names;
  for (const auto& agent : agents_) names.push_back(agent->name());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(status->rebalance, "done: " + names[0] + " 2, " + names[1] + " 2, " + names[2] + " 2");
  EXPECT_EQ(status->origin, owner_of("web", names)) << "the owner wrote the end";

  auto again = tool(first, {"rebalance", "web"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "rebalance web: done, 0 instances moved (even already)\n");
}

TEST_F(Rebalance, TheToolSaysWhatTheRebalanceWaitsForAtItsDeadlineAndItGoesOn) {
  AgentProcess& first = start();
  auto never_healthy = nlohmann::json::parse(checked_web("v1", 2, R"({"max_parallel": 1})"));
  never_healthy["checks"][0]["command"] = "false";
  ASSERT_EQ(tool(first, {"deploy", "-", "--detach"}, never_healthy.dump()).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return processes_of("v1", first) == 2; }));
  start();
  ASSERT_TRUE(everyone_sees_alive(2));

  auto waited = tool(first, {"rebalance", "web", "--deadline", "1"});
  EXPECT_EQ(waited.exit_code, 1) << waited.out;
  EXPECT_NE(waited.err.find("mob-tool: rebalance: the deadline passed; web rebalancing: "), std::string::npos)
      << waited.err;
  EXPECT_NE(waited.err.find("; waiting for web/0 on " + first.name() + " to be healthy"), std::string::npos)
      << waited.err;
  EXPECT_NE(waited.err.find("(it goes on in the network; mob-tool status shows it)"), std::string::npos) << waited.err;
  auto status = first.service("web");
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->rebalance.starts_with("rebalancing: ")) << status->rebalance;
}

TEST_F(Rebalance, AnotherAgentTakesItOverWhenTheAgentDrivingItIsKilled) {
  for (int i = 0; i < 3; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(3));
  AgentProcess& first = *agents_[0];
  std::vector<std::string> names;
  for (const auto& agent : agents_) names.push_back(agent->name());
  // A service the first agent does not own: its six instances pile up on the first, and the
  // owner (which drives the rebalance) runs only what the rebalance gives it, 2 at most.
  std::string service;
  for (int i = 0; service.empty(); ++i)
    if (owner_of("web" + std::to_string(i), names) != first.name()) service = "web" + std::to_string(i);
  AgentProcess* driver = by_name(owner_of(service, names));
  ASSERT_TRUE(driver);
  for (int i = 1; i < 3; ++i) ASSERT_EQ(tool(first, {"eligibility", agents_[i]->name(), "off"}).exit_code, 0);
  ASSERT_TRUE(wait_until([&] {
    int ineligible = 0;
    for (const auto& member : first.members()) ineligible += member.eligible ? 0 : 1;
    return ineligible == 2;
  }));
  const std::string update = R"({"max_parallel": 2, "min_healthy_s": 0.5, "healthy_deadline_s": 30})";
  ASSERT_EQ(tool(first, {"deploy", "-"}, named(service, checked_web("v1", 6, update))).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return processes_of("v1", first) == 6; }));
  for (int i = 1; i < 3; ++i) ASSERT_EQ(tool(first, {"eligibility", agents_[i]->name(), "on"}).exit_code, 0);
  ASSERT_TRUE(wait_until([&] {
    for (auto* agent : live())
      for (const auto& member : agent->members())
        if (!member.eligible) return false;
    return true;
  }));

  ProcessSampler sampler([&] { return processes_of("v1"); });
  Child asking({MOB_TOOL_BIN, "-a", first.endpoint(), "rebalance", service, "--deadline", "60"},
               dir_.path() / "rebalance.out");
  // Mid-way: the first batch runs healthy where it went, one of them on the driver (the next
  // batch may be on its way), and the rebalance is not done.
  ASSERT_TRUE(wait_until([&] {
    auto status = first.service(service);
    if (!status) return false;
    for (const auto& instance : status->instance_list)
      if (instance.node == driver->name() && instance.state == InstanceState::running &&
          instance.health == Health::healthy)
        return true;
    return false;
  }, 20s)) << asking.output();
  EXPECT_EQ(asking.output().find(": done"), std::string::npos) << asking.output();
  driver->sigkill();

  const int exit_status = asking.wait(60s);
  const std::string said = asking.output();
  ASSERT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0) << exit_status << "\n" << said;
  EXPECT_NE(said.find("rebalance " + service + ": done, "), std::string::npos) << said;
  std::vector<std::string> survivors;
  for (auto* agent : live()) survivors.push_back(agent->name());
  ASSERT_EQ(survivors.size(), 2u);
  ASSERT_TRUE(wait_until([&] {
    return processes_of("v1") == 6 && processes_of("v1", *by_name(survivors[0])) == 3 &&
           processes_of("v1", *by_name(survivors[1])) == 3;
  }, 20s)) << processes_of("v1", *by_name(survivors[0])) << " " << processes_of("v1", *by_name(survivors[1]));
  sampler.stop();
  EXPECT_GE(sampler.fewest(), 4u) << "at some 20 ms sample fewer than 6 - max_parallel instances ran ("
                                  << sampler.samples() << " samples)";
  EXPECT_GE(sampler.samples(), 10u);
  auto status = first.service(service);
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->rebalance.starts_with("done: ")) << status->rebalance;
  EXPECT_EQ(status->origin, owner_of(service, survivors)) << "the new owner wrote the end";
  EXPECT_NE(by_name(owner_of(service, survivors))->log().find("rebalance of " + service + " done: "), std::string::npos);
}

TEST_F(RolloutDrain, ADrainMovesMaxParallelInstancesAtATimeEachOnceItsNewCopyIsHealthy) {
  for (int i = 0; i < 2; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(2));
  const std::string update = R"({"max_parallel": 1, "min_healthy_s": 0.5, "healthy_deadline_s": 30})";
  ASSERT_EQ(tool(*agents_[0], {"deploy", "-"}, checked_web("v1", 4, update)).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return processes_of("v1") == 4; }));
  ASSERT_EQ(processes_of("v1", *agents_[1]), 2u);

  std::atomic<std::size_t> fewest{1000}, most{0}, samples{0};
  std::jthread sampler([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      const std::size_t now = processes_of("v1");
      fewest = std::min(fewest.load(), now);
      most = std::max(most.load(), now);
      ++samples;
      std::this_thread::sleep_for(20ms);
    }
  });
  auto drained = tool(*agents_[0], {"drain", agents_[1]->name(), "--deadline", "40"});
  sampler.request_stop();
  sampler.join();
  ASSERT_EQ(drained.exit_code, 0) << drained.out << drained.err;
  EXPECT_EQ(processes_of("v1", *agents_[0]), 4u);
  EXPECT_EQ(processes_of("v1", *agents_[1]), 0u);
  EXPECT_GE(fewest.load(), 4u) << "an old copy stops only once its new one is healthy (" << samples.load() << " samples)";
  EXPECT_LE(most.load(), 5u) << "more than max_parallel (1) new copies started at once (" << samples.load()
                             << " samples)";
  EXPECT_GE(samples.load(), 15u) << "two moves, one after the other, each healthy 0.3 s after it starts";
}

}  // namespace rollout_commands_test
}  // namespace mob::test
