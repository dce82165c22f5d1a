// Health checks with a real agent and real processes (docs/spec.md, "checks"): http on a
// real HTTP server, tcp on a socket that closes, a SIGSTOPped process restarted (or only
// reported), grace_s, an exec check that hangs, depends_on gated on health, and mob-tool
// deploy waiting for healthy.
#include <signal.h>
#include <sys/wait.h>

#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/agent.hpp"

namespace mob::test {
namespace health_test {

// An HTTP server answering every GET with the status written in `status_file` (200 when
// empty). Arguments: port, status file.
constexpr const char* kStatusServer = R"(import http.server, pathlib, sys
status_file = pathlib.Path(sys.argv[2])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        text = status_file.read_text().strip() if status_file.exists() else ""
        self.send_response(int(text or 200))
        self.end_headers()
        self.wfile.write(b"status from file\n")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
)";

// Listens on a port until `flag` appears, then removes the flag, closes its socket and keeps
// running without answering. Arguments: port, flag file.
constexpr const char* kClosingListener = R"(import os, socket, sys, time
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(sys.argv[1])))
listener.listen(16)
listener.setblocking(False)
while not os.path.exists(sys.argv[2]):
    try:
        listener.accept()[0].close()
    except BlockingIOError:
        time.sleep(0.02)
os.remove(sys.argv[2])
listener.close()
while True:
    time.sleep(1000)
)";

class Health : public ::testing::Test {
 protected:
  void SetUp() override {
    agent_ = std::make_unique<AgentProcess>(dir_.path() / "data");
    write(dir_.path() / "status_server.py", kStatusServer);
    write(dir_.path() / "closing_listener.py", kClosingListener);
  }
  void TearDown() override {
    int status = agent_->terminate();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "mob-agent exit status " << status << "\n"
                                                               << agent_->log();
    for (pid_t pid : agent_->service_processes()) {
      ADD_FAILURE() << "process " << pid << " of the agent outlived it";
      ::kill(-pid, SIGKILL);
    }
  }

  static void write(const std::filesystem::path& path, const std::string& text) { std::ofstream(path) << text; }

  std::string path(const std::string& name) const { return (dir_.path() / name).string(); }

  // A bash spec `name` running `command` with `checks` (a JSON array) and `extra` fields.
  static std::string spec(const std::string& name, const std::string& command, const std::string& checks,
                          const std::string& extra = "") {
    nlohmann::json doc = {{"name", name}, {"provider", "bash"}, {"params", {{"command", command}}},
                          {"stop_timeout_s", 0.5}};
    std::string text = doc.dump();
    return text.substr(0, text.size() - 1) + R"(, "checks": )" + checks + (extra.empty() ? "" : ", " + extra) + "}";
  }

  std::string status_server(int port) const {
    return "exec python3 " + path("status_server.py") + " " + std::to_string(port) + " " + path("status");
  }

  bool wait_health(const std::string& name, mob::Health health, std::chrono::milliseconds timeout = 15s) {
    return wait_until([&] {
      auto instance = agent_->instance(name, 0);
      return instance && instance->state == InstanceState::running && instance->health == health;
    }, timeout);
  }

  CommandResult tool(std::vector<std::string> args, std::chrono::milliseconds timeout = 30s) {
    args.insert(args.begin(), {MOB_TOOL_BIN, "-a", agent_->endpoint()});
    return run_command(args, timeout);
  }

