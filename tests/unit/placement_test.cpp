// Placement: rendezvous owners (deterministic, minimal movement when nodes come and go),
// which agents can run a spec, why none can, and where each instance goes.
#include "agent/placement.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mob {
namespace placement_test {

std::vector<std::string> node_names(int count) {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) names.push_back("node-" + std::to_string(i));
  return names;
}

std::vector<std::string> service_names(int count) {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) names.push_back("service-" + std::to_string(i));
  return names;
}

Member member(std::string name, std::vector<std::string> providers = {"bash"},
              std::map<std::string, std::string> tags = {}) {
  Member out;
  out.name = std::move(name);
  out.providers = std::move(providers);
  out.tags = std::move(tags);
  return out;
}

ServiceSpec spec(std::string provider = "bash", std::map<std::string, std::string> tags = {}) {
  ServiceSpec out;
  out.name = "web";
  out.provider = std::move(provider);
  out.constraint_tags = std::move(tags);
  return out;
}

std::vector<std::uint32_t> indices(std::uint32_t count) {
  std::vector<std::uint32_t> out;
  for (std::uint32_t i = 0; i < count; ++i) out.push_back(i);
  return out;
}

// ---- eligibility (mob-tool eligibility, drain) -----------------------------------------

TEST(CanRun, AnIneligibleMemberRunsNothingWhateverItsProvidersAndTags) {
  Member drained = member("a", {"bash"}, {{"zone", "x"}});
  EXPECT_TRUE(can_run(spec("bash", {{"zone", "x"}}), drained));
  drained.eligible = false;
  EXPECT_FALSE(can_run(spec("bash", {{"zone", "x"}}), drained));
  EXPECT_FALSE(can_run(spec(), drained));
}

TEST(PlacementProblem, NamesTheIneligibleMembersThatCouldRunIt) {
  Member drained = member("node-a");
  drained.eligible = false;
  auto problem = placement_problem(spec(), {drained, member("node-b", {"docker"})});
  EXPECT_EQ(problem,
            "the only alive agents that can run it are ineligible for instances (node-a; mob-tool eligibility "
            "NODE on); it will be placed when one is eligible");
  EXPECT_EQ(placement_problem(spec(), {drained, member("node-c")}), "");
}

TEST(PlaceInstances, SkipsIneligibleMembers) {
  Member drained = member("node-a");
  drained.eligible = false;
  auto chosen = place_instances(spec(), indices(4), {}, {drained, member("node-b"), member("node-c")}, {});
  ASSERT_EQ(chosen.size(), 4u);
  for (const auto& [index, node] : chosen) EXPECT_NE(node, "node-a") << index;
}

// ---- owners --------------------------------------------------------------------------

TEST(OwnerOf, IsTheNodeWithTheHighestRendezvousScore) {
  auto nodes = node_names(10);
  for (const auto& service : service_names(50)) {
    auto best = *std::max_element(nodes.begin(), nodes.end(), [&](const auto& a, const auto& b) {
      return rendezvous_score(service, a) < rendezvous_score(service, b);
    });
    EXPECT_EQ(owner_of(service, nodes), best) << service;
  }
}

TEST(OwnerOf, NoAliveNodeMeansNoOwner) { EXPECT_EQ(owner_of("web", {}), ""); }

TEST(OwnerOf, IsDeterministic) {
  auto nodes = node_names(10);
  for (const auto& service : service_names(100))
    EXPECT_EQ(owner_of(service, nodes), owner_of(service, nodes)) << service;
}

TEST(OwnerOf, DoesNotDependOnTheOrderOfTheNodes) {
  auto nodes = node_names(10);
  auto services = service_names(200);
  std::map<std::string, std::string> reference;
  for (const auto& service : services) reference[service] = owner_of(service, nodes);
  std::mt19937 random(1);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(nodes.begin(), nodes.end(), random);
    for (const auto& service : services)
      ASSERT_EQ(owner_of(service, nodes), reference[service]) << service << " in round " << round;
  }
}

