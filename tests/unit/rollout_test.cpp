// The rollout mob-tool deploy follows: sequences of status replies and events, each at a
// given time, and what it prints and decides (running, failed, replaced by another write,
// timed out). No agent, no clock, no sleeps.
#include "tools/rollout.hpp"

#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

namespace mob {
namespace rollout_test {

using namespace std::chrono_literals;
using Outcome = Rollout::Outcome;

constexpr std::uint64_t kWallMs = 1'700'000'000'000;  // when the deploy was written, unix ms
constexpr std::uint64_t kWrittenAt = kWallMs << 16;    // its hybrid logical clock stamp
constexpr auto kWaitTimeout = 60s;
const Rollout::Time kStart = Rollout::Time{} + 1000s;

// The stamp of a change `ms` after the deploy was written (before it, when negative).
std::uint64_t stamp(std::int64_t ms) { return static_cast<std::uint64_t>(kWallMs + ms) << 16; }

std::string spec_json(const std::string& policy = "always", const std::string& command = "serve") {
  return R"({"name":"web","provider":"bash","params":{"command":")" + command +
         R"("},"instances":2,"restart":{"policy":")" + policy +
         R"(","max_restarts":5,"window_s":60,"backoff_ms":100,"backoff_max_ms":10000}})";
}

// This test's deploy: version 2 of web through agent-a, with spec_json(policy).
DeployReply deployed(const std::string& policy = "always") {
  return DeployReply{"web", 2, false, spec_identity(spec_json(policy)), "agent-a", kWrittenAt};
}

// Instance `index` of version 2 as a status reply lists it.
InstanceStatus instance(std::uint32_t index, std::string node, InstanceState state,
                        std::string reason = "", std::uint64_t spec_version = 2) {
  const std::int64_t pid = state == InstanceState::running ? 4242 : 0;
  return InstanceStatus{"web", index, 0, std::move(node), state, Health::none, 0, pid,
                        static_cast<std::int64_t>(kWallMs), -1, 0, std::move(reason), spec_version,
                        {}, "", {}};
}

// What the agent answers right after the deploy: `instances` of version 2, none placed yet,
// unless `instance_list` says otherwise.
StatusReply status(std::uint32_t instances, std::vector<InstanceStatus> instance_list = {},
                   const std::string& policy = "always") {
  if (instance_list.empty())
    for (std::uint32_t index = 0; index < instances; ++index)
      instance_list.push_back(instance(index, "", InstanceState::pending, "waiting for placement"));
  ServiceStatus service{"web", "bash", 2, instances, true, spec_json(policy), instance_list,
                        "agent-a", kWrittenAt, "", 0, "", ""};
  return StatusReply{{service}};
}

// A change of the service record through `agent`, `ms` after the deploy was written.
Event service_event(std::string topic, std::string agent, std::int64_t ms, std::uint64_t generation,
                    std::string reason = "") {
  Event event;
  event.topic = std::move(topic);
  event.agent = std::move(agent);
  event.version = stamp(ms);
  event.service = "web";
  event.generation = generation;
  event.reason = std::move(reason);
  return event;
}

// What `node` says of instance `index`, `ms` after the deploy was written; the state is the
// topic's last word, except for assigned and moved, which carry none.
Event instance_event(std::string topic, std::int32_t index, std::string node, std::int64_t ms,
                     std::uint64_t generation = 2) {
  Event event = service_event(std::move(topic), node, ms, generation);
  event.instance = index;
  event.node = std::move(node);
  if (event.topic != "instance.assigned" && event.topic != "instance.moved")
    event.state = event.topic.substr(std::string_view("instance.").size());
  return event;
}

Event exited(std::int32_t index, std::int64_t ms, std::int32_t exit_code) {
  Event event = instance_event("instance.exited", index, "node-a", ms);
  event.exit_code = exit_code;
  return event;
}

