// The store's pure parts on hand-made cluster states: client commands
// (agent/client_commands.hpp), local assignments (agent/local_assignments.hpp), subscriptions
// (agent/subscriptions.hpp), the record format (agent/service_record.hpp) and the answers
// held for write copies (agent/write_copies.hpp).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <random>
#include <set>

#include "agent/client_commands.hpp"
#include "agent/local_assignments.hpp"
#include "agent/membership.hpp"
#include "agent/subscriptions.hpp"
#include "agent/placement.hpp"
#include "agent/service_record.hpp"
#include "agent/spec_cache.hpp"
#include "agent/write_copies.hpp"

namespace mob {
namespace store_parts_test {

std::string spec_text(const std::string& name, std::uint32_t instances = 1, const std::string& depends_on = "") {
  std::string text = R"({"name": ")" + name + R"(", "provider": "bash", "params": {"command": "sleep 100"}, "instances": )" +
                     std::to_string(instances);
  if (!depends_on.empty()) text += R"(, "depends_on": [")" + depends_on + R"("])";
  return text + "}";
}

// A cluster state written by hand, with the spec lookup the store would give.
class StateFixture : public ::testing::Test {
 protected:
  void member(const std::string& name, MemberState state = MemberState::alive, const std::string& pub = "") {
    MemberEntry entry;
    entry.member.name = name;
    const MemberEntry* held = state_.member(name);  // a member keeps its address
    entry.member.address = held ? held->member.address : "tcp://127.0.0.1:" + std::to_string(7000 + state_.members().size());
    entry.member.pub_address = pub;
    entry.member.state = state;
    entry.member.providers = {"bash"};
    entry.member.incarnation = ++incarnation_;
    entry.reported_by = name;
    entry.heartbeat = ++stamp_;
    state_.merge(entry);
  }

  ServiceEntry& deploy(const std::string& name, std::uint32_t instances = 1, const std::string& depends_on = "",
                       std::string write_id = "") {
    auto spec = parse_spec(spec_text(name, instances, depends_on));
    EXPECT_TRUE(spec) << spec.error().message;
    ServiceEntry entry;
    entry.name = name;
    entry.spec_json = to_json(*spec).dump();
    const ServiceEntry* held = state_.service(name);
    entry.generation = held ? held->generation + 1 : 1;
    entry.stamp = Stamp{++stamp_, "x"};
    entry.write_id = std::move(write_id);
    state_.merge(entry);
    return const_cast<ServiceEntry&>(*state_.service(name));
  }

  void assign(const std::string& service, std::uint32_t index, const std::string& node, bool removed = false) {
    AssignmentEntry entry;
    entry.service = service;
    entry.index = index;
    entry.node = node;
    entry.removed = removed;
    entry.stamp = Stamp{++stamp_, "x"};
    state_.merge(entry);
  }

  // Instance i of `service` assigned to nodes[i].
  void assign_each(const std::string& service, const std::vector<std::string>& nodes) {
    for (std::uint32_t index = 0; index < nodes.size(); ++index) assign(service, index, nodes[index]);
  }

  // Version 2 of `name` deployed over version 1, kept as the stable one (a rollout under way).
  ServiceEntry& deploy_over_stable(const std::string& name, std::uint32_t instances) {
    deploy(name, instances);
    const std::string stable_spec = state_.service(name)->spec_json.str();
    ServiceEntry& rolling = deploy(name, instances);
    rolling.stable_generation = 1;
    rolling.stable_spec_json = stable_spec;
    return rolling;
  }

  // The assignment of `service`/`index` moved to run `generation` (a rollout's or a canary's).
  void run_version(const std::string& service, std::uint32_t index, std::uint64_t generation) {
    AssignmentEntry moved = *state_.assignment(service, index);
    moved.generation = generation;
    moved.stamp = Stamp{++stamp_, "x"};
    state_.merge(moved);
  }

  void instance(const std::string& service, std::uint32_t index, const std::string& node, InstanceState state) {
    InstanceEntry entry;
    entry.status.service = service;
    entry.status.index = index;
    entry.status.node = node;
    entry.status.state = state;
    entry.stamp = Stamp{++stamp_, node};
    state_.merge(entry);
  }

  const ServiceSpec* spec_of(const ServiceEntry& entry) {
    auto cached = specs_.find(entry.name);
    if (cached != specs_.end()) return &cached->second;
    auto spec = parse_spec(entry.spec_json, kAnySpecFromThePeers);
    return spec ? &specs_.emplace(entry.name, *spec).first->second : nullptr;
  }

  ClusterState state_;
  std::map<std::string, ServiceSpec> specs_;
  const SpecOf lookup_ = [this](const ServiceEntry& entry) { return spec_of(entry); };
  std::uint64_t stamp_ = 100;
  std::uint64_t incarnation_ = 0;
};

// ---- client commands ------------------------------------------------------------------------

class ClientCommands : public StateFixture {
 protected:
  CommandView view(std::string_view refusal = "") {
    return CommandView{state_, lookup_, "node-a", limits_, max_services_, refusal, 10};
  }
  std::function<Stamp()> stamper() {
    return [this] {
      ++stamps_taken_;
      return Stamp{++stamp_, "node-a"};
    };
  }

  SpecLimits limits_;
  std::uint32_t max_services_ = 3;
  int stamps_taken_ = 0;
};

TEST_F(ClientCommands, AFirstDeployWritesVersionOneStampedOnceAndAnsweredByThisAgent) {
  auto write = decide_deploy(view(), DeployRequest{spec_text("web", 2), "w-1"}, stamper());
  ASSERT_TRUE(write) << write.error().message;
  ASSERT_TRUE(write->entry);
  EXPECT_EQ(write->entry->name, "web");
  EXPECT_EQ(write->entry->generation, 1u);
  EXPECT_EQ(write->entry->write_id, "w-1");
  EXPECT_EQ(write->entry->stamp.origin, "node-a");
  EXPECT_EQ(stamps_taken_, 1);
  EXPECT_TRUE(write->reply.created);
  EXPECT_EQ(write->reply.version, 1u);
  EXPECT_EQ(write->reply.agent, "node-a");
  EXPECT_EQ(write->reply.written_at, write->entry->stamp.hlc);
  EXPECT_EQ(write->reply.spec_identity, spec_identity(write->entry->spec_json));
  EXPECT_EQ(state_.service("web"), nullptr) << "deciding writes nothing";
}

TEST_F(ClientCommands, ADeployWithAnUpdateBlockKeepsTheHealthyVersionItReplacesAsTheStableOne) {
  auto spec = [](const std::string& name, const std::string& command, int instances, bool update = true) {
    return R"({"name": ")" + name + R"(", "provider": "bash", "params": {"command": ")" + command +
           R"("}, "instances": )" + std::to_string(instances) + (update ? R"(, "update": {"max_parallel": 1}})" : "}");
  };
  auto runs = [&](const std::string& name, std::uint64_t version, std::uint32_t count) {
    for (std::uint32_t index = 0; index < count; ++index) {
      assign(name, index, "node-a");
      InstanceEntry entry;
      entry.status = InstanceStatus{name,   index, 0, "node-a", InstanceState::running, Health::none, 0, 1, 1, -1, 0,
                                    "",     version, {}, "", {}};
      entry.stamp = Stamp{++stamp_, "node-a"};
      state_.merge(entry);
    }
  };
  auto first = decide_deploy(view(), DeployRequest{spec("web", "sleep 1", 2), ""}, stamper());
  ASSERT_TRUE(first && first->entry);
  EXPECT_EQ(first->entry->stable_generation, 0u) << "a first deploy replaces nothing";
  state_.merge(*first->entry);
  runs("web", 1, 2);
  auto second = decide_deploy(view(), DeployRequest{spec("web", "sleep 2", 2), ""}, stamper());
  ASSERT_TRUE(second && second->entry);
  EXPECT_EQ(second->entry->generation, 2u);
  EXPECT_EQ(second->entry->stable_generation, 1u);
  EXPECT_EQ(second->entry->stable_spec_json, first->entry->spec_json);

  auto scaled = decide_deploy(view(), DeployRequest{spec("web", "sleep 1", 3), ""}, stamper());
  EXPECT_EQ(scaled->entry->stable_generation, 0u) << "only instances changed: nothing to roll";
  auto plain = decide_deploy(view(), DeployRequest{spec("web", "sleep 2", 2, /*update=*/false), ""}, stamper());
  EXPECT_EQ(plain->entry->stable_generation, 0u) << "no update block: all at once";

  auto api = decide_deploy(view(), DeployRequest{spec("api", "sleep 1", 2), ""}, stamper());
  state_.merge(*api->entry);
  runs("api", 1, 1);  // api/1 does not run: no healthy version to keep
  auto api_again = decide_deploy(view(), DeployRequest{spec("api", "sleep 2", 2), ""}, stamper());
  EXPECT_EQ(api_again->entry->stable_generation, 0u);
}

