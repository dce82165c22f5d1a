#include "agent/actor.hpp"

#include <atomic>

#include "agent/time_source.hpp"
#include "bus/log.hpp"
#include "bus/transport.hpp"

namespace mob {

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

bool send_routed(zmq::socket_t& socket, std::string_view route, const Envelope& envelope) {
  std::string payload = encode(envelope);
  // Pipes have no high-water mark, so this never drops while the other end lives; once the
  // other end's thread has ended, the message is dropped instead of blocking forever.
  return send_frames(socket, {route, payload}, /*dont_wait=*/true);
}

std::optional<Routed> receive_routed(zmq::socket_t& socket) {
  while (true) {
    auto frames = recv_frames(socket, /*dont_wait=*/true);
    if (!frames) return std::nullopt;
    if (frames->size() != 2) {
      log::error("actor", "dropped an internal message of ", frames->size(), " frames");
      continue;
    }
    auto envelope = decode((*frames)[1], SIZE_MAX);
    if (!envelope) {
      log::error("actor", "dropped an internal message: ", envelope.error().message);
      continue;
    }
    return Routed{std::move((*frames)[0]), std::move(*envelope)};
  }
}

Result<void> ask_actor(zmq::socket_t& control, std::string_view actor, Body request,
                       const std::function<bool(const Body&)>& is_reply, const AskLimits& limits) {
  const std::string what = std::string(type_name(request));
  auto dead = [&] { return limits.dead != nullptr && limits.dead->load(); };
  auto gone = [&] {
    log::error("actor", "the ", actor, " actor's thread has ended; it cannot answer ", what);
    return fail(Errc::unavailable, "the " + std::string(actor) + " actor's thread has ended");
  };
  if (dead()) return gone();
  send_body(control, std::move(request));
  const TimeSource& time = system_time();
  const auto deadline = time.steady_now() + limits.limit;
  while (true) {
    zmq::pollitem_t items[] = {{control.handle(), 0, ZMQ_POLLIN, 0}, {nullptr, limits.also_poll_fd, ZMQ_POLLIN, 0}};
    // Short polls: the thread's end shows in `dead`, not on the pipe.
    poll_sockets(items, limits.also_poll_fd >= 0 ? 2 : 1,
                 poll_wait(time, deadline, std::chrono::milliseconds(100)));
    if (limits.also_poll_fd >= 0 && (items[1].revents & ZMQ_POLLIN) && limits.on_fd_readable)
      limits.on_fd_readable();
    while (auto reply = receive_routed(control))
      if (is_reply(reply->envelope.body)) return {};
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
