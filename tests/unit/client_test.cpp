// mob::Client and mob::EventSubscriber against a fake agent: a ROUTER socket on loopback,
// owned by its own thread, and a PUB socket owned by the test thread.

#include "tools/client.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "bus/codec.hpp"
#include "bus/transport.hpp"

namespace mob {
namespace client_test {

using std::chrono::milliseconds;

// Stands in for mob-agent's request socket. Its thread alone uses the ROUTER; the test
// thread stops it through an inproc pipe. `answer` returns the frames to send back.
class FakeAgent {
 public:
  using Answer = std::function<std::vector<std::string>(const Envelope& request)>;

  explicit FakeAgent(Answer answer, std::string bind = "tcp://127.0.0.1:*")
      : answer_(std::move(answer)) {
    harden_socket(router_, kDefaultMaxMessageBytes);
    router_.bind(bind);
    std::string endpoint = router_.get(zmq::sockopt::last_endpoint);
    address_ = endpoint.substr(endpoint.find("//") + 2);
    const std::string pipe = "inproc://fake-agent-" + std::to_string(next_pipe_++);
    stop_inside_.bind(pipe);
    stop_outside_.connect(pipe);
    thread_ = std::jthread([this] { serve(); });
  }

  ~FakeAgent() {
    send_frames(stop_outside_, {"stop"}, /*dont_wait=*/false);
    thread_.join();
  }

  // "127.0.0.1:PORT", for Client::connect.
  const std::string& address() const { return address_; }

  std::vector<Envelope> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    while (true) {
      zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0},
                                 {stop_inside_.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, milliseconds(-1));
      if (items[1].revents & ZMQ_POLLIN) return;
      auto frames = recv_frames(router_);
      if (!frames || frames->size() != 2) continue;
      auto request = decode((*frames)[1]);
      if (!request) continue;
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(*request);
      }
      for (const auto& reply : answer_(*request)) send_frames(router_, {(*frames)[0], reply});
    }
  }

  static inline std::atomic<int> next_pipe_{0};
  Answer answer_;
  std::string address_;
  zmq::context_t context_{1};
  zmq::socket_t router_{context_, zmq::socket_type::router};
  zmq::socket_t stop_inside_{context_, zmq::socket_type::pair};
  zmq::socket_t stop_outside_{context_, zmq::socket_type::pair};
  std::mutex mutex_;
  std::vector<Envelope> requests_;
  std::jthread thread_;
};

template <class Message>
std::string reply(const Envelope& request, Message message) {
  return encode_message(std::move(message), request.request_id, "fake-agent");
}

// A loopback port that nothing listens on (it was free a moment ago).
std::string unused_address() {
  zmq::context_t context;
  zmq::socket_t probe(context, zmq::socket_type::router);
  probe.bind("tcp://127.0.0.1:*");
  std::string endpoint = probe.get(zmq::sockopt::last_endpoint);
  return endpoint.substr(endpoint.find("//") + 2);
}

Client connected(const std::string& address, milliseconds timeout = milliseconds(5000)) {
  ClientOptions options;
  options.timeout = timeout;
  auto client = Client::connect(address, options);
  EXPECT_TRUE(client.has_value()) << client.error().message;
  return std::move(*client);
}

TEST(ClientTest, PingSendsOneRequestAsMobToolAndReturnsTheAgentsReply) {
  FakeAgent agent([](const Envelope& request) {
    return std::vector{reply(request, PingReply{"fake", "9.9.9", kProtocolVersion, ""})};
  });
  Client client = connected(agent.address());

  auto pong = client.ping();

  ASSERT_TRUE(pong.has_value()) << pong.error().message;
  EXPECT_EQ(pong->agent, "fake");
  EXPECT_EQ(pong->version, "9.9.9");
  EXPECT_EQ(pong->protocol, kProtocolVersion);
  auto requests = agent.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].sender, "mob-tool");
  EXPECT_NE(requests[0].request_id, 0u);
  EXPECT_TRUE(std::holds_alternative<PingRequest>(requests[0].body));
}

