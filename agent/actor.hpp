// Plumbing for the agent's actors: inproc PAIR pipes created on the main thread and handed
// to their owning threads, and typed sends/receives of [route, envelope] messages.
#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "bus/codec.hpp"

namespace mob {

// Both ends of one inproc link; each end then belongs to exactly one thread.
struct Pipe {
  zmq::socket_t first;
  zmq::socket_t second;
};
Pipe make_pipe(zmq::context_t& context, std::string_view name);

// A message on a pipe: `route` is the client identity a reply must reach (empty when the
// message is internal); actors pass it back untouched.
struct Routed {
  std::string route;
  Envelope envelope;
};

bool send_routed(zmq::socket_t& socket, std::string_view route, const Envelope& envelope);

template <class Message>
bool send_body(zmq::socket_t& socket, Message message, std::string_view route = {},
               std::uint64_t request_id = 0) {
  return send_routed(socket, route,
                     Envelope{kProtocolVersion, request_id, {}, Body{std::move(message)}});
}

// Replies to a routed request with `message`, keeping its route and request id.
template <class Message>
bool reply_to(zmq::socket_t& socket, const Routed& request, Message message) {
  return send_body(socket, std::move(message), request.route, request.envelope.request_id);
}

// Next message on a pipe; nullopt when nothing waits. Pipes carry only trusted, well-formed
// messages, so a decode failure here is a bug: it is logged and the message dropped.
std::optional<Routed> receive_routed(zmq::socket_t& socket);

// One step of an actor's loop (a message, a round of timers) that must not take the actor
// down: an exception it throws is logged, at most once a minute per actor with the count of
// the others, and the step is dropped. The actor keeps running.
class StepGuard {
 public:
  explicit StepGuard(std::string actor) : actor_(std::move(actor)) {}

  // `what` names the step, e.g. the type of the message being handled.
  template <class Step>
  void run(std::string_view what, Step&& step) noexcept {
    try {
      step();
    } catch (const std::exception& e) {
      failed(what, e.what());
    } catch (...) {
      failed(what, "an exception that is not a std::exception");
    }
  }

 private:
  void failed(std::string_view what, std::string_view error) noexcept;

  std::string actor_;
  std::chrono::steady_clock::time_point last_log_{};
  std::uint64_t unlogged_ = 0;
};

}  // namespace mob