  TempDir dir_;
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(Health, AnHttpCheckOnARealServerPassesThenFailsWhenThePathReturns500) {
  int port = free_port_pair();
  auto checks = R"([{"name": "web", "type": "http", "port": )" + std::to_string(port) +
                R"(, "path": "/healthz", "interval_s": 0.2, "failures": 2, "on_failure": "none"}])";
  ASSERT_TRUE(agent_->deploy(spec("site", status_server(port), checks)));
  ASSERT_TRUE(wait_health("site", mob::Health::healthy)) << agent_->log();
  auto healthy = agent_->instance("site", 0);
  ASSERT_EQ(healthy->checks.size(), 1u);
  EXPECT_TRUE(healthy->checks[0].passed);
  EXPECT_EQ(healthy->checks[0].output, "HTTP 200 OK");

  write(path("status"), "500");
  ASSERT_TRUE(wait_health("site", mob::Health::unhealthy)) << agent_->log();
  auto unhealthy = agent_->instance("site", 0);
  EXPECT_EQ(unhealthy->reason, "unhealthy: web: HTTP 500 Internal Server Error (expected 2xx or 3xx) (2 in a row)");
  EXPECT_EQ(unhealthy->pid, healthy->pid) << "on_failure none: reported, not restarted";
  EXPECT_EQ(unhealthy->restarts, 0u);

  write(path("status"), "200");
  ASSERT_TRUE(wait_health("site", mob::Health::healthy)) << "healthy again once it answers";
  EXPECT_EQ(agent_->instance("site", 0)->pid, healthy->pid);
}

TEST_F(Health, AServiceThatClosesItsSocketButKeepsRunningIsRestarted) {
  int port = free_port_pair();
  auto command = "exec python3 " + path("closing_listener.py") + " " + std::to_string(port) + " " + path("close");
  auto checks = R"([{"type": "tcp", "port": )" + std::to_string(port) + R"(, "interval_s": 0.2, "failures": 3, "grace_s": 3}])";
  ASSERT_TRUE(agent_->deploy(spec("listener", command, checks)));
  ASSERT_TRUE(wait_health("listener", mob::Health::healthy)) << agent_->log();
  auto first = agent_->instance("listener", 0)->pid;

  write(path("close"), "");
  ASSERT_TRUE(wait_until([&] {
    auto instance = agent_->instance("listener", 0);
    return instance && instance->pid != first && instance->state == InstanceState::running &&
           instance->health == mob::Health::healthy;
  }, 20s)) << agent_->log();
  auto second = agent_->instance("listener", 0);
  EXPECT_EQ(second->restarts, 1u) << "the restart counts against max_restarts";
  EXPECT_FALSE(process_alive(static_cast<pid_t>(first)));
  EXPECT_TRUE(process_alive(static_cast<pid_t>(second->pid)));
  EXPECT_EQ(agent_->service_processes().size(), 1u) << "one process, the new one";
}

TEST_F(Health, AFrozenProcessFailsItsChecksAndIsRestarted) {
  int port = free_port_pair();
  // A frozen process's kernel still accepts connections: http sees it does not answer.
  auto checks = R"([{"type": "http", "port": )" + std::to_string(port) +
                R"(, "interval_s": 0.3, "timeout_s": 0.2, "failures": 2, "grace_s": 3}])";
  ASSERT_TRUE(agent_->deploy(spec("frozen", status_server(port), checks)));
  ASSERT_TRUE(wait_health("frozen", mob::Health::healthy)) << agent_->log();
  auto first = agent_->instance("frozen", 0)->pid;
  ASSERT_EQ(::kill(static_cast<pid_t>(first), SIGSTOP), 0);

  ASSERT_TRUE(wait_until([&] {
    auto instance = agent_->instance("frozen", 0);
    return instance && instance->pid != first && instance->health == mob::Health::healthy;
  }, 20s)) << agent_->log();
  EXPECT_EQ(agent_->instance("frozen", 0)->restarts, 1u);
  EXPECT_FALSE(process_alive(static_cast<pid_t>(first))) << "the frozen process was killed";
  EXPECT_EQ(agent_->service_processes().size(), 1u);
}

TEST_F(Health, AFrozenProcessWithOnFailureNoneIsOnlyReported) {
  int port = free_port_pair();
  auto checks = R"([{"type": "http", "port": )" + std::to_string(port) +
                R"(, "interval_s": 0.3, "timeout_s": 0.2, "failures": 2, "on_failure": "none"}])";
  ASSERT_TRUE(agent_->deploy(spec("frozen", status_server(port), checks)));
  ASSERT_TRUE(wait_health("frozen", mob::Health::healthy)) << agent_->log();
  auto pid = static_cast<pid_t>(agent_->instance("frozen", 0)->pid);
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  ASSERT_TRUE(wait_health("frozen", mob::Health::unhealthy)) << agent_->log();
  auto unhealthy = agent_->instance("frozen", 0);
  EXPECT_EQ(unhealthy->pid, pid);
  EXPECT_EQ(unhealthy->restarts, 0u);
  EXPECT_NE(unhealthy->reason.find("http: timed out after 0.2 s"), std::string::npos) << unhealthy->reason;
  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  ASSERT_TRUE(wait_health("frozen", mob::Health::healthy));
  EXPECT_EQ(agent_->instance("frozen", 0)->pid, pid);
}

TEST_F(Health, FailuresWithinGraceDoNotCount) {
  int port = free_port_pair();
  // Listens only after 1.5 s; one failure after the grace period would restart it.
  auto checks = R"([{"type": "tcp", "port": )" + std::to_string(port) +
                R"(, "interval_s": 0.2, "failures": 1, "grace_s": 4}])";
  ASSERT_TRUE(agent_->deploy(spec("slow", "sleep 1.5; " + status_server(port), checks)));
  ASSERT_TRUE(wait_health("slow", mob::Health::healthy)) << agent_->log();
  EXPECT_EQ(agent_->instance("slow", 0)->restarts, 0u);

  // The same without grace fails on the first refused connection and is restarted.
  int other = free_port_pair();
  auto strict = R"([{"type": "tcp", "port": )" + std::to_string(other) + R"(, "interval_s": 0.2, "failures": 1}])";
  ASSERT_TRUE(agent_->deploy(spec("strict", "sleep 1.5; " + status_server(other), strict)));
  ASSERT_TRUE(wait_until([&] {
    auto instance = agent_->instance("strict", 0);
    return instance && instance->restarts >= 1;
  })) << agent_->log();
}

TEST_F(Health, AnExecCheckThatHangsIsKilledAtItsTimeout) {
  auto checks = R"([{"name": "hangs", "type": "exec", "command": "echo checking; exec sleep 1000", "interval_s": 0.5,
                     "timeout_s": 0.3, "failures": 1, "on_failure": "none"}])";
  ASSERT_TRUE(agent_->deploy(spec("hung", "exec sleep 1000", checks)));
  ASSERT_TRUE(wait_health("hung", mob::Health::unhealthy)) << agent_->log();
  auto instance = agent_->instance("hung", 0);
  EXPECT_EQ(instance->reason, "unhealthy: hangs: checking (timed out after 0.3 s; killed)") << instance->reason;
  // Every run of the check is killed at its timeout: never more than the one in flight.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(wait_until([&] { return processes_with_env("MOB_CHECK=hangs").size() <= 1; }, 2s));
  }
  EXPECT_EQ(agent_->instance("hung", 0)->pid, instance->pid);

  // An exec check runs like the service: its env and cwd.
  auto passing = R"([{"type": "exec", "command": "test \"$PWD:$COLOR\" = /tmp:blue", "interval_s": 0.2}])";
  ASSERT_TRUE(agent_->deploy(
      R"({"name": "env", "provider": "bash", "params": {"command": "exec sleep 1000", "cwd": "/tmp", "env": {"COLOR": "blue"}},
          "checks": )" + std::string(passing) + "}"));
  ASSERT_TRUE(wait_health("env", mob::Health::healthy)) << agent_->log();
}