Event failed_event(std::int32_t index, std::int64_t ms, std::string reason) {
  Event event = instance_event("instance.failed", index, "node-a", ms);
  event.exit_code = 3;
  event.reason = std::move(reason);
  return event;
}

Event of_another_service(Event event) {
  event.service = "api";
  return event;
}

// One input to the rollout, `at` after the deploy was sent.
struct Step {
  std::variant<StatusReply, Event> input;
  std::chrono::milliseconds at;
};

struct Case {
  const char* name;
  std::string policy;  // of the deployed spec
  std::vector<Step> steps;
  std::chrono::milliseconds verdict_at;
  Outcome outcome;
  std::string message;              // the verdict's
  std::vector<std::string> printed;  // every progress line, in order
};

struct Run {
  Rollout::Verdict verdict;
  std::vector<std::string> printed;
};

Run run(const Case& test) {
  Rollout rollout(deployed(test.policy), kStart, kWaitTimeout);
  Run result;
  for (const auto& step : test.steps) {
    auto lines = std::visit(
        [&](const auto& input) { return rollout.absorb(input, kStart + step.at); }, step.input);
    result.printed.insert(result.printed.end(), lines.begin(), lines.end());
  }
  result.verdict = rollout.verdict(kStart + test.verdict_at);
  return result;
}

const std::string kHint = " (see: mob-tool status web; mob-tool logs web)";

