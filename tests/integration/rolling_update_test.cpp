// Rolling updates with real agents and real processes (docs/spec.md, "update"): a 4-instance
// service moves to a new version one instance at a time while the real processes of both
// versions are counted every 20 ms; a version that exits at once is reverted and the old one
// keeps running untouched; the owner's agent is SIGKILLed mid-rollout and another finishes it.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/placement.hpp"
#include "tests/support/network.hpp"

namespace mob::test {
namespace rolling_update_test {

class RollingUpdate : public AgentNetwork {
 protected:
  // web, 4 instances of `command`; by default one that is up 0.4 s after it starts, as a
  // process with ROLL=<this test's tag>-<version> in its environment (so that an instance
  // restarting is seen down, however fast the stop and the start).
  std::string web(const std::string& version, const std::string& update, const std::string& extra = "",
                  std::string command = "") const {
    if (command.empty()) command = "sleep 0.4; exec env ROLL=" + marker(version) + " sleep 1000";
    nlohmann::json doc = {{"name", "web"},
                          {"provider", "bash"},
                          {"instances", 4},
                          {"stop_timeout_s", 1},
                          {"params", {{"command", command}}},
                          {"update", nlohmann::json::parse(update)}};
    if (!extra.empty()) doc.update(nlohmann::json::parse("{" + extra + "}"));
    return doc.dump();
  }
  std::string marker(const std::string& version) const { return tag_ + "-" + version; }
  // The real processes of one version that are up: the instances' `sleep 1000`.
  std::size_t processes_of(const std::string& version) const {
    return processes_with_env("ROLL=" + marker(version)).size();
  }

  CommandResult tool(AgentProcess& agent, std::vector<std::string> args, const std::string& input = {},
                     std::chrono::milliseconds timeout = 90s) {
    args.insert(args.begin(), {MOB_TOOL_BIN, "-a", agent.endpoint()});
    return run_command(args, timeout, input);
  }

  // Samples both versions' processes every 20 ms until stopped: the fewest running at once.
  struct Sampler {
    explicit Sampler(const RollingUpdate& test)
        : thread([this, &test](std::stop_token stop) {
            while (!stop.stop_requested()) {
              std::size_t old_version = test.processes_of("v1"), new_version = test.processes_of("v2");
              fewest = std::min(fewest.load(), old_version + new_version);
              most_new = std::max(most_new.load(), new_version);
              ++samples;
              std::this_thread::sleep_for(20ms);
            }
          }) {}
    std::atomic<std::size_t> fewest{1000}, most_new{0}, samples{0};
    std::jthread thread;
  };

  std::string tag_ = "rollout-" + std::to_string(::getpid()) + "-" +
                     std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
};

TEST_F(RollingUpdate, OneInstanceAtATimeMovesToTheNewVersionAndAtMostOneIsDown) {
  for (int i = 0; i < 3; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(3));
  const std::string update = R"({"max_parallel": 1, "min_healthy_s": 0.5, "healthy_deadline_s": 30})";
  auto first = tool(*agents_[0], {"deploy", "-"}, web("v1", update));
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  ASSERT_TRUE(wait_until([&] { return processes_of("v1") == 4; })) << processes_of("v1");

  Sampler sampler(*this);
  auto second = tool(*agents_[1], {"deploy", "-"}, web("v2", update));
  EXPECT_EQ(second.exit_code, 0) << second.out << second.err;
  ASSERT_TRUE(wait_until([&] { return processes_of("v2") == 4 && processes_of("v1") == 0; }))
      << processes_of("v1") << " old, " << processes_of("v2") << " new";
  sampler.thread.request_stop();
  sampler.thread.join();
  EXPECT_GE(sampler.fewest.load(), 3u) << "at some 20 ms sample fewer than 3 of 4 instances ran ("
                                       << sampler.samples.load() << " samples)";
  for (const auto* line : {"web: 1 of 4 updated", "web: 2 of 4 updated", "web: 3 of 4 updated",
                           "web: 4 of 4 updated", "web version 2: 4 of 4 instance(s) running"})
    EXPECT_NE(second.out.find(line), std::string::npos) << line << " missing from:\n" << second.out;

  // Every agent learns the end: version 2 is the stable one, nothing else kept.
  EXPECT_TRUE(wait_until([&] {
    auto status = agents_[2]->service("web");
    if (!status || status->version != 2 || status->stable_version != 0 || !status->rollout.empty()) return false;
    for (const auto& instance : status->instance_list)
      if (instance.state != InstanceState::running || instance.spec_version != 2) return false;
    return true;
  }));
}

TEST_F(RollingUpdate, AVersionThatExitsAtOnceIsRevertedAndTheOthersNeverStop) {
  for (int i = 0; i < 2; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(2));
  const std::string update = R"({"max_parallel": 1, "min_healthy_s": 0.5, "healthy_deadline_s": 20})";
  ASSERT_EQ(tool(*agents_[0], {"deploy", "-"}, web("v1", update)).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return processes_of("v1") == 4; }));
  std::map<std::uint32_t, std::int64_t> before;
  auto first = agents_[0]->service("web");  // kept alive while the loop reads it
  ASSERT_TRUE(first);
  for (const auto& instance : first->instance_list) before[instance.index] = instance.pid;