TEST(OwnerOf, SpreadsServicesEvenlyOverTheNodes) {
  auto nodes = node_names(10);
  std::map<std::string, int> owned;
  for (const auto& service : service_names(1000)) ++owned[owner_of(service, nodes)];
  ASSERT_EQ(owned.size(), 10u);
  for (const auto& [node, count] : owned) {
    EXPECT_GT(count, 60) << node;  // expected 100; a fair split stays well inside these bounds
    EXPECT_LT(count, 140) << node;
  }
}

TEST(OwnerOf, ANodeLeavingMovesOnlyTheServicesItOwned) {
  auto nodes = node_names(10);
  auto services = service_names(1000);
  const std::string leaving = "node-3";
  std::vector<std::string> remaining;
  std::copy_if(nodes.begin(), nodes.end(), std::back_inserter(remaining),
               [&](const auto& node) { return node != leaving; });
  int moved = 0;
  for (const auto& service : services) {
    auto before = owner_of(service, nodes);
    auto after = owner_of(service, remaining);
    if (before == leaving) {
      ++moved;
      EXPECT_NE(after, leaving);
    } else {
      EXPECT_EQ(after, before) << service << " moved although its owner stayed";
    }
  }
  EXPECT_GT(moved, 60);  // about 1/10 of 1000
  EXPECT_LT(moved, 140);
}

TEST(OwnerOf, ANodeJoiningTakesOverAboutItsShareAndNothingElseMoves) {
  auto nodes = node_names(10);
  auto grown = node_names(11);
  int taken = 0;
  for (const auto& service : service_names(1000)) {
    auto before = owner_of(service, nodes);
    auto after = owner_of(service, grown);
    if (after != before) {
      EXPECT_EQ(after, "node-10") << service << " moved between two old nodes";
      ++taken;
    }
  }
  EXPECT_GT(taken, 50);  // about 1/11 of 1000
  EXPECT_LT(taken, 135);
}

// ---- who can run a spec ----------------------------------------------------------------

TEST(CanRun, NeedsTheProvider) {
  EXPECT_TRUE(can_run(spec("bash"), member("a", {"bash"})));
  EXPECT_TRUE(can_run(spec("docker"), member("a", {"bash", "docker"})));
  EXPECT_FALSE(can_run(spec("docker"), member("a", {"bash"})));
  EXPECT_FALSE(can_run(spec("bash"), member("a", {})));
}

TEST(CanRun, NeedsEveryConstraintTagWithItsValue) {
  auto wanted = spec("bash", {{"zone", "eu"}, {"disk", "ssd"}});
  EXPECT_TRUE(can_run(wanted, member("a", {"bash"}, {{"zone", "eu"}, {"disk", "ssd"}})));
  EXPECT_TRUE(can_run(wanted, member("a", {"bash"}, {{"zone", "eu"}, {"disk", "ssd"}, {"gpu", "yes"}})));
  EXPECT_FALSE(can_run(wanted, member("a", {"bash"}, {{"zone", "eu"}})));
  EXPECT_FALSE(can_run(wanted, member("a", {"bash"}, {{"zone", "us"}, {"disk", "ssd"}})));
  EXPECT_FALSE(can_run(wanted, member("a", {"bash"}, {})));
  EXPECT_FALSE(can_run(wanted, member("a", {"docker"}, {{"zone", "eu"}, {"disk", "ssd"}})));
}

TEST(CanRun, NoConstraintTagsMeansAnyAgentWithTheProvider) {
  EXPECT_TRUE(can_run(spec("bash"), member("a", {"bash"}, {{"zone", "eu"}})));
}

TEST(PlacementProblem, IsEmptyWhenSomeAgentCanRunTheSpec) {
  auto wanted = spec("bash", {{"zone", "eu"}});
  EXPECT_EQ(placement_problem(wanted, {member("a", {"docker"}), member("b", {"bash"}, {{"zone", "eu"}})}),
            "");
}

