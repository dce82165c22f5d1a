// The agent's actors: one shape for every thread (Actor: started with a ready handshake,
// stopped by its typed terminate command, joined in the destructor), the inproc PAIR pipes
// created on the main thread and handed to their owning threads, and typed sends/receives.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <variant>

#include <zmq.hpp>

#include "agent/control.hpp"
#include "bus/codec.hpp"
#include "bus/error.hpp"
#include "bus/internal_codec.hpp"

namespace mob {

// An actor's side of its start-up handshake (czmq's zactor): its thread calls ready() once
// its set-up is done, just before its loop. Until then, the thread that starts it waits.
class ActorStartup {
 public:
  void ready();

 private:
  friend class Actor;
  enum class Outcome { waiting, ready, failed };
  void settle(Outcome outcome, std::string why);
  bool is_ready();
  // Blocks until the actor's thread has said ready or failed; `why` then says why it failed.
  Outcome wait(std::string& why);

  std::mutex mutex_;
  std::condition_variable settled_;
  Outcome outcome_ = Outcome::waiting;
  std::string why_;
};

// One actor's thread. start() runs `body` on a new thread and returns once the body has
// called ready(); a body that throws or returns before that is a failed start: the error
// (Errc::internal) names the actor and what went wrong, and its thread has ended. A body
// that throws after ready() is logged in one line naming the actor. The actor stops on its
// own typed terminate command (ShutdownRequest) on its control pipe, sent by whoever owns
// that pipe. The destructor joins the thread (std::jthread): REQUIRED: the terminate
// command was sent first, or the thread has ended. Not thread-safe: one owner.
class Actor {
 public:
  using Body = std::move_only_function<void(ActorStartup&)>;  // may own the actor's sockets
  // Runs on the actor's thread as its last step after a good start; `crashed`: the body
  // ended with an exception.
  using OnEnd = std::function<void(bool crashed)>;

  static Result<std::unique_ptr<Actor>> start(std::string name, Body body, OnEnd on_end = {});

  const std::string& name() const { return name_; }
  // Whether the body has ended (set just before on_end runs).
  bool ended() const { return ended_.load(); }
  void join();
  // Leaves a thread that does not end to the process's end. REQUIRED: this Actor then
  // outlives the thread (the agent leaks it), since the thread reads it.
  void detach();

  ~Actor();
  Actor(const Actor&) = delete;
  Actor& operator=(const Actor&) = delete;

 private:
  explicit Actor(std::string name) : name_(std::move(name)) {}

  std::string name_;
  ActorStartup startup_;
  std::atomic<bool> ended_{false};
  std::jthread thread_;  // last: the thread reads the members above
};

// Both ends of one inproc link; each end then belongs to exactly one thread.
struct Pipe {
  zmq::socket_t first;
  zmq::socket_t second;
};
Pipe make_pipe(zmq::context_t& context, std::string_view name);

// Three kinds of pipes, each typed by what it carries besides control messages (one frame,
// agent/control.hpp): wire pipes carry wire messages (bus/messages.hpp) that the I/O actor
// forwards or answers (io <-> store, io <-> supervisor, metrics <-> store); internal pipes
// carry internal messages (bus/internal_messages.hpp) between the store, the supervisor, the
// provider workers and the health checker; control pipes carry control messages only. A
// message of the wrong kind for its pipe is a bug: logged and dropped.

// A wire message on a pipe: `route` is the client identity a reply must reach (empty when
// there is none); actors pass it back untouched. Two frames: [route, envelope].
struct Routed {
  std::string route;
  Envelope envelope;
};

// An internal message on a pipe: `route` and the envelope's request id are those of the
// client request it serves (a logs request's, forwarded to a provider worker and back), else
// empty and 0. Two frames: [route, internal envelope].
struct InternalMessage {
  std::string route;
  InternalEnvelope envelope;
};

// A control message (agent/control.hpp) is one frame on a pipe, so an internal pipe that
// carries both (supervisor <-> provider workers, supervisor <-> health checker) tells them
// apart; the control pipes between main and the actors carry control messages only.
bool send_control(zmq::socket_t& socket, const ControlBody& body);
// Next control message on a control-only pipe; nullopt when nothing waits. Anything else
// there is a bug: logged and dropped.
std::optional<ControlBody> receive_control(zmq::socket_t& socket);
// Next message on an internal pipe, internal or control.
using PipeMessage = std::variant<InternalMessage, ControlBody>;
std::optional<PipeMessage> receive_any(zmq::socket_t& socket);
// Next internal message on an internal pipe that carries no control message (store <->
// supervisor).
std::optional<InternalMessage> receive_internal(zmq::socket_t& socket);

bool send_routed(zmq::socket_t& socket, std::string_view route, const Envelope& envelope);
bool send_internal(zmq::socket_t& socket, InternalBody body, std::string_view route = {},
                   std::uint64_t request_id = 0);

// Sends a wire message on a wire pipe.
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
template <class Message>
bool reply_to(zmq::socket_t& socket, const InternalMessage& request, Message message) {
  return send_internal(socket, InternalBody{std::move(message)}, request.route, request.envelope.request_id);
}

// Next message on a wire pipe; nullopt when nothing waits. Pipes carry only trusted, well-formed
// messages, so a decode failure here is a bug: it is logged and the message dropped.
std::optional<Routed> receive_routed(zmq::socket_t& socket);

// How the main thread waits for an actor's answer on its control pipe.
struct AskLimits {
  std::chrono::milliseconds limit{10'000};   // no answer by then: an error (Errc::timeout)
  const std::atomic<bool>* dead = nullptr;   // set once the actor's thread has ended
  int also_poll_fd = -1;                     // e.g. the signalfd; readable: on_fd_readable()
  std::function<void()> on_fd_readable;
};

// Sends the control message `request` to the actor named `actor` on its pipe and waits for
// a control message for which `is_reply` holds (other messages are dropped). Errors: the
// actor's thread ended (Errc::unavailable), or it did not answer within the limit
// (Errc::timeout); both name the actor and the request, and are logged in one line, so a
// shutdown never hangs on a stuck actor.
Result<void> ask_actor(zmq::socket_t& control, std::string_view actor, ControlBody request,
                       const std::function<bool(const ControlBody&)>& is_reply, const AskLimits& limits);

template <class Reply, class Request>
Result<void> ask_actor(zmq::socket_t& control, std::string_view actor, Request request,
                       const AskLimits& limits) {
  return ask_actor(control, actor, ControlBody{std::move(request)},
                   [](const ControlBody& body) { return std::holds_alternative<Reply>(body); }, limits);
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

// Handles every message waiting on an internal pipe that carries control messages too, each
// as one guarded step named after its type: control messages with `on_control`, the others
// with `on_internal`.
template <class OnControl, class OnInternal>
void handle_waiting(zmq::socket_t& socket, StepGuard& guard, OnControl&& on_control, OnInternal&& on_internal) {
  while (auto message = receive_any(socket)) {
    if (const auto* control = std::get_if<ControlBody>(&*message)) {
      guard.run(control_name(*control), [&] { on_control(*control); });
    } else {
      const auto& internal = std::get<InternalMessage>(*message);
      guard.run(internal_name(internal.envelope.body), [&] { on_internal(internal); });
    }
  }
}

}  // namespace mob