TEST_F(ClientCommands, ADeployAgainIsTheNextVersionAndKeepsTheRestartGeneration) {
  deploy("web").restart_generation = 4;
  auto write = decide_deploy(view(), DeployRequest{spec_text("web", 3), ""}, stamper());
  ASSERT_TRUE(write) << write.error().message;
  EXPECT_EQ(write->entry->generation, 2u);
  EXPECT_EQ(write->entry->restart_generation, 4u);
  EXPECT_FALSE(write->reply.created);
}

TEST_F(ClientCommands, ARetryOfAWriteTheStateHoldsGetsItsAnswerAndWritesNothing) {
  deploy("web", 1, "", "w-7");
  auto write = decide_deploy(view(), DeployRequest{spec_text("web", 5), "w-7"}, stamper());
  ASSERT_TRUE(write) << write.error().message;
  EXPECT_FALSE(write->entry);
  EXPECT_EQ(write->reply.version, 1u);
  EXPECT_EQ(write->reply.agent, "x") << "the agent that took the write answers, as its record says";
  EXPECT_EQ(stamps_taken_, 0);
}

TEST_F(ClientCommands, RefusedDeploysNameTheRuleAndTakeNoStamp) {
  auto missing = decide_deploy(view(), DeployRequest{spec_text("web", 1, "db"), ""}, stamper());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::invalid_argument);
  EXPECT_NE(missing.error().message.find("\"db\" is not deployed"), std::string::npos) << missing.error().message;

  auto clock = decide_deploy(view("this agent's clock is off; send it elsewhere"), DeployRequest{spec_text("web"), ""},
                             stamper());
  ASSERT_FALSE(clock);
  EXPECT_EQ(clock.error().code, Errc::unavailable);
  EXPECT_EQ(clock.error().message, "this agent's clock is off; send it elsewhere");

  auto bad = decide_deploy(view(), DeployRequest{R"({"name": "web"})", ""}, stamper());
  ASSERT_FALSE(bad);
  EXPECT_EQ(stamps_taken_, 0);
}

TEST_F(ClientCommands, TheServiceLimitRefusesANewServiceButNotAnUpdate) {
  deploy("a");
  deploy("b");
  deploy("c");
  auto fourth = decide_deploy(view(), DeployRequest{spec_text("d"), ""}, stamper());
  ASSERT_FALSE(fourth);
  EXPECT_EQ(fourth.error().code, Errc::too_large);
  EXPECT_NE(fourth.error().message.find("--max-services"), std::string::npos);
  EXPECT_TRUE(decide_deploy(view(), DeployRequest{spec_text("c", 2), ""}, stamper()));
  EXPECT_EQ(deployed_count(state_), 3u);
}

TEST_F(ClientCommands, ADeployThatClosesADependencyCycleIsRefused) {
  deploy("a");
  deploy("b", 1, "a");
  auto cycle = decide_deploy(view(), DeployRequest{spec_text("a", 1, "b"), ""}, stamper());
  ASSERT_FALSE(cycle);
  EXPECT_NE(cycle.error().message.find("dependency cycle"), std::string::npos) << cycle.error().message;
}

TEST_F(ClientCommands, StopStartAndRestartChangeTheRecordAsDocumented) {
  deploy("web");
  auto stop = decide_control(view(), ControlRequest{"web", ControlAction::stop, ""}, stamper());
  ASSERT_TRUE(stop) << stop.error().message;
  EXPECT_FALSE(stop->entry->enabled);
  EXPECT_EQ(stop->entry->restart_generation, 0u);

  auto start = decide_control(view(), ControlRequest{"web", ControlAction::start, ""}, stamper());
  ASSERT_TRUE(start);
  EXPECT_TRUE(start->entry->enabled);
  EXPECT_EQ(start->entry->restart_generation, 0u) << "nothing gave up: start does not restart";

  instance("web", 0, "node-b", InstanceState::failed);
  auto start_failed = decide_control(view(), ControlRequest{"web", ControlAction::start, ""}, stamper());
  ASSERT_TRUE(start_failed);
  EXPECT_EQ(start_failed->entry->restart_generation, 1u) << "a failed instance gets a new generation";

  auto restart = decide_control(view(), ControlRequest{"web", ControlAction::restart, ""}, stamper());
  ASSERT_TRUE(restart);
  EXPECT_EQ(restart->entry->restart_generation, 1u);
  EXPECT_EQ(restart->reply.version, 1u);
}

TEST_F(ClientCommands, RemoveIsRefusedWhileOthersDependAndForceRemoveIsNot) {
  deploy("db");
  deploy("web", 1, "db");
  auto remove = decide_control(view(), ControlRequest{"db", ControlAction::remove, ""}, stamper());
  ASSERT_FALSE(remove);
  EXPECT_EQ(remove.error().code, Errc::conflict);
  EXPECT_NE(remove.error().message.find("web depend on it"), std::string::npos) << remove.error().message;
  EXPECT_NE(remove.error().message.find("mob-tool remove --force db"), std::string::npos);

  auto force = decide_control(view(), ControlRequest{"db", ControlAction::force_remove, ""}, stamper());
  ASSERT_TRUE(force) << force.error().message;
  EXPECT_TRUE(force->entry->removed);

  auto unknown = decide_control(view(), ControlRequest{"nope", ControlAction::stop, ""}, stamper());
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::not_found);
}

TEST_F(ClientCommands, StatusSaysWhyEachInstanceIsNotRunning) {
  member("node-a");
  member("node-b", MemberState::failed);
  deploy("web", 4);
  assign("web", 0, "node-a");
  instance("web", 0, "node-a", InstanceState::running);
  assign("web", 1, "node-a");                           // assigned, not started yet
  assign("web", 2, "node-b");                           // on a failed agent
  instance("web", 2, "node-b", InstanceState::running);
  int fit_calls = 0;                                    // index 3: never placed
  auto fit = [&] {
    ++fit_calls;
    return std::vector<Member>{};  // nobody may run it
  };
  auto status = service_statuses(view(), StatusRequest{"web"}, fit);
  ASSERT_TRUE(status) << status.error().message;
  ASSERT_EQ(status->services.size(), 1u);
  const auto& list = status->services[0].instance_list;
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list[0].state, InstanceState::running);
  EXPECT_EQ(list[1].reason, "assigned to node-a; waiting for it to start");
  EXPECT_EQ(list[2].reason, "agent node-b is failed; moving it");
  EXPECT_EQ(list[3].state, InstanceState::pending);
  EXPECT_EQ(list[3].reason, placement_problem(*lookup_(*state_.service("web")), {}));
  EXPECT_EQ(fit_calls, 1);

  auto unknown = service_statuses(view(), StatusRequest{"nope"}, fit);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::not_found);
}

