// One real mob-agent on loopback running real bash services: deploy, restart policies,
// stop, dependencies, agent stop and crash, and bad input of every kind.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "bus/transport.hpp"
#include "tests/support/agent.hpp"
#include "tests/support/hand_packed.hpp"
#include "tools/client.hpp"

namespace mob::test {
namespace single_agent_test {

std::string bash_spec(const std::string& name, const std::string& command,
                      const std::string& extra = "") {
  nlohmann::json spec = {{"name", name}, {"provider", "bash"}, {"params", {{"command", command}}}};
  std::string text = spec.dump();
  if (!extra.empty()) text = text.substr(0, text.size() - 1) + ", " + extra + "}";
  return text;
}

class SingleAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = dir_.path() / "data";
    agent_ = std::make_unique<AgentProcess>(data_dir_);
  }
  std::string agent_id() { return read_file(data_dir_ / "agent-id"); }
  // Processes the agent started, found by the marker every one of them carries.
  std::vector<pid_t> agent_processes() { return processes_with_env("MOB_AGENT_ID=" + agent_id()); }
  void TearDown() override {
    if (agent_) {
      // A clean exit also proves the sanitizers found nothing in the agent.
      int status = agent_->terminate();
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "mob-agent exit status " << status << "\n" << agent_->log();
    }
    // Whatever the test left, nothing of the agent's may outlive it.
    for (pid_t pid : agent_processes()) {
      ADD_FAILURE() << "process " << pid << " of the agent outlived it";
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
    }
  }