TEST(PlacementProblem, NamesAMissingProviderAndHowToStartOne) {
  auto problem = placement_problem(spec("docker"), {member("a", {"bash"}), member("b", {"bash"})});
  EXPECT_NE(problem.find("no alive agent runs provider \"docker\""), std::string::npos) << problem;
  EXPECT_NE(problem.find("-P docker"), std::string::npos) << problem;
}

TEST(PlacementProblem, NamesAMissingProviderWhenNoAgentIsAlive) {
  auto problem = placement_problem(spec("bash"), {});
  EXPECT_NE(problem.find("provider \"bash\""), std::string::npos) << problem;
}

TEST(PlacementProblem, NamesTheUnmatchedTagsAndHowToSetThem) {
  auto wanted = spec("bash", {{"disk", "ssd"}, {"zone", "eu"}});
  auto problem = placement_problem(wanted, {member("a", {"bash"}, {{"zone", "eu"}}),
                                            member("b", {"docker"}, {{"zone", "eu"}, {"disk", "ssd"}})});
  EXPECT_NE(problem.find("provider \"bash\" has tags disk=ssd, zone=eu"), std::string::npos) << problem;
  EXPECT_NE(problem.find("--tag"), std::string::npos) << problem;
}

// ---- where instances go ------------------------------------------------------------------

TEST(PlaceInstances, SpreadsThreeInstancesOverThreeDistinctCapableNodes) {
  auto wanted = spec("bash", {{"zone", "eu"}});
  std::vector<Member> alive = {member("a", {"bash"}, {{"zone", "eu"}}),
                               member("b", {"docker"}, {{"zone", "eu"}}),
                               member("c", {"bash"}, {{"zone", "eu"}}),
                               member("d", {"bash"}, {{"zone", "us"}}),
                               member("e", {"bash"}, {{"zone", "eu"}})};
  auto chosen = place_instances(wanted, indices(3), {}, alive, {});
  ASSERT_EQ(chosen.size(), 3u);
  std::set<std::string> nodes;
  for (const auto& [index, node] : chosen) nodes.insert(node);
  EXPECT_EQ(nodes, (std::set<std::string>{"a", "c", "e"}));
}

TEST(PlaceInstances, PrefersTheLeastLoadedNodes) {
  std::vector<Member> alive = {member("a"), member("b"), member("c"), member("d")};
  std::map<std::string, std::uint32_t> load = {{"a", 5}, {"b", 0}, {"c", 3}, {"d", 1}};
  auto chosen = place_instances(spec(), indices(2), {}, alive, load);
  std::set<std::string> nodes;
  for (const auto& [index, node] : chosen) nodes.insert(node);
  EXPECT_EQ(nodes, (std::set<std::string>{"b", "d"}));
}

TEST(PlaceInstances, AvoidsNodesThatAlreadyRunThisServiceBeforeLookingAtLoad) {
  std::vector<Member> alive = {member("a"), member("b")};
  std::map<std::string, std::uint32_t> load = {{"a", 0}, {"b", 9}};
  auto chosen = place_instances(spec(), {1}, {{0, "a"}}, alive, load);
  EXPECT_EQ(chosen, (std::map<std::uint32_t, std::string>{{1, "b"}}));
}

TEST(PlaceInstances, CountsItsOwnChoicesWhenSpreading) {
  std::vector<Member> alive = {member("a"), member("b")};
  auto chosen = place_instances(spec(), indices(4), {}, alive, {});
  std::map<std::string, int> per_node;
  for (const auto& [index, node] : chosen) ++per_node[node];
  EXPECT_EQ(per_node, (std::map<std::string, int>{{"a", 2}, {"b", 2}}));
}

TEST(PlaceInstances, NeverPicksAnIncapableNodeEvenWhenItIsIdle) {
  auto wanted = spec("bash", {{"zone", "eu"}});
  std::vector<Member> alive = {member("busy", {"bash"}, {{"zone", "eu"}}),
                               member("idle", {"bash"}, {{"zone", "us"}}),
                               member("other", {"docker"}, {{"zone", "eu"}})};
  std::map<std::string, std::uint32_t> load = {{"busy", 50}, {"idle", 0}, {"other", 0}};
  auto chosen = place_instances(wanted, indices(3), {}, alive, load);
  EXPECT_EQ(chosen, (std::map<std::uint32_t, std::string>{{0, "busy"}, {1, "busy"}, {2, "busy"}}));
}

