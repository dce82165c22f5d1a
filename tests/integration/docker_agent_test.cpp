// A real mob-agent running containers through a real Docker-Engine-compatible API (the
// test command starts podman's service: scripts/container-engine.sh). Checked the way a
// user would: through the agent, the engine's API and the logs.
#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/agent.hpp"

namespace mob::test {
namespace docker_agent_test {

// The engine's socket path from DOCKER_HOST=unix:///path.
std::string engine_socket() {
  const char* host = std::getenv("DOCKER_HOST");
  if (host == nullptr || std::string(host).rfind("unix://", 0) != 0) return "";
  return std::string(host).substr(7);
}

CommandResult engine(const std::string& method, const std::string& path) {
  return run_command({"/usr/bin/curl", "-s", "-w", "\n%{http_code}", "-X", method, "--unix-socket",
                      engine_socket(), "http://d/v1.41" + path});
}

// POST `body` (JSON) to the engine.
CommandResult engine_post(const std::string& path, const std::string& body) {
  return run_command({"/usr/bin/curl", "-s", "-w", "\n%{http_code}", "-X", "POST", "-H",
                      "Content-Type: application/json", "-d", body, "--unix-socket", engine_socket(),
                      "http://d/v1.41" + path});
}

int http_status(const CommandResult& result) {
  auto newline = result.out.rfind('\n');
  return newline == std::string::npos ? 0 : std::atoi(result.out.c_str() + newline + 1);
}

class DockerAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(engine_socket().empty())
        << "no container engine: run eval \"$(scripts/container-engine.sh start DIR)\" first "
           "(scripts/test.sh does)";
    // Ports for services' "ports": 0 below the suite's agent ports (tests/integration/discovery_test.cpp).
    agent_ = std::make_unique<AgentProcess>(dir_.path() / "data", "docker",
                                            std::vector<std::string>{"--port-range", "12000-15999"});
    ASSERT_TRUE(wait_until([&] {
      auto members = agent_->members();
      return !members.empty() && members[0].providers == std::vector<std::string>{"docker"};
    }));
  }
  void TearDown() override {
    if (!agent_ || agent_->pid() <= 0) return;
    int status = agent_->terminate(30s);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << agent_->log();
    auto left = engine("GET", "/containers/json?all=1&filters=" +
                                  std::string("%7B%22label%22%3A%5B%22mob.agent%3D") + agent_id() +
                                  "%22%5D%7D");
    EXPECT_EQ(left.out.substr(0, 2), "[]") << "containers left behind: " << left.out;
  }
  std::string agent_id() { return read_file(dir_.path() / "data" / "agent-id"); }
  std::string container(const std::string& key) { return "mob-" + agent_id() + "-" + key; }
  bool container_running(const std::string& key) {
    auto inspect = engine("GET", "/containers/" + container(key) + "/json");
    if (http_status(inspect) != 200) return false;
    auto body = nlohmann::json::parse(inspect.out.substr(0, inspect.out.rfind('\n')), nullptr, false);
    return !body.is_discarded() && body["State"]["Running"] == true;
  }

  TempDir dir_;
  std::unique_ptr<AgentProcess> agent_;
};

constexpr const char* kLoop = R"({"name": "boxes", "provider": "docker", "stop_timeout_s": 1,
    "restart": {"policy": "always", "backoff_ms": 10},
    "params": {"image": "localhost/mob-busybox:latest",
               "args": "/bin/sh -c \"while true; do echo ciao; sleep 1; done\""}})";

TEST_F(DockerAgent, ALoopRunsInTheEngineAndItsOutputReachesLogs) {
  ASSERT_TRUE(agent_->deploy(kLoop));
  ASSERT_TRUE(agent_->wait_state("boxes", 0, InstanceState::running, 30s));
  EXPECT_TRUE(container_running("boxes.0"));
  ASSERT_TRUE(wait_until([&] {
    auto reply = agent_->request(LogsRequest{"boxes", 0, 10, false, 0});
    return reply && !std::get<LogsReply>(*reply).chunks.empty() &&
           std::get<LogsReply>(*reply).chunks[0].data.find("ciao") != std::string::npos;
  }, 15s));
}