TEST(Rollout, DecidesFromEachSequenceOfStatusAndEvents) {
  const Case cases[] = {
      {"deployed once every instance has run for the settle time",
       "always",
       {{status(2), 0ms},
        {instance_event("instance.assigned", 0, "node-a", 1), 10ms},
        {instance_event("instance.assigned", 1, "node-b", 1), 10ms},
        {instance_event("instance.starting", 0, "node-a", 2), 20ms},
        {instance_event("instance.starting", 1, "node-b", 2), 20ms},
        {instance_event("instance.running", 0, "node-a", 3), 30ms},
        {instance_event("instance.running", 1, "node-b", 3), 40ms}},
       540ms,
       Outcome::running,
       "web version 2: 2 of 2 instance(s) running",
       {"web/0  pending: waiting for placement", "web/1  pending: waiting for placement",
        "web/0  assigned to node-a", "web/1  assigned to node-b", "web/0  starting",
        "web/1  starting", "web/0  running on node-a", "web/1  running on node-b"}},
      {"not yet deployed before the last instance has run for the settle time",
       "always",
       {{status(1), 0ms}, {instance_event("instance.running", 0, "node-a", 3), 30ms}},
       529ms,
       Outcome::waiting,
       "",
       {"web/0  pending: waiting for placement", "web/0  running on node-a"}},
      {"deployed when a one-shot job under on-failure finished with exit code 0",
       "on-failure",
       {{status(1, {}, "on-failure"), 0ms}, {exited(0, 5, 0), 50ms}},
       60ms,
       Outcome::running,
       "web version 2: 0 of 1 instance(s) running, 1 finished with exit code 0",
       {"web/0  pending: waiting for placement", "web/0  exited"}},
      {"waiting when an exit under always will be restarted",
       "always",
       {{status(1), 0ms}, {exited(0, 5, 0), 50ms}},
       60ms,
       Outcome::waiting,
       "",
       {"web/0  pending: waiting for placement", "web/0  exited"}},
      {"failed when an exit with a non-zero code will not be restarted",
       "never",
       {{status(1, {}, "never"), 0ms}, {exited(0, 5, 1), 50ms}},
       60ms,
       Outcome::failed,
       "web/0 exited" + kHint,
       {"web/0  pending: waiting for placement", "web/0  exited"}},
      {"failed when an instance exhausts its restarts",
       "always",
       {{status(1), 0ms},
        {instance_event("instance.running", 0, "node-a", 3), 30ms},
        {failed_event(0, 90, "exited with code 3; gave up after 5 restarts within 60 s "
                             "(restart.max_restarts)"),
         900ms}},
       900ms,
       Outcome::failed,
       "web/0 failed: exited with code 3; gave up after 5 restarts within 60 s "
       "(restart.max_restarts)" + kHint,
       {"web/0  pending: waiting for placement", "web/0  running on node-a",
        "web/0  failed: exited with code 3; gave up after 5 restarts within 60 s "
        "(restart.max_restarts)"}},
      {"failed when a newer version is written through another agent",
       "always",
       {{status(1), 0ms}, {service_event("service.updated", "agent-b", 20, 3), 20ms}},
       20ms,
       Outcome::failed,
       "web was deployed again (version 3 through agent agent-b) while waiting for version 2" +
           kHint,
       {"web/0  pending: waiting for placement"}},
      {"failed naming the winner when a concurrent deploy of the same version won",
       "always",
       {{status(1), 0ms},
        {service_event("service.updated", "agent-b", 0, 2, std::string(kConcurrentDeploy)), 20ms}},
       20ms,
       Outcome::failed,
       "web version 2 was superseded: a concurrent deploy through agent agent-b also made "
       "version 2 with another spec, and won; the network runs that spec, not this one" + kHint,
       {"web/0  pending: waiting for placement"}},
      {"undone by a remove",
       "always",
       {{status(1), 0ms}, {service_event("service.removed", "agent-b", 20, 2), 20ms}},
       20ms,
       Outcome::failed,
       "web was removed through agent agent-b while waiting for it to run" + kHint,
       {"web/0  pending: waiting for placement"}},
      {"undone when a concurrent change holding an older version won the merge",
       "always",
       {{status(1), 0ms}, {service_event("service.updated", "agent-b", 0, 1, "stopped"), 20ms}},
       20ms,
       Outcome::failed,
       "web version 2 was undone: a concurrent change through agent agent-b won the merge, and "
       "the network holds version 1, stopped" + kHint,
       {"web/0  pending: waiting for placement"}},
      {"failed when the service is stopped after the deploy",
       "always",
       {{status(1), 0ms}, {service_event("service.updated", "agent-a", 20, 2, "stopped"), 20ms}},
       20ms,
       Outcome::failed,
       "web version 2 is deployed but the service is stopped; run it with: mob-tool start web" +
           kHint,
       {"web/0  pending: waiting for placement"}},
      {"changes older than the tool's own write and other versions' instances are ignored",
       "always",
       {{status(1), 0ms},
        {service_event("service.removed", "agent-b", -5, 2), 10ms},
        {service_event("service.updated", "agent-b", -1, 3), 10ms},
        {instance_event("instance.running", 0, "node-a", 1, /*generation=*/1), 10ms},
        {of_another_service(failed_event(0, 2, "exited with code 3")), 10ms}},
       20ms,
       Outcome::waiting,
       "",
       {"web/0  pending: waiting for placement"}},
      {"an instance still on the previous version is neither shown nor counted",
       "always",
       {{status(1, {instance(0, "node-a", InstanceState::running, "", /*spec_version=*/1)}), 0ms}},
       600ms,
       Outcome::waiting,
       "",
       {}},
      {"the tool's own write, read back, is not a change of plan",
       "always",
       {{status(1), 0ms}, {service_event("service.deployed", "agent-a", 0, 2), 10ms}},
       20ms,
       Outcome::waiting,
       "",
       {"web/0  pending: waiting for placement"}},
      {"an event older than the status reply that covers it is ignored",
       "always",
       {{status(1, {instance(0, "node-a", InstanceState::running)}), 0ms},
        {instance_event("instance.starting", 0, "node-a", -10), 10ms}},
       600ms,
       Outcome::running,
       "web version 2: 1 of 1 instance(s) running",
       {"web/0  running on node-a (pid 4242)"}},
      {"a concurrent deploy that won is read from the status reply too",
       "always",
       {{[] {
           auto reply = status(1);
           reply.services[0].spec_json = spec_json("always", "other");
           reply.services[0].origin = "agent-b";
           reply.services[0].changed_at = kWrittenAt;
           return reply;
         }(),
         0ms}},
       0ms,
       Outcome::failed,
       "web version 2 was superseded: a concurrent deploy through agent agent-b also made "
       "version 2 with another spec, and won; the network runs that spec, not this one" + kHint,
       {"web/0  pending: waiting for placement"}},
      {"timed out once a status read after the wait still shows the version on its way",
       "always",
       {{status(1), 0ms},
        {status(1, {instance(0, "", InstanceState::pending,
                             "waiting for dependencies to run: db")}),
         60000ms}},
       60000ms,
       Outcome::timed_out,
       "web version 2 is not running after 60000 ms: web/0 is pending: waiting for "
       "dependencies to run: db" + kHint + "; wait longer with --wait-timeout MS",
       {"web/0  pending: waiting for placement",
        "web/0  pending: waiting for dependencies to run: db"}},
      {"not timed out at the end of the wait until the status is read once more",
       "always",
       {{status(1), 0ms}},
       60001ms,
       Outcome::waiting,
       "",
       {"web/0  pending: waiting for placement"}},
      {"the status read after the wait has the last word when it shows the version done",
       "on-failure",
       {{status(1, {}, "on-failure"), 0ms},
        {[] {
           auto done = instance(0, "node-a", InstanceState::exited);
           done.exit_code = 0;
           return status(1, {done}, "on-failure");
         }(),
         60000ms}},
       60000ms,
       Outcome::running,
       "web version 2: 0 of 1 instance(s) running, 1 finished with exit code 0",
       {"web/0  pending: waiting for placement", "web/0  exited"}},
  };
  for (const auto& test : cases) {
    SCOPED_TRACE(test.name);
    auto result = run(test);
    EXPECT_EQ(result.verdict.outcome, test.outcome);
    EXPECT_EQ(result.verdict.message, test.message);
    EXPECT_EQ(result.printed, test.printed);
  }
}

