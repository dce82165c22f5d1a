// mob-tool's bash completion (mob-tool completion bash) in a real bash: commands, global
// flags, a command's own flags, and the service names of the agent the line names.
#include <fstream>

#include <gtest/gtest.h>

#include "tests/support/agent.hpp"

namespace mob::test {
namespace completion_test {

class Completion : public ::testing::Test {
 protected:
  void SetUp() override {
    agent_ = std::make_unique<AgentProcess>(dir_.path() / "data");
    auto script = run_command({MOB_TOOL_BIN, "completion", "bash"});
    ASSERT_EQ(script.exit_code, 0) << script.err;
    std::ofstream(dir_.path() / "completion.bash") << script.out;
  }
  void TearDown() override { agent_->terminate(); }

  // What bash completes for `line` (the cursor at its end), space-separated.
  std::string complete(const std::string& line) {
    std::string program =
        "compopt() { :; }\nsource '" + (dir_.path() / "completion.bash").string() + "'\n"
        "COMP_LINE='" + line + "'; COMP_POINT=${#COMP_LINE}; _mob_tool; echo \"${COMPREPLY[*]}\"\n";
    auto bin = std::filesystem::path(MOB_TOOL_BIN).parent_path().string();
    auto result = run_command({"/bin/bash", "-c", "PATH=" + bin + ":$PATH; " + program});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.out.substr(0, result.out.find('\n'));
  }

  TempDir dir_;
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(Completion, CompletesCommandsGlobalFlagsAndACommandsOwnFlags) {
  EXPECT_EQ(complete("mob-tool st"), "status stop start");
  EXPECT_EQ(complete("mob-tool re"), "restart rebalance remove");
  EXPECT_EQ(complete("mob-tool --ti"), "--timeout");
  EXPECT_EQ(complete("mob-tool -p 6666 logs --"), "--follow --tail --instance --help");
  EXPECT_EQ(complete("mob-tool help dep"), "deploy");
  EXPECT_EQ(complete("mob-tool completion "), "bash services nodes");
  EXPECT_EQ(complete("mob-tool eligibility " + agent_->name() + " o"), "on off");
}

TEST_F(Completion, CompletesTheServiceNamesOfTheAgentOnTheLine) {
  for (const char* name : {"web", "worker", "db"}) {
    auto deployed = agent_->deploy(std::string(R"({"name": ")") + name +
                                   R"(", "provider": "bash", "params": {"command": "exec sleep 1000"}})");
    ASSERT_TRUE(deployed) << deployed.error().message;
  }
  auto port = std::to_string(agent_->port());
  EXPECT_EQ(complete("mob-tool -p " + port + " stop w"), "web worker");
  EXPECT_EQ(complete("mob-tool -a " + agent_->endpoint() + " logs d"), "db");
  for (const char* command : {"history", "rollback", "promote", "rebalance"})
    EXPECT_EQ(complete("mob-tool -p " + port + " " + command + " w"), "web worker") << command;
  EXPECT_EQ(complete("mob-tool -p " + port + " events --service "), "db web worker");
  auto listed = run_command({MOB_TOOL_BIN, "-p", port, "completion", "services"});
  EXPECT_EQ(listed.out, "db\nweb\nworker\n");
  EXPECT_EQ(complete("mob-tool -p " + port + " drain agent-"), agent_->name());
  EXPECT_EQ(run_command({MOB_TOOL_BIN, "-p", port, "completion", "nodes"}).out, agent_->name() + "\n");
  // An agent that does not answer completes nothing, within the completion's 1 s timeout.
  EXPECT_EQ(complete("mob-tool -p " + std::to_string(free_port_pair()) + " stop w"), "");
}

}  // namespace completion_test
}  // namespace mob::test