TEST_F(ClientCommands, ARollbackRunsOnlyTheSameServiceAgainEvenWhenItsHistoryNamesAnother) {
  // Found by peer_store_fuzz: a kept spec naming another service made "rollback web" write
  // version 1 of that other service, rollback_of 2. Records from before the door checked the
  // name may still hold such a spec.
  ServiceEntry& web = deploy("web");
  deploy("web", 2);
  const std::string own = to_json(*parse_spec(spec_text("web", 3))).dump();
  const std::string other = to_json(*parse_spec(spec_text("db", 1))).dump();
  web.history = {VersionRecord{1, 1000, "node-a", own, "healthy", 0}};
  auto good = decide_rollback(view(), RollbackRequest{"web", 1, ""}, stamper());
  ASSERT_TRUE(good) << good.error().message;
  ASSERT_TRUE(good->entry);
  EXPECT_EQ(good->entry->name, "web");
  EXPECT_EQ(good->entry->generation, 3u);
  EXPECT_EQ(good->entry->history.back().rollback_of, 1u);

  web.history = {VersionRecord{1, 1000, "node-a", other, "healthy", 0}};
  stamps_taken_ = 0;
  auto refused = decide_rollback(view(), RollbackRequest{"web", 1, ""}, stamper());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::invalid_argument);
  EXPECT_EQ(refused.error().message,
            "rollback web 1: the spec kept for version 1 names the service \"db\", not \"web\"; "
            "deploy a spec file of web instead");
  EXPECT_EQ(stamps_taken_, 0);
  EXPECT_EQ(state_.service("db"), nullptr);

  web.history = {VersionRecord{1, 1000, "node-a", R"({"name":"web"})", "healthy", 0}};
  auto unparsable = decide_rollback(view(), RollbackRequest{"web", 1, ""}, stamper());
  ASSERT_FALSE(unparsable);
  EXPECT_EQ(unparsable.error().message.rfind("rollback web 1: the spec kept for version 1: ", 0), 0u)
      << unparsable.error().message;
}

TEST_F(ClientCommands, ScaleIsANewVersionThatChangesOnlyTheInstanceCount) {
  deploy("web", 3).enabled = false;  // a stopped service stays stopped when scaled
  auto scaled = decide_control(view(), ControlRequest{"web", ControlAction::scale, "w-2", 5}, stamper());
  ASSERT_TRUE(scaled) << scaled.error().message;
  ASSERT_TRUE(scaled->entry);
  EXPECT_EQ(scaled->entry->generation, 2u);
  EXPECT_EQ(scaled->reply.version, 2u);
  EXPECT_FALSE(scaled->entry->enabled);
  auto before = nlohmann::json::parse(state_.service("web")->spec_json.str());
  auto after = nlohmann::json::parse(scaled->entry->spec_json.str());
  EXPECT_EQ(after["instances"], 5);
  after["instances"] = before["instances"];
  EXPECT_EQ(after, before) << "nothing but instances changed";

  auto same = decide_control(view(), ControlRequest{"web", ControlAction::scale, "", 3}, stamper());
  ASSERT_TRUE(same);
  EXPECT_FALSE(same->entry) << "the same count writes no version";
  EXPECT_EQ(same->reply.version, 1u);

  auto huge = decide_control(view(), ControlRequest{"web", ControlAction::scale, "", 101}, stamper());
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().message, "instances: expected an integer from 0 to 100, got 101 (the agent's limit, --max-instances)");
  auto ghost = decide_control(view(), ControlRequest{"ghost", ControlAction::scale, "", 1}, stamper());
  ASSERT_FALSE(ghost);
  EXPECT_EQ(ghost.error().code, Errc::not_found);
}

TEST_F(ClientCommands, ScaleIsRefusedWhileCanariesRunBesideTheStableVersionNamingPromote) {
  deploy("web", 4);
  ServiceEntry& rolling = deploy("web", 4);  // version 2, its canary beside version 1
  rolling.stable_generation = 1;
  rolling.stable_spec_json = rolling.spec_json;
  rolling.canaries = 1;
  auto waiting = decide_control(view(), ControlRequest{"web", ControlAction::scale, "", 5}, stamper());
  ASSERT_FALSE(waiting);
  EXPECT_EQ(waiting.error().code, Errc::conflict);
  EXPECT_EQ(waiting.error().message,
            "web version 2 runs a canary beside version 1 until it is promoted: a scale now would turn a canary's "
            "slot into an ordinary instance; promote first (mob-tool promote web), or drop the canaries "
            "(mob-tool rollback web), then scale");
  rolling.promoted = true;
  auto promoted = decide_control(view(), ControlRequest{"web", ControlAction::scale, "", 5}, stamper());
  ASSERT_FALSE(promoted);
  EXPECT_EQ(promoted.error().message,
            "web version 2 is rolling out after its canaries were promoted; scale once it is done "
            "(mob-tool status web shows it)");
  rolling.canaries = 0;  // the rollout's end
  rolling.promoted = false;
  rolling.stable_generation = 0;
  EXPECT_TRUE(decide_control(view(), ControlRequest{"web", ControlAction::scale, "", 5}, stamper()));
}

TEST(RecentWrites, ARetryGetsTheFirstAnswerUntilItIsForgotten) {
  using namespace std::chrono_literals;
  RecentWrites writes(2, 10min);
  RecentWrites::Clock::time_point t0{};
  EXPECT_EQ(writes.remember("w1", ControlReply{"a", 1}, t0).version, 1u);
  writes.remember("w1", ControlReply{"a", 2}, t0);  // a known id keeps its first answer
  auto again = writes.answer_to("w1", t0 + 1min);
  ASSERT_TRUE(again);
  EXPECT_EQ(std::get<ControlReply>(*again).version, 1u);
  EXPECT_FALSE(writes.answer_to("", t0));
  EXPECT_FALSE(writes.answer_to("w1", t0 + 11min)) << "forgotten after its life";

  writes.remember("x1", ControlReply{"a", 1}, t0 + 20min);
  writes.remember("x2", ControlReply{"a", 2}, t0 + 20min);
  writes.remember("x3", ControlReply{"a", 3}, t0 + 20min);
  EXPECT_FALSE(writes.answer_to("x1", t0 + 20min)) << "past the capacity, the oldest goes";
  EXPECT_TRUE(writes.answer_to("x3", t0 + 20min));
}

TEST(RecentWrites, ExpiredAnswersLeaveMemoryWithoutARetryAskingForThem) {
  using namespace std::chrono_literals;
  RecentWrites writes(4096, 10min);
  RecentWrites::Clock::time_point t0{};
  for (int i = 0; i < 100; ++i) writes.remember("w" + std::to_string(i), DeployReply{"s", 1, true, 7, "a", 9}, t0);
  writes.remember("late", ControlReply{"s", 2}, t0 + 5min);
  writes.forget_expired(t0 + 9min);
  EXPECT_EQ(writes.size(), 101u);
  writes.forget_expired(t0 + 11min);
  EXPECT_EQ(writes.size(), 1u) << "the store's garbage collection forgets them";
  auto kept = writes.answer_to("late", t0 + 11min);
  ASSERT_TRUE(kept);
  EXPECT_EQ(std::get<ControlReply>(*kept).version, 2u);
}

// ---- local assignments ------------------------------------------------------------------------

class LocalAssignmentsTest : public StateFixture {
 protected:
  LocalAssignments::Changes update(std::vector<std::string> targets, bool runs_nothing = false,
                                   bool everything = false) {
    return local_.update(state_, targets, everything, "node-a", runs_nothing, lookup_, stable_lookup_, now_);
  }
  std::optional<ServiceSpec> stable_spec_;
  const SpecOf stable_lookup_ = [this](const ServiceEntry& entry) -> const ServiceSpec* {
    auto spec = parse_spec(entry.stable_spec_json, kAnySpecFromThePeers);
    stable_spec_ = spec ? std::optional(*spec) : std::nullopt;
    return stable_spec_ ? &*stable_spec_ : nullptr;
  };
  LocalAssignments local_;
  LocalAssignments::Clock::time_point now_{std::chrono::hours(1)};
};

TEST_F(LocalAssignmentsTest, TheSupervisorIsToldWhatRunsHereOnceAndAgainOnlyWhenItChanges) {
  deploy("web", 3);
  assign("web", 0, "node-a");
  assign("web", 1, "node-b");
  assign("web", 2, "node-a");
  auto first = update({"web"});
  ASSERT_EQ(first.to_supervisor.size(), 1u);
  const auto& told = std::get<ServiceAssignment>(first.to_supervisor[0]);
  EXPECT_EQ(told.instances, (std::vector<std::uint32_t>{0, 2}));
  EXPECT_TRUE(told.dependencies_ready);
  EXPECT_EQ(to_json(told.spec), to_json(*spec_of(*state_.service("web")))) << "the spec goes parsed";
  EXPECT_FALSE(told.stable_spec);
  EXPECT_EQ(local_.local_instances(), 2u);
  EXPECT_TRUE(update({"web"}).to_supervisor.empty()) << "nothing changed: nothing sent";

  auto clock_off = update({"web"}, /*runs_nothing=*/true);
  ASSERT_EQ(clock_off.to_supervisor.size(), 1u);
  EXPECT_TRUE(std::get<ServiceAssignment>(clock_off.to_supervisor[0]).instances.empty());
  EXPECT_EQ(local_.local_instances(), 0u);
}

