// Every limit of a real mob-agent (docs/security.md#limits), hit from outside: the user gets
// an error that names the limit, and the agent and its services carry on.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "bus/transport.hpp"
#include "tests/support/agent.hpp"
#include "tests/support/raw_peer.hpp"

namespace mob::test {
namespace limits_test {

// A ZMTP 3.0 greeting (64 bytes) asking for `mechanism` ("NULL", "CURVE", "GSSAPI"...).
std::string zmtp_greeting(std::string_view mechanism) {
  std::string greeting(64, '\0');
  greeting[0] = '\xff';
  greeting[9] = '\x7f';
  greeting[10] = 3;  // major version
  greeting.replace(12, mechanism.size(), mechanism);
  return greeting;
}

std::string bash_spec(const std::string& name, const std::string& command,
                      std::uint32_t instances = 1) {
  return nlohmann::json{{"name", name},
                        {"provider", "bash"},
                        {"instances", instances},
                        {"params", {{"command", command}}}}
      .dump();
}

class Limits : public ::testing::Test {
 protected:
  AgentProcess& start(std::vector<std::string> extra, std::vector<std::string> join = {}) {
    for (const auto& seed : join) extra.insert(extra.end(), {"-j", seed});
    auto dir = dir_.path() / ("agent" + std::to_string(agents_.size()));
    agents_.push_back(std::make_unique<AgentProcess>(dir, "bash", extra));
    return *agents_.back();
  }

  void TearDown() override {
    for (auto& agent : agents_) {
      // A clean exit also proves the sanitizers found nothing in the agent.
      int status = agent->terminate();
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "mob-agent exit status " << status << "\n" << agent->log();
      // Whatever the test left, nothing the agent started may outlive it.
      for (pid_t pid : agent->service_processes()) {
        ADD_FAILURE() << "process " << pid << " of the agent outlived it";
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
      }
    }
  }

  CommandResult tool(const AgentProcess& agent, std::vector<std::string> args,
                     const std::string& input = {}) {
    args.insert(args.begin(), {MOB_TOOL_BIN, "-a", agent.endpoint()});
    return run_command(args, 30s, input);
  }

  static std::string logs_of(AgentProcess& agent, const std::string& service) {
    auto reply = agent.request(LogsRequest{service, 0, 0, false, 0});
    if (!reply) return {};
    auto& chunks = std::get<LogsReply>(*reply).chunks;
    return chunks.empty() ? std::string() : chunks.front().data;
  }

  TempDir dir_;
  std::vector<std::unique_ptr<AgentProcess>> agents_;
};

TEST_F(Limits, MaxServicesRefusesTheNextNewServiceNamingTheFlagAndTheOthersKeepRunning) {
  auto& agent = start({"--max-services", "2"});
  ASSERT_TRUE(agent.deploy(bash_spec("first", "exec sleep 1000")));
  ASSERT_TRUE(agent.deploy(bash_spec("second", "exec sleep 1000")));
  ASSERT_TRUE(agent.wait_state("first", 0, InstanceState::running));
  ASSERT_TRUE(agent.wait_state("second", 0, InstanceState::running));

  auto refused = tool(agent, {"deploy", "-", "--detach"}, bash_spec("third", "exec sleep 1000"));
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("the network already holds 2 services, the limit (--max-services)"),
            std::string::npos)
      << refused.err;
  auto direct = agent.deploy(bash_spec("third", "exec sleep 1000"));
  ASSERT_FALSE(direct);
  EXPECT_EQ(direct.error().code, Errc::too_large);

