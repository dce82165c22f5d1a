#include "agent/io.hpp"

#include <chrono>
#include <deque>
#include <unordered_map>

#include "agent/actor.hpp"
#include "agent/admission.hpp"
#include "agent/time_source.hpp"
#include "bus/codec.hpp"
#include "bus/log.hpp"
#include "bus/transport.hpp"

namespace mob {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kIoLog = "io";
// How long a forwarded request holds a slot of its client at most. Every request the agent
// answers is answered well within it (the slowest, a join, within 2.5 s), and mob-tool gives
// up after 3 s by default.
constexpr auto kPendingExpiry = std::chrono::seconds(10);
constexpr auto kExpirySweep = std::chrono::seconds(1);

enum class Destination { store, supervisor, refuse };

Destination destination_of(const Body& body) {
  return std::visit(
      [](const auto& message) {
        using T = std::decay_t<decltype(message)>;
        if constexpr (std::is_same_v<T, PingRequest> || std::is_same_v<T, DeployRequest> ||
                      std::is_same_v<T, StatusRequest> || std::is_same_v<T, ControlRequest> ||
                      std::is_same_v<T, MembersRequest> || std::is_same_v<T, ProbeRequest> ||
                      std::is_same_v<T, IndirectProbeRequest> || std::is_same_v<T, JoinRequest> ||
                      std::is_same_v<T, SyncRequest> || std::is_same_v<T, SyncPush> ||
                      std::is_same_v<T, WriteCopy> ||
                      std::is_same_v<T, JoinCommand> || std::is_same_v<T, LeaveCommand> ||
                      std::is_same_v<T, NodeSettingsRequest> || std::is_same_v<T, MetricsRequest> ||
                      std::is_same_v<T, HistoryRequest> || std::is_same_v<T, RollbackRequest> ||
                      std::is_same_v<T, PromoteRequest> || std::is_same_v<T, RebalanceRequest>) {
          return Destination::store;
        } else if constexpr (std::is_same_v<T, LogsRequest>) {
          return Destination::supervisor;
        } else {
          return Destination::refuse;
        }
      },
      body);
}

// Requests forwarded for each client (routing identity) and not answered yet. Not every
// message gets exactly one reply (a SyncPush gets none, an indirect probe of a silent target
// none when it asked for no nack and two when a late ack follows its nack, a sync or a join
// several), so the count is kept honest by time: every slot frees
// itself kPendingExpiry after its request was forwarded, and a reply frees the newest slot,
// which leaves the oldest (those of unanswered messages) to expire first. A client is
// therefore never locked out for longer than kPendingExpiry, and extra replies only make
// the count low, never high. Only clients with a slot taken have an entry: the map is
// bounded by the connections that sent something in the last kPendingExpiry.
class PendingRequests {
 public:
  explicit PendingRequests(std::size_t limit) : limit_(limit) {}

  std::size_t limit() const { return limit_; }

  // Whether `client` already has `limit` requests in flight.
  bool full(const std::string& client, Clock::time_point now) {
    auto found = in_flight_.find(client);
    if (found == in_flight_.end()) return false;
    drop_expired(found->second, now);
    if (found->second.empty()) {
      in_flight_.erase(found);
      return false;
    }
    return found->second.size() >= limit_;
  }

  void forwarded(const std::string& client, Clock::time_point now) {
    in_flight_[client].push_back(now + kPendingExpiry);
  }

  void answered(const std::string& client) {
    auto found = in_flight_.find(client);
    if (found == in_flight_.end()) return;
    found->second.pop_back();
    if (found->second.empty()) in_flight_.erase(found);
  }

  bool empty() const { return in_flight_.empty(); }

  void expire(Clock::time_point now) {
    for (auto it = in_flight_.begin(); it != in_flight_.end();) {
      drop_expired(it->second, now);
      it = it->second.empty() ? in_flight_.erase(it) : std::next(it);
    }
  }

 private:
  // Deadlines are pushed in time order, so the expired ones are at the front.
  static void drop_expired(std::deque<Clock::time_point>& deadlines, Clock::time_point now) {
    while (!deadlines.empty() && deadlines.front() <= now) deadlines.pop_front();
  }

  std::size_t limit_;
  std::unordered_map<std::string, std::deque<Clock::time_point>> in_flight_;
};

// A warning logged at most once a second, with a count of the ones suppressed meanwhile.
class RateLimitedWarning {
 public:
  void warn(const std::string& what) {
    auto now = system_time().steady_now();
    if (now - last_ < std::chrono::seconds(1)) {
      ++suppressed_;
      return;
    }
    log::warn(kIoLog, what, suppressed_ ? " (and " + std::to_string(suppressed_) + " more)" : "");
    suppressed_ = 0;
    last_ = now;
  }