// The count of local instances (an agent's load in its heartbeat) is kept as the supervisor
// is told, and equals the instances it was last told of each service, whatever the order of
// deploys, scales, moves and removals.
TEST_F(LocalAssignmentsTest, TheLocalInstanceCountIsWhatTheSupervisorWasLastTold) {
  std::mt19937 random(11);
  std::map<std::string, std::size_t> told;  // service -> instances told to run here
  const std::vector<std::string> services{"s0", "s1", "s2", "s3", "s4"};
  for (int step = 0; step < 400; ++step) {
    const std::string& name = services[random() % services.size()];
    const int what = static_cast<int>(random() % 6);
    if (what == 0) {
      deploy(name, static_cast<std::uint32_t>(random() % 4));  // a scale, up or down
    } else if (what == 1 && state_.service(name)) {
      ServiceEntry removed = *state_.service(name);
      removed.removed = true;
      removed.stamp.hlc += 1000;
      state_.merge(removed);
    } else {
      if (!state_.service(name) || state_.service(name)->removed) deploy(name, 3);
      assign(name, static_cast<std::uint32_t>(random() % 3), random() % 2 ? "node-a" : "node-b", random() % 5 == 0);
    }
    std::vector<std::string> targets;
    for (const auto& service : services)
      if (random() % 2) targets.push_back(service);
    for (const auto& message : update(targets, false, random() % 4 == 0).to_supervisor) {
      if (const auto* assignment = std::get_if<ServiceAssignment>(&message))
        told[assignment->name] = assignment->instances.size() + assignment->stable_instances.size();
      else told.erase(std::get<ServiceWithdrawn>(message).name);
    }
    std::size_t sum = 0;
    for (const auto& [service, instances] : told) sum += instances;
    ASSERT_EQ(local_.local_instances(), sum) << "step " << step;
  }
}

// Service discovery: a dependent's assignment carries its dependencies' addresses, and is
// sent again when they change (the supervisor then restarts or signals its instances).
TEST_F(LocalAssignmentsTest, ADependentIsToldItsDependenciesAddressesAgainWhenTheyChange) {
  member("node-a");
  member("node-b");
  deploy("db");
  deploy("web", 1, "db");
  assign("web", 0, "node-a");
  auto serves_at = [&](const std::string& node, const std::string& host, std::uint32_t port) {
    InstanceEntry entry;
    entry.status.service = "db";
    entry.status.node = node;
    entry.status.state = InstanceState::running;
    entry.status.host = host;
    entry.status.ports = {{"pg", port}};
    entry.stamp = Stamp{++stamp_, node};
    state_.merge(entry);
  };
  assign("db", 0, "node-b");
  serves_at("node-b", "10.0.0.6", 12000);
  auto first = update({"web"});
  ASSERT_EQ(first.to_supervisor.size(), 1u);
  const auto& told = std::get<ServiceAssignment>(first.to_supervisor[0]);
  EXPECT_TRUE(told.dependencies_ready);
  EXPECT_EQ(told.dependency_env.at("MOB_DB_HOST"), "10.0.0.6");
  EXPECT_EQ(told.dependency_env.at("MOB_DB_PORT_PG"), "12000");
  EXPECT_EQ(told.dependency_env.at("MOB_DB_ENDPOINTS_PG"), "10.0.0.6:12000");
  EXPECT_TRUE(update({"web"}).to_supervisor.empty());

  member("node-b", MemberState::failed);  // db's agent fails; db runs again on node-a
  assign("db", 0, "node-a");
  serves_at("node-a", "10.0.0.5", 13000);
  auto moved = update({"web"});
  ASSERT_EQ(moved.to_supervisor.size(), 1u);
  EXPECT_EQ(std::get<ServiceAssignment>(moved.to_supervisor[0]).dependency_env.at("MOB_DB_ENDPOINTS_PG"),
            "10.0.0.5:13000");
}

TEST_F(LocalAssignmentsTest, DuringARollingUpdateTheInstancesNotMovedRunTheStableVersion) {
  ServiceEntry& rolling = deploy_over_stable("web", 3);
  const std::string stable_spec = rolling.stable_spec_json.str();
  assign_each("web", {"node-a", "node-a", "node-b"});
  run_version("web", 1, 2);
  auto changes = update({"web"});
  ASSERT_EQ(changes.to_supervisor.size(), 1u);
  const auto& told = std::get<ServiceAssignment>(changes.to_supervisor[0]);
  EXPECT_EQ(told.version, 2u);
  EXPECT_EQ(told.instances, std::vector<std::uint32_t>{1}) << "moved: the new version";
  EXPECT_EQ(told.stable_instances, std::vector<std::uint32_t>{0}) << "not moved: the stable version";
  EXPECT_EQ(told.stable_version, 1u);
  EXPECT_EQ(told.stable_spec_json, stable_spec);
  ASSERT_TRUE(told.stable_spec) << "the stable spec goes parsed too";
  EXPECT_EQ(to_json(*told.stable_spec).dump(), stable_spec);
  EXPECT_EQ(local_.local_instances(), 2u);

  // Reverted: the stable spec is current again, every instance runs it.
  rolling.rollout = "reverted: web/1 unhealthy";
  auto reverted = update({"web"});
  ASSERT_EQ(reverted.to_supervisor.size(), 1u);
  const auto& after = std::get<ServiceAssignment>(reverted.to_supervisor[0]);
  EXPECT_EQ(after.instances, (std::vector<std::uint32_t>{0, 1}));
  EXPECT_TRUE(after.stable_instances.empty());
  EXPECT_EQ(after.stable_version, 1u) << "instances launched from it carry over";
}

// A revert sets canaries to 0 in the same write that makes the stable spec current; the
// canary's slot (index `instances`) is removed by the owner a turn later. Meanwhile the slot
// must not start under the reverted spec: that would be one instance more than wanted.
TEST_F(LocalAssignmentsTest, ARevertedCanarysSlotIsNotStartedUnderTheStableSpecBeforeTheOwnerRemovesIt) {
  ServiceEntry& canary = deploy_over_stable("web", 2);
  const std::string stable_spec = canary.stable_spec_json.str();
  canary.canaries = 1;
  assign_each("web", {"node-a", "node-a", "node-a"});
  run_version("web", 2, 2);
  auto running = update({"web"});
  ASSERT_EQ(running.to_supervisor.size(), 1u);
  EXPECT_EQ(std::get<ServiceAssignment>(running.to_supervisor[0]).instances, std::vector<std::uint32_t>{2})
      << "the canary runs the new version";
  EXPECT_EQ(std::get<ServiceAssignment>(running.to_supervisor[0]).stable_instances, (std::vector<std::uint32_t>{0, 1}));

  ServiceEntry& reverted = deploy("web", 2);  // version 3: the stable spec again, no canary
  reverted.spec_json = stable_spec;
  reverted.stable_generation = 1;
  reverted.stable_spec_json = stable_spec;
  reverted.canaries = 0;
  reverted.rollout = "reverted: web/2 exited";
  auto after = update({"web"});
  ASSERT_EQ(after.to_supervisor.size(), 1u);
  const auto& told = std::get<ServiceAssignment>(after.to_supervisor[0]);
  EXPECT_EQ(told.instances, (std::vector<std::uint32_t>{0, 1})) << "the slot past the wanted count is not started";
  EXPECT_TRUE(told.stable_instances.empty());
  EXPECT_EQ(local_.local_instances(), 2u);
}