TEST(Rollout, AnInstanceMovedToAnotherNodeIsFollowedThere) {
  Rollout rollout(deployed(), kStart, kWaitTimeout);
  rollout.absorb(status(1), kStart);
  rollout.absorb(instance_event("instance.assigned", 0, "node-a", 1), kStart + 10ms);
  rollout.absorb(instance_event("instance.running", 0, "node-a", 2), kStart + 20ms);
  Event moved = instance_event("instance.moved", 0, "node-b", 3);
  moved.from_node = "node-a";
  EXPECT_EQ(rollout.absorb(moved, kStart + 30ms),
            std::vector<std::string>{"web/0  moving from node-a to node-b"});
  // What node-a says now is about a copy on its way out.
  EXPECT_TRUE(
      rollout.absorb(instance_event("instance.running", 0, "node-a", 4), kStart + 40ms).empty());
  EXPECT_EQ(rollout.verdict(kStart + 1s).outcome, Outcome::waiting);
  rollout.absorb(instance_event("instance.running", 0, "node-b", 5), kStart + 1s);
  EXPECT_EQ(rollout.verdict(kStart + 1500ms).outcome, Outcome::running);
}

TEST(Rollout, ALineIsPrintedOnlyWhenWhatItSaysChanges) {
  Rollout rollout(deployed(), kStart, kWaitTimeout);
  EXPECT_EQ(rollout.absorb(status(1), kStart),
            std::vector<std::string>{"web/0  pending: waiting for placement"});
  EXPECT_TRUE(rollout.absorb(status(1), kStart + 10ms).empty());
  rollout.absorb(instance_event("instance.assigned", 0, "node-a", 1), kStart + 10ms);
  EXPECT_TRUE(
      rollout.absorb(instance_event("instance.assigned", 0, "node-a", 1), kStart + 20ms).empty());
}

