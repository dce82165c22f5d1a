// The events a merged change makes (agent/change_events.hpp): one table per record kind.
#include "agent/change_events.hpp"

#include <gtest/gtest.h>

namespace mob {
namespace change_events_test {

const EventSource kSource{"agent-1", 1'800'000'000'000ULL};

std::vector<std::string> topics(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const auto& event : events) out.push_back(event.topic);
  return out;
}

MemberEntry member(MemberState state, std::uint64_t incarnation = 1) {
  MemberEntry entry;
  entry.member.name = "agent-2";
  entry.member.state = state;
  entry.member.incarnation = incarnation;
  entry.heartbeat = 42;
  entry.reported_by = "agent-3";
  return entry;
}

TEST(ChangeEvents, AMemberEventSaysWhatItsStateBecame) {
  using S = MemberState;
  struct Case {
    S state;
    std::optional<S> before;
    std::vector<std::string> topics;
  };
  std::vector<Case> cases = {
      {S::alive, std::nullopt, {"member.joined"}},  {S::alive, S::failed, {"member.joined"}},
      {S::alive, S::left, {"member.joined"}},       {S::alive, S::suspect, {}},  // a refutation
      {S::alive, S::alive, {}},                     {S::suspect, S::alive, {"member.suspect"}},
      {S::suspect, S::suspect, {}},                 {S::failed, S::suspect, {"member.failed"}},
      {S::failed, S::failed, {}},                   {S::left, S::alive, {"member.left"}},
      {S::left, std::nullopt, {"member.left"}},
  };
  for (const auto& c : cases)
    EXPECT_EQ(topics(change_events(member(c.state), c.before, kSource)), c.topics)
        << to_string(c.state) << " after " << (c.before ? to_string(*c.before) : "nothing");
}

TEST(ChangeEvents, AMemberEventCarriesWhoSaidItAndWhen) {
  auto events = change_events(member(MemberState::failed, 7), MemberState::suspect, kSource);
  ASSERT_EQ(events.size(), 1u);
  const Event& event = events[0];
  EXPECT_EQ(event.member, "agent-2");
  EXPECT_EQ(event.node, "agent-2");
  EXPECT_EQ(event.agent, "agent-3");  // the reporter
  EXPECT_EQ(event.publisher, "agent-1");
  EXPECT_EQ(event.time_ms, static_cast<std::int64_t>(kSource.wall_ms));
  EXPECT_EQ(event.version, 42u);
  EXPECT_EQ(event.generation, 7u);
  EXPECT_EQ(event.state, "failed");
}

ServiceEntry service(std::uint64_t generation, std::string spec = "{}") {
  ServiceEntry entry;
  entry.name = "web";
  entry.spec_json = std::move(spec);
  entry.generation = generation;
  entry.stamp = Stamp{99, "agent-4"};
  return entry;
}

TEST(ChangeEvents, AServiceEventSaysWhyItChanged) {
  auto v1 = service(1);
  auto v2 = service(2);
  auto rival = service(1, "{\"x\": 1}");
  auto stopped = v1;
  stopped.enabled = false;
  auto restarted = v1;
  restarted.restart_generation = 1;
  auto removed = v1;
  removed.removed = true;
  struct Case {
    ServiceEntry entry;
    std::optional<ServiceEntry> before;
    std::string topic, reason;
  };
  std::vector<Case> cases = {
      {v1, std::nullopt, "service.deployed", ""},
      {v1, removed, "service.deployed", ""},
      {v2, v1, "service.updated", "new version"},
      {rival, v1, "service.updated", std::string(kConcurrentDeploy)},
      {stopped, v1, "service.updated", "stopped"},
      {v1, stopped, "service.updated", "started"},
      {restarted, v1, "service.updated", "restarted"},
      {removed, v1, "service.removed", ""},
  };
  for (const auto& c : cases) {
    auto events = change_events(c.entry, c.before, kSource);
    ASSERT_EQ(events.size(), 1u) << c.topic << " " << c.reason;
    EXPECT_EQ(events[0].topic, c.topic);
    EXPECT_EQ(events[0].reason, c.reason);
    EXPECT_EQ(events[0].agent, "agent-4");
    EXPECT_EQ(events[0].service, "web");
  }
  EXPECT_TRUE(change_events(removed, std::nullopt, kSource).empty()) << "a tombstone of nothing";
  EXPECT_TRUE(change_events(removed, removed, kSource).empty());
}

AssignmentEntry assignment(std::string node, bool removed = false) {
  AssignmentEntry entry;
  entry.service = "web";
  entry.index = 3;
  entry.node = std::move(node);
  entry.removed = removed;
  entry.stamp = Stamp{5, "agent-1"};
  return entry;
}

TEST(ChangeEvents, AnAssignmentToAnotherNodeIsAMove) {
  EXPECT_EQ(topics(change_events(assignment("a"), std::nullopt, kSource)),
            (std::vector<std::string>{"instance.assigned"}));
  auto moved = change_events(assignment("b"), assignment("a"), kSource);
  ASSERT_EQ(topics(moved), (std::vector<std::string>{"instance.assigned", "instance.moved"}));
  EXPECT_EQ(moved[1].from_node, "a");
  EXPECT_EQ(moved[1].node, "b");
  EXPECT_EQ(moved[1].instance, 3);
  EXPECT_EQ(topics(change_events(assignment("b"), assignment("a", true), kSource)),
            (std::vector<std::string>{"instance.assigned"}));
  EXPECT_TRUE(change_events(assignment("a"), assignment("a"), kSource).empty());
  EXPECT_TRUE(change_events(assignment("a", true), assignment("a"), kSource).empty());
}

InstanceEntry instance(InstanceState state, bool removed = false) {
  InstanceEntry entry;
  entry.status.service = "web";
  entry.status.index = 1;
  entry.status.node = "agent-2";
  entry.status.state = state;
  entry.status.pid = 1234;
  entry.status.exit_code = 3;
  entry.status.spec_version = 2;
  entry.removed = removed;
  return entry;
}

// What the record said before; the version instance() runs (2) unless told.
InstanceBefore was(InstanceState state, Health health = Health::none, std::uint64_t version = 2) {
  return {state, health, version};
}

TEST(ChangeEvents, AnInstanceEventNamesItsNewState) {
  using S = InstanceState;
  auto running = change_events(instance(S::running), was(S::starting), kSource);
  ASSERT_EQ(topics(running), (std::vector<std::string>{"instance.running"}));
  EXPECT_EQ(running[0].pid, 1234);
  EXPECT_EQ(running[0].generation, 2u);
  EXPECT_EQ(running[0].agent, "agent-2");
  EXPECT_EQ(topics(change_events(instance(S::exited), std::nullopt, kSource)),
            (std::vector<std::string>{"instance.exited"}));
  EXPECT_TRUE(change_events(instance(S::running), was(S::running), kSource).empty());
  EXPECT_TRUE(change_events(instance(S::pending), std::nullopt, kSource).empty());
  EXPECT_TRUE(change_events(instance(S::running, true), was(S::starting), kSource).empty());
}

TEST(ChangeEvents, InstanceRunningCarriesWhereItListens) {
  auto entry = instance(InstanceState::running);
  entry.status.host = "10.0.0.5";
  entry.status.ports = {{"http", 31012}};
  auto running = change_events(entry, was(InstanceState::starting), kSource);
  ASSERT_EQ(topics(running), (std::vector<std::string>{"instance.running"}));
  EXPECT_EQ(running[0].host, "10.0.0.5");
  EXPECT_EQ(running[0].ports, (std::map<std::string, std::uint32_t>{{"http", 31012}}));
}

TEST(ChangeEvents, AnInstanceCarriedOverToANewVersionIsAnEventOfThatVersion) {
  using S = InstanceState;
  // mob-tool scale: version 2 changed only `instances`; the running process now counts as it.
  auto carried = change_events(instance(S::running), was(S::running, Health::none, 1), kSource);
  ASSERT_EQ(topics(carried), (std::vector<std::string>{"instance.running"}));
  EXPECT_EQ(carried[0].generation, 2u);
  EXPECT_EQ(carried[0].pid, 1234);
}

InstanceEntry checked(Health health, std::vector<CheckResult> checks) {
  InstanceEntry entry = instance(InstanceState::running);
  entry.status.health = health;
  entry.status.checks = std::move(checks);
  if (health == Health::unhealthy) entry.status.reason = "unhealthy: http: HTTP 500 (3 in a row)";
  return entry;
}

TEST(ChangeEvents, AHealthChangeOfARunningInstanceIsAnEventNamingTheCheckThatDecidedIt) {
  using S = InstanceState;
  const std::vector<CheckResult> failing = {{"tcp", true, 100, 5, "connected"}, {"http", false, 90, 3, "HTTP 500"}};
  auto unhealthy = change_events(checked(Health::unhealthy, failing), was(S::running, Health::healthy), kSource);
  ASSERT_EQ(topics(unhealthy), (std::vector<std::string>{"instance.unhealthy"}));
  EXPECT_EQ(unhealthy[0].check, "http");
  EXPECT_EQ(unhealthy[0].output, "HTTP 500");
  EXPECT_EQ(unhealthy[0].reason, "unhealthy: http: HTTP 500 (3 in a row)");

  const std::vector<CheckResult> passing = {{"tcp", true, 100, 5, "connected"}, {"http", true, 120, 1, "HTTP 200"}};
  auto healthy = change_events(checked(Health::healthy, passing), was(S::running, Health::starting), kSource);
  ASSERT_EQ(topics(healthy), (std::vector<std::string>{"instance.healthy"}));
  EXPECT_EQ(healthy[0].check, "http") << "the last check to pass made it healthy";

  // A record that starts running already healthy (learned late) says both.
  EXPECT_EQ(topics(change_events(checked(Health::healthy, passing), was(S::starting), kSource)),
            (std::vector<std::string>{"instance.running", "instance.healthy"}));
  // Nothing for the same health again, for starting, or for an instance without checks.
  EXPECT_TRUE(change_events(checked(Health::healthy, passing), was(S::running, Health::healthy), kSource).empty());
  EXPECT_TRUE(change_events(checked(Health::starting, {}), was(S::running, Health::none), kSource).empty());
  EXPECT_TRUE(change_events(instance(S::running), was(S::running, Health::none), kSource).empty());
}

TEST(ChangeEvents, ACanaryRolloutStartsPausesAndIsPromoted) {
  auto stable = service(1);
  auto started = service(2);
  started.stable_generation = 1;
  started.stable_spec_json = "{}";
  started.canaries = 1;
  auto paused = started;
  paused.rollout = "paused: 1 canary of version 2 healthy beside 4 of version 1; continue with: mob-tool promote web";
  auto promoted = paused;
  promoted.rollout.clear();
  promoted.promoted = true;
  struct Case {
    ServiceEntry entry;
    ServiceEntry before;
    std::string state, reason;
  };
  std::vector<Case> cases = {
      {started, stable, "started", "from version 1, 1 canary first"},
      {paused, started, "paused", paused.rollout},
      {promoted, paused, "promoted", "the canaries were promoted; the other instances move"},
  };
  for (const auto& c : cases) {
    auto events = change_events(c.entry, c.before, kSource);
    ASSERT_EQ(events.size(), 2u) << c.state;
    EXPECT_EQ(events[1].topic, "service.rollout");
    EXPECT_EQ(events[1].state, c.state);
    EXPECT_EQ(events[1].reason, c.reason);
  }
}

}  // namespace change_events_test
}  // namespace mob