TEST_F(DockerAgent, AContainerKilledFromOutsideIsRestartedByTheSupervisor) {
  ASSERT_TRUE(agent_->deploy(kLoop));
  ASSERT_TRUE(agent_->wait_state("boxes", 0, InstanceState::running, 30s));
  auto killed = engine("POST", "/containers/" + container("boxes.0") + "/kill");
  ASSERT_EQ(http_status(killed), 204) << killed.out;
  ASSERT_TRUE(wait_until([&] {
    auto instance = agent_->instance("boxes", 0);
    return instance && instance->restarts >= 1 && instance->state == InstanceState::running;
  }, 30s));
  EXPECT_TRUE(container_running("boxes.0"));
}

// Service discovery: the agent publishes the host port it chose to the container port and
// gives the container the variables. This engine runs containers without a network
// (netns "none", scripts/container-engine.sh), so nothing answers on the published port: the
// test reads what the agent asked the engine for, from the engine.
TEST_F(DockerAgent, ANamedPortIsPublishedFromTheChosenHostPortWithTheVariables) {
  ASSERT_TRUE(agent_->deploy(R"({"name": "web", "provider": "docker", "stop_timeout_s": 1,
      "ports": {"http": {"port": 0, "container_port": 8080}},
      "params": {"image": "localhost/mob-busybox:latest",
                 "args": "/bin/sh -c \"while true; do sleep 1; done\""}})"));
  ASSERT_TRUE(agent_->wait_state("web", 0, InstanceState::running, 30s));
  auto instance = agent_->instance("web", 0);
  ASSERT_TRUE(instance);
  const std::uint32_t port = instance->ports.at("http");
  EXPECT_TRUE(port >= 12000 && port <= 15999) << port;
  EXPECT_EQ(instance->host, "127.0.0.1");
  auto inspect = engine("GET", "/containers/" + container("web.0") + "/json");
  ASSERT_EQ(http_status(inspect), 200) << inspect.out;
  auto body = nlohmann::json::parse(inspect.out.substr(0, inspect.out.rfind('\n')), nullptr, false);
  ASSERT_TRUE(body.is_object());
  EXPECT_EQ(body["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"], std::to_string(port)) << body["HostConfig"].dump();
  const auto& env = body["Config"]["Env"];
  EXPECT_NE(std::find(env.begin(), env.end(), "MOB_PORT_HTTP=" + std::to_string(port)), env.end()) << env.dump();
  EXPECT_NE(std::find(env.begin(), env.end(), "MOB_HOST=127.0.0.1"), env.end()) << env.dump();
}

TEST_F(DockerAgent, StopRemovesTheContainer) {
  ASSERT_TRUE(agent_->deploy(kLoop));
  ASSERT_TRUE(agent_->wait_state("boxes", 0, InstanceState::running, 30s));
  ASSERT_TRUE(agent_->request(ControlRequest{"boxes", ControlAction::stop, {}}));
  ASSERT_TRUE(agent_->wait_state("boxes", 0, InstanceState::stopped, 30s));
  EXPECT_TRUE(wait_until([&] {
    return http_status(engine("GET", "/containers/" + container("boxes.0") + "/json")) == 404;
  }));
}

TEST_F(DockerAgent, AnUnknownImageFailsWithTheEnginesMessage) {
  ASSERT_TRUE(agent_->deploy(R"({"name": "ghost", "provider": "docker",
      "restart": {"policy": "always", "max_restarts": 1, "backoff_ms": 10},
      "params": {"image": "localhost/no-such-image:1", "pull": "never"}})"));
  ASSERT_TRUE(agent_->wait_state("ghost", 0, InstanceState::failed, 30s));
  auto reason = agent_->instance("ghost", 0)->reason;
  EXPECT_NE(reason.find("no-such-image"), std::string::npos) << reason;
}

TEST_F(DockerAgent, ARestartedAgentCleansUpWhatItsLastLifeLeft) {
  ASSERT_TRUE(agent_->deploy(kLoop));
  ASSERT_TRUE(agent_->wait_state("boxes", 0, InstanceState::running, 30s));
  auto before = engine("GET", "/containers/" + container("boxes.0") + "/json");
  auto old_id = nlohmann::json::parse(before.out.substr(0, before.out.rfind('\n')))["Id"];
  agent_->sigkill();
  EXPECT_TRUE(container_running("boxes.0"));  // a crash leaves the container behind
  agent_->restart();
  ASSERT_TRUE(wait_until([&] {
    auto inspect = engine("GET", "/containers/" + container("boxes.0") + "/json");
    if (http_status(inspect) != 200) return false;
    auto body = nlohmann::json::parse(inspect.out.substr(0, inspect.out.rfind('\n')), nullptr, false);
    return !body.is_discarded() && body["Id"] != old_id && body["State"]["Running"] == true;
  }, 40s));
  EXPECT_EQ(http_status(engine("GET", "/containers/" + std::string(old_id) + "/json")), 404);
}