  TempDir dir_;
  std::filesystem::path data_dir_;
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(SingleAgent, DeployRunsTheCommandAndLogsItsOutput) {
  auto reply = agent_->deploy(R"({"name": "echoes", "provider": "bash", "params": {"command": "echo hello-$GREETING; pwd; exec sleep 1000", "env": {"GREETING": "mob"}, "cwd": "/tmp"}})");
  ASSERT_TRUE(reply) << reply.error().message;
  ASSERT_TRUE(agent_->wait_state("echoes", 0, InstanceState::running));
  auto instance = agent_->instance("echoes", 0);
  ASSERT_TRUE(instance);
  EXPECT_GT(instance->pid, 0);
  EXPECT_TRUE(process_alive(static_cast<pid_t>(instance->pid)));
  std::string logs;
  ASSERT_TRUE(wait_until([&] {
    auto logs_reply = agent_->request(LogsRequest{"echoes", -1, 0, false, 0});
    if (!logs_reply) return false;
    auto& chunks = std::get<LogsReply>(*logs_reply).chunks;
    logs = chunks.empty() ? "" : chunks[0].data;
    return logs.find("hello-mob\n/tmp\n") != std::string::npos;
  })) << logs;
}

TEST_F(SingleAgent, KilledServiceRestartsUnderAlways) {
  ASSERT_TRUE(agent_->deploy(bash_spec("loop", "exec sleep 1000")));
  ASSERT_TRUE(agent_->wait_state("loop", 0, InstanceState::running));
  auto first = agent_->instance("loop", 0)->pid;
  ASSERT_EQ(::kill(static_cast<pid_t>(first), SIGKILL), 0);
  ASSERT_TRUE(agent_->wait_state("loop", 0, InstanceState::running, 10s, first));
  auto second = agent_->instance("loop", 0);
  EXPECT_NE(second->pid, first);
  EXPECT_EQ(second->restarts, 1u);
  EXPECT_TRUE(process_alive(static_cast<pid_t>(second->pid)));
}

TEST_F(SingleAgent, OnFailureRestartsOnlyAfterNonZeroExit) {
  ASSERT_TRUE(agent_->deploy(bash_spec("clean", "exit 0", R"("restart": "on_error")")));
  ASSERT_TRUE(agent_->wait_state("clean", 0, InstanceState::exited));
  EXPECT_EQ(agent_->instance("clean", 0)->restarts, 0u);
  EXPECT_EQ(agent_->instance("clean", 0)->exit_code, 0);

  ASSERT_TRUE(agent_->deploy(bash_spec(
      "crashy", "exit 3",
      R"("restart": {"policy": "on-failure", "max_restarts": 2, "backoff_ms": 10, "backoff_max_ms": 20})")));
  ASSERT_TRUE(agent_->wait_state("crashy", 0, InstanceState::failed));
  auto crashy = agent_->instance("crashy", 0);
  EXPECT_EQ(crashy->restarts, 2u);
  EXPECT_EQ(crashy->exit_code, 3);

  ASSERT_TRUE(agent_->deploy(bash_spec("killed", "exec sleep 1000", R"("restart": "on_error")")));
  ASSERT_TRUE(agent_->wait_state("killed", 0, InstanceState::running));
  auto pid = agent_->instance("killed", 0)->pid;
  ::kill(static_cast<pid_t>(pid), SIGKILL);
  ASSERT_TRUE(agent_->wait_state("killed", 0, InstanceState::running, 10s, pid));
  EXPECT_EQ(agent_->instance("killed", 0)->restarts, 1u);
}

TEST_F(SingleAgent, MaxRestartsLeadsToFailedWithReason) {
  ASSERT_TRUE(agent_->deploy(bash_spec(
      "flaky", "exit 1",
      R"("restart": {"policy": "always", "max_restarts": 3, "window_s": 60, "backoff_ms": 10, "backoff_max_ms": 40})")));
  ASSERT_TRUE(agent_->wait_state("flaky", 0, InstanceState::failed));
  auto flaky = agent_->instance("flaky", 0);
  EXPECT_EQ(flaky->restarts, 3u);
  EXPECT_NE(flaky->reason.find("gave up after 3 restarts within 60 s"), std::string::npos)
      << flaky->reason;
  // `start` after a failure tries again.
  ASSERT_TRUE(agent_->request(ControlRequest{"flaky", ControlAction::start, {}}));
  ASSERT_TRUE(wait_until([&] { return agent_->instance("flaky", 0)->restarts > 3; }));
}

TEST_F(SingleAgent, StopLeavesNoProcessOfTheGroupAlive) {
  ASSERT_TRUE(agent_->deploy(bash_spec("group", "sleep 1000 & sleep 1000 & trap '' TERM; wait",
                                       R"("stop_timeout_s": 0.5)")));
  ASSERT_TRUE(agent_->wait_state("group", 0, InstanceState::running));
  ASSERT_TRUE(wait_until([&] { return agent_processes().size() >= 3; }));
  ASSERT_TRUE(agent_->request(ControlRequest{"group", ControlAction::stop, {}}));
  ASSERT_TRUE(agent_->wait_state("group", 0, InstanceState::stopped));
  EXPECT_TRUE(wait_until([&] { return agent_processes().empty(); }, 3s));
  EXPECT_FALSE(agent_->service("group")->enabled);
  ASSERT_TRUE(agent_->request(ControlRequest{"group", ControlAction::start, {}}));
  ASSERT_TRUE(agent_->wait_state("group", 0, InstanceState::running));
}

TEST_F(SingleAgent, RemoveStopsAndForgetsTheService) {
  ASSERT_TRUE(agent_->deploy(bash_spec("gone", "exec sleep 1000")));
  ASSERT_TRUE(agent_->wait_state("gone", 0, InstanceState::running));
  ASSERT_TRUE(agent_->request(ControlRequest{"gone", ControlAction::remove, {}}));
  EXPECT_FALSE(agent_->service("gone"));
  EXPECT_TRUE(wait_until([&] { return agent_processes().empty(); }, 8s));
  auto again = agent_->request(ControlRequest{"gone", ControlAction::stop, {}});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::not_found);
}