TEST(Rollout, LooksAgainWhenARunningInstanceHasSettledOrTheWaitEnds) {
  Rollout rollout(deployed(), kStart, kWaitTimeout);
  rollout.absorb(status(1), kStart);
  EXPECT_EQ(rollout.verdict(kStart).outcome, Outcome::waiting);
  EXPECT_EQ(rollout.next_look(), kStart + kWaitTimeout);
  EXPECT_FALSE(rollout.wants_final_status(kStart + kWaitTimeout - 1ms));

  rollout.absorb(instance_event("instance.running", 0, "node-a", 3), kStart + 100ms);
  EXPECT_EQ(rollout.verdict(kStart + 200ms).outcome, Outcome::waiting);
  EXPECT_EQ(rollout.next_look(), kStart + 100ms + Rollout::kSettle);
  EXPECT_EQ(rollout.verdict(kStart + 600ms).outcome, Outcome::running);
}

TEST(Rollout, AtTheEndOfTheWaitAskForTheStatusOnceThenTimeOut) {
  Rollout rollout(deployed(), kStart, kWaitTimeout);
  rollout.absorb(status(1), kStart);
  const auto end = kStart + kWaitTimeout;
  EXPECT_TRUE(rollout.wants_final_status(end));
  EXPECT_EQ(rollout.verdict(end).outcome, Outcome::waiting);
  // A reply that no longer lists the service still counts as the status read.
  rollout.absorb(StatusReply{}, end + 5ms);
  EXPECT_FALSE(rollout.wants_final_status(end + 5ms));
  auto verdict = rollout.verdict(end + 5ms);
  EXPECT_EQ(verdict.outcome, Outcome::timed_out);
  EXPECT_EQ(verdict.message, "web version 2 is not running after 60000 ms: web/0 is pending: "
                             "waiting for placement" +
                                 kHint + "; wait longer with --wait-timeout MS");
}

TEST(Rollout, WithoutAnyStatusTheTimeoutSaysOnlyThatTheVersionIsNotRunning) {
  Rollout rollout(deployed(), kStart, 1000ms);
  rollout.absorb(StatusReply{}, kStart + 1000ms);
  EXPECT_EQ(rollout.verdict(kStart + 1000ms).message,
            "web version 2 is not running after 1000 ms" + kHint +
                "; wait longer with --wait-timeout MS");
}

// A rolling update (docs/spec.md, "update"): the status says one is under way; each move
// prints the progress; running is only the end once the rollout is done; a failing instance
// leaves the verdict to the network, which reverts (or stops) and says why.
StatusReply rolling_status() {
  auto reply = status(2, {instance(0, "node-a", InstanceState::running, "", 1),
                          instance(1, "node-b", InstanceState::running, "", 1)});
  reply.services[0].stable_version = 1;
  reply.services[0].rollout = "rolling out from version 1: 0 of 2 updated, 2 healthy";
  return reply;
}

Event rollout_event(const std::string& state, std::int64_t ms, std::string reason, std::int32_t index = -1) {
  Event event = service_event("service.rollout", "agent-b", ms, 2, std::move(reason));
  event.state = state;
  event.instance = index;
  return event;
}