TEST(ClientTest, DeploySendsTheSpecTextAsIsAndStatusReturnsNestedRecords) {
  const std::string spec = R"({"name": "echoes",   "provider": "bash"})";
  FakeAgent agent([](const Envelope& request) -> std::vector<std::string> {
    if (std::holds_alternative<DeployRequest>(request.body))
      return {reply(request, DeployReply{"echoes", 2, false, 7, "agent-1", 99})};
    InstanceStatus instance;
    instance.service = "echoes";
    instance.index = 1;
    instance.state = InstanceState::running;
    instance.pid = 1234;
    ServiceStatus service{"echoes", "bash", 2, 1, true, "{}", {instance}, "agent-1", 99, "", 0, "", ""};
    return {reply(request, StatusReply{{service}})};
  });
  Client client = connected(agent.address());

  auto deployed = client.deploy(spec);
  auto status = client.status("echoes");

  ASSERT_TRUE(deployed.has_value()) << deployed.error().message;
  EXPECT_EQ(deployed->service, "echoes");
  EXPECT_EQ(deployed->version, 2u);
  ASSERT_TRUE(status.has_value()) << status.error().message;
  ASSERT_EQ(status->services.size(), 1u);
  ASSERT_EQ(status->services[0].instance_list.size(), 1u);
  EXPECT_EQ(status->services[0].instance_list[0].state, InstanceState::running);
  EXPECT_EQ(status->services[0].instance_list[0].pid, 1234);
  auto requests = agent.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(std::get<DeployRequest>(requests[0].body).spec_json, spec);
  EXPECT_EQ(std::get<StatusRequest>(requests[1].body).service, "echoes");
  EXPECT_NE(requests[0].request_id, requests[1].request_id);
}

TEST(ClientTest, ErrorReplyBecomesAnErrorWithTheAgentsCodeAndMessage) {
  const std::string message =
      R"(restart.policy: expected one of always, on-failure, never, got "sometimes")";
  FakeAgent agent([&](const Envelope& request) {
    return std::vector{reply(request, ErrorReply{Errc::invalid_argument, message})};
  });
  Client client = connected(agent.address());

  auto deployed = client.deploy(R"({"restart": {"policy": "sometimes"}})");

  ASSERT_FALSE(deployed.has_value());
  EXPECT_EQ(deployed.error().code, Errc::invalid_argument);
  EXPECT_EQ(deployed.error().message, message);
}

TEST(ClientTest, ErrorReplyWithRequestIdZeroAnswersTheRequestTheAgentCouldNotRead) {
  FakeAgent agent([](const Envelope&) {
    return std::vector{encode_message(ErrorReply{Errc::malformed, "cannot decode the request"},
                                      0, "fake-agent")};
  });
  Client client = connected(agent.address(), milliseconds(2000));

  auto pong = client.ping();

  ASSERT_FALSE(pong.has_value());
  EXPECT_EQ(pong.error().code, Errc::malformed);
  EXPECT_EQ(pong.error().message, "cannot decode the request");
}

TEST(ClientTest, ReplyWithAnotherRequestIdIsSkipped) {
  FakeAgent agent([](const Envelope& request) {
    return std::vector{
        encode_message(PingReply{"stale", "0", 1, ""}, request.request_id + 1000, "fake-agent"),
        reply(request, PingReply{"fresh", "1", 1, ""})};
  });
  Client client = connected(agent.address());

  auto pong = client.ping();

  ASSERT_TRUE(pong.has_value()) << pong.error().message;
  EXPECT_EQ(pong->agent, "fresh");
}

TEST(ClientTest, ReplyOfTheWrongTypeIsMalformed) {
  FakeAgent agent([](const Envelope& request) {
    return std::vector{reply(request, MembersReply{})};
  });
  Client client = connected(agent.address());

  auto status = client.status();

  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code, Errc::malformed);
  EXPECT_NE(status.error().message.find("members_reply"), std::string::npos)
      << status.error().message;
}

