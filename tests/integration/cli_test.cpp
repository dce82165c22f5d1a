// mob-tool as a user runs it, against a real agent: deploy from a file and from stdin,
// status, logs, stop/start, the original -d form, and clear errors with the right exit codes.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/agent.hpp"

namespace mob::test {
namespace {

class Cli : public ::testing::Test {
 protected:
  void SetUp() override { agent_ = std::make_unique<AgentProcess>(dir_.path() / "data"); }
  void TearDown() override { agent_->terminate(); }

  CommandResult tool(std::vector<std::string> args, const std::string& input = {},
                     std::chrono::milliseconds timeout = 30s) {
    args.insert(args.begin(), {MOB_TOOL_BIN, "-a", agent_->endpoint()});
    return run_command(args, timeout, input);
  }

  std::filesystem::path write_spec(const std::string& name, const std::string& text) {
    auto path = dir_.path() / name;
    std::ofstream(path) << text;
    return path;
  }

  TempDir dir_;
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(Cli, DeployFromAFileWaitsUntilRunningThenStatusAndLogsShowIt) {
  auto spec = write_spec("echoes.json", R"({"name": "echoes", "provider": "bash",
      "params": {"command": "echo hello from mob; exec sleep 1000"}, "instances": 2})");
  auto deploy = tool({"deploy", spec.string()});
  ASSERT_EQ(deploy.exit_code, 0) << deploy.out << deploy.err;
  EXPECT_NE(deploy.out.find("echoes/1"), std::string::npos) << deploy.out;

  auto status = tool({"status", "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  auto services = nlohmann::json::parse(status.out);
  ASSERT_EQ(services.size(), 1u);
  for (const auto& instance : services[0]["instance_list"]) EXPECT_EQ(instance["state"], "running");

  auto table = tool({"status"});
  EXPECT_NE(table.out.find("running"), std::string::npos) << table.out;

  ASSERT_TRUE(wait_until([&] {
    return tool({"logs", "echoes", "--instance", "0"}).out.find("hello from mob") != std::string::npos;
  }));
}

TEST_F(Cli, DeployOfSeveralFilesAnswersEachWaitsForTheAcceptedAndNamesTheRefused) {
  auto one = write_spec("one.json", R"({"name": "one", "provider": "bash", "params": {"command": "exec sleep 1000"}})");
  auto bad = write_spec("bad.json", R"({"name": "bad", "provider": "kvm"})");
  auto two = write_spec("two.json", R"({"name": "two", "provider": "bash", "params": {"command": "exec sleep 1000"}, "instances": 2})");
  auto deploy = tool({"deploy", one.string(), bad.string(), two.string()});
  EXPECT_EQ(deploy.exit_code, 1) << deploy.out << deploy.err;
  EXPECT_NE(deploy.out.find("deployed one version 1"), std::string::npos) << deploy.out;
  EXPECT_NE(deploy.out.find("deployed two version 1"), std::string::npos) << deploy.out;
  EXPECT_NE(deploy.out.find("two version 1: 2 of 2 instance(s) running"), std::string::npos) << deploy.out;
  EXPECT_NE(deploy.err.find("deploy " + bad.string() + " failed: provider: unknown provider \"kvm\""),
            std::string::npos)
      << deploy.err;
  EXPECT_EQ(agent_->instance("one", 0)->state, InstanceState::running);
  EXPECT_EQ(agent_->instance("two", 1)->state, InstanceState::running);
  EXPECT_FALSE(agent_->service("bad"));

  // A file that cannot be read stops everything before anything is sent.
  auto three = write_spec("three.json", R"({"name": "three", "provider": "bash", "params": {"command": "exec sleep 1000"}})");
  auto unread = tool({"deploy", three.string(), (dir_.path() / "missing.json").string(), "--detach"});
  EXPECT_EQ(unread.exit_code, 1);
  EXPECT_NE(unread.err.find("missing.json"), std::string::npos) << unread.err;
  EXPECT_FALSE(agent_->service("three"));
}

TEST_F(Cli, DeployFromStdinAndTheOriginalInlineForm) {
  auto from_stdin = tool({"deploy", "-"}, R"({"name": "a", "provider": "bash", "params": {"command": "exec sleep 1000"}})");
  EXPECT_EQ(from_stdin.exit_code, 0) << from_stdin.err;
  auto inline_form = run_command({MOB_TOOL_BIN, "-p", std::to_string(agent_->port()), "-d",
                                  R"({"name": "b", "provider": "bash", "params": {"command": "exec sleep 1000"}})"});
  EXPECT_EQ(inline_form.exit_code, 0) << inline_form.err;
  EXPECT_TRUE(agent_->wait_state("b", 0, InstanceState::running));
}

TEST_F(Cli, StopAndStartAreVisibleInStatus) {
  ASSERT_EQ(tool({"deploy", "-"}, R"({"name": "s", "provider": "bash", "params": {"command": "exec sleep 1000"}})").exit_code, 0);
  auto stop = tool({"stop", "s"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  ASSERT_TRUE(agent_->wait_state("s", 0, InstanceState::stopped));
  EXPECT_EQ(tool({"start", "s"}).exit_code, 0);
  ASSERT_TRUE(agent_->wait_state("s", 0, InstanceState::running));
  EXPECT_EQ(tool({"remove", "s"}).exit_code, 0);
  EXPECT_FALSE(agent_->service("s"));
}

TEST_F(Cli, ABadSpecIsRefusedWithTheFieldAndExitCodeOne) {
  auto spec = write_spec("bad.json", R"({"name": "x", "provider": "bash", "params": {"command": "true"},
      "restart": {"policy": "sometimes"}})");
  auto deploy = tool({"deploy", spec.string()});
  EXPECT_EQ(deploy.exit_code, 1);
  EXPECT_NE(deploy.err.find("restart.policy: expected one of always, on-failure, never, got \"sometimes\""),
            std::string::npos)
      << deploy.err;
  auto missing_file = tool({"deploy", (dir_.path() / "nope.json").string()});
  EXPECT_NE(missing_file.exit_code, 0);
  EXPECT_NE(missing_file.err.find("nope.json"), std::string::npos) << missing_file.err;
}

TEST_F(Cli, UsageErrorsExitTwoWithAHint) {
  auto unknown = tool({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("unknown command 'frobnicate'"), std::string::npos) << unknown.err;
  EXPECT_NE(unknown.err.find("mob-tool --help"), std::string::npos);
  auto missing = tool({"stop"});
  EXPECT_EQ(missing.exit_code, 2) << missing.err;
  auto help = run_command({MOB_TOOL_BIN, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("deploy"), std::string::npos);
}

TEST_F(Cli, AnUnreachableAgentIsReportedWithinTheTimeout) {
  auto started = std::chrono::steady_clock::now();
  auto result = run_command({MOB_TOOL_BIN, "-p", std::to_string(free_port_pair()), "status"});
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("no answer from agent"), std::string::npos) << result.err;
  EXPECT_LT(took, 5s);
}

TEST_F(Cli, UnknownServiceIsNamed) {
  auto result = tool({"logs", "ghost"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("ghost"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace mob::test
