// mob-tool as a user runs it, against a real agent: deploy from a file and from stdin,
// status, logs, stop/start, the original -d form, and clear errors with the right exit codes.
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/agent.hpp"

namespace mob::test {
namespace cli_test {

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

// The pid of each running instance of `service`, by index; an instance that does not run is missing.
std::map<std::uint32_t, std::int64_t> running_pids(AgentProcess& agent, const std::string& service) {
  std::map<std::uint32_t, std::int64_t> pids;
  if (auto status = agent.service(service))
    for (const auto& instance : status->instance_list)
      if (instance.state == InstanceState::running) pids[instance.index] = instance.pid;
  return pids;
}

TEST_F(Cli, ScaleStartsAndStopsOnlyTheDifferenceAndTheSurvivorsKeepTheirPids) {
  ASSERT_TRUE(agent_->deploy(R"({"name": "web", "provider": "bash", "instances": 3, "params": {"command": "exec sleep 1000"}})"));
  ASSERT_TRUE(wait_until([&] { return running_pids(*agent_, "web").size() == 3; }));
  const auto before = running_pids(*agent_, "web");

  auto up = tool({"scale", "web", "5"});
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  EXPECT_NE(up.out.find("scaled web to 5 instances (version 2)"), std::string::npos) << up.out;
  auto after_up = running_pids(*agent_, "web");
  ASSERT_EQ(after_up.size(), 5u) << "scale returns once every instance runs:\n" << up.out;
  for (const auto& [index, pid] : before) EXPECT_EQ(after_up[index], pid) << "web/" << index << " was restarted";
  EXPECT_EQ(agent_->service_processes().size(), 5u) << "real processes this agent started (web is all it runs)";
  auto scaled = agent_->service("web");
  ASSERT_TRUE(scaled);
  for (const auto& instance : scaled->instance_list)
    EXPECT_EQ(instance.spec_version, 2u) << "web/" << instance.index << " is reported under the old version";

  auto down = tool({"scale", "web", "2"});
  ASSERT_EQ(down.exit_code, 0) << down.out << down.err;
  ASSERT_TRUE(wait_until([&] { return agent_->service_processes().size() == 2; }))
      << agent_->service_processes().size() << " processes of web";
  auto after_down = running_pids(*agent_, "web");
  EXPECT_EQ(after_down, (std::map<std::uint32_t, std::int64_t>{{0, before.at(0)}, {1, before.at(1)}}))
      << "the highest numbers stop; 0 and 1 keep running";
  for (const auto& [index, pid] : before)
    EXPECT_EQ(process_alive(static_cast<pid_t>(pid)), index < 2) << "web/" << index << " pid " << pid;

  auto same = tool({"scale", "web", "2"});
  EXPECT_EQ(same.exit_code, 0) << same.err;
  EXPECT_NE(same.out.find("(version 3)"), std::string::npos) << "no change, no new version: " << same.out;

  // A deploy that changes only `instances` restarts none either; one that changes the
  // command restarts them all.
  ASSERT_TRUE(agent_->deploy(R"({"name": "web", "provider": "bash", "instances": 3, "params": {"command": "exec sleep 1000"}})"));
  ASSERT_TRUE(wait_until([&] { return running_pids(*agent_, "web").size() == 3; }));
  EXPECT_EQ(running_pids(*agent_, "web").at(0), before.at(0));
  ASSERT_TRUE(agent_->deploy(R"({"name": "web", "provider": "bash", "instances": 3, "params": {"command": "exec sleep 2000"}})"));
  ASSERT_TRUE(agent_->wait_state("web", 0, InstanceState::running, 15s, before.at(0)));
}

TEST_F(Cli, ScaleRefusesWhatIsNotACountOrAService) {
  ASSERT_TRUE(agent_->deploy(R"({"name": "web", "provider": "bash", "params": {"command": "exec sleep 1000"}})"));
  auto word = tool({"scale", "web", "many"});
  EXPECT_EQ(word.exit_code, 2);
  EXPECT_NE(word.err.find("N must be a whole number of instances"), std::string::npos) << word.err;
  auto negative = tool({"scale", "web", "-1"});
  EXPECT_EQ(negative.exit_code, 2) << negative.out << negative.err;
  auto ghost = tool({"scale", "ghost", "2", "--detach"});
  EXPECT_EQ(ghost.exit_code, 1);
  EXPECT_NE(ghost.err.find("service \"ghost\" is not deployed"), std::string::npos) << ghost.err;
  auto huge = tool({"scale", "web", "1000", "--detach"});
  EXPECT_EQ(huge.exit_code, 1);
  EXPECT_NE(huge.err.find("instances: expected an integer from 0 to 100, got 1000 (the agent's limit, --max-instances)"),
            std::string::npos)
      << huge.err;
  EXPECT_EQ(agent_->service("web")->version, 1u) << "a refused scale writes nothing";
}

}  // namespace cli_test
}  // namespace mob::test