TEST_F(SingleAgent, RedeployUpdatesVersionAndRestartsInstances) {
  ASSERT_TRUE(agent_->deploy(bash_spec("web", "exec sleep 1000")));
  ASSERT_TRUE(agent_->wait_state("web", 0, InstanceState::running));
  auto first = agent_->instance("web", 0)->pid;
  auto reply = agent_->deploy(bash_spec("web", "exec sleep 2000", R"("instances": 2)"));
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->version, 2u);
  EXPECT_FALSE(reply->created);
  ASSERT_TRUE(agent_->wait_state("web", 0, InstanceState::running, 10s, first));
  ASSERT_TRUE(agent_->wait_state("web", 1, InstanceState::running));
  EXPECT_FALSE(process_alive(static_cast<pid_t>(first)));
  EXPECT_EQ(agent_->service("web")->version, 2u);
}

TEST_F(SingleAgent, RestartCommandGivesNewProcesses) {
  ASSERT_TRUE(agent_->deploy(bash_spec("again", "exec sleep 1000")));
  ASSERT_TRUE(agent_->wait_state("again", 0, InstanceState::running));
  auto first = agent_->instance("again", 0)->pid;
  ASSERT_TRUE(agent_->request(ControlRequest{"again", ControlAction::restart, {}}));
  ASSERT_TRUE(agent_->wait_state("again", 0, InstanceState::running, 10s, first));
}

// The dependents index is rebuilt from the specs on disk: a restarted agent starts web once
// db runs, not only after some later change reaches it.
TEST_F(SingleAgent, DependentsStartAfterARestartOnceTheirDependencyRuns) {
  ASSERT_TRUE(agent_->deploy(bash_spec("db", "exec sleep 1000")));
  ASSERT_TRUE(agent_->deploy(bash_spec("web", "exec sleep 1000", R"("depends_on": ["db"])")));
  ASSERT_TRUE(agent_->wait_state("web", 0, InstanceState::running));
  ASSERT_EQ(agent_->terminate(), 0);
  agent_->restart();
  ASSERT_TRUE(agent_->wait_state("db", 0, InstanceState::running));
  EXPECT_TRUE(agent_->wait_state("web", 0, InstanceState::running, 5s))
      << "web: " << agent_->instance("web", 0)->reason;
}

TEST_F(SingleAgent, DependsOnOrdersStartUp) {
  ASSERT_TRUE(agent_->deploy(bash_spec("db", "exec sleep 1000")));
  ASSERT_TRUE(agent_->wait_state("db", 0, InstanceState::running));
  ASSERT_TRUE(agent_->request(ControlRequest{"db", ControlAction::stop, {}}));
  ASSERT_TRUE(agent_->wait_state("db", 0, InstanceState::stopped));
  ASSERT_TRUE(agent_->deploy(bash_spec("web", "exec sleep 1000", R"("depends_on": ["db"])")));
  EXPECT_TRUE(wait_until([&] {
    auto web = agent_->instance("web", 0);
    return web && web->state == InstanceState::pending &&
           web->reason.find("dependency db is stopped; run it with: mob-tool start db") != std::string::npos;
  }));
  ASSERT_TRUE(agent_->request(ControlRequest{"db", ControlAction::start, {}}));
  ASSERT_TRUE(agent_->wait_state("web", 0, InstanceState::running));
  EXPECT_GE(agent_->instance("web", 0)->since_ms, agent_->instance("db", 0)->since_ms);
}