TEST(ClientTest, NoAgentGivesUnavailableWithinTheTimeoutAndSaysHowToStartOne) {
  const std::string address = unused_address();
  const std::string port = address.substr(address.rfind(':') + 1);
  const milliseconds timeout(200);
  Client client = connected(address, timeout);

  auto started = std::chrono::steady_clock::now();
  auto pong = client.ping();
  auto elapsed = std::chrono::steady_clock::now() - started;

  ASSERT_FALSE(pong.has_value());
  EXPECT_EQ(pong.error().code, Errc::timeout);
  EXPECT_EQ(pong.error().message,
            "no answer from agent at " + address +
                " within 200 ms: is mob-agent running there? (start it with: mob-agent -p " +
                port + " -P bash)");
  EXPECT_GE(elapsed, timeout);
  EXPECT_LT(elapsed, timeout + milliseconds(1000));
}

TEST(ClientTest, RequestThatTimedOutIsNotDeliveredToAnAgentStartedLater) {
  const std::string address = unused_address();
  Client client = connected(address, milliseconds(200));
  ASSERT_FALSE(client.deploy(R"({"name": "late"})").has_value());

  FakeAgent agent(
      [](const Envelope& request) { return std::vector{reply(request, StatusReply{})}; },
      "tcp://" + address);
  auto status = client.status();

  ASSERT_TRUE(status.has_value()) << status.error().message;
  auto requests = agent.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<StatusRequest>(requests[0].body));
}

TEST(ClientTest, MalformedAddressIsAnInvalidArgumentNamingTheAddress) {
  for (const char* address : {"localhost", "127.0.0.1:", ":6666", "127.0.0.1:0",
                              "127.0.0.1:70000", "127.0.0.1:66x", "::1:6666", "[::1"}) {
    auto client = Client::connect(address);
    ASSERT_FALSE(client.has_value()) << address;
    EXPECT_EQ(client.error().code, Errc::invalid_argument) << address;
    EXPECT_NE(client.error().message.find(address), std::string::npos)
        << client.error().message;
  }
}

TEST(ClientTest, AcceptsTcpSchemeAndBracketedIpv6) {
  EXPECT_TRUE(Client::connect("tcp://127.0.0.1:6666").has_value());
  auto ipv6 = Client::connect("[::1]:6666");
  ASSERT_TRUE(ipv6.has_value()) << ipv6.error().message;
  EXPECT_EQ(ipv6->endpoint(), "[::1]:6666");
}

// ---- EventSubscriber -------------------------------------------------------------------

// An agent's PUB socket, used by the test thread alone, with the fake request socket that
// announces it in its PingReply.
class FakePublisher {
 public:
  explicit FakePublisher(std::string bind = "tcp://127.0.0.1:*") {
    harden_socket(pub_, kDefaultMaxMessageBytes);
    pub_.bind(bind);
    endpoint_ = pub_.get(zmq::sockopt::last_endpoint);
  }

  // What the agent announces: its PUB endpoint as bound ("tcp://0.0.0.0:PORT" for a wildcard).
  const std::string& endpoint() const { return endpoint_; }

