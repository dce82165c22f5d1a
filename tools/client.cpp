#include "tools/client.hpp"

#include <netdb.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <map>
#include <optional>
#include <random>
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

std::string display_of(const Address& address) {
  return address.ipv6 ? "[" + address.host + "]:" + std::to_string(address.port)
                      : address.host + ":" + std::to_string(address.port);
}

// ---- events ----------------------------------------------------------------------------

// Every event topic starts with one of these; anything else on an agent's PUB (gossip) is
// internal.
constexpr std::array<std::string_view, 3> kEventFamilies = {"member.", "service.", "instance."};

// The topic prefixes an EventSubscriber delivers, checked: each must select some event topic.
// Empty (or holding "") means every event topic.
Result<std::vector<std::string>> checked_prefixes(const std::vector<std::string>& prefixes) {
  std::vector<std::string> out;
  for (const auto& prefix : prefixes) {
    if (prefix.empty()) return std::vector<std::string>{};
    bool selects = false;
    for (auto family : kEventFamilies)
      selects = selects || family.starts_with(prefix) || prefix.starts_with(family);
    if (!selects)
      return fail(Errc::invalid_argument,
                  "topic prefix \"" + prefix +
                      "\" matches no event topic; topics start with member., service. or "
                      "instance. (e.g. instance.running)");
    out.push_back(prefix);
  }
  return out;
}

bool selected(const std::vector<std::string>& prefixes, std::string_view topic) {
  if (prefixes.empty()) return true;
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& prefix) { return topic.starts_with(prefix); });
}

bool is_wildcard_host(std::string_view host) {
  return host == "*" || host == "0.0.0.0" || host == "::" || host.empty();
}

constexpr int kReconnectMaxMs = 2000;
// A request to an agent that is still starting is retried soon (ZeroMQ's default waits
// 100 ms), backing off towards kReconnectMaxMs while it stays down.
constexpr int kRequestReconnectMs = 10;

}  // namespace

struct Client::Connection {
  std::string display;  // HOST:PORT, for messages
  std::string zmq_endpoint;
  Address address;
  ClientOptions options;
  zmq::context_t context{1};
  std::optional<zmq::socket_t> socket;  // declared after the context: closed before it
  std::optional<HandshakeWatch> watch;  // refused handshakes of `socket`
  std::uint64_t next_request_id = 1;    // 0 is never used: see call_many()

