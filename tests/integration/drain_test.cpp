// Drain, eligibility and runtime tags through mob-tool, against real agents on loopback:
// instances move off a drained agent (counted as real processes), new deploys avoid it
// until it is eligible again, the setting survives a SIGKILL and restart, a tag change moves
// an instance whose constraint stops matching, and bad input gets clear errors.
#include <algorithm>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/network.hpp"

namespace mob::test {
namespace drain_test {

class Drain : public AgentNetwork {
 protected:
  // mob-tool -a AGENT ARGS...
  static CommandResult tool(AgentProcess& agent, std::vector<std::string> args,
                            std::chrono::milliseconds timeout = 90s) {
    args.insert(args.begin(), {MOB_TOOL_BIN, "-a", agent.endpoint()});
    return run_command(args, timeout);
  }

  // How many instances of `service` run, by node, as `agent` sees it; every wanted one must run.
  static std::optional<std::map<std::string, int>> running_by_node(AgentProcess& agent, const std::string& service) {
    auto status = agent.service(service);
    if (!status) return std::nullopt;
    std::map<std::string, int> nodes;
    for (const auto& instance : status->instance_list) {
      if (instance.state != InstanceState::running) return std::nullopt;
      ++nodes[instance.node];
    }
    return nodes;
  }

  // Waits until every instance of `service` runs, and returns where.
  static std::map<std::string, int> wait_all_running(AgentProcess& agent, const std::string& service) {
    std::optional<std::map<std::string, int>> nodes;
    EXPECT_TRUE(wait_until([&] { return (nodes = running_by_node(agent, service)).has_value(); }, 20s))
        << service << " does not run everywhere";
    return nodes.value_or(std::map<std::string, int>{});
  }

  static std::optional<Member> member_as_seen(AgentProcess& by, const std::string& name) {
    for (auto& member : by.members())
      if (member.name == name) return member;
    return std::nullopt;
  }

  // Every live agent sees `name` with eligibility `eligible`.
  bool everyone_sees_eligible(const std::string& name, bool eligible) {
    return wait_until([&] {
      for (auto* agent : live()) {
        auto member = member_as_seen(*agent, name);
        if (!member || member->eligible != eligible) return false;
      }
      return true;
    });
  }
};

TEST_F(Drain, FiveInstancesMoveOffADrainedAgentAndNewDeploysAvoidItAcrossARestart) {
  for (int i = 0; i < 3; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(3));
  AgentProcess& first = *agents_[0];
  AgentProcess& drained = *agents_[2];
  const std::string node = drained.name();

  // All five on `drained`: the two others are ineligible while they are deployed.
  for (int i = 0; i < 2; ++i) {
    auto off = tool(first, {"eligibility", agents_[i]->name(), "off"});
    ASSERT_EQ(off.exit_code, 0) << off.err;
    EXPECT_NE(off.out.find("ineligible for new instances"), std::string::npos) << off.out;
    ASSERT_TRUE(everyone_sees_eligible(agents_[i]->name(), false));
  }
  ASSERT_TRUE(first.deploy(sleeper("five", 5)));
  EXPECT_EQ(wait_all_running(first, "five"), (std::map<std::string, int>{{node, 5}}));
  ASSERT_TRUE(wait_until([&] { return drained.service_processes().size() == 5; }));
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(tool(first, {"eligibility", agents_[i]->name(), "on"}).exit_code, 0);
    ASSERT_TRUE(everyone_sees_eligible(agents_[i]->name(), true));
  }
  EXPECT_EQ(drained.service_processes().size(), 5u) << "eligible agents take no instance by themselves";

  auto drain = tool(first, {"drain", node, "--deadline", "60"});
  ASSERT_EQ(drain.exit_code, 0) << drain.out << drain.err;
  EXPECT_NE(drain.out.find(node + " is ineligible for new instances; moving its instances away"), std::string::npos)
      << drain.out;
  EXPECT_NE(drain.out.find("drain " + node + ": "), std::string::npos) << "no progress line: " << drain.out;
  EXPECT_NE(drain.out.find(" running there\n"), std::string::npos) << "no progress line: " << drain.out;
  EXPECT_NE(drain.out.find("drain " + node + ": done: it runs no instances"), std::string::npos) << drain.out;
  EXPECT_TRUE(drained.service_processes().empty());
  auto moved = wait_all_running(first, "five");
  EXPECT_FALSE(moved.contains(node));
  EXPECT_EQ(agents_[0]->service_processes().size() + agents_[1]->service_processes().size(), 5u);