  EXPECT_FALSE(agent.service("third"));
  EXPECT_EQ(agent.instance("first", 0)->state, InstanceState::running);
  EXPECT_EQ(agent.instance("second", 0)->state, InstanceState::running);
  // An update of a service already deployed is not a new one.
  EXPECT_TRUE(agent.deploy(bash_spec("first", "exec sleep 999")));
}

// How many services `agent` lists (StatusRequest{""}: every one); -1 when it does not answer.
int services_listed(AgentProcess& agent) {
  auto reply = agent.request(StatusRequest{""}, 2s);
  if (!reply || !std::holds_alternative<StatusReply>(*reply)) return -1;
  return static_cast<int>(std::get<StatusReply>(*reply).services.size());
}

TEST_F(Limits, AStateLargerThanMaxMessageBytesReachesAJoiningAgentInPiecesUnderTheLimit) {
  // 24 services whose records are about 40 KiB each (the spec and its first history
  // version): about 1 MiB of state, four times what one 256 KiB message may carry.
  const std::vector<std::string> flags = {"--max-message-bytes", "262144"};
  auto& first = start(flags);
  constexpr int kServices = 24;
  for (int i = 0; i < kServices; ++i) {
    auto spec = bash_spec("big-" + std::to_string(i), "exec sleep 1000 # " + std::string(20000, 'a' + i % 26), 0);
    ASSERT_TRUE(first.deploy(spec)) << "service " << i;
  }
  ASSERT_EQ(services_listed(first), kServices);

  // A new agent joins through the first with the same limit: the join's answer and every
  // sync must come in pieces each agent can receive.
  auto& second = start(flags, {first.endpoint()});
  EXPECT_TRUE(wait_until([&] { return services_listed(second) == kServices; }, 20s))
      << "the joining agent lists " << services_listed(second) << " of " << kServices << " services\n"
      << second.log();
  // Both stay whole and still take writes.
  ASSERT_TRUE(second.deploy(bash_spec("small", "exec sleep 1000", 0)));
  EXPECT_TRUE(wait_until([&] { return services_listed(first) == kServices + 1; }, 10s));
}

TEST_F(Limits, MaxInstancesRefusesASpecAskingForMoreNamingTheLimit) {
  auto& agent = start({"--max-instances", "3"});
  auto refused = agent.deploy(bash_spec("wide", "exec sleep 1000", 4));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::invalid_argument);
  EXPECT_NE(refused.error().message.find(
                "instances: expected an integer from 0 to 3, got 4 (the agent's limit, --max-instances)"),
            std::string::npos)
      << refused.error().message;
  EXPECT_FALSE(agent.service("wide"));

  ASSERT_TRUE(agent.deploy(bash_spec("wide", "exec sleep 1000", 3)));
  EXPECT_TRUE(agent.wait_state("wide", 2, InstanceState::running));
}

TEST_F(Limits, MaxSpecBytesRefusesALargerSpecNamingItsSizeAndTheLimit) {
  auto& agent = start({"--max-spec-bytes", "1024"});
  auto large = bash_spec("large", "exec sleep 1000 # " + std::string(2000, 'x'));
  auto refused = tool(agent, {"deploy", "-", "--detach"}, large);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("spec: " + std::to_string(large.size()) +
                             " bytes exceeds the limit of 1024 bytes (the agent's --max-spec-bytes)"),
            std::string::npos)
      << refused.err;
  EXPECT_FALSE(agent.service("large"));

  ASSERT_TRUE(agent.deploy(bash_spec("small", "exec sleep 1000")));
  EXPECT_TRUE(agent.wait_state("small", 0, InstanceState::running));
}

TEST_F(Limits, MaxMessageBytesDropsTheConnectionOfAnOversizedFrameAndTheAgentKeepsAnswering) {
  auto& agent = start({"--max-message-bytes", "65536"});
  RawPeer client(agent, "limits-test");
  client.send_raw(std::string(65537, 'x'));
  EXPECT_EQ(client.next_connection_event(10s), ZMQ_EVENT_DISCONNECTED)
      << "the agent kept the connection of a frame over --max-message-bytes";

  // The agent stays up; the same DEALER reconnects by itself and is answered again.
  EXPECT_TRUE(agent.answers());
  EXPECT_EQ(client.next_connection_event(10s), ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
  client.send(PingRequest{}, 7);
  auto reply = client.receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->request_id, 7u);
  EXPECT_TRUE(std::holds_alternative<PingReply>(reply->body));

  // A message just under the limit is read (and, not being a spec the agent accepts,
  // answered with the spec's own error).
  client.send(DeployRequest{std::string(60000, ' '), {}}, 8);
  reply = client.receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->request_id, 8u);
  ASSERT_TRUE(std::holds_alternative<ErrorReply>(reply->body));
  EXPECT_NE(std::get<ErrorReply>(reply->body).message.find("spec"), std::string::npos);
}