TEST_F(SingleAgent, MissingOrCyclicDependenciesAreRejected) {
  auto missing = agent_->deploy(bash_spec("web", "true", R"("depends_on": ["nope"])"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message,
            "depends_on: service \"nope\" is not deployed; deploy it first, or remove it from depends_on");
  ASSERT_TRUE(agent_->deploy(bash_spec("a", "exec sleep 1000")));
  ASSERT_TRUE(agent_->deploy(bash_spec("b", "exec sleep 1000", R"("depends_on": ["a"])")));
  auto cycle = agent_->deploy(bash_spec("a", "exec sleep 1000", R"("requires": ["b"])"));
  ASSERT_FALSE(cycle);
  EXPECT_EQ(cycle.error().message, "depends_on: dependency cycle a -> b -> a");
  auto blocked = agent_->request(ControlRequest{"a", ControlAction::remove, {}});
  ASSERT_FALSE(blocked);
  EXPECT_NE(blocked.error().message.find("b depend on it"), std::string::npos);
}

TEST_F(SingleAgent, SigtermStopsEveryServiceAndExitsZero) {
  ASSERT_TRUE(agent_->deploy(bash_spec("one", "sleep 1000 & wait", R"("instances": 2)")));
  ASSERT_TRUE(agent_->wait_state("one", 1, InstanceState::running));
  ASSERT_TRUE(wait_until([&] { return agent_processes().size() >= 4; }));
  int status = agent_->terminate();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(agent_processes().empty());
  agent_.reset();
}

TEST_F(SingleAgent, SigkilledAgentRestartsItsServicesAndLeavesNoOrphan) {
  ASSERT_TRUE(agent_->deploy(bash_spec("survivor", "sleep 1000 & wait", R"("instances": 2)")));
  ASSERT_TRUE(agent_->deploy(bash_spec("stopped-one", "exec sleep 1000")));
  ASSERT_TRUE(agent_->request(ControlRequest{"stopped-one", ControlAction::stop, {}}));
  ASSERT_TRUE(agent_->wait_state("survivor", 0, InstanceState::running));
  ASSERT_TRUE(agent_->wait_state("survivor", 1, InstanceState::running));
  ASSERT_TRUE(agent_->wait_state("stopped-one", 0, InstanceState::stopped));
  // Running means each instance's bash started; its sleep comes a moment later (on a loaded
  // machine, after the state is reported): two processes per instance before the kill.
  ASSERT_TRUE(wait_until([&] { return agent_processes().size() == 4; }))
      << "processes under the agent: " << agent_processes().size() << ", wanted 4";
  auto old_processes = agent_processes();
  agent_->sigkill();
  agent_->restart();
  ASSERT_TRUE(agent_->wait_state("survivor", 0, InstanceState::running));
  ASSERT_TRUE(agent_->wait_state("survivor", 1, InstanceState::running));
  EXPECT_EQ(agent_->instance("stopped-one", 0)->state, InstanceState::stopped);
  // The new life kills what the old one left (SIGKILL to each old process group); the kernel
  // takes a moment to end a process after the signal, more on a loaded machine.
  EXPECT_TRUE(wait_until([&] {
    return std::none_of(old_processes.begin(), old_processes.end(), [](pid_t pid) { return process_alive(pid); });
  }, 5s));
  for (pid_t pid : old_processes) EXPECT_FALSE(process_alive(pid)) << "orphan " << pid;
  EXPECT_TRUE(wait_until([&] { return agent_processes().size() == 4; }));
}

// A SIGKILLed agent is declared failed and its instances run elsewhere: they must not run on
// beside their new copies. The kernel ends each instance's process with the agent.
TEST_F(SingleAgent, ASigkilledAgentsInstancesDieWithIt) {
  ASSERT_TRUE(agent_->deploy(bash_spec("tied", "exec sleep 1000", R"("instances": 3)")));
  for (std::uint32_t index = 0; index < 3; ++index)
    ASSERT_TRUE(agent_->wait_state("tied", index, InstanceState::running));
  auto processes = agent_processes();
  ASSERT_EQ(processes.size(), 3u);
  agent_->sigkill();
  EXPECT_TRUE(wait_until([&] {
    return std::none_of(processes.begin(), processes.end(), [](pid_t pid) { return process_alive(pid); });
  }, 2s)) << "instances outlived their agent by 2 s";
  agent_->restart();
  for (std::uint32_t index = 0; index < 3; ++index)
    ASSERT_TRUE(agent_->wait_state("tied", index, InstanceState::running));
}

TEST_F(SingleAgent, BadSpecsGetClearErrorsAndLoseNothing) {
  ASSERT_TRUE(agent_->deploy(bash_spec("keeper", "exec sleep 1000")));
  struct Case {
    std::string spec;
    std::string error;
  } cases[] = {
      {R"({"name": "x", )", "spec is not valid JSON"},
      {R"({"name": "x", "provider": "kvm"})", "provider: unknown provider \"kvm\""},
      {bash_spec("x", "true", R"("restart": {"policy": "sometimes"})"),
       "restart.policy: expected one of always, on-failure, never, got \"sometimes\""},
      {bash_spec("x", "true", R"("colour": "blue")"), "colour: unknown field"},
      {R"({"name": "x", "provider": "bash", "params": {"comand": "true"}})", "params.comand"},
      {bash_spec("keeper", "true", R"("instances": "many")"), "instances: expected an integer"},
  };
  for (const auto& c : cases) {
    auto reply = agent_->deploy(c.spec);
    ASSERT_FALSE(reply) << c.spec;
    EXPECT_EQ(reply.error().code, Errc::invalid_argument);
    EXPECT_NE(reply.error().message.find(c.error), std::string::npos)
        << "got: " << reply.error().message << "\nwanted: " << c.error;
  }
  EXPECT_TRUE(agent_->wait_state("keeper", 0, InstanceState::running));
  EXPECT_EQ(agent_->service("keeper")->version, 1u);
  EXPECT_FALSE(agent_->service("x"));
}

TEST_F(SingleAgent, GarbageOnTheRouterPortIsAnsweredOrDroppedAndTheAgentStaysUp) {
  // Raw bytes that are not ZMTP: libzmq drops the connection.
  EXPECT_GT(send_junk_tcp(agent_->port()), 0);

  // ZMTP-valid frames that are not our protocol get an error reply naming the problem.
  zmq::context_t context;
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect("tcp://" + agent_->endpoint());
  send_frames(dealer, {std::string_view("hello, agent")}, false);
  zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(3000));
  auto frames = recv_frames(dealer);
  ASSERT_TRUE(frames);
  auto reply = decode(frames->back());
  ASSERT_TRUE(reply);
  auto* error = std::get_if<ErrorReply>(&reply->body);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->code, Errc::malformed);
  EXPECT_NE(error->message.find("cannot decode the request"), std::string::npos);

  // An internal message's old wire code from outside is refused by name (15: ServiceWithdrawn;
  // 44: ProviderSignal, a worker's command): no client can send one.
  for (auto [code, name] : {std::pair{15, "service_withdrawn"}, std::pair{44, "provider_signal"}}) {
    const std::string old_message = hand_packed(
        kProtocolVersion, code,
        [](auto& pk) {
          pk.pack_array(1);
          pk.pack(std::string("x"));
        },
        3, "test");
    send_frames(dealer, {std::string_view(old_message)}, false);
    zmq::poll(&item, 1, std::chrono::milliseconds(3000));
    auto refused = recv_frames(dealer);
    ASSERT_TRUE(refused);
    auto refusal = decode(refused->back());
    ASSERT_TRUE(refusal);
    const auto* internal = std::get_if<ErrorReply>(&refusal->body);
    ASSERT_NE(internal, nullptr);
    EXPECT_EQ(internal->code, Errc::unknown_type);
    EXPECT_NE(internal->message.find(std::string("(") + name + ") is internal to an agent"), std::string::npos)
        << internal->message;
  }

  // A message over the size limit closes that connection only.
  std::string huge(5 * 1024 * 1024, 'x');
  send_frames(dealer, {std::string_view(huge)}, false);
  EXPECT_TRUE(agent_->answers());
  EXPECT_TRUE(wait_until([&] { return agent_->answers(); }));
}