TEST_F(LocalAssignmentsTest, AnInstanceMovedAwayRunsHereUntilItsNewCopyRunsOrTheLimitPasses) {
  deploy("web");
  assign("web", 0, "node-a");
  instance("web", 0, "node-a", InstanceState::running);
  update({"web"});
  assign("web", 0, "node-b");  // moved away while it runs here
  EXPECT_TRUE(update({"web"}).to_supervisor.empty()) << "still index 0 here: the same assignment";
  EXPECT_TRUE(local_.has_handovers());
  now_ += kHandoverLimit - std::chrono::seconds(1);
  EXPECT_TRUE(update({"web"}).to_supervisor.empty());
  instance("web", 0, "node-b", InstanceState::running);  // the new copy runs
  auto handed = update({"web"});
  ASSERT_EQ(handed.to_supervisor.size(), 1u);
  EXPECT_TRUE(std::get<ServiceAssignment>(handed.to_supervisor[0]).instances.empty());

  // Without a new copy, the handover ends at the limit.
  deploy("api");
  assign("api", 0, "node-a");
  instance("api", 0, "node-a", InstanceState::running);
  update({"api"});
  assign("api", 0, "node-c");
  update({"api"});
  now_ += kHandoverLimit;
  auto limit = update({"api"});
  ASSERT_EQ(limit.to_supervisor.size(), 1u);
  EXPECT_TRUE(std::get<ServiceAssignment>(limit.to_supervisor[0]).instances.empty());
}

// A handover keeps a copy the supervisor runs; it never starts one. After a restart (every
// copy died with the agent) or a clock put right (the agent ran nothing while it was off),
// this agent's own record of an instance moved away may still read "running".
TEST_F(LocalAssignmentsTest, AStaleRecordOfThisAgentRunningAnInstanceMovedAwayStartsNoCopy) {
  deploy("web", 2);
  assign("web", 0, "node-a");
  assign("web", 1, "node-b");  // moved away before this agent ever told its supervisor
  instance("web", 0, "node-a", InstanceState::running);
  instance("web", 1, "node-a", InstanceState::running);  // stale: from before
  auto changes = update({"web"});
  ASSERT_EQ(changes.to_supervisor.size(), 1u);
  EXPECT_EQ(std::get<ServiceAssignment>(changes.to_supervisor[0]).instances, std::vector<std::uint32_t>{0});
  EXPECT_FALSE(local_.has_handovers());
  EXPECT_EQ(local_.local_instances(), 1u);

  // Once its supervisor ran it, the same record makes a handover.
  assign("web", 1, "node-a");
  update({"web"});
  assign("web", 1, "node-b");
  EXPECT_TRUE(update({"web"}).to_supervisor.empty()) << "index 1 keeps running here";
  EXPECT_TRUE(local_.has_handovers());
}

TEST_F(LocalAssignmentsTest, ARemovedServiceIsWithdrawnAndStaleRecordsOfThisAgentAreTombstoned) {
  deploy("web");
  assign("web", 0, "node-a");
  update({"web"});
  ServiceEntry removed = *state_.service("web");
  removed.removed = true;
  removed.stamp = Stamp{++stamp_, "x"};
  state_.merge(removed);
  instance("web", 0, "node-a", InstanceState::exited);
  instance("web", 0, "node-b", InstanceState::exited);  // another agent's record: not ours to tombstone
  auto changes = update({"web"});
  ASSERT_EQ(changes.to_supervisor.size(), 1u);
  EXPECT_EQ(std::get<ServiceWithdrawn>(changes.to_supervisor[0]).name, "web");
  ASSERT_EQ(changes.stale.size(), 1u);
  EXPECT_EQ(changes.stale[0].status.node, "node-a");
  EXPECT_TRUE(changes.stale[0].removed);

  // A record that runs is never stale, even when not assigned here.
  deploy("api");
  instance("api", 0, "node-a", InstanceState::running);
  EXPECT_TRUE(update({"api"}).stale.empty());
}

// ---- subscriptions ----------------------------------------------------------------------------------

class SubscriptionsTest : public StateFixture {};

TEST_F(SubscriptionsTest, ReadsTheHighestRankedLivePeersAndFollowsFailuresAndLeaves) {
  std::set<std::string> names;
  for (int i = 0; i < 6; ++i) {
    std::string name = "node-" + std::to_string(i);
    member(name, MemberState::alive, "tcp://127.0.0.1:" + std::to_string(8000 + i));
    names.insert(name);
  }
  member("me", MemberState::alive, "tcp://127.0.0.1:8999");
  names.insert("me");
  Subscriptions links("me", 2);
  auto first = links.update(state_, names);
  EXPECT_EQ(first.added.size(), 6u) << "this agent is not its own peer";
  ASSERT_EQ(first.subscribe.size(), 2u);
  // The two with the highest rendezvous score for "me".
  std::vector<std::pair<std::uint64_t, std::string>> ranked;
  for (int i = 0; i < 6; ++i) ranked.emplace_back(rendezvous_score("me", "node-" + std::to_string(i)), "node-" + std::to_string(i));
  std::sort(ranked.rbegin(), ranked.rend());
  std::set<std::string> want{state_.member(ranked[0].second)->member.pub_address,
                             state_.member(ranked[1].second)->member.pub_address};
  EXPECT_EQ(std::set<std::string>(first.subscribe.begin(), first.subscribe.end()), want);
  EXPECT_FALSE(first.sync_first.empty());
  EXPECT_FALSE(links.has_failed_members());

  // The best one fails: it is dropped for the third, and listed failed.
  member(ranked[0].second, MemberState::failed, state_.member(ranked[0].second)->member.pub_address);
  auto failed = links.update(state_, {ranked[0].second});
  EXPECT_EQ(failed.gone, std::vector<std::string>{ranked[0].second});
  EXPECT_EQ(failed.unsubscribe, std::vector<std::string>{state_.member(ranked[0].second)->member.pub_address});
  EXPECT_EQ(failed.subscribe, std::vector<std::string>{state_.member(ranked[2].second)->member.pub_address});
  EXPECT_TRUE(links.has_failed_members());
  EXPECT_TRUE(links.subscribed(state_.member(ranked[2].second)->member.pub_address));

  // Another leaves: its link is forgotten; nothing else moves.
  const std::string address = state_.member(ranked[5].second)->member.address;
  member(ranked[5].second, MemberState::left);
  auto left = links.update(state_, {ranked[5].second});
  EXPECT_EQ(left.forget, std::vector<std::string>{address});
  EXPECT_TRUE(left.subscribe.empty());
  EXPECT_TRUE(left.unsubscribe.empty());
}

// The subscriptions kept step by step are those picked from scratch, whatever the order of
// joins, heartbeats, failures, leaves, returns and moved or shared PUB endpoints.
TEST_F(SubscriptionsTest, StepByStepTheyAreWhatAPassOverEveryMemberWouldPick) {
  std::mt19937 random(7);
  const std::uint32_t max_subscriptions = 3;
  Subscriptions links("me", max_subscriptions);
  std::vector<std::string> names;
  for (int i = 0; i < 12; ++i) names.push_back("node-" + std::to_string(i));
  std::map<std::string, std::string> pub_of;  // what each member publishes on now
  int fast_calls = 0;
  for (int step = 0; step < 3000; ++step) {
    std::set<std::string> changed;
    int count = 1 + static_cast<int>(random() % 3);
    for (int c = 0; c < count; ++c) {
      const std::string& name = names[random() % names.size()];
      int what = static_cast<int>(random() % 10);
      std::string pub = pub_of.contains(name) ? pub_of[name] : "tcp://127.0.0.1:" + std::to_string(9000 + (random() % 12));
      if (what == 0) pub = "tcp://127.0.0.1:" + std::to_string(9000 + (random() % 12));  // moved, or shared with another
      pub_of[name] = pub;
      MemberState state = what <= 5 ? MemberState::alive                             // heartbeats mostly
                          : what <= 7 ? MemberState::suspect
                          : what == 8 ? MemberState::failed
                                      : MemberState::left;
      member(name, state, pub);
      changed.insert(name);
    }
    auto changes = links.update(state_, changed);
    if (changes.subscribe.empty() && changes.unsubscribe.empty()) ++fast_calls;
    // From scratch: the live members with a PUB, highest rendezvous score first.
    std::vector<std::pair<std::uint64_t, std::string>> ranked;
    for (const auto& name : names) {
      const MemberEntry* entry = state_.member(name);
      if (entry && is_live_member(entry->member.state) && !entry->member.pub_address.empty())
        ranked.emplace_back(rendezvous_score("me", name), name);
    }
    std::sort(ranked.rbegin(), ranked.rend());
    std::set<std::string> want;
    for (std::size_t i = 0; i < ranked.size() && i < max_subscriptions; ++i) want.insert(state_.member(ranked[i].second)->member.pub_address);
    for (int port = 9000; port < 9012; ++port) {
      std::string pub = "tcp://127.0.0.1:" + std::to_string(port);
      ASSERT_EQ(links.subscribed(pub), want.contains(pub)) << "step " << step << ", " << pub;
    }
  }
  EXPECT_GT(fast_calls, 500) << "most changes (heartbeats) move no subscription";
}