  Result<void> open() {
    try {
      watch.reset();
      socket.reset();
      socket.emplace(context, zmq::socket_type::dealer);
      harden_socket(*socket, options.max_message_bytes);
      if (options.curve) make_curve_client(*socket, *options.curve);
      watch.emplace(context, *socket);
      socket->set(zmq::sockopt::sndtimeo, static_cast<int>(options.timeout.count()));
      socket->set(zmq::sockopt::reconnect_ivl, kRequestReconnectMs);
      socket->set(zmq::sockopt::reconnect_ivl_max, kReconnectMaxMs);
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
           std::to_string(address.port) + " -P bash)" +
           (options.curve ? "; if it uses keys, check that --server-key is its network's public key"
                          : "");
  }

  std::string busy_too_long() const {
    return "agent at " + display + " is up (its connection answers) but did not answer within " +
           std::to_string(std::max(options.timeout, options.busy_timeout).count()) +
           " ms: it is overloaded or stuck (a full machine, a frozen or failing disk; see its log)";
  }

  // A DEALER keeps an unanswered request queued and would deliver it to an agent that
  // starts later; a fresh socket forgets it.
  std::unexpected<Error> give_up() {
    // A refusal that arrived with the deadline (a connection that took as long as the
    // timeout, say after SYN retransmissions) is still the answer.
    if (auto failure = watch->failure()) return refused(*failure);
    if (options.curve && watch->connected_without_handshake())
      return refused(HandshakeWatch::Failure{HandshakeWatch::Outcome::unanswered, 0});
    const bool busy = watch->answering();
    auto reopened = open();
    if (!reopened) return std::unexpected(reopened.error());
    return fail(Errc::timeout, busy ? busy_too_long() : no_answer());
  }

  std::unexpected<Error> refused(const HandshakeWatch::Failure& failure) {
    auto reopened = open();
    if (!reopened) return std::unexpected(reopened.error());
    return fail(Errc::not_authorized,
                describe_handshake_failure(failure, options.curve.has_value(), display));
  }

  // One request, one reply (or the error that ended the wait).
  Result<Body> call(Body request) {
    std::vector<Body> one;
    one.push_back(std::move(request));
    return std::move(call_many(std::move(one), 1).front());
  }

  // Sends `requests` with up to `window` of them unanswered at a time; the answers come in
  // the order of the requests. A request the agent does not answer within the timeout (from
  // the last answer received) fails with Errc::timeout, as do the ones after it.
  std::vector<Result<Body>> call_many(std::vector<Body> requests, std::size_t window) {
    std::vector<Result<Body>> answers(requests.size(), fail(Errc::timeout, no_answer()));
    std::map<std::uint64_t, std::size_t> outstanding;  // request id -> index
    std::size_t next = 0;
    // Past `deadline` a call waits on for an agent that is up (answered the handshake, which
    // stays so), until `busy_deadline`; both count from the last answer.
    auto deadline = std::chrono::steady_clock::now() + options.timeout;
    auto busy_deadline = deadline - options.timeout + std::max(options.timeout, options.busy_timeout);
    while (next < requests.size() || !outstanding.empty()) {
      while (next < requests.size() && outstanding.size() < std::max<std::size_t>(window, 1)) {
        const std::uint64_t id = next_request_id++;
        std::string frame = encode(
            Envelope{kProtocolVersion, id, std::string(kSender), std::move(requests[next])});
        if (frame.size() > options.max_message_bytes) {
          answers[next++] = fail(Errc::too_large, "request of " + std::to_string(frame.size()) +
                                                      " bytes exceeds the limit of " +
                                                      std::to_string(options.max_message_bytes) +
                                                      " bytes");
          continue;
        }
        if (!send_frames(*socket, {frame}, /*dont_wait=*/false)) {
          auto error = give_up();
          for (auto& [unanswered, index] : outstanding) answers[index] = error;
          for (; next < requests.size(); ++next) answers[next] = error;
          return answers;
        }
        outstanding.emplace(id, next++);
      }
      if (outstanding.empty()) continue;
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds(0) && deadline < busy_deadline && watch->answering()) {
        deadline = busy_deadline;
        continue;
      }
      if (left <= std::chrono::milliseconds(0)) {
        auto error = give_up();
        for (auto& [unanswered, index] : outstanding) answers[index] = error;
        for (; next < requests.size(); ++next) answers[next] = error;
        return answers;
      }
      zmq::pollitem_t items[] = {{socket->handle(), 0, ZMQ_POLLIN, 0}, watch->poll_item()};
      try {
        if (zmq::poll(items, 2, left) == 0) continue;
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) continue;
        for (auto& [unanswered, index] : outstanding)
          answers[index] = fail(Errc::internal, std::string("waiting for the agent failed: ") + e.what());
        return answers;
      }
      if (auto failure = watch->failure()) {
        auto error = refused(*failure);
        for (auto& answer : answers)
          if (!answer && answer.error().code == Errc::timeout) answer = error;
        return answers;
      }
      while (auto frames = recv_frames(*socket)) {
        if (frames->size() != 1) continue;
        auto envelope = decode(frames->front(), options.max_message_bytes);
        // An agent that could not read a request's envelope answers with id 0, and a reply
        // we cannot read has no id we can trust: either goes to the oldest request.
        auto found = !envelope || (envelope->request_id == 0 &&
                                   std::holds_alternative<ErrorReply>(envelope->body))
                         ? outstanding.begin()
                         : outstanding.find(envelope->request_id);
        if (found == outstanding.end()) continue;  // a late reply to an earlier request
        if (envelope)
          answers[found->second] = std::move(envelope->body);
        else
          answers[found->second] =
              std::unexpected(envelope.error().with_context("reply from agent at " + display));
        outstanding.erase(found);
        deadline = std::chrono::steady_clock::now() + options.timeout;
        busy_deadline = deadline - options.timeout + std::max(options.timeout, options.busy_timeout);
      }
    }
    return answers;
  }

  template <class Reply>
  Result<Reply> interpret(Result<Body> answer, std::string_view asked) {
    if (!answer) return std::unexpected(std::move(answer.error()));
    if (auto* reply = std::get_if<Reply>(&*answer)) return std::move(*reply);
    if (auto* error = std::get_if<ErrorReply>(&*answer)) {
      if (error->message.empty())
        return fail(error->code, "agent at " + display + " reported " +
                                     std::string(to_string(error->code)));
      return fail(error->code, std::move(error->message));
    }
    return fail(Errc::malformed, "agent at " + display + " answered a " +
                                     std::string(type_name(*answer)) + " to a " +
                                     std::string(asked) + "; is a Mob agent of protocol version " +
                                     std::to_string(kProtocolVersion) + " listening there?");
  }

  template <class Reply, class Request>
  Result<Reply> ask(Request request) {
    const std::string asked(type_name(Body{Request{}}));
    return interpret<Reply>(call(Body{std::move(request)}), asked);
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
  connection->display = display_of(*address);
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

std::string new_write_id() {
  std::random_device random;
  std::string id;
  const char* hex = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) id += hex[random() % 16];
  return id;
}

Result<DeployReply> Client::deploy(std::string spec_json, std::string write_id) {
  return connection_->ask<DeployReply>(DeployRequest{std::move(spec_json), std::move(write_id)});
}

