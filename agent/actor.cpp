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