TEST_F(Limits, MaxPendingRequestsRefusesTheExcessAtOnceWithAnErrorNamingTheFlag) {
  auto& agent = start({"--max-pending-requests", "4"});
  RawPeer client(agent, "limits-test");
  // A SyncPush is never answered, so these four hold every slot of this client (for
  // 10 s, see the next test); nothing is read until every request has gone out.
  for (std::uint64_t id = 1; id <= 4; ++id) client.send(SyncPush{}, id);
  for (std::uint64_t id = 5; id <= 10; ++id) client.send(PingRequest{}, id);

  for (std::uint64_t id = 5; id <= 10; ++id) {
    auto reply = client.receive();
    ASSERT_TRUE(reply) << "no answer to request " << id;
    EXPECT_EQ(reply->request_id, id);
    const auto* error = std::get_if<ErrorReply>(&reply->body);
    ASSERT_NE(error, nullptr) << "request " << id << " was not refused";
    EXPECT_EQ(error->code, Errc::unavailable);
    EXPECT_EQ(error->message,
              "too many requests in flight from this client (limit 4, see "
              "--max-pending-requests); wait for replies before sending more");
  }
  // Other clients are served as before.
  EXPECT_TRUE(agent.answers());
  auto status = tool(agent, {"status"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(agent.log().find("refused a request: a client already has 4 requests in flight"),
            std::string::npos)
      << agent.log();
}

// A change stamped far in the future would win every merge (last writer wins) and drag
// every clock it reached along: the agent refuses it, says why, and keeps the rest.
TEST_F(Limits, ChangesStampedFarAheadOfTheClockAreRefusedAndNamed) {
  auto& agent = start({});
  auto now_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
  auto entry = [&](const std::string& name, std::uint64_t hlc) {
    ServiceEntry service;
    service.name = name;
    service.spec_json = bash_spec(name, "exec sleep 1000", 1);
    service.generation = 1;
    service.stamp = Stamp{hlc, "agent-from-the-future"};
    return service;
  };
  RawPeer client(agent, "limits-test");
  StateDelta delta;
  delta.services = {entry("poison", UINT64_MAX), entry("tomorrow", (now_ms + 86'400'000) << 16),
                    entry("today", now_ms << 16)};
  client.send(SyncPush{delta}, 1);
  ASSERT_TRUE(agent.wait_state("today", 0, InstanceState::running)) << agent.log();
  EXPECT_FALSE(agent.service("poison"));
  EXPECT_FALSE(agent.service("tomorrow"));
  EXPECT_NE(agent.log().find("refused 1 change(s), the last from agent agent-from-the-future: "
                             "a change stamped "),
            std::string::npos)
      << agent.log();
  EXPECT_NE(agent.log().find("check the clocks of both machines (NTP)"), std::string::npos);
  // The clock was not dragged along: a deploy now still wins over the one just taken.
  ASSERT_TRUE(agent.deploy(bash_spec("today", "exec sleep 999", 1)));
  EXPECT_EQ(agent.service("today")->version, 2u);
}

// An incarnation near 2^64 about an agent would leave it unable to refute (its next one
// would wrap to 0): refused at the door naming the field, and the agent stays alive in its
// own and its peers' eyes.
TEST_F(Limits, AnImplausibleIncarnationIsRefused) {
  auto& agent = start({});
  auto members = agent.members();
  ASSERT_EQ(members.size(), 1u);
  MemberEntry forged{members[0], 1, "forger"};
  forged.member.state = MemberState::failed;
  forged.member.incarnation = UINT64_MAX;
  RawPeer client(agent, "limits-test");
  client.send(SyncPush{StateDelta{{forged}, {}, {}, {}}}, 1);
  auto reply = client.receive();
  ASSERT_TRUE(reply) << agent.log();
  const auto* refused = std::get_if<ErrorReply>(&reply->body);
  ASSERT_NE(refused, nullptr) << type_name(reply->body);
  EXPECT_EQ(refused->code, Errc::invalid_argument);
  EXPECT_NE(refused->message.find("delta.members[0].member.incarnation: 18446744073709551615 is not "
                                  "below 2^48"),
            std::string::npos)
      << refused->message;
  EXPECT_EQ(agent.sees(agent.name()), MemberState::alive);
  EXPECT_LT(agent.members()[0].incarnation, 1ULL << 48);
}

// libzmq keeps subscriptions in a trie of one node per byte: one subscription of 1 MiB
// cost about 100 MiB. The PUB socket takes subscriptions of at most 1 KiB and drops
// the connection of a subscriber that sends a longer one.
TEST_F(Limits, AHugeSubscriptionIsDroppedWithoutCostingTheAgentMemory) {
  auto& agent = start({});
  auto rss_kib = [&] {
    std::ifstream status("/proc/" + std::to_string(agent.pid()) + "/status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return 0L;
  };
  // What an agent's first deploy sets up (its state database's pages, the provider's first
  // child, its log) is not the subscription's cost: done before the measure starts (with it
  // inside, a run under ThreadSanitizer once measured 8.7 MiB against the usual 1.6).
  ASSERT_TRUE(agent.deploy(bash_spec("warm-up", "exec sleep 1000", 1)));
  const long before = rss_kib();
  // A SUB peer speaking ZMTP 3.0 by hand: libzmq's own SUB and XSUB keep a copy of every
  // subscription in the same kind of trie, so they cannot send a huge one cheaply.
  int fd = connect_loopback_tcp(agent.port() + 1);
  ASSERT_GE(fd, 0);
  std::string greeting = zmtp_greeting("NULL");
  std::string ready_body = std::string("\x05READY") + "\x0bSocket-Type" + std::string("\0\0\0\x03", 4) + "SUB";
  std::string ready = std::string(1, '\x04') + static_cast<char>(ready_body.size()) + ready_body;
  std::string subscription(1 << 20, 'g');
  subscription[0] = 1;  // subscribe
  std::string frame(1, '\x02');  // a long message frame: 8-byte big-endian size
  for (int shift = 56; shift >= 0; shift -= 8)
    frame += static_cast<char>((static_cast<std::uint64_t>(subscription.size()) >> shift) & 0xff);
  frame += subscription;
  std::string wire = greeting + ready + frame;
  std::size_t sent = 0;
  while (sent < wire.size()) {
    auto n = ::send(fd, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the agent dropped the connection: what it should do
    sent += static_cast<std::size_t>(n);
  }

  zmq::context_t context;
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(agent.port() + 1);
  zmq::socket_t sub(context, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::subscribe, "service.");
  sub.connect(endpoint);
  ASSERT_TRUE(service_events_reach(agent, sub, bash_spec("still-published", "exec sleep 1000", 1)));
  EXPECT_LT(rss_kib() - before, 8 * 1024) << "RSS grew from " << before << " KiB to " << rss_kib();
  EXPECT_TRUE(agent.answers());
  ::close(fd);  // only now: a closed peer's unread subscription would never be taken in
}

// libzmq's GSSAPI mechanism is linked without Kerberos (bus/no_gssapi.cpp): a peer whose
// greeting asks for it, on either port, must only lose its own connection.
TEST_F(Limits, AGreetingAskingForGssapiClosesThatConnectionOnly) {
  auto& agent = start({});
  for (int port : {agent.port(), agent.port() + 1}) {
    int fd = connect_loopback_tcp(port);
    ASSERT_GE(fd, 0);
    const std::string greeting = zmtp_greeting("GSSAPI");
    ASSERT_EQ(::send(fd, greeting.data(), greeting.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(greeting.size()));
    timeval wait{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    // Whatever the agent sends first (its signature, or nothing), the mismatch of mechanisms
    // must end the connection: end of stream or a reset, not the 5 s timeout.
    char buffer[256];
    ssize_t n = 0;
    while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
    }
    const int error = n < 0 ? errno : 0;
    EXPECT_TRUE(n == 0 || error == ECONNRESET)
        << "port " << port << ": the connection was not closed within 5 s (" << std::strerror(error) << ")";
    ::close(fd);
  }
  EXPECT_TRUE(agent.answers());
  ASSERT_TRUE(agent.deploy(bash_spec("after-gssapi", "exec sleep 1000", 1)));
  EXPECT_TRUE(agent.wait_state("after-gssapi", 0, InstanceState::running));
}

TEST_F(Limits, RequestsThatAreNeverAnsweredFreeTheirSlotsAfterTenSeconds) {
  auto& agent = start({"--max-pending-requests", "2"});
  RawPeer client(agent, "limits-test");
  client.send(SyncPush{}, 1);
  client.send(SyncPush{}, 2);
  const auto locked_at = std::chrono::steady_clock::now();
  client.send(PingRequest{}, 3);
  auto refused = client.receive();
  ASSERT_TRUE(refused);
  ASSERT_TRUE(std::holds_alternative<ErrorReply>(refused->body));

  std::uint64_t id = 4;
  bool answered = wait_until(
      [&] {
        client.send(PingRequest{}, id);
        auto reply = client.receive();
        EXPECT_TRUE(reply) << "no answer to request " << id;
        ++id;
        return reply && std::holds_alternative<PingReply>(reply->body);
      },
      30s);
  EXPECT_TRUE(answered) << "the client is still locked out";
  EXPECT_GE(std::chrono::steady_clock::now() - locked_at, 9s) << "the slots were freed early";
}

TEST_F(Limits, RepliesFreeTheSlotsOfAClientThatReads) {
  auto& agent = start({"--max-pending-requests", "4"});
  RawPeer client(agent, "limits-test");
  std::uint64_t id = 1;
  for (int round = 0; round < 25; ++round) {
    for (int i = 0; i < 4; ++i) client.send(PingRequest{}, id++);
    for (int i = 0; i < 4; ++i) {
      auto reply = client.receive();
      ASSERT_TRUE(reply) << "round " << round;
      ASSERT_TRUE(std::holds_alternative<PingReply>(reply->body))
          << "round " << round << ": " << std::get<ErrorReply>(reply->body).message;
    }
  }
}

// Probes, syncs and their pushes from peers come through the same socket and are counted
// too: the default leaves room for gossip far busier than the defaults make it.
TEST_F(Limits, TheDefaultPendingLimitNeverRefusesPeersGossipingFast) {
  const std::vector<std::string> fast = {"--probe-interval-ms", "200", "--probe-timeout-ms",
                                         "100", "--sync-ms", "50", "--heartbeat-ms", "50"};
  auto& first = start(fast);
  auto& second = start(fast, {first.endpoint()});
  ASSERT_TRUE(wait_until([&] {
    return first.sees(second.name()) == MemberState::alive &&
           second.sees(first.name()) == MemberState::alive;
  }));
  // Both agents see both instances running, with none of `old_pids`.
  auto running_everywhere = [&](const std::vector<std::int64_t>& old_pids) {
    for (auto* agent : {&first, &second}) {
      auto status = agent->service("spread");
      if (!status || status->instance_list.size() != 2) return false;
      for (const auto& instance : status->instance_list)
        if (instance.state != InstanceState::running ||
            std::find(old_pids.begin(), old_pids.end(), instance.pid) != old_pids.end())
          return false;
    }
    return true;
  };
  ASSERT_TRUE(first.deploy(bash_spec("spread", "exec sleep 1000", 2)));
  ASSERT_TRUE(wait_until([&] { return running_everywhere({0}); })) << second.log();
  std::vector<std::int64_t> old_pids = {second.instance("spread", 0)->pid,
                                        second.instance("spread", 1)->pid};
  ASSERT_TRUE(second.request(ControlRequest{"spread", ControlAction::restart, {}}));
  EXPECT_TRUE(wait_until([&] { return running_everywhere(old_pids); })) << second.log();
  for (auto* agent : {&first, &second}) {
    EXPECT_EQ(agent->log().find("refused a request"), std::string::npos) << agent->log();
    EXPECT_EQ(agent->log().find("--max-pending-requests"), std::string::npos) << agent->log();
  }
}

// A burst of writes does not hold a probe or a ping behind it (agent/store.cpp, "probes and
// pings answered as soon as they are read"): a peer waits only probe_timeout (100 ms) for its
// ack. A ping sent after 800 deploys on one connection is answered ahead of most of them;
// before, it came after every one (the store handled up to 1,000 requests in a row).
TEST_F(Limits, APingSentAfterABurstOfDeploysIsAnsweredAheadOfMostOfThem) {
  auto& agent = start({});
  RawPeer client(agent, "limits-test");
  constexpr int kDeploys = 800;
  constexpr std::uint64_t kPingId = 100000;
  for (int i = 0; i < kDeploys; ++i)  // no instances: the deploys cost the store, not the machine
    client.send(DeployRequest{bash_spec("burst-" + std::to_string(i), "exec sleep 1000", 0), ""}, i + 1);
  client.send(PingRequest{}, kPingId);
  int deploys_answered = 0;
  int answered_before_ping = -1;
  while (deploys_answered < kDeploys || answered_before_ping < 0) {
    auto reply = client.receive(60s);
    ASSERT_TRUE(reply) << deploys_answered << " deploys answered, the ping " << (answered_before_ping < 0 ? "not" : "")
                       << " answered";
    if (const auto* error = std::get_if<ErrorReply>(&reply->body)) FAIL() << error->message;
    if (reply->request_id == kPingId) {
      ASSERT_TRUE(std::holds_alternative<PingReply>(reply->body));
      answered_before_ping = deploys_answered;
    } else {
      ASSERT_TRUE(std::holds_alternative<DeployReply>(reply->body));
      ++deploys_answered;
    }
  }
  EXPECT_LT(answered_before_ping, kDeploys / 2) << "deploys answered before the ping sent after them";
  std::printf("[ figure ] deploys answered before a ping sent after %d of them: %d\n", kDeploys, answered_before_ping);
  EXPECT_TRUE(agent.service("burst-0"));
  EXPECT_TRUE(agent.service("burst-" + std::to_string(kDeploys - 1)));
}

TEST_F(Limits, ALongLineIsCutAtTheLimitWithAMarkerAndTheNextLineIsIntact) {
  auto& agent = start({"--max-log-line-bytes", "4096"});
  ASSERT_TRUE(agent.deploy(bash_spec(
      "long-line",
      "head -c 100000 /dev/zero | tr '\\0' x; echo; echo after-the-long-line; exec sleep 1000")));
  const std::string expected = std::string(4096, 'x') +
                               " [mob: line truncated, 95904 bytes dropped]\n"
                               "after-the-long-line\n";
  std::string logs;
  EXPECT_TRUE(wait_until([&] {
    logs = logs_of(agent, "long-line");
    return logs.find("after-the-long-line\n") != std::string::npos;
  })) << logs.size() << " bytes of log";
  EXPECT_EQ(logs, expected);

  auto printed = tool(agent, {"logs", "long-line"});
  EXPECT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_EQ(printed.out, expected);
}

TEST_F(Limits, TheDefaultLineLimitIs16KiBAndALineThatNeverEndsIsMarkedWhenItsOutputEnds) {
  auto& agent = start({});
  auto spec = nlohmann::json::parse(bash_spec("endless", "head -c 100000 /dev/zero | tr '\\0' y"));
  spec["restart"] = "none";
  ASSERT_TRUE(agent.deploy(spec.dump()));
  ASSERT_TRUE(agent.wait_state("endless", 0, InstanceState::exited));
  std::string logs;
  EXPECT_TRUE(wait_until([&] {
    logs = logs_of(agent, "endless");
    return logs.find("dropped]") != std::string::npos;
  })) << logs.size() << " bytes of log";
  EXPECT_EQ(logs, std::string(16384, 'y') + " [mob: line truncated, 83616 bytes dropped]\n");
}

TEST(LimitsCommandLine, HelpListsEveryLimitAndBadValuesAreUsageErrors) {
  auto help = run_command({MOB_AGENT_BIN, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const std::string flag :
       {"--max-message-bytes", "--max-spec-bytes", "--max-instances", "--max-services",
        "--log-max-bytes", "--max-log-line-bytes arg (=16384)",
        "--max-pending-requests arg (=1024)"})
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag << " is not in:\n" << help.out;

  // Each error names the one flag that is wrong, and only that one.
  const std::vector<std::pair<std::string, std::string>> too_small = {
      {"--max-pending-requests", "at least 1, got 0"}, {"--max-log-line-bytes", "at least 1, got 0"},
      {"--heartbeat-ms", "at least 10, got 0"},         {"--sync-ms", "at least 10, got 0"},
      {"--tombstone-ttl-s", "at least 1, got 0"},      {"--probe-interval-ms", "at least 10, got 0"}};
  for (const auto& [flag, expected] : too_small) {
    auto zero = run_command({MOB_AGENT_BIN, "-p", "6000", flag, "0"});
    EXPECT_EQ(zero.exit_code, 2) << flag;
    EXPECT_NE(zero.err.find(flag + " must be " + expected), std::string::npos) << zero.err;
    for (const auto& [other, unused] : too_small) {
      if (other == flag) continue;
      EXPECT_EQ(zero.err.find(other), std::string::npos) << zero.err;
    }
  }
  auto slow_ack = run_command({MOB_AGENT_BIN, "-p", "6000", "--probe-interval-ms", "100", "--probe-timeout-ms", "100"});
  EXPECT_EQ(slow_ack.exit_code, 2);
  EXPECT_NE(slow_ack.err.find("--probe-timeout-ms (100) must be smaller than --probe-interval-ms (100)"),
            std::string::npos)
      << slow_ack.err;
}

}  // namespace limits_test
}  // namespace mob::test