  // members and status say so.
  auto members = tool(first, {"members", "--json"});
  ASSERT_EQ(members.exit_code, 0);
  bool listed_ineligible = false;
  for (const auto& member : nlohmann::json::parse(members.out))
    if (member["name"] == node) listed_ineligible = member["eligible"] == false;
  EXPECT_TRUE(listed_ineligible) << members.out;
  EXPECT_NE(tool(first, {"status"}).out.find("agent " + node + ": ineligible for new instances"), std::string::npos);

  // A new deploy avoids it.
  ASSERT_TRUE(first.deploy(sleeper("after", 3)));
  EXPECT_FALSE(wait_all_running(first, "after").contains(node));
  EXPECT_TRUE(drained.service_processes().empty());

  // It stays ineligible across a SIGKILL and a restart with the same data dir.
  drained.sigkill();
  ASSERT_TRUE(everyone_sees(node, MemberState::failed, 15s));
  drained.restart();
  ASSERT_TRUE(everyone_sees_alive(3));
  auto self_view = member_as_seen(drained, node);
  ASSERT_TRUE(self_view);
  EXPECT_FALSE(self_view->eligible) << "the restarted agent forgot its eligibility";
  ASSERT_TRUE(everyone_sees_eligible(node, false));
  ASSERT_TRUE(first.deploy(sleeper("later", 3)));
  EXPECT_FALSE(wait_all_running(first, "later").contains(node));
  EXPECT_TRUE(drained.service_processes().empty());