  void send(const std::vector<std::string>& frames) {
    std::vector<std::string_view> views(frames.begin(), frames.end());
    ASSERT_TRUE(send_frames(pub_, views));
  }
  void publish(Event event) {
    std::string topic = event.topic;
    send({topic, encode_message(std::move(event), 0, "fake-agent")});
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t pub_{context_, zmq::socket_type::pub};
  std::string endpoint_;
};

Event event(std::string topic, std::string publisher, std::uint64_t seq,
            std::string service = "echoes") {
  Event out;
  out.topic = std::move(topic);
  out.time_ms = 1700000000000;
  out.agent = publisher;
  out.publisher = std::move(publisher);
  out.seq = seq;
  out.service = std::move(service);
  return out;
}

FakeAgent announcing(const std::string& events_address) {
  return FakeAgent([events_address](const Envelope& request) {
    return std::vector{reply(request, PingReply{"fake", "9.9.9", kProtocolVersion, events_address})};
  });
}

EventSubscriber subscribed(const FakeAgent& agent, std::vector<std::string> topics = {}) {
  ClientOptions options;
  options.timeout = milliseconds(5000);
  auto events = EventSubscriber::open(agent.address(), std::move(topics), options);
  EXPECT_TRUE(events.has_value()) << events.error().message;
  return std::move(*events);
}

// The next event within 5 s, or nullopt.
std::optional<Event> next_event(EventSubscriber& events) {
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(5000);
  while (std::chrono::steady_clock::now() < deadline) {
    auto got = events.next(milliseconds(100));
    EXPECT_TRUE(got.has_value()) << got.error().message;
    if (got && *got) return **got;
  }
  return std::nullopt;
}

// A SUB misses what is published before its subscription reaches the PUB (the slow joiner):
// publishes on a topic of its own until one arrives, so that what follows is delivered.
void wait_until_subscribed(FakePublisher& pub, EventSubscriber& events,
                           const std::string& topic = "member.joined") {
  for (std::uint64_t seq = 1; seq < 500; ++seq) {
    pub.publish(event(topic, "warm-up", seq));
    auto got = events.next(milliseconds(10));
    ASSERT_TRUE(got.has_value()) << got.error().message;
    if (*got) {
      ASSERT_EQ((*got)->publisher, "warm-up");
      return;
    }
  }
  FAIL() << "the subscription never took effect";
}

TEST(EventSubscriberTest, AsksTheAgentWhereItPublishesAndDeliversEventsInOrder) {
  FakePublisher pub;
  FakeAgent agent = announcing(pub.endpoint());
  EventSubscriber events = subscribed(agent);
  wait_until_subscribed(pub, events);

  Event running = event("instance.running", "agent-a", 7);
  running.instance = 1;
  running.node = "agent-b";
  running.state = "running";
  running.generation = 3;
  pub.publish(event("service.deployed", "agent-a", 5));
  pub.publish(event("instance.assigned", "agent-a", 6));
  pub.publish(running);

  std::vector<std::string> topics;
  for (int i = 0; i < 3; ++i) {
    auto got = next_event(events);
    ASSERT_TRUE(got);
    topics.push_back(got->topic);
    if (got->topic == "instance.running") {
      EXPECT_EQ(got->instance, 1);
      EXPECT_EQ(got->node, "agent-b");
      EXPECT_EQ(got->generation, 3u);
      EXPECT_EQ(got->seq, 7u);
    }
  }
  EXPECT_EQ(topics, (std::vector<std::string>{"service.deployed", "instance.assigned",
                                              "instance.running"}));
  EXPECT_EQ(events.dropped(), 0u);
  EXPECT_TRUE(events.connected());
  EXPECT_EQ(events.events_address(), pub.endpoint());
  EXPECT_EQ(events.endpoint(), agent.address());
  auto requests = agent.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<PingRequest>(requests[0].body));
}

TEST(EventSubscriberTest, DeliversOnlyTheTopicsItsPrefixesSelect) {
  FakePublisher pub;
  FakeAgent agent = announcing(pub.endpoint());
  EventSubscriber events = subscribed(agent, {"member.failed", "serv"});
  wait_until_subscribed(pub, events, "member.failed");

  pub.publish(event("instance.running", "agent-a", 1));
  pub.publish(event("member.joined", "agent-a", 2));
  pub.publish(event("member.failed", "agent-a", 3));
  pub.publish(event("service.deployed", "agent-a", 4));
  pub.publish(event("instance.failed", "agent-a", 5));
  pub.publish(event("service.removed", "agent-a", 6));

  std::vector<std::string> topics;
  for (int i = 0; i < 3; ++i) {
    auto got = next_event(events);
    ASSERT_TRUE(got);
    topics.push_back(got->topic);
  }
  EXPECT_EQ(topics, (std::vector<std::string>{"member.failed", "service.deployed",
                                              "service.removed"}));
}