TEST(PlaceInstances, PlacesNothingWhenNoNodeIsCapable) {
  std::vector<Member> alive = {member("a", {"docker"}), member("b", {"docker"})};
  EXPECT_TRUE(place_instances(spec("bash"), indices(3), {}, alive, {}).empty());
}

TEST(PlaceInstances, PlacesOnlyTheUnplacedIndices) {
  std::vector<Member> alive = {member("a"), member("b"), member("c")};
  auto chosen = place_instances(spec(), {2, 5}, {{0, "a"}}, alive, {});
  ASSERT_EQ(chosen.size(), 2u);
  EXPECT_TRUE(chosen.contains(2));
  EXPECT_TRUE(chosen.contains(5));
  EXPECT_NE(chosen[2], "a");
  EXPECT_NE(chosen[5], "a");
  EXPECT_NE(chosen[2], chosen[5]);
}

TEST(PlaceInstances, IsDeterministicAndIndependentOfTheOrderOfMembers) {
  std::vector<Member> alive;
  for (const auto& name : node_names(8)) alive.push_back(member(name));
  std::map<std::string, std::uint32_t> load = {{"node-1", 2}, {"node-4", 1}};
  auto reference = place_instances(spec(), indices(5), {}, alive, load);
  ASSERT_EQ(reference.size(), 5u);
  std::mt19937 random(3);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(alive.begin(), alive.end(), random);
    ASSERT_EQ(place_instances(spec(), indices(5), {}, alive, load), reference) << "round " << round;
  }
}

TEST(PlaceInstances, InstancesWithAFixedPortNeverShareAnAgentAndTheRestWait) {
  ServiceSpec fixed = spec();
  fixed.ports = {{"metrics", {9100, 0}}, {"http", {0, 0}}};
  std::vector<Member> alive = {member("a"), member("b"), member("c")};
  auto chosen = place_instances(fixed, indices(5), {}, alive, {});
  ASSERT_EQ(chosen.size(), 3u) << "three agents, one instance listening on 9100 each";
  std::set<std::string> nodes;
  for (const auto& [index, node] : chosen) nodes.insert(node);
  EXPECT_EQ(nodes.size(), 3u);
}

TEST(PlaceInstances, AnAgentWhereAnotherServiceHoldsTheFixedPortIsPassedOver) {
  ServiceSpec fixed = spec();
  fixed.ports = {{"metrics", {9100, 0}}};
  std::vector<Member> alive = {member("a"), member("b")};
  PortConstraints ports;
  ports.fixed_by_node["a"] = {9100, 80};
  ports.fixed_by_node["b"] = {443};
  for (int round = 0; round < 5; ++round) {
    auto chosen = place_instances(fixed, indices(1), {}, alive, {{"b", 50}}, ports);
    ASSERT_EQ(chosen.size(), 1u);
    EXPECT_EQ(chosen[0], "b") << "even though b is more loaded";
  }
  ports.fixed_by_node["b"].insert(9100);
  EXPECT_TRUE(place_instances(fixed, indices(1), {}, alive, {}, ports).empty());
}

TEST(PlaceInstances, AvoidedAgentsComeLastButStillTakeAnInstanceWhenNothingElseCan) {
  std::vector<Member> alive = {member("a"), member("b")};
  PortConstraints ports;
  ports.avoid[0] = {"a"};
  EXPECT_EQ(place_instances(spec(), indices(1), {}, alive, {{"b", 9}}, ports)[0], "b");
  ports.avoid[0] = {"a", "b"};
  EXPECT_EQ(place_instances(spec(), indices(1), {}, alive, {}, ports).size(), 1u);
}

}  // namespace placement_test
}  // namespace mob