// ---- relay coverage ----------------------------------------------------------------------------------

class RelayCoverageTest : public StateFixture {
 protected:
  // Who reads whom, as each member's own Subscriptions picks (every member sees this state).
  std::map<std::string, std::set<std::string>> readers_by_subscriptions(const std::vector<std::string>& names,
                                                                         std::uint32_t max_subscriptions) {
    std::map<std::string, std::string> name_of_pub;
    for (const auto& name : names)
      if (const MemberEntry* entry = state_.member(name); entry && is_live_member(entry->member.state))
        name_of_pub[entry->member.pub_address] = name;
    std::map<std::string, std::set<std::string>> reads;  // reader -> the members it reads
    for (const auto& reader : names) {
      const MemberEntry* entry = state_.member(reader);
      if (!entry || !is_live_member(entry->member.state)) continue;
      Subscriptions links(reader, max_subscriptions);
      auto changes = links.update(state_, std::set<std::string>(names.begin(), names.end()));
      for (const auto& pub : changes.subscribe) reads[reader].insert(name_of_pub.at(pub));
    }
    return reads;
  }
};

// In a full mesh every reader reads every sender: no workload record needs a relay.
TEST_F(RelayCoverageTest, InAFullMeshEverySenderIsCovered) {
  std::vector<std::string> names;
  for (int i = 0; i < 9; ++i) {
    names.push_back("node-" + std::to_string(i));
    member(names.back(), MemberState::alive, "tcp://127.0.0.1:" + std::to_string(8000 + i));
  }
  RelayCoverage coverage("node-0", 8);
  coverage.update(state_);
  for (const auto& name : names)
    EXPECT_EQ(coverage.readers_read(name), name != "node-0") << name;
  EXPECT_FALSE(coverage.readers_read("stranger")) << "a sender not known live is relayed";
}

// Past a full mesh, each agent's coverage is what the members' own Subscriptions pick: a
// sender is covered exactly when every reader of the agent (other than the sender) reads it.
// Checked for every agent of networks of 10 to 20 with some members failed and suspect.
TEST_F(RelayCoverageTest, CoveredExactlyWhenEveryReaderReadsTheSenderAsSubscriptionsPick) {
  std::mt19937 random(11);
  int covered_seen = 0, relayed_seen = 0;
  for (int size : {10, 12, 16, 20}) {
    state_ = ClusterState{};
    std::vector<std::string> names;
    for (int i = 0; i < size; ++i) {
      names.push_back("agent-" + std::to_string(size) + "-" + std::to_string(i));
      const int what = static_cast<int>(random() % 8);
      member(names.back(), what == 0 ? MemberState::failed : what == 1 ? MemberState::suspect : MemberState::alive,
             "tcp://127.0.0.1:" + std::to_string(8000 + i));
    }
    const std::uint32_t max_subscriptions = 8;
    auto reads = readers_by_subscriptions(names, max_subscriptions);
    for (const auto& self : names) {
      if (!reads.contains(self)) continue;  // failed: relays everything, covers nothing
      RelayCoverage coverage(self, max_subscriptions);
      coverage.update(state_);
      for (const auto& sender : names) {
        if (sender == self || !reads.contains(sender)) {
          EXPECT_FALSE(coverage.readers_read(sender)) << self << " from " << sender;
          continue;
        }
        bool want = true;
        for (const auto& [reader, read] : reads)
          if (reader != self && reader != sender && read.contains(self) && !read.contains(sender)) want = false;
        EXPECT_EQ(coverage.readers_read(sender), want) << self << " from " << sender << " in " << size;
        ++(want ? covered_seen : relayed_seen);
      }
    }
  }
  EXPECT_GT(covered_seen, 0) << "the networks tried must cover some senders";
  EXPECT_GT(relayed_seen, 0) << "and leave others relayed";
}

// Past max_members, and for an agent that is not live in its own view, nothing is covered.
TEST_F(RelayCoverageTest, ALargeNetworkOrALeavingAgentRelaysEverything) {
  for (int i = 0; i < 6; ++i) member("node-" + std::to_string(i), MemberState::alive, "tcp://127.0.0.1:" + std::to_string(8000 + i));
  RelayCoverage small("node-0", 8, /*max_members=*/5);
  small.update(state_);
  for (int i = 1; i < 6; ++i) EXPECT_FALSE(small.readers_read("node-" + std::to_string(i)));
  RelayCoverage enough("node-0", 8, /*max_members=*/6);
  enough.update(state_);
  EXPECT_TRUE(enough.readers_read("node-1"));
  enough.clear();
  EXPECT_FALSE(enough.readers_read("node-1"));
  member("node-0", MemberState::left, "tcp://127.0.0.1:8000");
  RelayCoverage leaving("node-0", 8);
  leaving.update(state_);
  EXPECT_FALSE(leaving.readers_read("node-1"));
}

// ---- membership bookkeeping ------------------------------------------------------------------------

TEST(JoinAttempt, SendsToEachSeedWithDoublingBackoffAndAnswersWaitingClientsOnce) {
  using namespace std::chrono_literals;
  JoinAttempt join;
  JoinAttempt::Clock::time_point t0{std::chrono::hours(1)};
  EXPECT_TRUE(join.due(t0).empty()) << "not joining: nothing is due";
  auto refused = join.begin({"127.0.0.1:7000", "tcp://127.0.0.2:7000", "ipc:///tmp/x", "nohost"}, t0);
  EXPECT_EQ(refused.size(), 2u);
  EXPECT_TRUE(join.joining());
  EXPECT_EQ(join.due(t0), (std::vector<std::string>{"tcp://127.0.0.1:7000", "tcp://127.0.0.2:7000"}));
  EXPECT_TRUE(join.due(t0 + 199ms).empty());
  EXPECT_EQ(join.due(t0 + 200ms).size(), 2u);  // then 400 ms later, 800 ms, ... 5 s at most
  EXPECT_TRUE(join.due(t0 + 599ms).empty());
  EXPECT_EQ(join.due(t0 + 600ms).size(), 2u);
  EXPECT_EQ(join.next_at(), t0 + 1400ms);
  auto at = t0 + 1400ms;
  for (int i = 0; i < 8; ++i) {
    ASSERT_FALSE(join.due(at).empty());
    at = join.next_at();
  }
  EXPECT_EQ(join.next_at() - t0 - 1400ms - (1600ms + 3200ms + 5000ms * 6), 0ms) << "the backoff stops at 5 s";

  Routed client{"client-1", {}};
  join.wait(client);
  EXPECT_TRUE(join.overdue(t0 + 2499ms).empty());
  EXPECT_EQ(join.overdue(t0 + 2500ms).size(), 1u) << "a client waits 2.5 s at most";
  EXPECT_TRUE(join.overdue(t0 + 3000ms).empty()) << "answered once";
  EXPECT_TRUE(join.joining()) << "joining goes on in the background";

  join.wait(Routed{"client-2", {}});
  auto waiting = join.answered();
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_EQ(waiting[0].route, "client-2");
  EXPECT_FALSE(join.joining());
  EXPECT_TRUE(join.due(at + 1h).empty());
}

TEST(ProbeRelays, AreBoundedAnsweredOnceAndForgottenWhenTheyExpire) {
  using namespace std::chrono_literals;
  ProbeRelays relays(2);
  ProbeRelays::Clock::time_point t0{std::chrono::hours(1)};
  auto a = relays.open(Routed{"a", {}}, 11, t0 + 1s);
  auto b = relays.open(Routed{"b", {}}, 12, t0 + 2s);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(ack_for(*a), AckFor::relay);
  EXPECT_FALSE(relays.open(Routed{"c", {}}, 13, t0 + 1s)) << "the limit holds";
  auto closed = relays.close(*a);
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->request.route, "a");
  EXPECT_EQ(closed->seq, 11u);
  EXPECT_FALSE(relays.close(*a)) << "answered once";
  relays.expire(t0 + 3s);
  EXPECT_EQ(relays.size(), 0u);
  EXPECT_FALSE(relays.close(*b));
}