TEST(EventSubscriberTest, NeverDeliversGossipOrMessagesThatAreNotEvents) {
  FakePublisher pub;
  FakeAgent agent = announcing(pub.endpoint());
  EventSubscriber events = subscribed(agent, {""});
  wait_until_subscribed(pub, events);

  pub.send({"gossip", encode_message(Gossip{"agent-a", 1, {}}, 0, "agent-a")});
  pub.send({"instance.running", "not msgpack"});
  pub.send({"instance.running", encode_message(PingReply{}, 0, "agent-a")});
  pub.send({"instance.running", encode_message(event("instance.exited", "agent-a", 1))});
  pub.send({"instance.running", encode_message(event("instance.running", "agent-a", 2)), "x"});
  pub.send({"instance.running"});
  pub.publish(event("instance.stopped", "agent-a", 3));

  auto got = next_event(events);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->topic, "instance.stopped");
  auto more = events.next(milliseconds(50));
  ASSERT_TRUE(more.has_value());
  EXPECT_FALSE(*more);
}

TEST(EventSubscriberTest, RejectsATopicPrefixThatSelectsNoEventTopic) {
  FakeAgent agent = announcing("tcp://127.0.0.1:1");
  for (const char* prefix : {"gossip", "g", "x.", "members"}) {
    auto events = EventSubscriber::open(agent.address(), {"instance.", prefix});
    ASSERT_FALSE(events.has_value()) << prefix;
    EXPECT_EQ(events.error().code, Errc::invalid_argument);
    EXPECT_NE(events.error().message.find(std::string("\"") + prefix + "\""), std::string::npos)
        << events.error().message;
  }
  EXPECT_TRUE(agent.requests().empty());
}

TEST(EventSubscriberTest, CountsGapsInEachPublishersSeqAsDroppedEvents) {
  FakePublisher pub;
  FakeAgent agent = announcing(pub.endpoint());
  EventSubscriber events = subscribed(agent);
  wait_until_subscribed(pub, events);

  // agent-a: 1, 2, then 5 (3 and 4 lost); agent-b starts at 7 (no earlier baseline); agent-a
  // restarts and counts from 1 again, which is no loss.
  for (auto [publisher, seq] : std::vector<std::pair<std::string, std::uint64_t>>{
           {"agent-a", 1}, {"agent-a", 2}, {"agent-b", 7}, {"agent-a", 5}, {"agent-b", 8},
           {"agent-a", 1}, {"agent-a", 2}})
    pub.publish(event("instance.running", publisher, seq));

  std::vector<std::uint64_t> dropped;
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(next_event(events));
    dropped.push_back(events.dropped());
  }
  EXPECT_EQ(dropped, (std::vector<std::uint64_t>{0, 0, 0, 2, 2, 2, 2}));
}

TEST(EventSubscriberTest, EventsItsPrefixesFilterOutAreNotCountedAsDropped) {
  FakePublisher pub;
  FakeAgent agent = announcing(pub.endpoint());
  EventSubscriber events = subscribed(agent, {"member."});
  wait_until_subscribed(pub, events);

  pub.publish(event("member.joined", "agent-a", 1));
  pub.publish(event("instance.running", "agent-a", 2));
  pub.publish(event("service.deployed", "agent-a", 3));
  pub.publish(event("member.failed", "agent-a", 4));

  auto joined = next_event(events);
  auto failed = next_event(events);
  ASSERT_TRUE(joined && failed);
  EXPECT_EQ(joined->topic, "member.joined");
  EXPECT_EQ(failed->topic, "member.failed");
  EXPECT_EQ(events.dropped(), 0u);
}