// A container whose exec check reads a file only the container has: it passes while the file
// says ok. The check runs inside the container, with the container's filesystem.
constexpr const char* kChecked = R"({"name": "checked", "provider": "docker", "stop_timeout_s": 1,
    "restart": {"policy": "always", "backoff_ms": 10},
    "params": {"image": "localhost/mob-busybox:latest",
               "args": "/bin/sh -c \"echo ok > /mob-check-state; exec sleep 1000\""},
    "checks": [{"name": "state", "type": "exec", "command": "cat /mob-check-state; test \"$(cat /mob-check-state)\" = ok",
                "interval_s": 3, "timeout_s": 3, "failures": 1}]})";

TEST_F(DockerAgent, AnExecCheckRunsInTheContainerAndItsFailureRestartsTheContainer) {
  auto deployed = agent_->deploy(kChecked);
  ASSERT_TRUE(deployed) << deployed.error().message;
  ASSERT_TRUE(wait_until([&] {
    auto instance = agent_->instance("checked", 0);
    return instance && instance->state == InstanceState::running && instance->health == mob::Health::healthy;
  }, 30s)) << agent_->log();
  auto healthy = agent_->instance("checked", 0);
  ASSERT_EQ(healthy->checks.size(), 1u);
  EXPECT_EQ(healthy->checks[0].output, "ok");
  EXPECT_EQ(healthy->restarts, 0u);

  // Break it from outside, through the engine: the check fails, the container is replaced.
  auto exec = engine_post("/containers/" + container("checked.0") + "/exec",
                          R"({"AttachStdout": true, "AttachStderr": true, "Cmd": ["/bin/sh", "-c", "echo broken > /mob-check-state"]})");
  ASSERT_EQ(http_status(exec), 201) << exec.out;
  auto exec_id = nlohmann::json::parse(exec.out.substr(0, exec.out.rfind('\n')))["Id"].get<std::string>();
  ASSERT_EQ(http_status(engine_post("/exec/" + exec_id + "/start", R"({"Detach": false})")), 200);
  ASSERT_TRUE(wait_until([&] {
    auto instance = agent_->instance("checked", 0);
    return instance && instance->restarts >= 1 && instance->state == InstanceState::running &&
           instance->health == mob::Health::healthy;
  }, 30s)) << agent_->log();
  EXPECT_NE(agent_->log().find("checked.0 unhealthy: state: broken (exit code 1)"), std::string::npos)
      << agent_->log();
}

TEST_F(DockerAgent, AnExecCheckThatHangsInTheContainerFailsAtItsTimeout) {
  auto deployed = agent_->deploy(R"({"name": "hung", "provider": "docker", "stop_timeout_s": 1,
      "params": {"image": "localhost/mob-busybox:latest", "args": "sleep 1000"},
      "checks": [{"name": "hangs", "type": "exec", "command": "sleep 1000", "interval_s": 1,
                  "timeout_s": 0.3, "failures": 1, "on_failure": "none"}]})");
  ASSERT_TRUE(deployed) << deployed.error().message;
  ASSERT_TRUE(agent_->wait_state("hung", 0, InstanceState::running, 30s));
  const auto running_since = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] {
    auto instance = agent_->instance("hung", 0);
    return instance && instance->health == mob::Health::unhealthy;
  }, 15s)) << agent_->log();
  // The first run starts at once and fails at 0.3 s; the reports take a few ms more.
  EXPECT_LT(std::chrono::steady_clock::now() - running_since, 3s);
  auto instance = agent_->instance("hung", 0);
  ASSERT_EQ(instance->checks.size(), 1u);
  EXPECT_NE(instance->checks[0].output.find("timed out after"), std::string::npos)
      << instance->checks[0].output;
  EXPECT_EQ(instance->state, InstanceState::running);  // on_failure none: only reported
}

}  // namespace docker_agent_test
}  // namespace mob::test