TEST(ProbeSeqs, EachSenderHasItsOwnRange) {
  EXPECT_EQ(ack_for(0), AckFor::detector);
  EXPECT_EQ(ack_for(kClockCheckSeqBase - 1), AckFor::detector);
  EXPECT_EQ(ack_for(kClockCheckSeqBase), AckFor::clock_check);
  EXPECT_EQ(ack_for(kReconnectSeqBase), AckFor::reconnect);
  EXPECT_EQ(ack_for(kRelaySeqBase), AckFor::relay);
  EXPECT_EQ(ack_for(~0ULL), AckFor::relay);
}

class PeerChoice : public StateFixture {};

TEST_F(PeerChoice, SyncPicksALivePeerAndReconnectAFailedOneNeverItself) {
  std::mt19937_64 random(7);
  EXPECT_EQ(random_live_peer(state_, "me", random), "");
  EXPECT_EQ(random_failed_member(state_, "me", random), nullptr);
  member("me");
  member("up");
  member("doubt", MemberState::suspect);
  member("down", MemberState::failed);
  member("gone", MemberState::left);
  std::set<std::string> synced, probed;
  for (int i = 0; i < 200; ++i) {
    synced.insert(random_live_peer(state_, "me", random));
    probed.insert(random_failed_member(state_, "me", random)->name);
  }
  EXPECT_EQ(synced, (std::set<std::string>{state_.member("up")->member.address, state_.member("doubt")->member.address}));
  EXPECT_EQ(probed, std::set<std::string>{"down"});
}

// ---- the record format ---------------------------------------------------------------------------

TEST(ServiceRecord, ARecordReadsBackAsTheEntryItWasWrittenFrom) {
  auto spec = parse_spec(spec_text("web", 2));
  ASSERT_TRUE(spec);
  ServiceEntry entry;
  entry.name = "web";
  entry.spec_json = to_json(*spec).dump();
  entry.generation = 7;
  entry.enabled = false;
  entry.restart_generation = 3;
  entry.removed = true;
  entry.stamp = Stamp{123456789, "node-a"};
  entry.write_id = "w-9";
  auto back = parse_service_record(service_record_text(entry));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->name, entry.name);
  EXPECT_EQ(back->spec_json, entry.spec_json);
  EXPECT_EQ(back->generation, 7u);
  EXPECT_FALSE(back->enabled);
  EXPECT_EQ(back->restart_generation, 3u);
  EXPECT_TRUE(back->removed);
  EXPECT_EQ(back->stamp.hlc, entry.stamp.hlc);
  EXPECT_EQ(back->stamp.origin, "node-a");
  EXPECT_EQ(back->write_id, "w-9");
  EXPECT_EQ(back->stable_generation, 0u);
  EXPECT_TRUE(back->stable_spec_json.empty());

  // A rolling update under way keeps its stable version across a restart.
  auto stable = parse_spec(spec_text("web", 1));
  ASSERT_TRUE(stable);
  entry.stable_generation = 6;
  entry.stable_spec_json = to_json(*stable).dump();
  entry.rollout = "failed: web/0 unhealthy";
  auto rolling = parse_service_record(service_record_text(entry));
  ASSERT_TRUE(rolling) << rolling.error().message;
  EXPECT_EQ(rolling->stable_generation, 6u);
  EXPECT_EQ(rolling->stable_spec_json, entry.stable_spec_json);
  EXPECT_EQ(rolling->rollout, "failed: web/0 unhealthy");
}

TEST(ServiceRecord, TheHistoryAndTheCanariesSurviveARestart) {
  const std::string v1 = to_json(*parse_spec(spec_text("web", 1))).dump();
  const std::string v2 = to_json(*parse_spec(spec_text("web", 2))).dump();
  ServiceEntry entry;
  entry.name = "web";
  entry.spec_json = v2;
  entry.generation = 3;
  entry.stamp = Stamp{5, "node-a"};
  entry.history = {VersionRecord{2, 1700000000000, "node-b", v1, "reverted: web/0 exited", 0},
                   VersionRecord{3, 1700000001000, "node-a", v2, "", 1}};
  entry.canaries = 2;
  entry.promoted = true;
  auto back = parse_service_record(service_record_text(entry));
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->history.size(), 2u);
  EXPECT_EQ(back->history[0].version, 2u);
  EXPECT_EQ(back->history[0].time_ms, 1700000000000);
  EXPECT_EQ(back->history[0].through, "node-b");
  EXPECT_EQ(back->history[0].spec_json, v1);
  EXPECT_EQ(back->history[0].outcome, "reverted: web/0 exited");
  EXPECT_EQ(back->history[1].rollback_of, 1u);
  EXPECT_EQ(back->canaries, 2u);
  EXPECT_TRUE(back->promoted);
  // The spec texts are written as they are (not parsed and dumped again): each one's text is
  // in the record, and the whole is JSON.
  const std::string text = service_record_text(entry);
  EXPECT_NE(text.find(R"("spec":)" + v1), std::string::npos) << text;
  EXPECT_NE(text.find(R"("spec":)" + v2), std::string::npos) << text;
  EXPECT_TRUE(nlohmann::json::accept(text)) << text;
}