TEST_F(SingleAgent, GarbageOnThePubPortIsDroppedAndEventsStillFlow) {
  const int pub_port = agent_->port() + 1;  // the default --pub-port
  EXPECT_GT(send_junk_tcp(pub_port), 0);

  zmq::context_t context;
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(pub_port);
  // A socket of the wrong type fails the ZMTP handshake; one of the right type sends
  // subscriptions and messages that mean nothing to a publisher.
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(endpoint);
  send_frames(dealer, {std::string_view("not a subscription")}, true);
  zmq::socket_t xsub(context, zmq::socket_type::xsub);
  xsub.set(zmq::sockopt::linger, 0);
  xsub.connect(endpoint);
  for (int i = 0; i < 200; ++i) {
    std::string frame(1 + i % 97, static_cast<char>(i));
    frame[0] = static_cast<char>(i % 3);  // subscribe, unsubscribe, or neither
    send_frames(xsub, {std::string_view(frame)}, true);
  }

  zmq::socket_t sub(context, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::subscribe, "service.");
  sub.connect(endpoint);
  ASSERT_TRUE(service_events_reach(*agent_, sub, bash_spec("after-garbage", "exec sleep 1000")));
  EXPECT_TRUE(agent_->answers());
  EXPECT_TRUE(agent_->wait_state("after-garbage", 0, InstanceState::running));
}

