// Plumbing for the agent's actors: inproc PAIR pipes created on the main thread and handed
// to their owning threads, and typed sends/receives of [route, envelope] messages.
#pragma once

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "bus/codec.hpp"
#include "bus/error.hpp"

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

// How the main thread waits for an actor's answer on its control pipe.
struct AskLimits {
  std::chrono::milliseconds limit{10'000};   // no answer by then: an error (Errc::timeout)
  const std::atomic<bool>* dead = nullptr;   // set once the actor's thread has ended
  int also_poll_fd = -1;                     // e.g. the signalfd; readable: on_fd_readable()
  std::function<void()> on_fd_readable;
};

// Sends `request` to the actor named `actor` on its control pipe and waits for a message for
// which `is_reply` holds (other messages are dropped). Errors: the actor's thread ended
// (Errc::unavailable), or it did not answer within the limit (Errc::timeout); both name the
// actor and the request, and are logged in one line, so a shutdown never hangs on a stuck
// actor.
Result<void> ask_actor(zmq::socket_t& control, std::string_view actor, Body request,
                       const std::function<bool(const Body&)>& is_reply, const AskLimits& limits);

template <class Reply, class Request>
Result<void> ask_actor(zmq::socket_t& control, std::string_view actor, Request request,
                       const AskLimits& limits) {
  return ask_actor(control, actor, Body{std::move(request)},
                   [](const Body& body) { return std::holds_alternative<Reply>(body); }, limits);
}

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