std::vector<Result<DeployReply>> Client::deploy_many(std::vector<std::string> specs,
                                                     std::size_t window,
                                                     std::vector<std::string> write_ids) {
  std::vector<Body> requests;
  requests.reserve(specs.size());
  for (std::size_t i = 0; i < specs.size(); ++i)
    requests.emplace_back(DeployRequest{std::move(specs[i]), i < write_ids.size() ? write_ids[i] : ""});
  auto answers = connection_->call_many(std::move(requests), window);
  std::vector<Result<DeployReply>> replies;
  replies.reserve(answers.size());
  for (auto& answer : answers)
    replies.push_back(connection_->interpret<DeployReply>(std::move(answer), "DeployRequest"));
  return replies;
}

Result<StatusReply> Client::status(std::string service) {
  return connection_->ask<StatusReply>(StatusRequest{std::move(service)});
}

Result<ControlReply> Client::control(std::string service, ControlAction action, std::string write_id,
                                     std::uint32_t instances) {
  return connection_->ask<ControlReply>(ControlRequest{std::move(service), action, std::move(write_id), instances});
}

Result<HistoryReply> Client::history(std::string service) {
  return connection_->ask<HistoryReply>(HistoryRequest{std::move(service)});
}

Result<DeployReply> Client::rollback(std::string service, std::uint64_t version, std::string write_id) {
  return connection_->ask<DeployReply>(RollbackRequest{std::move(service), version, std::move(write_id)});
}

Result<ControlReply> Client::promote(std::string service, std::string write_id) {
  return connection_->ask<ControlReply>(PromoteRequest{std::move(service), std::move(write_id)});
}

Result<RebalanceReply> Client::rebalance(std::string service) {
  return connection_->ask<RebalanceReply>(RebalanceRequest{std::move(service)});
}

Result<LogsReply> Client::logs(const LogsRequest& request) {
  return connection_->ask<LogsReply>(request);
}

Result<MembersReply> Client::members() { return connection_->ask<MembersReply>(MembersRequest{}); }

Result<JoinCommandReply> Client::join(std::vector<std::string> seeds) {
  return connection_->ask<JoinCommandReply>(JoinCommand{std::move(seeds)});
}

Result<NodeSettingsReply> Client::node_settings(NodeSettingsRequest request) {
  return connection_->ask<NodeSettingsReply>(std::move(request));
}

Result<MetricsReply> Client::metrics() { return connection_->ask<MetricsReply>(MetricsRequest{}); }

Result<LeaveReply> Client::leave() { return connection_->ask<LeaveReply>(LeaveCommand{}); }

// ---- EventSubscriber -------------------------------------------------------------------

struct EventSubscriber::Stream {
  std::string display;          // the agent's HOST:PORT, for messages
  std::string events_endpoint;  // tcp://HOST:PORT of its PUB socket
  ClientOptions options;
  zmq::context_t context{1};
  // Declared after the context: closed before it.
  std::optional<zmq::socket_t> sub;
  std::optional<SocketMonitor> monitor;  // connection events of `sub`; closed before it
  std::vector<std::string> prefixes;  // what next() delivers; empty: every event
  int wake_fd = -1;
  bool connected = false;
  std::uint64_t dropped = 0;
  std::map<std::string, std::uint64_t> last_seq;  // per publisher

  Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  Result<void> connect(const Address& address) {
    try {
      sub.emplace(context, zmq::socket_type::sub);
      harden_socket(*sub, options.max_message_bytes);
      if (options.curve) make_curve_client(*sub, *options.curve);
      // A dead agent closes the TCP connection; a machine gone or cut off is found by TCP
      // keepalive (not ZMTP heartbeats, on which libzmq 4.3.4 can abort a slow reader).
      keep_links_alive(*sub);
      sub->set(zmq::sockopt::reconnect_ivl_max, kReconnectMaxMs);
      if (address.ipv6) sub->set(zmq::sockopt::ipv6, 1);
      // Every event topic, whatever the prefixes: `seq` numbers all of a publisher's events,
      // so only a whole stream tells a lost event from a filtered one. Never gossip.
      for (auto family : kEventFamilies) sub->set(zmq::sockopt::subscribe, family);
      monitor.emplace(context, *sub, "event-subscriber",
                      ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED);
      sub->connect(events_endpoint);
    } catch (const zmq::error_t& e) {
      return fail(Errc::invalid_argument, "cannot subscribe to the events of agent at " + display +
                                              " (" + events_endpoint + "): " + e.what());
    }
    return {};
  }

  // Applies the connection events waiting on the monitor; true when connected changed.
  bool read_monitor() {
    const bool before = connected;
    while (auto event = recv_monitor_event(monitor->events())) {
      if (event->event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) connected = true;
      else if (event->event == ZMQ_EVENT_DISCONNECTED) connected = false;
    }
    return connected != before;
  }