TEST(AgentCommandLine, BadFlagsGetOneClearLineAndExitNonZero) {
  auto unknown_flag = run_command({MOB_AGENT_BIN, "--colour", "blue"});
  EXPECT_EQ(unknown_flag.exit_code, 2);
  EXPECT_NE(unknown_flag.err.find("unrecognised option '--colour'"), std::string::npos) << unknown_flag.err;
  auto unknown_provider = run_command({MOB_AGENT_BIN, "-p", "6000", "-P", "bash,kvm"});
  EXPECT_EQ(unknown_provider.exit_code, 2);
  EXPECT_NE(unknown_provider.err.find("unknown provider \"kvm\"; known providers: bash, docker"),
            std::string::npos)
      << unknown_provider.err;
  auto bad_port = run_command({MOB_AGENT_BIN, "-p", "70000"});
  EXPECT_EQ(bad_port.exit_code, 2);
  EXPECT_NE(bad_port.err.find("--port: expected 1 to 65535"), std::string::npos);
  auto help = run_command({MOB_AGENT_BIN, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--data-dir"), std::string::npos);
  auto version = run_command({MOB_AGENT_BIN, "--version"});
  EXPECT_EQ(version.out, std::string("mob-agent ") + MOB_VERSION_TEXT + "\n");
}

TEST(AgentCommandLine, PortInUseIsReported) {
  TempDir dir;
  AgentProcess first(dir.path() / "a");
  auto second = run_command({MOB_AGENT_BIN, "-p", std::to_string(first.port()), "--data-dir",
                             (dir.path() / "b").string()});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("cannot listen for requests on tcp://127.0.0.1:" +
                            std::to_string(first.port())),
            std::string::npos)
      << second.err;
  EXPECT_NE(second.err.find("Address already in use"), std::string::npos);
  auto same_dir = run_command({MOB_AGENT_BIN, "-p", std::to_string(free_port_pair()),
                               "--data-dir", (dir.path() / "a").string()});
  EXPECT_EQ(same_dir.exit_code, 1);
  EXPECT_NE(same_dir.err.find("is in use by another mob-agent"), std::string::npos) << same_dir.err;
  first.terminate();
}


// Many deploys in flight: each gets its own answer, in order; the agent saves the batch
// once and a restart (SIGKILL, so nothing is flushed on the way out) finds all of them.
TEST_F(SingleAgent, PipelinedDeploysAreAnsweredInOrderAndKept) {
  auto client = Client::connect(agent_->endpoint());
  ASSERT_TRUE(client) << client.error().message;
  std::vector<std::string> specs;
  for (int i = 0; i < 40; ++i)
    specs.push_back(bash_spec("many-" + std::to_string(i), "exec sleep 1000"));
  specs[17] = R"({"name": "many-17", "provider": "bash", "params": {"comand": "true"}})";
  auto replies = client->deploy_many(specs, 16);
  ASSERT_EQ(replies.size(), specs.size());
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (i == 17) {
      ASSERT_FALSE(replies[i]);
      EXPECT_NE(replies[i].error().message.find("params.comand"), std::string::npos)
          << replies[i].error().message;
      continue;
    }
    ASSERT_TRUE(replies[i]) << i << ": " << replies[i].error().message;
    EXPECT_EQ(replies[i]->service, "many-" + std::to_string(i));
    EXPECT_TRUE(replies[i]->created);
  }
  agent_->sigkill();
  agent_->restart();
  auto status = agent_->request(StatusRequest{});
  ASSERT_TRUE(status);
  const auto& services = std::get<StatusReply>(*status).services;
  EXPECT_EQ(services.size(), 39u);
  for (const auto& service : services) EXPECT_NE(service.name, "many-17");
}

