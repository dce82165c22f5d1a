#include "tools/client.hpp"

#include <netdb.h>

#include <cerrno>
#include <charconv>
#include <optional>
#include <utility>

#include <zmq.hpp>

#include "bus/transport.hpp"

namespace mob {
namespace {

constexpr std::string_view kSender = "mob-tool";

struct Address {
  std::string host;  // without brackets
  std::uint16_t port = 0;
  bool ipv6 = false;
};

Result<Address> parse_address(std::string_view text) {
  auto invalid = [&](std::string_view why) {
    return fail(Errc::invalid_argument, "agent address \"" + std::string(text) + "\" " +
                                            std::string(why) +
                                            ": expected HOST:PORT, e.g. 127.0.0.1:6666");
  };
  std::string_view rest = text;
  if (rest.starts_with("tcp://")) rest.remove_prefix(6);
  Address address;
  std::string_view port;
  if (rest.starts_with("[")) {
    auto close = rest.find("]:");
    if (close == std::string_view::npos) return invalid("has an unclosed [IPv6] host or no port");
    address.host = std::string(rest.substr(1, close - 1));
    address.ipv6 = true;
    port = rest.substr(close + 2);
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return invalid("has no port");
    address.host = std::string(rest.substr(0, colon));
    port = rest.substr(colon + 1);
    if (address.host.find(':') != std::string::npos)
      return invalid("looks like IPv6; write it as [ADDRESS]:PORT");
  }
  if (address.host.empty()) return invalid("has no host");
  unsigned number = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || number == 0 ||
      number > 65535)
    return invalid("has a port that is not a number from 1 to 65535");
  address.port = static_cast<std::uint16_t>(number);
  return address;
}

// ZeroMQ resolves names only when it dials, so an unknown host would look like a silent
// agent; resolving here names the real problem.
Result<void> check_resolves(const Address& address) {
  addrinfo hints{};
  hints.ai_family = address.ipv6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(address.host.c_str(), nullptr, &hints, &found);
  if (found != nullptr) ::freeaddrinfo(found);
  if (rc != 0)
    return fail(Errc::unavailable, "cannot resolve agent host \"" + address.host +
                                       "\": " + ::gai_strerror(rc) +
                                       "; check the name or give an IP address");
  return {};
}

}  // namespace

struct Client::Connection {
  std::string display;  // HOST:PORT, for messages
  std::string zmq_endpoint;
  Address address;
  ClientOptions options;
  zmq::context_t context{1};
  std::optional<zmq::socket_t> socket;  // declared after the context: closed before it
  std::uint64_t next_request_id = 1;    // 0 is never used: see is_answer()

  Result<void> open() {
    try {
      socket.reset();
      socket.emplace(context, zmq::socket_type::dealer);
      harden_socket(*socket, options.max_message_bytes);
      socket->set(zmq::sockopt::sndtimeo, static_cast<int>(options.timeout.count()));
      if (address.ipv6) socket->set(zmq::sockopt::ipv6, 1);
      socket->connect(zmq_endpoint);
    } catch (const zmq::error_t& e) {
      return fail(Errc::invalid_argument,
                  "cannot connect to agent at " + display + ": " + e.what());
    }
    return {};
  }

  std::string no_answer() const {
    return "no answer from agent at " + display + " within " +
           std::to_string(options.timeout.count()) +
           " ms: is mob-agent running there? (start it with: mob-agent -p " +
           std::to_string(address.port) + " -P bash)";
  }

  // A DEALER keeps an unanswered request queued and would deliver it to an agent that
  // starts later; a fresh socket forgets it.
  std::unexpected<Error> give_up() {
    auto reopened = open();
    if (!reopened) return std::unexpected(reopened.error());
    return fail(Errc::unavailable, no_answer());
  }

  // The reply to `id`, or an ErrorReply with request id 0: an agent that could not read a
  // request's envelope cannot know its id, and only one request is ever outstanding.
  static bool is_answer(const Envelope& envelope, std::uint64_t id) {
    return envelope.request_id == id ||
           (envelope.request_id == 0 && std::holds_alternative<ErrorReply>(envelope.body));
  }