  auto bad = tool(*agents_[0], {"deploy", "-"},
                  web("v2", update, R"("restart": {"policy": "never"})", "echo broken; exit 3"));
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("web version 2 was reverted: web/0 exited"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("version 3 runs the last healthy spec again"), std::string::npos) << bad.err;

  ASSERT_TRUE(wait_until([&] {
    auto status = agents_[1]->service("web");
    if (!status || status->version != 3) return false;
    for (const auto& instance : status->instance_list)
      if (instance.state != InstanceState::running || instance.spec_version != 3) return false;
    return processes_of("v1") == 4;
  }, 20s));
  auto status = agents_[1]->service("web");
  EXPECT_EQ(status->rollout.rfind("reverted: web/0 exited", 0), 0u) << status->rollout;
  std::size_t untouched = 0;
  for (const auto& instance : status->instance_list)
    untouched += before.at(instance.index) == instance.pid && process_alive(static_cast<pid_t>(instance.pid));
  EXPECT_EQ(untouched, 3u) << "only web/0 tried version 2; the other three kept their processes";
}

TEST_F(RollingUpdate, AnotherAgentFinishesTheRolloutWhenTheOwnersAgentIsKilled) {
  for (int i = 0; i < 3; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(3));
  const std::string update = R"({"max_parallel": 1, "min_healthy_s": 2, "healthy_deadline_s": 60})";
  ASSERT_EQ(tool(*agents_[0], {"deploy", "-"}, web("v1", update)).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return processes_of("v1") == 4; }));
  std::vector<std::string> names;
  for (auto* agent : live()) names.push_back(agent->name());
  AgentProcess* owner = by_name(owner_of("web", names));
  ASSERT_NE(owner, nullptr);
  AgentProcess* survivor = owner == agents_[0].get() ? agents_[1].get() : agents_[0].get();

  ASSERT_TRUE(survivor->deploy(web("v2", update)));
  ASSERT_TRUE(wait_until([&] { return processes_of("v2") >= 1; }));
  ASSERT_LT(processes_of("v2"), 4u) << "the rollout ended before the owner could be killed";
  owner->crash();

  ASSERT_TRUE(wait_until([&] {
    auto status = survivor->service("web");
    if (!status || status->version != 2 || status->stable_version != 0) return false;
    for (const auto& instance : status->instance_list)
      if (instance.state != InstanceState::running || instance.spec_version != 2 || instance.node == owner->name())
        return false;
    return true;
  }, 60s)) << survivor->service("web")->rollout;
  EXPECT_EQ(processes_of("v2"), 4u);
  EXPECT_EQ(processes_of("v1"), 0u);
}

}  // namespace rolling_update_test
}  // namespace mob::test
