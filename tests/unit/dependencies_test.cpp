// Dependency rules over a hand-made cluster state (agent/dependencies.hpp).
#include "agent/dependencies.hpp"

#include <gtest/gtest.h>

#include "tests/support/records.hpp"

namespace mob {
namespace dependencies_test {

using test::service_record;

class Dependencies : public ::testing::Test {
 protected:
  void SetUp() override {
    MemberEntry node;
    node.member.name = "a";
    node.member.state = MemberState::alive;
    node.reported_by = "a";
    node.heartbeat = 1;
    state_.merge(node);
    node.member.name = "dead";
    node.member.state = MemberState::failed;
    state_.merge(node);
  }

  ServiceSpec& deploy(const std::string& name, std::vector<std::string> depends_on = {}, bool enabled = true) {
    ServiceSpec& spec = specs_[name];
    spec.name = name;
    spec.provider = "bash";
    spec.depends_on = std::move(depends_on);
    state_.merge(service_record(name, "{}", 1, enabled, 0, false, Stamp{++stamp_, "x"}));
    return spec;
  }

  void remove(const std::string& name) {
    state_.merge(service_record(name, "{}", 2, true, 0, true, Stamp{++stamp_, "x"}));
  }

  void runs(const std::string& service, const std::string& node, InstanceState state = InstanceState::running,
            Health health = Health::none) {
    InstanceEntry entry;
    entry.status.service = service;
    entry.status.node = node;
    entry.status.state = state;
    entry.status.health = health;
    entry.stamp = Stamp{++stamp_, node};
    state_.merge(entry);
  }

  SpecOf lookup() {
    return [this](const ServiceEntry& entry) -> const ServiceSpec* {
      auto spec = specs_.find(entry.name);
      return spec == specs_.end() ? nullptr : &spec->second;
    };
  }

  ClusterState state_;
  std::map<std::string, ServiceSpec> specs_;
  std::uint64_t stamp_ = 0;
};

TEST_F(Dependencies, ReadyOnlyWhenEveryDependencyRunsOnALiveAgent) {
  deploy("db");
  ServiceSpec web = deploy("web", {"db"});
  EXPECT_FALSE(dependencies_ready(state_, web));
  EXPECT_EQ(dependencies_problem(state_, web, lookup()), "waiting for dependencies to run: db");
  runs("db", "dead");
  EXPECT_FALSE(dependencies_ready(state_, web)) << "a copy on a failed agent does not count";
  runs("db", "a", InstanceState::starting);
  EXPECT_FALSE(dependencies_ready(state_, web));
  runs("db", "a");
  EXPECT_TRUE(dependencies_ready(state_, web));
  EXPECT_TRUE(dependencies_ready(state_, deploy("alone")));
}

TEST_F(Dependencies, ADependencyWithChecksIsReadyOnlyOnceAnInstanceIsHealthy) {
  deploy("db");
  const ServiceSpec& web = deploy("web", {"db"});
  runs("db", "a", InstanceState::running, Health::starting);
  EXPECT_FALSE(dependencies_ready(state_, web)) << "running, checks not passed yet";
  EXPECT_EQ(dependencies_problem(state_, web, lookup()), "waiting for dependencies to run and be healthy: db");
  runs("db", "a", InstanceState::running, Health::unhealthy);
  EXPECT_FALSE(dependencies_ready(state_, web));
  runs("db", "a", InstanceState::running, Health::healthy);
  EXPECT_TRUE(dependencies_ready(state_, web));
  runs("db", "dead", InstanceState::running, Health::healthy);
  runs("db", "a", InstanceState::running, Health::unhealthy);
  EXPECT_FALSE(dependencies_ready(state_, web)) << "healthy only on an agent that failed";
}

TEST_F(Dependencies, AStoppedDependencyIsNotReadyAndSaysHowToStartIt) {
  deploy("db", {}, /*enabled=*/false);
  runs("db", "a");  // still reported running for a moment after the stop
  ServiceSpec web = deploy("web", {"db"});
  EXPECT_FALSE(dependencies_ready(state_, web));
  EXPECT_EQ(dependencies_problem(state_, web, lookup()), "dependency db is stopped; run it with: mob-tool start db");
}

TEST_F(Dependencies, ARemovedDependencyIsAFaultThatSaysWhatToDo) {
  deploy("db");
  ServiceSpec web = deploy("web", {"db"});
  EXPECT_EQ(dependency_fault(state_, web, lookup()), "");
  remove("db");
  EXPECT_EQ(dependency_fault(state_, web, lookup()),
            "dependency db is not deployed (it was removed); deploy it, or deploy web without it");
  EXPECT_EQ(dependencies_problem(state_, web, lookup()), dependency_fault(state_, web, lookup()));
}

TEST_F(Dependencies, ACycleThroughTheServiceIsNamedInOrder) {
  deploy("a", {"b"});
  deploy("b", {"c"});
  ServiceSpec c;
  c.name = "c";
  c.depends_on = {"a"};
  EXPECT_EQ(find_dependency_cycle(state_, c, lookup()), "c -> a -> b -> c");
  specs_["c"] = c;
  state_.merge(service_record("c", "{}", 1, true, 0, false, Stamp{++stamp_, "x"}));
  EXPECT_EQ(dependency_fault(state_, c, lookup()),
            "in the dependency cycle c -> a -> b -> c; break it with mob-tool remove --force c, or deploy one of "
            "them without the other");
  ServiceSpec self_loop;
  self_loop.name = "s";
  self_loop.depends_on = {"s"};
  EXPECT_EQ(find_dependency_cycle(state_, self_loop, lookup()), "s -> s");
}

// Two agents can each accept half of a cycle; a service that depends on it is not in it,
// and looking for a cycle through that service must end.
TEST_F(Dependencies, ACycleAmongOthersIsNotOneThroughThisServiceAndEnds) {
  deploy("b", {"c"});
  deploy("c", {"b"});
  ServiceSpec a;
  a.name = "a";
  a.depends_on = {"b"};
  EXPECT_EQ(find_dependency_cycle(state_, a, lookup()), "");
}

TEST_F(Dependencies, ALongChainIsWalkedWithoutRecursion) {
  const int length = 20000;
  for (int i = 0; i < length; ++i) deploy("s" + std::to_string(i), {"s" + std::to_string(i + 1)});
  ServiceSpec tail;
  tail.name = "s" + std::to_string(length);
  tail.depends_on = {"s0"};
  auto cycle = find_dependency_cycle(state_, tail, lookup());
  EXPECT_TRUE(cycle.starts_with("s20000 -> s0 -> s1 -> ")) << cycle.substr(0, 80);
  EXPECT_TRUE(cycle.ends_with("s19999 -> s20000"));
}

}  // namespace dependencies_test
}  // namespace mob