TEST(Rollout, ARollingUpdatePrintsEachMoveAndEndsOnlyWhenDone) {
  Rollout rollout(deployed(), kStart, kWaitTimeout);
  rollout.absorb(rolling_status(), kStart + 10ms);
  auto moved = rollout.absorb(rollout_event("batch", 20, "1 of 2 updated, 2 healthy", 0), kStart + 20ms);
  EXPECT_EQ(moved, std::vector<std::string>{"web: 1 of 2 updated, 2 healthy"});
  rollout.absorb(instance_event("instance.running", 0, "node-a", 30), kStart + 30ms);
  rollout.absorb(rollout_event("batch", 40, "2 of 2 updated, 2 healthy", 1), kStart + 40ms);
  rollout.absorb(instance_event("instance.running", 1, "node-b", 50), kStart + 50ms);
  auto before_done = rollout.verdict(kStart + 2s);
  EXPECT_EQ(before_done.outcome, Outcome::waiting) << "every instance runs version 2, the rollout is not done yet";
  rollout.absorb(rollout_event("done", 2'000, "every instance runs version 2"), kStart + 2s);
  EXPECT_EQ(rollout.verdict(kStart + 2s).outcome, Outcome::running);
}

TEST(Rollout, EachMoveStartsTheWaitAgain) {
  Rollout rollout(deployed(), kStart, kWaitTimeout);
  rollout.absorb(rolling_status(), kStart + 10ms);
  rollout.absorb(rollout_event("batch", 50'000, "1 of 2 updated, 2 healthy", 0), kStart + 50s);
  EXPECT_FALSE(rollout.wants_final_status(kStart + 70s)) << "the wait runs to 110 s after the move";
  EXPECT_TRUE(rollout.wants_final_status(kStart + 111s));
}

TEST(Rollout, ARevertedRollingUpdateFailsWithTheNetworksReasonNotTheInstancesOwn) {
  Rollout rollout(deployed(), kStart, kWaitTimeout);
  rollout.absorb(rolling_status(), kStart + 10ms);
  rollout.absorb(failed_event(0, 30, "exited with code 3; gave up"), kStart + 30ms);
  EXPECT_EQ(rollout.verdict(kStart + 40ms).outcome, Outcome::waiting) << "the owner decides";
  rollout.absorb(service_event("service.updated", "agent-b", 50, 3, "reverted: web/0 exited: exited with code 3"),
                 kStart + 50ms);
  auto verdict = rollout.verdict(kStart + 60ms);
  EXPECT_EQ(verdict.outcome, Outcome::failed);
  EXPECT_EQ(verdict.message, "web version 2 was reverted: web/0 exited: exited with code 3; version 3 runs the "
                             "last healthy spec again" + kHint);
}

TEST(Rollout, AStoppedRollingUpdateWithoutRevertFails) {
  Rollout rollout(deployed(), kStart, kWaitTimeout);
  rollout.absorb(rolling_status(), kStart + 10ms);
  rollout.absorb(service_event("service.updated", "agent-b", 50, 2, "failed: web/0 unhealthy: http: HTTP 500"),
                 kStart + 50ms);
  auto verdict = rollout.verdict(kStart + 60ms);
  EXPECT_EQ(verdict.outcome, Outcome::failed);
  EXPECT_EQ(verdict.message, "web version 2: the rolling update failed: web/0 unhealthy: http: HTTP 500; the "
                             "instances not updated run the last healthy version" + kHint);
}

TEST(Rollout, ADeployOfACanaryVersionEndsOnceTheCanariesRunHealthyAndSaysHowToPromote) {
  Rollout rollout(deployed(), kStart, kWaitTimeout);
  rollout.absorb(rolling_status(), kStart + 10ms);
  EXPECT_EQ(rollout.verdict(kStart + 20ms).outcome, Outcome::waiting);
  rollout.absorb(rollout_event("paused", 30, "paused: 1 canary of version 2 healthy beside 2 of version 1; "
                                             "continue with: mob-tool promote web"),
                 kStart + 30ms);
  auto verdict = rollout.verdict(kStart + 40ms);
  EXPECT_EQ(verdict.outcome, Outcome::running);
  EXPECT_EQ(verdict.message, "web version 2: 1 canary of version 2 healthy beside 2 of version 1; continue with: "
                             "mob-tool promote web");
}

TEST(Rollout, AStatusReadWhileTheCanariesWaitEndsTheDeployToo) {
  Rollout rollout(deployed(), kStart, kWaitTimeout);
  auto status = rolling_status();
  status.services[0].rollout = "paused: 1 canary of version 2 healthy beside 2 of version 1; continue with: "
                               "mob-tool promote web";
  rollout.absorb(status, kStart + 10ms);
  EXPECT_EQ(rollout.verdict(kStart + 20ms).outcome, Outcome::running);
}

}  // namespace rollout_test
}  // namespace mob