  // Eligible again: the next deploy spreads one instance to it.
  auto on = tool(first, {"eligibility", node, "on"});
  ASSERT_EQ(on.exit_code, 0) << on.err;
  EXPECT_NE(on.out.find(node + " is eligible for instances"), std::string::npos) << on.out;
  ASSERT_TRUE(everyone_sees_eligible(node, true));
  ASSERT_TRUE(first.deploy(sleeper("back", 3)));
  EXPECT_EQ(wait_all_running(first, "back").count(node), 1u);
  EXPECT_TRUE(wait_until([&] { return drained.service_processes().size() == 1; }));
}

TEST_F(Drain, ATagChangeMovesAnInstanceWhoseConstraintStopsMatchingAndSurvivesARestart) {
  AgentProcess& zoned = start("bash", {"--tag", "zone=a"});
  AgentProcess& other = start();
  ASSERT_TRUE(everyone_sees_alive(2));
  ASSERT_TRUE(zoned.deploy(sleeper("pinned", 1, R"("constraints": {"tags": {"zone": "a"}})")));
  EXPECT_EQ(wait_all_running(zoned, "pinned"), (std::map<std::string, int>{{zoned.name(), 1}}));

  auto tag = tool(zoned, {"tag", other.name(), "zone=a", "rack=r1"});
  ASSERT_EQ(tag.exit_code, 0) << tag.err;
  EXPECT_NE(tag.out.find(other.name() + " tags: rack=r1,zone=a"), std::string::npos) << tag.out;
  EXPECT_EQ(zoned.service_processes().size(), 1u) << "a match elsewhere does not move a running instance";

  auto untag = tool(other, {"tag", zoned.name(), "--remove", "zone"});  // through the other agent
  ASSERT_EQ(untag.exit_code, 0) << untag.err;
  EXPECT_NE(untag.out.find(zoned.name() + " tags: -"), std::string::npos) << untag.out;
  ASSERT_TRUE(wait_until([&] {
    return other.service_processes().size() == 1 && zoned.service_processes().empty();
  }, 20s)) << "the instance did not move off the agent whose tag was removed";
  EXPECT_EQ(wait_all_running(zoned, "pinned"), (std::map<std::string, int>{{other.name(), 1}}));

  // The runtime removal wins over the --tag flag across a restart, until --reset.
  zoned.sigkill();
  ASSERT_TRUE(everyone_sees(zoned.name(), MemberState::failed, 15s));
  zoned.restart();
  ASSERT_TRUE(everyone_sees_alive(2));
  auto restarted = member_as_seen(zoned, zoned.name());
  ASSERT_TRUE(restarted);
  EXPECT_TRUE(restarted->tags.empty()) << "the --tag flag came back over the runtime removal";
  auto reset = tool(other, {"tag", zoned.name(), "--reset"});
  ASSERT_EQ(reset.exit_code, 0) << reset.err;
  EXPECT_NE(reset.out.find(zoned.name() + " tags: zone=a"), std::string::npos) << reset.out;
  ASSERT_TRUE(wait_until([&] {
    auto seen = member_as_seen(other, zoned.name());
    return seen && seen->tags == std::map<std::string, std::string>{{"zone", "a"}};
  }));
}

TEST_F(Drain, ADrainThatCannotFinishSaysWhyAtItsDeadline) {
  AgentProcess& zoned = start("bash", {"--tag", "zone=a"});
  start();
  ASSERT_TRUE(everyone_sees_alive(2));
  ASSERT_TRUE(zoned.deploy(sleeper("pinned", 1, R"("constraints": {"tags": {"zone": "a"}})")));
  wait_all_running(zoned, "pinned");

  auto drain = tool(zoned, {"drain", zoned.name(), "--deadline", "3"});
  EXPECT_EQ(drain.exit_code, 1) << drain.out << drain.err;
  EXPECT_NE(drain.err.find("the deadline passed"), std::string::npos) << drain.err;
  EXPECT_NE(drain.err.find("pinned/0"), std::string::npos) << drain.err;
  EXPECT_NE(drain.err.find("has tags zone=a"), std::string::npos) << drain.err;
  EXPECT_EQ(zoned.service_processes().size(), 1u) << "an instance with nowhere to go keeps running";
  EXPECT_EQ(tool(zoned, {"eligibility", zoned.name(), "on"}).exit_code, 0);
}

TEST_F(Drain, BadInputGetsAClearErrorAndANonZeroExit) {
  AgentProcess& agent = start();
  const std::string node = agent.name();
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"drain", "no-such-node"}, 1, "unknown node \"no-such-node\" (the agent knows: " + node},
      {{"eligibility", "no-such-node", "off"}, 1, "unknown node \"no-such-node\""},
      {{"tag", "no-such-node", "zone=a"}, 1, "unknown node \"no-such-node\""},
      {{"eligibility", node, "maybe"}, 2, "eligibility: expected on or off, got \"maybe\""},
      {{"eligibility", node}, 2, "eligibility: missing on|off"},
      {{"tag", node, "zone"}, 2, "tag: expected KEY=VALUE, got \"zone\""},
      {{"tag", node, "=a"}, 2, "tag: expected KEY=VALUE, got \"=a\""},
      {{"tag", node}, 2, "tag: name KEY=VALUE to set, --remove KEY or --reset"},
      {{"tag", node, "has space=a"}, 1, "set_tags: \"has space\" is not a tag key"},
      {{"tag", node, "zone=a", "--remove", "zone"}, 1, "tag \"zone\" is both set and removed"},
      {{"drain", node, "--deadline", "0"}, 2, "drain: --deadline must be at least 1 s"},
  };
  for (const auto& c : cases) {
    auto result = tool(agent, c.args);
    EXPECT_EQ(result.exit_code, c.exit_code) << c.args.front() << ": " << result.out << result.err;
    EXPECT_NE(result.err.find(c.says), std::string::npos) << "expected \"" << c.says << "\" in: " << result.err;
  }
  // An agent changes only its own settings: a request naming another is refused, naming both.
  auto elsewhere = agent.request(NodeSettingsRequest{"some-other-agent", Eligibility::ineligible, {}, {}, false});
  ASSERT_FALSE(elsewhere);
  EXPECT_NE(elsewhere.error().message.find("this agent is " + node + ", not some-other-agent"), std::string::npos)
      << elsewhere.error().message;
  auto member = member_as_seen(agent, node);
  ASSERT_TRUE(member);
  EXPECT_TRUE(member->eligible);
  EXPECT_TRUE(member->tags.empty());
}

}  // namespace drain_test
}  // namespace mob::test