TEST_F(Health, DependsOnStartsWebOnlyOnceDbIsHealthy) {
  int port = free_port_pair();
  auto checks = R"([{"type": "tcp", "port": )" + std::to_string(port) + R"(, "interval_s": 0.2, "grace_s": 5}])";
  ASSERT_TRUE(agent_->deploy(spec("db", "sleep 1.5; " + status_server(port), checks)));
  // web records whether db's port accepted when it started.
  auto web = R"({"name": "web", "provider": "bash", "depends_on": ["db"], "params": {"command":
      "if (exec 3<>/dev/tcp/127.0.0.1/)" + std::to_string(port) + ") 2>/dev/null; then echo up; else echo down; fi > " +
             path("web-saw") + R"(; exec sleep 1000"}})";
  ASSERT_TRUE(agent_->deploy(web));
  // Until db is healthy (its port opens 1.5 s after it starts), web never runs and says why
  // it waits (once its agent's supervisor reported it: before, status says it is assigned).
  bool said_why = false;
  ASSERT_TRUE(wait_until(
      [&] {
        // web first: db is then read later, so a db not healthy then was not healthy before.
        auto waiting = agent_->instance("web", 0);
        auto db = agent_->instance("db", 0);
        if (db && db->health == mob::Health::healthy) return true;
        if (waiting) {
          EXPECT_EQ(waiting->state, InstanceState::pending) << "web runs before db is healthy";
          said_why = said_why || waiting->reason == "waiting for dependencies to run and be healthy: db";
        }
        return false;
      },
      20s))
      << agent_->log();
  EXPECT_TRUE(said_why) << "web never said it waits for db";
  ASSERT_TRUE(agent_->wait_state("web", 0, InstanceState::running, 20s)) << agent_->log();
  ASSERT_TRUE(wait_until([&] { return !read_file(path("web-saw")).empty(); }));
  EXPECT_EQ(read_file(path("web-saw")), "up\n") << "web started before db accepted connections";
}