// A write sent again with its write id (a client's retry after a timeout) is the same write:
// the first answer again, no new version, also after a restart (the id is kept with the
// record) and for a remove, whose service is gone by the time the retry comes.
TEST_F(SingleAgent, AWriteRetriedWithItsIdIsTheSameWrite) {
  auto client = Client::connect(agent_->endpoint());
  ASSERT_TRUE(client) << client.error().message;
  const auto spec = bash_spec("retried", "exec sleep 1000");
  auto first = client->deploy(spec, "deploy-1");
  ASSERT_TRUE(first) << first.error().message;
  auto again = client->deploy(spec, "deploy-1");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->version, first->version);
  EXPECT_EQ(again->written_at, first->written_at);
  auto update = client->deploy(spec, "deploy-2");
  ASSERT_TRUE(update);
  EXPECT_EQ(update->version, first->version + 1);
  agent_->sigkill();
  agent_->restart();
  client = Client::connect(agent_->endpoint());
  ASSERT_TRUE(client);
  auto after_restart = client->deploy(spec, "deploy-2");
  ASSERT_TRUE(after_restart) << after_restart.error().message;
  EXPECT_EQ(after_restart->version, update->version);
  auto removed = client->control("retried", ControlAction::remove, "remove-1");
  ASSERT_TRUE(removed) << removed.error().message;
  auto removed_again = client->control("retried", ControlAction::remove, "remove-1");
  ASSERT_TRUE(removed_again) << removed_again.error().message;
  EXPECT_EQ(removed_again->version, removed->version);
  auto other = client->control("retried", ControlAction::remove, "remove-2");
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("is not deployed"), std::string::npos) << other.error().message;
}

// A data dir of version 0.1 kept one services/NAME.json per service: the agent imports them
// into state.db, runs them, deletes the files, and finds them again after a restart.
TEST(DataDir, ServiceFilesOfTheEarlierVersionAreImportedAndRun) {
  TempDir dir;
  auto data = dir.path() / "data";
  std::filesystem::create_directories(data / "services");
  nlohmann::json record = {
      {"generation", 3}, {"enabled", true}, {"restart_generation", 0}, {"removed", false},
      {"stamp", {{"hlc", 1ULL << 40}, {"origin", "old-agent"}}},
      {"spec", nlohmann::json::parse(bash_spec("legacy", "exec sleep 1000"))}};
  std::ofstream(data / "services" / "legacy.json") << record.dump(2);
  std::ofstream(data / "services" / "garbage.json") << "{ not json";
  AgentProcess agent(data);
  ASSERT_TRUE(agent.wait_state("legacy", 0, InstanceState::running)) << agent.log();
  EXPECT_EQ(agent.service("legacy")->version, 3u);
  EXPECT_FALSE(std::filesystem::exists(data / "services" / "legacy.json"));
  EXPECT_TRUE(std::filesystem::exists(data / "services" / "garbage.json"));  // left for a human
  EXPECT_NE(agent.log().find("not a service record"), std::string::npos) << agent.log();
  agent.sigkill();
  agent.restart();
  ASSERT_TRUE(agent.wait_state("legacy", 0, InstanceState::running)) << agent.log();
  EXPECT_EQ(agent.terminate(), 0);
}

}  // namespace single_agent_test
}  // namespace mob::test
