// Real mob-agent processes on loopback forming a mesh: join, failure detection, leave,
// placement by provider and tags, rescheduling after crashes, late joiners.
#include <signal.h>
#include <sys/wait.h>

#include <thread>

#include <gtest/gtest.h>

#include "agent/placement.hpp"
#include "tests/support/agent.hpp"
#include "tests/support/network.hpp"

namespace mob::test {
namespace mesh_test {

class Mesh : public AgentNetwork {};

TEST_F(Mesh, FiveAgentsJoinThroughOneSeedAndEveryAgentListsFiveAlive) {
  for (int i = 0; i < 5; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(5));
  for (auto* agent : live()) {
    auto members = agent->members();
    ASSERT_EQ(members.size(), 5u);
    for (const auto& member : members) {
      EXPECT_EQ(member.providers, std::vector<std::string>{"bash"});
      EXPECT_EQ(member.address.rfind("tcp://127.0.0.1:", 0), 0u);
    }
  }
}

TEST_F(Mesh, SigkilledAgentIsMarkedFailedEverywhereAndAliveAgainAfterRestart) {
  for (int i = 0; i < 5; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(5));
  AgentProcess& victim = *agents_[3];
  const std::string name = victim.name();
  victim.sigkill();
  ASSERT_TRUE(everyone_sees(name, MemberState::failed, 10s));
  victim.restart();
  ASSERT_TRUE(everyone_sees(name, MemberState::alive, 10s));
  ASSERT_TRUE(everyone_sees_alive(5));
}

// A crashed process's connections close at once; the survivors that read its gossip probe
// it out of turn instead of waiting for its turn in their rounds. With 2 s probes and two
// survivors, its turn would come 0-4 s after the crash; the probe that the dropped
// connection starts makes it suspect one probe period after the crash.
TEST_F(Mesh, ADroppedConnectionGetsTheCrashedAgentProbedAtOnce) {
  const std::vector<std::string> slow_probes = {"--probe-interval-ms", "2000", "--probe-timeout-ms",
                                                "500", "--log-level", "debug"};
  for (int i = 0; i < 3; ++i) start("bash", slow_probes);
  ASSERT_TRUE(everyone_sees_alive(3));
  AgentProcess& victim = *agents_[2];
  const std::string name = victim.name();
  const auto killed_at = std::chrono::steady_clock::now();
  victim.sigkill();
  ASSERT_TRUE(wait_until(
      [&] {
        for (auto* agent : live())
          if (agent->sees(name) == MemberState::suspect || agent->sees(name) == MemberState::failed)
            return true;
        return false;
      },
      10s));
  const auto suspected_after = std::chrono::steady_clock::now() - killed_at;
  EXPECT_LT(suspected_after, 2700ms) << "a probe period is 2 s";
  std::size_t probed_at_once = 0;
  for (auto* agent : live())
    if (agent->log().find("lost the connection to " + name + "'s gossip: probing it now") !=
        std::string::npos)
      ++probed_at_once;
  EXPECT_GE(probed_at_once, 1u);
}

TEST_F(Mesh, SigtermedAgentIsMarkedLeftAndItsInstancesMoveAtOnce) {
  for (int i = 0; i < 3; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(3));
  ASSERT_TRUE(agents_[0]->deploy(sleeper("spread", 2)));
  std::string node;
  ASSERT_TRUE(wait_until([&] { return !(node = running_on(*agents_[0], "spread", 0)).empty(); }));
  ASSERT_TRUE(wait_until([&] { return !running_on(*agents_[0], "spread", 1).empty(); }));
  AgentProcess* leaving = by_name(node);
  ASSERT_NE(leaving, nullptr);
  int status = leaving->terminate();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  AgentProcess* observer = leaving == agents_[0].get() ? agents_[1].get() : agents_[0].get();
  EXPECT_EQ(observer->sees(node), MemberState::left);
  // Moved within a few seconds, well before a failure could have been detected.
  ASSERT_TRUE(wait_until([&] {
    auto now_on = running_on(*observer, "spread", 0);
    return !now_on.empty() && now_on != node;
  }, 5s));
}

TEST_F(Mesh, ServiceLandsOnlyOnAgentsThatRunItsProvider) {
  ASSERT_NE(std::getenv("DOCKER_HOST"), nullptr)
      << "start a container engine first: eval \"$(scripts/container-engine.sh start DIR)\"";
  start();
  start();
  AgentProcess& docker_agent = start("bash,docker");
  ASSERT_TRUE(everyone_sees_alive(3));
  ASSERT_TRUE(wait_until([&] {
    for (const auto& member : agents_[0]->members())
      if (member.name == docker_agent.name())
        return std::find(member.providers.begin(), member.providers.end(), "docker") != member.providers.end();
    return false;
  }));
  auto reply = agents_[0]->deploy(R"({"name": "boxed", "provider": "docker", "instances": 2,
      "params": {"image": "localhost/mob-busybox:latest", "args": ["sleep", "1000"]}, "stop_timeout_s": 1})");
  ASSERT_TRUE(reply) << reply.error().message;
  ASSERT_TRUE(wait_until([&] { return running_on(*agents_[1], "boxed", 0) == docker_agent.name(); }, 30s))
      << agents_[1]->instance("boxed", 0)->reason;
  ASSERT_TRUE(wait_until([&] { return running_on(*agents_[1], "boxed", 1) == docker_agent.name(); }, 30s));
  ASSERT_TRUE(agents_[1]->request(ControlRequest{"boxed", ControlAction::remove, {}}));
}

TEST_F(Mesh, ThreeInstancesRunOnThreeDistinctAgents) {
  for (int i = 0; i < 4; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(4));
  ASSERT_TRUE(agents_[2]->deploy(sleeper("trio", 3)));
  std::set<std::string> nodes;
  ASSERT_TRUE(wait_until([&] {
    nodes.clear();
    for (std::uint32_t i = 0; i < 3; ++i) nodes.insert(running_on(*agents_[0], "trio", i));
    return !nodes.contains("") && nodes.size() == 3;
  })) << nodes.size();
}

TEST_F(Mesh, InstanceOfACrashedAgentRunsAgainOnASurvivor) {
  for (int i = 0; i < 3; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(3));
  ASSERT_TRUE(agents_[0]->deploy(sleeper("mover")));
  AgentProcess* victim = wait_for_runner("mover");
  ASSERT_NE(victim, nullptr);
  const std::string node = victim->name();
  victim->crash();
  AgentProcess* observer = victim == agents_[0].get() ? agents_[1].get() : agents_[0].get();
  ASSERT_TRUE(wait_until([&] {
    auto now_on = running_on(*observer, "mover", 0);
    return !now_on.empty() && now_on != node;
  }, 15s)) << observer->instance("mover", 0)->reason;
}

TEST_F(Mesh, PlacementWorksAfterTheOwnerCrashes) {
  for (int i = 0; i < 4; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(4));
  ASSERT_TRUE(agents_[0]->deploy(sleeper("owned")));
  ASSERT_TRUE(wait_until([&] { return !running_on(*agents_[0], "owned", 0).empty(); }));
  std::vector<std::string> names;
  for (auto* agent : live()) names.push_back(agent->name());
  AgentProcess* owner = by_name(owner_of("owned", names));
  ASSERT_NE(owner, nullptr);
  owner->crash();
  AgentProcess* survivor = nullptr;
  for (auto* agent : live())
    if (agent != owner) survivor = agent;
  ASSERT_TRUE(everyone_sees(owner->name(), MemberState::failed, 10s));
  ASSERT_TRUE(survivor->deploy(sleeper("owned", 3)));
  ASSERT_TRUE(wait_until([&] {
    for (std::uint32_t i = 0; i < 3; ++i) {
      auto node = running_on(*survivor, "owned", i);
      if (node.empty() || node == owner->name()) return false;
    }
    return true;
  }, 15s));
}

TEST_F(Mesh, LateJoinerReceivesEveryExistingSpec) {
  start();
  start();
  ASSERT_TRUE(everyone_sees_alive(2));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(agents_[1]->deploy(sleeper("svc" + std::to_string(i))));
  AgentProcess& late = start();
  ASSERT_TRUE(wait_until([&] {
    auto reply = late.request(StatusRequest{}, 2s);
    return reply && std::get<StatusReply>(*reply).services.size() == 5;
  }));
}

// The seed stalls (SIGSTOP) for 2.5 s while an agent joins: its answers to the join
// requests sent so far come after the joiner stopped polling for them (a peer's DEALER is
// polled for a while after each request, agent/store.cpp), and the join still completes.
TEST_F(Mesh, AJoinCompletesWhenTheSeedAnswersLate) {
  AgentProcess& seed = start();
  ASSERT_EQ(::kill(seed.pid(), SIGSTOP), 0);
  struct Resume {
    pid_t pid;
    ~Resume() { ::kill(pid, SIGCONT); }
  } resume{seed.pid()};
  AgentProcess& joiner = start();
  std::this_thread::sleep_for(2500ms);
  EXPECT_EQ(joiner.members().size(), 1u) << "joined while the seed was stopped";
  ASSERT_EQ(::kill(seed.pid(), SIGCONT), 0);
  ASSERT_TRUE(everyone_sees_alive(2, 10s));
  EXPECT_EQ(joiner.sees(seed.name()), MemberState::alive);
}

TEST_F(Mesh, UnplaceableSpecIsPendingWithAReasonUntilASuitableAgentJoins) {
  start();
  start();
  ASSERT_TRUE(everyone_sees_alive(2));
  ASSERT_TRUE(agents_[0]->deploy(sleeper("zoned", 1, R"("constraints": {"tags": {"zone": "b"}})")));
  ASSERT_TRUE(wait_until([&] {
    auto instance = agents_[1]->instance("zoned", 0);
    return instance && instance->state == InstanceState::pending &&
           instance->reason.find("has tags zone=b") != std::string::npos;
  }));
  AgentProcess& zone_b = start("bash", {"--tag", "zone=b"});
  ASSERT_TRUE(wait_until([&] { return running_on(*agents_[0], "zoned", 0) == zone_b.name(); }));
}

TEST_F(Mesh, DependencyOnAnotherAgentGatesTheDependent) {
  start("bash", {"--tag", "zone=a"});
  start("bash", {"--tag", "zone=b"});
  ASSERT_TRUE(everyone_sees_alive(2));
  ASSERT_TRUE(agents_[0]->deploy(sleeper("db", 1, R"("constraints": {"tags": {"zone": "a"}})")));
  ASSERT_TRUE(agents_[0]->request(ControlRequest{"db", ControlAction::stop, {}}));
  ASSERT_TRUE(agents_[0]->deploy(
      sleeper("web", 1, R"("constraints": {"tags": {"zone": "b"}}, "depends_on": ["db"])")));
  ASSERT_TRUE(wait_until([&] {
    auto web = agents_[0]->instance("web", 0);
    return web && web->node == agents_[1]->name() &&
           web->reason.find("dependency db is stopped; run it with: mob-tool start db") != std::string::npos;
  }));
  ASSERT_TRUE(agents_[1]->request(ControlRequest{"db", ControlAction::start, {}}));
  ASSERT_TRUE(wait_until([&] { return running_on(*agents_[1], "web", 0) == agents_[1]->name(); }));
  EXPECT_EQ(running_on(*agents_[1], "db", 0), agents_[0]->name());
}

}  // namespace mesh_test
}  // namespace mob::test