  // An event from [topic, envelope], or nullopt for anything else (never trust the wire).
  std::optional<Event> event_of(const std::vector<std::string>& frames) const {
    if (frames.size() != 2) return std::nullopt;
    auto envelope = decode(frames[1], options.max_message_bytes);
    if (!envelope) return std::nullopt;
    auto* event = std::get_if<Event>(&envelope->body);
    if (event == nullptr || event->topic != frames[0]) return std::nullopt;
    return std::move(*event);
  }

  void count_gap(const Event& event) {
    auto [last, first] = last_seq.try_emplace(event.publisher, event.seq);
    if (first) return;
    // A lower seq is a restarted publisher counting from 1 again, not a loss.
    if (event.seq > last->second + 1) dropped += event.seq - last->second - 1;
    last->second = event.seq;
  }
};

Result<EventSubscriber> EventSubscriber::open(std::string agent_endpoint,
                                              std::vector<std::string> topic_prefixes,
                                              ClientOptions options) {
  auto prefixes = checked_prefixes(topic_prefixes);
  if (!prefixes) return std::unexpected(prefixes.error());
  auto client = Client::connect(agent_endpoint, options);
  if (!client) return std::unexpected(client.error());
  auto pong = client->ping();
  if (!pong) return std::unexpected(pong.error());
  auto agent = parse_address(client->endpoint());
  if (!agent) return std::unexpected(agent.error());
  if (pong->events_address.empty())
    return fail(Errc::unavailable, "agent at " + client->endpoint() + " (" + pong->version +
                                       ") does not announce an event stream; upgrade it");
  auto announced = parse_address(pong->events_address);
  if (!announced)
    return fail(Errc::malformed, "agent at " + client->endpoint() +
                                     " announced a malformed events address \"" +
                                     pong->events_address + "\"");
  if (is_wildcard_host(announced->host)) {
    announced->host = agent->host;
    announced->ipv6 = agent->ipv6;
  }

  auto stream = std::make_unique<Stream>();
  stream->display = client->endpoint();
  stream->events_endpoint = "tcp://" + display_of(*announced);
  stream->options = options;
  stream->prefixes = std::move(*prefixes);
  if (auto connected = stream->connect(*announced); !connected)
    return std::unexpected(connected.error());
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  while (!stream->connected) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline -
                                                             std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds(0))
      return fail(Errc::unavailable,
                  "agent at " + stream->display + " publishes its events at " +
                      stream->events_endpoint + ", but no connection to it succeeded within " +
                      std::to_string(options.timeout.count()) +
                      " ms: is that address reachable from here (see mob-agent --bind)?");
    zmq::pollitem_t item = stream->monitor->poll_item();
    try {
      zmq::poll(&item, 1, left);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR)
        return fail(Errc::internal, std::string("waiting for the event socket failed: ") + e.what());
    }
    stream->read_monitor();
  }
  return EventSubscriber(std::move(stream));
}

EventSubscriber::EventSubscriber(std::unique_ptr<Stream> stream) : stream_(std::move(stream)) {}
EventSubscriber::EventSubscriber(EventSubscriber&&) noexcept = default;
EventSubscriber& EventSubscriber::operator=(EventSubscriber&&) noexcept = default;
EventSubscriber::~EventSubscriber() = default;

Result<std::optional<Event>> EventSubscriber::next(std::chrono::milliseconds timeout) {
  Stream& stream = *stream_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (stream.read_monitor()) return std::nullopt;
    while (auto frames = recv_frames(*stream.sub)) {
      auto event = stream.event_of(*frames);
      if (!event) continue;
      stream.count_gap(*event);
      if (selected(stream.prefixes, event->topic)) return event;
    }
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline -
                                                             std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds(0)) return std::nullopt;
    std::vector<zmq::pollitem_t> items = {{stream.sub->handle(), 0, ZMQ_POLLIN, 0},
                                          stream.monitor->poll_item()};
    if (stream.wake_fd >= 0) items.push_back({nullptr, stream.wake_fd, ZMQ_POLLIN, 0});
    try {
      zmq::poll(items.data(), items.size(), left);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) return std::nullopt;
      return fail(Errc::internal, std::string("waiting for events failed: ") + e.what());
    }
    if (stream.wake_fd >= 0 && (items[2].revents & ZMQ_POLLIN)) return std::nullopt;
  }
}

void EventSubscriber::wake_on(int fd) { stream_->wake_fd = fd; }
bool EventSubscriber::connected() const { return stream_->connected; }
std::uint64_t EventSubscriber::dropped() const { return stream_->dropped; }
const std::string& EventSubscriber::endpoint() const { return stream_->display; }
const std::string& EventSubscriber::events_address() const { return stream_->events_endpoint; }

}  // namespace mob
