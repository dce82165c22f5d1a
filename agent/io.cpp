#include "agent/io.hpp"

#include <chrono>

#include "agent/actor.hpp"
#include "bus/codec.hpp"
#include "bus/log.hpp"
#include "bus/transport.hpp"

namespace mob {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kLog = "io";

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
                      std::is_same_v<T, JoinCommand> || std::is_same_v<T, LeaveCommand>) {
          return Destination::store;
        } else if constexpr (std::is_same_v<T, LogsRequest>) {
          return Destination::supervisor;
        } else {
          return Destination::refuse;
        }
      },
      body);
}

class Io {
 public:
  Io(IoConfig config, zmq::socket_t router, zmq::socket_t store, zmq::socket_t supervisor,
     zmq::socket_t control)
      : config_(std::move(config)),
        router_(std::move(router)),
        store_(std::move(store)),
        supervisor_(std::move(supervisor)),
        control_(std::move(control)) {}

  void run() {
    while (!stopping_) {
      zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0},
                                 {store_.handle(), 0, ZMQ_POLLIN, 0},
                                 {supervisor_.handle(), 0, ZMQ_POLLIN, 0},
                                 {control_.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 4, std::chrono::milliseconds(1000));
      // Bounded batches keep one busy client from starving the replies.
      for (int i = 0; i < 256; ++i) {
        auto frames = recv_frames(router_);
        if (!frames) break;
        handle_client(*frames);
      }
      relay_replies(store_);
      relay_replies(supervisor_);
      while (auto message = receive_routed(control_)) {
        if (std::holds_alternative<ShutdownRequest>(message->envelope.body)) {
          stopping_ = true;
          reply_to(control_, *message, ShutdownDone{});
        }
      }
    }
  }

 private:
  void handle_client(const std::vector<std::string>& frames) {
    if (frames.size() != 2) {
      complain("a request of " + std::to_string(frames.size()) +
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
      complain(envelope.error().message);
      refuse(identity, 0, envelope.error().code,
             "cannot decode the request: " + envelope.error().message);
      return;
    }
    switch (destination_of(envelope->body)) {
      case Destination::store: forward(store_, identity, payload); return;
      case Destination::supervisor: forward(supervisor_, identity, payload); return;
      case Destination::refuse:
        refuse(identity, envelope->request_id, Errc::unknown_type,
               std::string(type_name(envelope->body)) + " is not a request a client may send");
        return;
    }
  }

  void forward(zmq::socket_t& actor, const std::string& identity, const std::string& payload) {
    send_frames(actor, {identity, payload}, /*dont_wait=*/true);
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
      send_frames(router_, {(*frames)[0], (*frames)[1]});
    }
  }

  // Logs bad input at most once a second, with a count of what was suppressed.
  void complain(const std::string& what) {
    auto now = Clock::now();
    if (now - last_complaint_ < std::chrono::seconds(1)) {
      ++suppressed_;
      return;
    }
    log::warn(kLog, "dropped a bad request: ", what,
              suppressed_ ? " (and " + std::to_string(suppressed_) + " more)" : "");
    suppressed_ = 0;
    last_complaint_ = now;
  }

  IoConfig config_;
  zmq::socket_t router_;
  zmq::socket_t store_;
  zmq::socket_t supervisor_;
  zmq::socket_t control_;
  bool stopping_ = false;
  Clock::time_point last_complaint_{};
  std::size_t suppressed_ = 0;
};

}  // namespace

void run_io(IoConfig config, zmq::socket_t router, zmq::socket_t store, zmq::socket_t supervisor,
            zmq::socket_t control) {
  Io io(std::move(config), std::move(router), std::move(store), std::move(supervisor),
        std::move(control));
  io.run();
}

}  // namespace mob