  Result<Body> call(Body request) {
    const std::uint64_t id = next_request_id++;
    const std::string frame =
        encode(Envelope{kProtocolVersion, id, std::string(kSender), std::move(request)});
    if (frame.size() > options.max_message_bytes)
      return fail(Errc::too_large, "request of " + std::to_string(frame.size()) +
                                       " bytes exceeds the limit of " +
                                       std::to_string(options.max_message_bytes) + " bytes");
    const auto deadline = std::chrono::steady_clock::now() + options.timeout;
    if (!send_frames(*socket, {frame}, /*dont_wait=*/false)) return give_up();
    while (true) {
      // Rounded up: the call never gives up before the full timeout has passed.
      auto left = std::chrono::ceil<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds(0)) return give_up();
      zmq::pollitem_t item{socket->handle(), 0, ZMQ_POLLIN, 0};
      try {
        if (zmq::poll(&item, 1, left) == 0) continue;
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) continue;  // a signal for the embedding program; keep waiting
        return fail(Errc::internal, std::string("waiting for the agent failed: ") + e.what());
      }
      auto frames = recv_frames(*socket);
      if (!frames || frames->size() != 1) continue;  // an agent answers with one frame
      auto envelope = decode(frames->front(), options.max_message_bytes);
      if (!envelope)
        return std::unexpected(envelope.error().with_context("reply from agent at " + display));
      if (!is_answer(*envelope, id)) continue;  // a late reply to an earlier request
      return std::move(envelope->body);
    }
  }

  template <class Reply, class Request>
  Result<Reply> ask(Request request) {
    const std::string asked(type_name(Body{Request{}}));
    auto answer = call(Body{std::move(request)});
    if (!answer) return std::unexpected(std::move(answer.error()));
    if (auto* reply = std::get_if<Reply>(&*answer)) return std::move(*reply);
    if (auto* error = std::get_if<ErrorReply>(&*answer)) {
      if (error->message.empty())
        return fail(error->code, "agent at " + display + " reported " +
                                     std::string(to_string(error->code)));
      return fail(error->code, std::move(error->message));
    }
    return fail(Errc::malformed, "agent at " + display + " answered a " +
                                     std::string(type_name(*answer)) + " to a " + asked +
                                     "; is a Mob agent of protocol version " +
                                     std::to_string(kProtocolVersion) + " listening there?");
  }
};

Result<Client> Client::connect(std::string endpoint, ClientOptions options) {
  auto address = parse_address(endpoint);
  if (!address) return std::unexpected(address.error());
  if (options.timeout <= std::chrono::milliseconds(0))
    return fail(Errc::invalid_argument, "timeout must be positive, got " +
                                            std::to_string(options.timeout.count()) + " ms");
  if (auto resolved = check_resolves(*address); !resolved)
    return std::unexpected(resolved.error());
  auto connection = std::make_unique<Connection>();
  connection->display = address->ipv6 ? "[" + address->host + "]:" + std::to_string(address->port)
                                      : address->host + ":" + std::to_string(address->port);
  connection->zmq_endpoint = "tcp://" + connection->display;
  connection->address = std::move(*address);
  connection->options = options;
  if (auto opened = connection->open(); !opened) return std::unexpected(opened.error());
  return Client(std::move(connection));
}

Client::Client(std::unique_ptr<Connection> connection) : connection_(std::move(connection)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

const std::string& Client::endpoint() const { return connection_->display; }

Result<PingReply> Client::ping() { return connection_->ask<PingReply>(PingRequest{}); }

Result<DeployReply> Client::deploy(std::string spec_json) {
  return connection_->ask<DeployReply>(DeployRequest{std::move(spec_json)});
}

Result<StatusReply> Client::status(std::string service) {
  return connection_->ask<StatusReply>(StatusRequest{std::move(service)});
}

Result<ControlReply> Client::control(std::string service, ControlAction action) {
  return connection_->ask<ControlReply>(ControlRequest{std::move(service), action});
}

Result<LogsReply> Client::logs(const LogsRequest& request) {
  return connection_->ask<LogsReply>(request);
}

Result<MembersReply> Client::members() { return connection_->ask<MembersReply>(MembersRequest{}); }

Result<JoinCommandReply> Client::join(std::vector<std::string> seeds) {
  return connection_->ask<JoinCommandReply>(JoinCommand{std::move(seeds)});
}

Result<LeaveReply> Client::leave() { return connection_->ask<LeaveReply>(LeaveCommand{}); }

}  // namespace mob