 private:
  Clock::time_point last_{};
  std::size_t suppressed_ = 0;
};

class Io {
 public:
  Io(IoConfig config, zmq::socket_t router, zmq::socket_t store, zmq::socket_t supervisor,
     zmq::socket_t control)
      : config_(std::move(config)),
        router_(std::move(router)),
        store_(std::move(store)),
        supervisor_(std::move(supervisor)),
        control_(std::move(control)),
        pending_(config_.max_pending_requests) {}

  void run() {
    auto next_sweep = system_time().steady_now() + kExpirySweep;
    while (!stopping_) {
      zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0},
                                 {store_.handle(), 0, ZMQ_POLLIN, 0},
                                 {supervisor_.handle(), 0, ZMQ_POLLIN, 0},
                                 {control_.handle(), 0, ZMQ_POLLIN, 0}};
      // Swept while a request waits for its answer; with none in flight it sleeps.
      poll_sockets(items, 4,
                   pending_.empty() ? kIdleWait : poll_wait(system_time(), next_sweep, kExpirySweep));
      if (auto now = system_time().steady_now(); now >= next_sweep) {
        pending_.expire(now);
        next_sweep = now + kExpirySweep;
      }
      // Bounded batches keep one busy client from starving the replies.
      for (int i = 0; i < 256; ++i) {
        auto frames = recv_frames(router_);
        if (!frames) break;
        guard_.run("a request", [&] { handle_client(*frames); });
      }
      relay_replies(store_);
      relay_replies(supervisor_);
      while (auto message = receive_control(control_)) {
        if (std::holds_alternative<ShutdownRequest>(*message)) {
          stopping_ = true;
          send_control(control_, ShutdownDone{});
        }
      }
    }
  }

 private:
  void handle_client(const std::vector<std::string>& frames) {
    if (frames.size() != 2) {
      bad_requests_.warn("dropped a bad request: a request of " + std::to_string(frames.size()) +
                         " frames (a client sends one frame from a DEALER socket)");
      if (!frames.empty())
        refuse(frames.front(), 0, Errc::malformed,
               "expected one frame per request from a DEALER socket, got " +
                   std::to_string(frames.size() - 1));
      return;
    }
    const std::string& identity = frames[0];
    const std::string& payload = frames[1];
    auto envelope = decode(payload, config_.max_message_bytes);
    if (!envelope) {
      bad_requests_.warn("dropped a bad request: " + envelope.error().message);
      refuse(identity, 0, envelope.error().code,
             "cannot decode the request: " + envelope.error().message);
      return;
    }
    auto destination = destination_of(envelope->body);
    if (destination == Destination::refuse) {
      refuse(identity, envelope->request_id, Errc::unknown_type,
             std::string(type_name(envelope->body)) + " is not a request a client may send");
      return;
    }
    if (auto admitted = admit_request(envelope->body); !admitted) {
      bad_requests_.warn("refused a request from " + printable(envelope->sender) + ": " + admitted.error().message);
      refuse(identity, envelope->request_id, admitted.error().code, admitted.error().message);
      return;
    }
    auto now = system_time().steady_now();
    if (pending_.full(identity, now)) {
      const auto limit = std::to_string(pending_.limit());
      refusals_.warn("refused a request: a client already has " + limit +
                     " requests in flight (--max-pending-requests)");
      refuse(identity, envelope->request_id, Errc::unavailable,
             "too many requests in flight from this client (limit " + limit +
                 ", see --max-pending-requests); wait for replies before sending more");
      return;
    }
    auto& actor = destination == Destination::store ? store_ : supervisor_;
    // Pipes have no high-water mark: this fails only while the actor's thread is ending.
    if (send_frames(actor, {identity, payload}, /*dont_wait=*/true))
      pending_.forwarded(identity, now);
  }

  void refuse(const std::string& identity, std::uint64_t request_id, Errc code,
              std::string message) {
    auto reply = encode(Envelope{kProtocolVersion, request_id, config_.agent_name,
                                 Body{ErrorReply{code, std::move(message)}}});
    send_frames(router_, {identity, reply});
  }

  void relay_replies(zmq::socket_t& actor) {
    while (true) {
      auto frames = recv_frames(actor);
      if (!frames) return;
      if (frames->size() != 2 || (*frames)[0].empty()) continue;
      // The slot is freed even when the client has gone and the reply cannot be delivered.
      pending_.answered((*frames)[0]);
      send_frames(router_, {(*frames)[0], (*frames)[1]});
    }
  }

  IoConfig config_;
  StepGuard guard_{"io"};
  zmq::socket_t router_;
  zmq::socket_t store_;
  zmq::socket_t supervisor_;
  zmq::socket_t control_;
  bool stopping_ = false;
  PendingRequests pending_;
  RateLimitedWarning bad_requests_;
  RateLimitedWarning refusals_;
};

}  // namespace

void run_io(ActorStartup& startup, IoConfig config, zmq::socket_t router, zmq::socket_t store,
            zmq::socket_t supervisor, zmq::socket_t control) {
  Io io(std::move(config), std::move(router), std::move(store), std::move(supervisor),
        std::move(control));
  startup.ready();
  io.run();
}

}  // namespace mob
