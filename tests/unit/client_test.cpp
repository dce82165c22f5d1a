// mob::Client against a fake agent: a ROUTER socket on loopback, owned by its own thread.

#include "tools/client.hpp"

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
namespace {

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
  auto client = Client::connect(address, ClientOptions{timeout});
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
      return {reply(request, DeployReply{"echoes", 2, false})};
    InstanceStatus instance;
    instance.service = "echoes";
    instance.index = 1;
    instance.state = InstanceState::running;
    instance.pid = 1234;
    ServiceStatus service{"echoes", "bash", 2, 1, true, "{}", {instance}};
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
  EXPECT_EQ(pong.error().code, Errc::unavailable);
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

}  // namespace
}  // namespace mob
