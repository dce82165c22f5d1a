#include "agent/actor.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>

#include "agent/time_source.hpp"
#include "bus/log.hpp"
#include "bus/transport.hpp"

namespace mob {

namespace {

// "mob-store", "mob-worker-bash": what `top -H`, `ps -L` and perf show for the thread (the
// kernel keeps 15 bytes).
void name_this_thread(const std::string& actor) {
  std::string name = "mob-" + actor;
  for (char& c : name)
    if (c == ' ') c = '-';
  name.resize(std::min<std::size_t>(name.size(), 15));
  pthread_setname_np(pthread_self(), name.c_str());
}

}  // namespace

void ActorStartup::ready() { settle(Outcome::ready, {}); }

void ActorStartup::settle(Outcome outcome, std::string why) {
  {
    std::lock_guard lock(mutex_);
    if (outcome_ != Outcome::waiting) return;
    outcome_ = outcome;
    why_ = std::move(why);
  }
  settled_.notify_all();
}

bool ActorStartup::is_ready() {
  std::lock_guard lock(mutex_);
  return outcome_ == Outcome::ready;
}

ActorStartup::Outcome ActorStartup::wait(std::string& why) {
  std::unique_lock lock(mutex_);
  settled_.wait(lock, [&] { return outcome_ != Outcome::waiting; });
  why = why_;
  return outcome_;
}

Result<std::unique_ptr<Actor>> Actor::start(std::string name, Body body, OnEnd on_end) {
  std::unique_ptr<Actor> actor(new Actor(std::move(name)));
  Actor* self = actor.get();
  try {
    actor->thread_ = std::jthread([self, body = std::move(body), on_end = std::move(on_end)]() mutable {
      name_this_thread(self->name_);
      std::optional<std::string> crash;
      try {
        body(self->startup_);
      } catch (const std::exception& e) {
        crash = e.what();
      } catch (...) {
        crash = "an exception that is not a std::exception";
      }
      if (!self->startup_.is_ready()) {
        // The starter reports it, then joins this thread before the Actor goes.
        self->ended_ = true;
        self->startup_.settle(ActorStartup::Outcome::failed,
                              crash ? *crash : "it ended before it was ready");
        return;
      }
      if (crash) log::error("actor", "the ", self->name_, " thread stopped on an internal error: ", *crash);
      self->ended_ = true;
      if (on_end) on_end(crash.has_value());
    });
  } catch (const std::system_error& e) {
    return fail(Errc::internal, "cannot start the " + actor->name_ + " thread: " + e.what());
  }
  std::string why;
  if (actor->startup_.wait(why) != ActorStartup::Outcome::ready) {
    actor->thread_.join();
    return fail(Errc::internal, "the " + actor->name_ + " thread did not start: " + why);
  }
  return actor;
}

void Actor::join() {
  if (thread_.joinable()) thread_.join();
}

void Actor::detach() {
  if (thread_.joinable()) thread_.detach();
}

Actor::~Actor() { join(); }

Pipe make_pipe(zmq::context_t& context, std::string_view name) {
  static std::atomic<unsigned> counter{0};
  std::string endpoint =
      "inproc://" + std::string(name) + "-" + std::to_string(counter.fetch_add(1));
  Pipe pipe{zmq::socket_t(context, zmq::socket_type::pair),
            zmq::socket_t(context, zmq::socket_type::pair)};
  pipe.first.set(zmq::sockopt::linger, 0);
  pipe.second.set(zmq::sockopt::linger, 0);
  pipe.first.set(zmq::sockopt::sndhwm, 0);
  pipe.second.set(zmq::sockopt::sndhwm, 0);
  pipe.first.set(zmq::sockopt::rcvhwm, 0);
  pipe.second.set(zmq::sockopt::rcvhwm, 0);
  pipe.first.bind(endpoint);
  pipe.second.connect(endpoint);
  return pipe;
}

namespace {

// The message of two frames, [route, payload], that a control-only pipe does not decode.
struct NotControl {};

// The next message on a pipe: one frame as a control message, two ([route, payload]) as
// `decode_two` reads them. What does not decode is a bug: logged and dropped.
template <class Two, class DecodeTwo>
std::optional<std::variant<Two, ControlBody>> receive_next(zmq::socket_t& socket, std::string_view kind,
                                                           DecodeTwo decode_two) {
  using Next = std::variant<Two, ControlBody>;
  while (true) {
    auto frames = recv_frames(socket, /*dont_wait=*/true);
    if (!frames) return std::nullopt;
    if (frames->size() == 1) {
      auto control = decode_control(frames->front());
      if (!control) {
        log::error("actor", "dropped a control message: ", control.error().message);
        continue;
      }
      return Next{std::in_place_index<1>, std::move(*control)};
    }
    if (frames->size() != 2) {
      log::error("actor", "dropped ", kind, " of ", frames->size(), " frames");
      continue;
    }
    auto decoded = decode_two(std::move((*frames)[0]), (*frames)[1]);
    if (!decoded) {
      log::error("actor", "dropped ", kind, ": ", decoded.error().message);
      continue;
    }
    return Next{std::in_place_index<0>, std::move(*decoded)};
  }
}

Result<Routed> decode_routed(std::string route, std::string_view payload) {
  auto envelope = decode(payload, SIZE_MAX);
  if (!envelope) return std::unexpected(envelope.error());
  return Routed{std::move(route), std::move(*envelope)};
}

Result<InternalMessage> decode_internal_message(std::string route, std::string_view payload) {
  auto envelope = decode_internal(payload);
  if (!envelope) return std::unexpected(envelope.error());
  return InternalMessage{std::move(route), std::move(*envelope)};
}

Result<NotControl> skip(std::string, std::string_view) { return NotControl{}; }

}  // namespace

// Pipes have no high-water mark, so a send never drops while the other end lives; once the
// other end's thread has ended, the message is dropped instead of blocking forever.
bool send_routed(zmq::socket_t& socket, std::string_view route, const Envelope& envelope) {
  return send_frames(socket, {route, encode(envelope)}, /*dont_wait=*/true);
}

bool send_internal(zmq::socket_t& socket, InternalBody body, std::string_view route, std::uint64_t request_id) {
  return send_frames(socket, {route, encode_internal(InternalEnvelope{request_id, std::move(body)})},
                     /*dont_wait=*/true);
}

bool send_control(zmq::socket_t& socket, const ControlBody& body) {
  return send_frames(socket, {encode_control(body)}, /*dont_wait=*/true);
}

std::optional<PipeMessage> receive_any(zmq::socket_t& socket) {
  return receive_next<InternalMessage>(socket, "an internal message", decode_internal_message);
}

std::optional<ControlBody> receive_control(zmq::socket_t& socket) {
  while (auto message = receive_next<NotControl>(socket, "a message", skip)) {
    if (auto* control = std::get_if<ControlBody>(&*message)) return std::move(*control);
    log::error("actor", "dropped a message of two frames on a pipe for control messages only");
  }
  return std::nullopt;
}

std::optional<InternalMessage> receive_internal(zmq::socket_t& socket) {
  while (auto message = receive_any(socket)) {
    if (auto* internal = std::get_if<InternalMessage>(&*message)) return std::move(*internal);
    log::error("actor", "dropped ", control_name(std::get<ControlBody>(*message)),
               " on a pipe for internal messages only");
  }
  return std::nullopt;
}

std::optional<Routed> receive_routed(zmq::socket_t& socket) {
  while (auto message = receive_next<Routed>(socket, "a wire message", decode_routed)) {
    if (auto* routed = std::get_if<Routed>(&*message)) return std::move(*routed);
    log::error("actor", "dropped ", control_name(std::get<ControlBody>(*message)),
               " on a pipe for wire messages only");
  }
  return std::nullopt;
}

Result<void> ask_actor(zmq::socket_t& control, std::string_view actor, ControlBody request,
                       const std::function<bool(const ControlBody&)>& is_reply, const AskLimits& limits) {
  const std::string what = std::string(control_name(request));
  auto dead = [&] { return limits.dead != nullptr && limits.dead->load(); };
  auto gone = [&] {
    log::error("actor", "the ", actor, " actor's thread has ended; it cannot answer ", what);
    return fail(Errc::unavailable, "the " + std::string(actor) + " actor's thread has ended");
  };
  if (dead()) return gone();
  send_control(control, request);
  const TimeSource& time = system_time();
  const auto deadline = time.steady_now() + limits.limit;
  while (true) {
    zmq::pollitem_t items[] = {{control.handle(), 0, ZMQ_POLLIN, 0}, {nullptr, limits.also_poll_fd, ZMQ_POLLIN, 0}};
    // Short polls: the thread's end shows in `dead`, not on the pipe.
    poll_sockets(items, limits.also_poll_fd >= 0 ? 2 : 1,
                 poll_wait(time, deadline, std::chrono::milliseconds(100)));
    if (limits.also_poll_fd >= 0 && (items[1].revents & ZMQ_POLLIN) && limits.on_fd_readable)
      limits.on_fd_readable();
    // Other messages (a worker's events on its pipe to the supervisor) are not the answer.
    while (auto reply = receive_next<NotControl>(control, "a message", skip))
      if (const auto* body = std::get_if<ControlBody>(&*reply); body && is_reply(*body)) return {};
    if (dead()) return gone();
    if (time.steady_now() >= deadline) {
      log::error("actor", "the ", actor, " actor did not answer ", what, " within ",
                 limits.limit.count(), " ms; going on without it");
      return fail(Errc::timeout, "the " + std::string(actor) + " actor did not answer " + what +
                                     " within " + std::to_string(limits.limit.count()) + " ms");
    }
  }
}

void StepGuard::failed(std::string_view what, std::string_view error) noexcept {
  ++unlogged_;
  auto now = system_time().steady_now();
  if (last_log_ != std::chrono::steady_clock::time_point{} && now - last_log_ < std::chrono::minutes(1))
    return;
  try {
    log::error(actor_, "dropped ", what, " after an internal error: ", error,
               unlogged_ > 1 ? " (" + std::to_string(unlogged_ - 1) + " more since the last report)" : "");
  } catch (...) {
  }
  last_log_ = now;
  unlogged_ = 0;
}

}  // namespace mob