TEST(EventSubscriberTest, ReportsALostAgentAndReconnectsByItselfWhenItIsBack) {
  std::optional<FakePublisher> pub;
  pub.emplace();
  const std::string endpoint = pub->endpoint();
  FakeAgent agent = announcing(endpoint);
  EventSubscriber events = subscribed(agent);
  ASSERT_TRUE(events.connected());

  pub.reset();
  const auto lost_by = std::chrono::steady_clock::now() + milliseconds(5000);
  while (events.connected() && std::chrono::steady_clock::now() < lost_by)
    ASSERT_TRUE(events.next(milliseconds(100)).has_value());
  ASSERT_FALSE(events.connected());

  pub.emplace(endpoint);
  const auto back_by = std::chrono::steady_clock::now() + milliseconds(10000);
  while (!events.connected() && std::chrono::steady_clock::now() < back_by)
    ASSERT_TRUE(events.next(milliseconds(100)).has_value());
  ASSERT_TRUE(events.connected());
  wait_until_subscribed(*pub, events);
  pub->publish(event("member.failed", "agent-a", 1));
  auto got = next_event(events);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->topic, "member.failed");
}

TEST(EventSubscriberTest, ConnectsToTheAgentsHostWhenThePubIsBoundToAWildcard) {
  FakePublisher pub("tcp://0.0.0.0:*");
  ASSERT_EQ(pub.endpoint().rfind("tcp://0.0.0.0:", 0), 0u) << pub.endpoint();
  FakeAgent agent = announcing(pub.endpoint());
  EventSubscriber events = subscribed(agent);

  const std::string port = pub.endpoint().substr(pub.endpoint().rfind(':'));
  EXPECT_EQ(events.events_address(), "tcp://127.0.0.1" + port);
  wait_until_subscribed(pub, events);
}

TEST(EventSubscriberTest, AgentThatDoesNotAnswerTimesOut) {
  ClientOptions options;
  options.timeout = milliseconds(200);
  auto events = EventSubscriber::open(unused_address(), {}, options);
  ASSERT_FALSE(events.has_value());
  EXPECT_EQ(events.error().code, Errc::timeout);
  EXPECT_NE(events.error().message.find("no answer from agent"), std::string::npos)
      << events.error().message;
}

TEST(EventSubscriberTest, AnnouncedPubThatAcceptsNoConnectionIsUnavailableAndNamed) {
  const std::string nowhere = "tcp://" + unused_address();
  FakeAgent agent = announcing(nowhere);
  ClientOptions options;
  options.timeout = milliseconds(300);
  auto events = EventSubscriber::open(agent.address(), {}, options);
  ASSERT_FALSE(events.has_value());
  EXPECT_EQ(events.error().code, Errc::unavailable);
  EXPECT_NE(events.error().message.find(nowhere), std::string::npos) << events.error().message;
}

TEST(EventSubscriberTest, NextReturnsWithoutAnEventOnceTheWakeDescriptorIsReadable) {
  FakePublisher pub;
  FakeAgent agent = announcing(pub.endpoint());
  EventSubscriber events = subscribed(agent);
  const int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(wake, 0);
  events.wake_on(wake);
  const std::uint64_t one = 1;
  ASSERT_EQ(::write(wake, &one, sizeof one), static_cast<ssize_t>(sizeof one));

  const auto started = std::chrono::steady_clock::now();
  auto got = events.next(milliseconds(10000));
  const auto waited = std::chrono::steady_clock::now() - started;

  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_FALSE(*got);
  EXPECT_LT(waited, milliseconds(5000));
  ::close(wake);
}

TEST(EventSubscriberTest, NextWithoutEventsReturnsAfterItsTimeout) {
  FakePublisher pub;
  FakeAgent agent = announcing(pub.endpoint());
  EventSubscriber events = subscribed(agent);

  const auto started = std::chrono::steady_clock::now();
  auto got = events.next(milliseconds(150));
  const auto waited = std::chrono::steady_clock::now() - started;

  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_FALSE(*got);
  EXPECT_GE(waited, milliseconds(150));
  EXPECT_LT(waited, milliseconds(2000));
}

}  // namespace client_test
}  // namespace mob
