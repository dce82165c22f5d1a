// A blocking request/reply client of one Mob agent, and a subscriber to the network's events,
// for mob-tool and any program embedding Mob. Not thread-safe: use each object from one thread
// at a time; each owns its ZeroMQ context and sockets.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bus/codec.hpp"
#include "bus/error.hpp"
#include "bus/messages.hpp"
#include "bus/security.hpp"

namespace mob {

struct ClientOptions {
  // How long each call waits for the agent's reply before it gives up with Errc::timeout...
  std::chrono::milliseconds timeout{3000};
  // ...unless the agent is known to be up (its ZeroMQ I/O thread answered the connection's
  // handshake) but busy: a full machine slows answers, it does not lose them.
  // Then the call waits up to this long from the last answer (or the request) before it
  // gives up with Errc::timeout, "connected but busy". At most `timeout`: no extra wait.
  std::chrono::milliseconds busy_timeout{60000};
  // Larger replies are dropped by ZeroMQ; the call then times out.
  std::size_t max_message_bytes = kDefaultMaxMessageBytes;
  // CURVE keys (docs/security.md), needed by an agent that runs with --key-file: this
  // client's key pair and the network's public key. A refused handshake fails the call at
  // once with Errc::not_authorized, a message that starts with "not authorized".
  std::optional<ClientKeys> curve = std::nullopt;
};

// A random write id (32 hex digits) for DeployRequest/ControlRequest.write_id.
std::string new_write_id();

class Client {
 public:
  // `endpoint` is "HOST:PORT" ("tcp://HOST:PORT" and "[IPv6]:PORT" work too). Connecting is
  // lazy: a malformed endpoint is Errc::invalid_argument here, while an agent that is not
  // running shows up as Errc::timeout on the first call (no answer).
  static Result<Client> connect(std::string endpoint, ClientOptions options = {});

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  // Each call sends one request and waits up to `options.timeout` for its reply. An
  // ErrorReply from the agent comes back as an Error with the agent's code and message.
  Result<PingReply> ping();
  // `spec_json` goes to the agent as is; the agent validates it. Writes (deploy, control)
  // are answered once on the agent's disk. A `write_id` (new_write_id(); empty: none) makes
  // a retry after a timeout (Errc::timeout: the write may still take effect) the same
  // write: the agent answers it with the first outcome instead of writing again.
  Result<DeployReply> deploy(std::string spec_json, std::string write_id = {});
  // Deploys many specs with up to `window` requests in flight; one result per spec, in
  // order. `write_ids`, when given, holds one id per spec.
  std::vector<Result<DeployReply>> deploy_many(std::vector<std::string> specs,
                                               std::size_t window = 64,
                                               std::vector<std::string> write_ids = {});
  // An empty `service` asks for every service.
  Result<StatusReply> status(std::string service = {});
  // `instances`: the new count, for ControlAction::scale.
  Result<ControlReply> control(std::string service, ControlAction action, std::string write_id = {},
                               std::uint32_t instances = 0);
  // The versions of `service`, newest first (docs/spec.md, "History and rollback").
  Result<HistoryReply> history(std::string service);
  // Deploys the spec of an earlier `version` (0: the one before the current one) as a new
  // version; answered like deploy().
  Result<DeployReply> rollback(std::string service, std::uint64_t version = 0, std::string write_id = {});
  // Lets a rollout paused on its canaries go on.
  Result<ControlReply> promote(std::string service, std::string write_id = {});
  // Moves a batch of instances towards an even spread (empty `service`: every service); ask
  // again until `left` is 0 and no move is returned.
  Result<RebalanceReply> rebalance(std::string service = {});
  Result<LogsReply> logs(const LogsRequest& request);
  Result<MembersReply> members();
  // Makes the agent join the network through these agents ("HOST:PORT").
  Result<JoinCommandReply> join(std::vector<std::string> seeds);
  // Changes the agent's own settings (eligibility, runtime tags); `request.node` must name
  // that agent (the address of each is in members()). Answered once on its disk.
  Result<NodeSettingsReply> node_settings(NodeSettingsRequest request);
  // The agent's metrics in the Prometheus text format (docs/operations.md, "Metrics").
  Result<MetricsReply> metrics();
  // Makes the agent leave the network gracefully and exit.
  Result<LeaveReply> leave();

  // "HOST:PORT" as given to connect(), for messages.
  const std::string& endpoint() const;

 private:
  struct Connection;
  explicit Client(std::unique_ptr<Connection> connection);

  std::unique_ptr<Connection> connection_;
};

// The event stream of the network (docs/events.md), read from one agent's PUB socket: every
// agent publishes each change its replicated state learns, so one agent shows the whole network.
class EventSubscriber {
 public:
  // Asks the agent at `agent_endpoint` (HOST:PORT of its request socket, as for
  // Client::connect) where it publishes events, subscribes to them and returns once
  // connected. next() delivers the topics that start with one of `topic_prefixes` (empty:
  // every event topic; "gossip" is never delivered); the others are still received, to
  // count losses. Errc::invalid_argument for a malformed endpoint or a prefix that matches
  // no event topic; Errc::timeout when the agent (its ping) does not answer, and
  // Errc::unavailable when its PUB socket accepts no connection, within `options.timeout` each. The subscription reaches the
  // agent a moment after open() returns: to miss nothing from a point on, open first, then
  // read the state once (status), then rely on the events.
  static Result<EventSubscriber> open(std::string agent_endpoint,
                                      std::vector<std::string> topic_prefixes = {},
                                      ClientOptions options = {});

  EventSubscriber(EventSubscriber&&) noexcept;
  EventSubscriber& operator=(EventSubscriber&&) noexcept;
  ~EventSubscriber();

  // The next event, or nullopt once `timeout` has passed, connected() has changed, the
  // wake_on() descriptor is readable or a signal interrupted the wait. Malformed messages
  // are skipped. An Error only when the socket itself fails.
  Result<std::optional<Event>> next(std::chrono::milliseconds timeout);

  // next() also returns as soon as `fd` is readable (a signalfd, a pipe); -1 for none. The
  // subscriber neither reads nor closes it.
  void wake_on(int fd);

  // Whether the connection to the agent's PUB socket is up. After a loss (the agent died
  // or stopped answering ZMTP heartbeats for 3 s) it reconnects by itself.
  bool connected() const;
  // Events the agent published but this subscriber never received, whatever their topic:
  // the sum of the gaps in each publisher's `seq`. A slow reader loses events at the
  // high-water mark instead of slowing the agent down; a reconnection loses what was
  // published meanwhile.
  std::uint64_t dropped() const;

  // "HOST:PORT" as given to open(), and the PUB endpoint it reads: the one the agent
  // announced, with a wildcard host (an agent bound to 0.0.0.0) replaced by the agent's host.
  const std::string& endpoint() const;
  const std::string& events_address() const;

 private:
  struct Stream;
  explicit EventSubscriber(std::unique_ptr<Stream> stream);

  std::unique_ptr<Stream> stream_;
};

}  // namespace mob