TEST_F(Health, BadChecksAreRefusedNamingTheField) {
  auto bad = agent_->deploy(spec("bad", "exec sleep 1000", R"([{"type": "tcp"}, {"type": "grpc"}])"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "checks[0].port: required for tcp; the port to connect to, e.g. 8080");
  auto grpc = agent_->deploy(spec("bad", "exec sleep 1000", R"([{"type": "grpc", "port": 1}])"));
  ASSERT_FALSE(grpc);
  EXPECT_EQ(grpc.error().message, "checks[0].type: expected one of exec, tcp, http, got \"grpc\"");
  EXPECT_FALSE(agent_->service("bad"));
}

TEST_F(Health, DeployWaitsForHealthyAndStatusShowsIt) {
  int port = free_port_pair();
  auto spec_path = path("site.json");
  write(spec_path, spec("site", "sleep 1; " + status_server(port),
                        R"([{"type": "http", "port": )" + std::to_string(port) + R"(, "interval_s": 0.2, "grace_s": 5}])"));
  auto deploy = tool({"deploy", spec_path});
  ASSERT_EQ(deploy.exit_code, 0) << deploy.out << deploy.err;
  EXPECT_NE(deploy.out.find("healthy"), std::string::npos) << deploy.out;
  EXPECT_EQ(agent_->instance("site", 0)->health, mob::Health::healthy)
      << "deploy returned before the instance was healthy:\n" << deploy.out;

  auto table = tool({"status"});
  EXPECT_NE(table.out.find("HEALTH"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("healthy"), std::string::npos) << table.out;
  auto json = nlohmann::json::parse(tool({"status", "--json"}).out);
  const auto& instance = json[0]["instance_list"][0];
  EXPECT_EQ(instance["health"], "healthy");
  EXPECT_EQ(instance["checks"][0]["name"], "http");
  EXPECT_EQ(instance["checks"][0]["passed"], true);
  EXPECT_GT(instance["checks"][0]["at_ms"].get<std::int64_t>(), 0);
}

TEST_F(Health, DeployOfAServiceThatNeverGetsHealthyExits1NamingTheCheckAndItsOutput) {
  int port = free_port_pair();  // nobody listens there
  auto spec_path = path("never.json");
  write(spec_path, spec("never", "exec sleep 1000",
                        R"([{"name": "db-port", "type": "tcp", "port": )" + std::to_string(port) +
                            R"(, "interval_s": 0.2, "on_failure": "none"}])"));
  auto deploy = tool({"deploy", spec_path, "--wait-timeout", "2000"});
  EXPECT_EQ(deploy.exit_code, 1) << deploy.out << deploy.err;
  EXPECT_NE(deploy.err.find("db-port"), std::string::npos) << deploy.err;
  EXPECT_NE(deploy.err.find("connection refused"), std::string::npos) << deploy.err;

  // With on_failure restart it ends failed, its restarts spent, and deploy says why.
  auto restarting = path("restarting.json");
  write(restarting, spec("restarting", "exec sleep 1000",
                         R"([{"name": "db-port", "type": "tcp", "port": )" + std::to_string(port) +
                             R"(, "interval_s": 0.1, "failures": 1}])",
                         R"("restart": {"max_restarts": 2, "backoff_ms": 10, "backoff_max_ms": 10})"));
  auto failed = tool({"deploy", restarting});
  EXPECT_EQ(failed.exit_code, 1) << failed.out << failed.err;
  EXPECT_NE(failed.err.find("unhealthy: db-port: connection refused"), std::string::npos) << failed.err;
  EXPECT_NE(failed.err.find("gave up after 2 restarts"), std::string::npos) << failed.err;
}

}  // namespace health_test
}  // namespace mob::test