TEST(ServiceRecord, WhatIsNotARecordIsRefusedNeverThrown) {
  const std::string spec = to_json(*parse_spec(spec_text("web"))).dump();
  for (const std::string& text :
       {std::string("garbage"), std::string("[]"), std::string(R"({"spec": {}})"),
        R"({"stamp": 5, "spec": )" + spec + "}", R"({"stamp": {"hlc": "x"}, "spec": )" + spec + "}",
        R"({"stamp": {}, "generation": "two", "spec": )" + spec + "}"}) {
    auto parsed = parse_service_record(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_FALSE(parsed.error().message.empty());
  }
}

// ---- the spec cache ----------------------------------------------------------------------------

ServiceEntry service_record(const std::string& spec_json, const std::string& stable_spec_json = "") {
  ServiceEntry entry;
  entry.name = "web";
  entry.spec_json = spec_json;
  entry.stable_spec_json = stable_spec_json;
  return entry;
}

std::string normalized(const std::string& spec) { return to_json(*parse_spec(spec)).dump(); }

TEST(SpecCacheTest, EachSpecTextIsParsedOnceWhileTheRecordNamesIt) {
  SpecCache cache(kAnySpecFromThePeers);
  const std::string v1 = normalized(spec_text("web", 1)), v2 = normalized(spec_text("web", 2));
  ServiceEntry first = service_record(v1);
  ASSERT_NE(cache.current(first), nullptr);
  EXPECT_EQ(cache.current(first)->instances, 1u);
  EXPECT_EQ(cache.parses(), 1u);
  first.enabled = false;  // stop: a new record, the same spec
  cache.changed(first);
  EXPECT_EQ(cache.current(first)->instances, 1u);
  EXPECT_EQ(cache.parses(), 1u);

  // A rollout to version 2: its stable spec is version 1's, parsed already.
  ServiceEntry rolling = service_record(v2, v1);
  cache.changed(rolling);
  EXPECT_EQ(cache.current(rolling)->instances, 2u);
  ASSERT_NE(cache.stable(rolling), nullptr);
  EXPECT_EQ(cache.stable(rolling)->instances, 1u);
  EXPECT_EQ(cache.parses(), 2u) << "version 2 only";

  // The rollout completes: no stable spec is named any more.
  ServiceEntry done = service_record(v2);
  cache.changed(done);
  EXPECT_EQ(cache.current(done)->instances, 2u);
  EXPECT_EQ(cache.stable(done), nullptr);
  EXPECT_EQ(cache.parses(), 2u);

  // A deploy hands in the spec it parsed from its request.
  const std::string v3 = normalized(spec_text("web", 3));
  ServiceEntry deployed = service_record(v3);
  cache.changed(deployed);
  cache.remember(deployed, *parse_spec(v3));
  EXPECT_EQ(cache.current(deployed)->instances, 3u);
  EXPECT_EQ(cache.parses(), 2u);

  // Removed: forgotten; deployed again, parsed again.
  ServiceEntry removed = deployed;
  removed.removed = true;
  cache.changed(removed);
  EXPECT_EQ(cache.current(first)->instances, 1u);
  EXPECT_EQ(cache.parses(), 3u);
}

TEST(SpecCacheTest, ATextThatBecomesBothCurrentAndStableIsKeptForBothWithoutParsingAgain) {
  SpecCache cache(kAnySpecFromThePeers);
  const std::string v1 = normalized(spec_text("web", 1)), v2 = normalized(spec_text("web", 2));
  ServiceEntry rolling = service_record(v2, v1);
  ASSERT_NE(cache.current(rolling), nullptr);
  ASSERT_NE(cache.stable(rolling), nullptr);
  EXPECT_EQ(cache.parses(), 2u);

  // A revert writes version 1's spec as the current one while it is still the stable one.
  ServiceEntry reverted = service_record(v1, v1);
  cache.changed(reverted);
  ASSERT_NE(cache.current(reverted), nullptr);
  ASSERT_NE(cache.stable(reverted), nullptr);
  EXPECT_EQ(cache.current(reverted)->instances, 1u);
  EXPECT_EQ(cache.stable(reverted)->instances, 1u);
  EXPECT_NE(cache.current(reverted), cache.stable(reverted)) << "each slot holds its own copy";
  EXPECT_EQ(cache.parses(), 2u);

  // The rollout ends on version 1: the stable slot goes, the current one stays.
  ServiceEntry settled = service_record(v1);
  cache.changed(settled);
  EXPECT_EQ(cache.current(settled)->instances, 1u);
  EXPECT_EQ(cache.stable(settled), nullptr);
  EXPECT_EQ(cache.parses(), 2u);
}

TEST(SpecCacheTest, ASpecNotAskedForBetweenTwoSweepsIsDroppedAndParsedAgainWhenAsked) {
  SpecCache cache(kAnySpecFromThePeers);
  ServiceEntry web = service_record(normalized(spec_text("web", 1)));
  ServiceEntry api = service_record(normalized(spec_text("api", 2)));
  api.name = "api";
  ASSERT_NE(cache.current(web), nullptr);
  ASSERT_NE(cache.current(api), nullptr);
  EXPECT_EQ(cache.held(), 2u);

  cache.sweep();  // both were asked for since the last sweep: kept
  EXPECT_EQ(cache.held(), 2u);
  EXPECT_EQ(cache.current(web)->instances, 1u);  // web asked for again, api not
  cache.sweep();
  EXPECT_EQ(cache.held(), 1u) << "api was not asked for between the two sweeps";
  EXPECT_EQ(cache.parses(), 2u);

  // Asked for once more: parsed again, the same spec.
  ASSERT_NE(cache.current(api), nullptr);
  EXPECT_EQ(cache.current(api)->instances, 2u);
  EXPECT_EQ(cache.parses(), 3u);
  EXPECT_EQ(cache.held(), 2u);

  // Nothing asked for: two sweeps leave nothing.
  cache.sweep();
  cache.sweep();
  EXPECT_EQ(cache.held(), 0u);
}

TEST(SpecCacheTest, ASpecThatDoesNotParseIsNotTriedAgainAfterASweep) {
  SpecCache cache(kAnySpecFromThePeers);
  ServiceEntry damaged = service_record(R"({"name": "web"})");
  EXPECT_EQ(cache.current(damaged), nullptr);
  cache.sweep();
  cache.sweep();
  EXPECT_EQ(cache.current(damaged), nullptr);
  EXPECT_EQ(cache.parses(), 1u) << "its error is logged once";
}

TEST(SpecCacheTest, ATextThatDoesNotParseIsTriedOnce) {
  SpecCache cache(kAnySpecFromThePeers);
  ServiceEntry damaged = service_record(R"({"name": "web"})");
  EXPECT_EQ(cache.current(damaged), nullptr);
  EXPECT_EQ(cache.current(damaged), nullptr);
  EXPECT_EQ(cache.parses(), 1u);
}

}  // namespace store_parts_test
}  // namespace mob

namespace mob {
namespace store_parts_test {

using CopyClock = WriteCopies::Clock;

WriteCopies::Held held_deploy(const std::string& service, const std::string& route) {
  return WriteCopies::Held{Routed{route, {}}, DeployReply{service, 1, true, 0, "a1", 5}, "id-" + service};
}

std::uint32_t copies_of(const WriteCopies::Held& held) {
  return std::visit([](const auto& reply) { return reply.copies; }, held.reply);
}

TEST(WriteCopiesTest, ARoundIsAnsweredWithTwoCopiesByTheFirstPeerThatHoldsEveryRecord) {
  WriteCopies copies;
  const auto now = CopyClock::time_point{} + std::chrono::hours(1);
  std::vector<WriteCopies::Held> held;
  held.push_back(held_deploy("web", "c1"));
  held.push_back(held_deploy("db", "c2"));
  auto id = copies.open(std::move(held), 2, {"tcp://b", "tcp://c"}, 4, now + std::chrono::seconds(1));
  EXPECT_TRUE(copies.answered(WriteCopied{id, "x", 2}, "tcp://stranger").empty()) << "a peer not asked";
  EXPECT_TRUE(copies.answered(WriteCopied{id + 1, "b", 2}, "tcp://b").empty()) << "another round";
  auto answers = copies.answered(WriteCopied{id, "b", 2}, "tcp://b");
  ASSERT_EQ(answers.size(), 2u);
  for (const auto& answer : answers) {
    EXPECT_EQ(copies_of(answer), 2u);
    EXPECT_EQ(std::get<DeployReply>(answer.reply).peers, 4u);
  }
  EXPECT_EQ(answers[0].request.route, "c1");
  EXPECT_EQ(answers[1].write_id, "id-db");
  EXPECT_TRUE(copies.answered(WriteCopied{id, "c", 2}, "tcp://c").empty()) << "decided already";
  EXPECT_EQ(copies.open_rounds(), 0u);
  EXPECT_FALSE(copies.next_deadline());
}

TEST(WriteCopiesTest, ARoundEveryAskedPeerDeclinesIsAnsweredWithOneCopyAtOnce) {
  WriteCopies copies;
  const auto now = CopyClock::time_point{} + std::chrono::hours(1);
  std::vector<WriteCopies::Held> held;
  held.push_back(held_deploy("web", "c1"));
  auto id = copies.open(std::move(held), 1, {"tcp://b", "tcp://c"}, 2, now + std::chrono::seconds(1));
  EXPECT_TRUE(copies.answered(WriteCopied{id, "b", 0}, "tcp://b").empty()) << "one peer left to answer";
  EXPECT_TRUE(copies.answered(WriteCopied{id, "b", 0}, "tcp://b").empty()) << "the same peer twice counts once";
  auto answers = copies.answered(WriteCopied{id, "c", 0}, "tcp://c");
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(copies_of(answers[0]), 1u);
}

TEST(WriteCopiesTest, ARoundNoPeerAnswersIsAnsweredWithOneCopyAtItsDeadline) {
  WriteCopies copies;
  const auto now = CopyClock::time_point{} + std::chrono::hours(1);
  std::vector<WriteCopies::Held> first, second;
  first.push_back(held_deploy("web", "c1"));
  second.push_back(WriteCopies::Held{Routed{"c2", {}}, ControlReply{"db", 2}, ""});
  copies.open(std::move(first), 1, {"tcp://b"}, 3, now + std::chrono::seconds(1));
  copies.open(std::move(second), 1, {"tcp://b"}, 3, now + std::chrono::seconds(2));
  EXPECT_EQ(copies.next_deadline(), now + std::chrono::seconds(1));
  EXPECT_TRUE(copies.expired(now + std::chrono::milliseconds(999)).empty());
  auto answers = copies.expired(now + std::chrono::seconds(1));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].request.route, "c1");
  EXPECT_EQ(copies_of(answers[0]), 1u);
  EXPECT_EQ(copies.next_deadline(), now + std::chrono::seconds(2));
  auto drained = copies.drain();
  ASSERT_EQ(drained.size(), 1u);
  EXPECT_EQ(std::get<ControlReply>(drained[0].reply).copies, 1u);
  EXPECT_EQ(std::get<ControlReply>(drained[0].reply).peers, 3u);
  EXPECT_EQ(copies.open_rounds(), 0u);
}

}  // namespace store_parts_test
}  // namespace mob
