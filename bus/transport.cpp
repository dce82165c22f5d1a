#include "bus/transport.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace mob {

void harden_socket(zmq::socket_t& socket, std::size_t max_message_bytes) {
  socket.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(max_message_bytes));
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::sndhwm, 10000);
  socket.set(zmq::sockopt::rcvhwm, 10000);
}

void bound_unacknowledged_data(zmq::socket_t& socket) {
  socket.set(zmq::sockopt::tcp_maxrt, 3000);
  socket.set(zmq::sockopt::connect_timeout, 2000);
}

void keep_links_alive(zmq::socket_t& socket) {
  bound_unacknowledged_data(socket);
  // The kernel's keepalive, not ZMTP heartbeats: libzmq 4.3.4 aborts the process when a
  // heartbeat timer fires on a connection whose reader fell behind and which then failed
  // (tests/unit/transport_test.cpp). Probes after 1 s idle, one a second, 3 unanswered:
  // the connection is closed and made again; no wake-up of this process meanwhile.
  socket.set(zmq::sockopt::tcp_keepalive, 1);
  socket.set(zmq::sockopt::tcp_keepalive_idle, 1);
  socket.set(zmq::sockopt::tcp_keepalive_intvl, 1);
  socket.set(zmq::sockopt::tcp_keepalive_cnt, 3);
}

bool send_frames(zmq::socket_t& socket, const std::vector<std::string_view>& frames,
                 bool dont_wait) {
  for (std::size_t i = 0; i < frames.size(); ++i) {
    auto flags = zmq::send_flags::none;
    if (dont_wait) flags = flags | zmq::send_flags::dontwait;
    if (i + 1 < frames.size()) flags = flags | zmq::send_flags::sndmore;
    try {
      auto sent = socket.send(zmq::const_buffer(frames[i].data(), frames[i].size()), flags);
      if (!sent) return false;
    } catch (const zmq::error_t&) {
      return false;
    }
  }
  return true;
}

std::optional<std::vector<std::string>> recv_frames(zmq::socket_t& socket, bool dont_wait) {
  std::vector<std::string> frames;
  try {
    while (true) {
      zmq::message_t part;
      // The rest of a multipart message is always there once its first frame is.
      auto flags = dont_wait && frames.empty() ? zmq::recv_flags::dontwait : zmq::recv_flags::none;
      if (!socket.recv(part, flags)) return std::nullopt;
      frames.emplace_back(part.data<char>(), part.size());
      if (!part.more()) break;
    }
  } catch (const zmq::error_t&) {
    return std::nullopt;
  }
  return frames;
}

zmq::socket_t open_monitor(zmq::context_t& context, zmq::socket_t& watched, std::string_view name,
                           int events) {
  static std::atomic<std::uint64_t> monitors{0};
  const std::string endpoint =
      "inproc://mob-monitor-" + std::string(name) + "-" + std::to_string(monitors.fetch_add(1));
  if (zmq_socket_monitor(watched.handle(), endpoint.c_str(), events) != 0) throw zmq::error_t();
  try {
    zmq::socket_t reader(context, zmq::socket_type::pair);
    reader.set(zmq::sockopt::linger, 0);
    reader.set(zmq::sockopt::rcvhwm, 0);  // every event queued: the I/O thread's send must not block
    reader.connect(endpoint);
    return reader;
  } catch (const zmq::error_t&) {
    zmq_socket_monitor(watched.handle(), nullptr, 0);  // no monitor left without its reader
    throw;
  }
}

SocketMonitor::SocketMonitor(zmq::context_t& context, zmq::socket_t& watched, std::string_view name, int events)
    : watched_(watched.handle()), events_(open_monitor(context, watched, name, events)) {}

SocketMonitor::~SocketMonitor() { zmq_socket_monitor(watched_, nullptr, 0); }

std::optional<MonitorEvent> recv_monitor_event(zmq::socket_t& monitor) {
  while (auto frames = recv_frames(monitor)) {
    // [uint16 event, uint32 value][endpoint]
    if (frames->size() != 2 || frames->front().size() != sizeof(std::uint16_t) + sizeof(std::uint32_t))
      continue;
    MonitorEvent event;
    std::memcpy(&event.event, frames->front().data(), sizeof event.event);
    std::memcpy(&event.value, frames->front().data() + sizeof event.event, sizeof event.value);
    event.endpoint = std::move(frames->back());
    return event;
  }
  return std::nullopt;
}

long poll_timeout_ms(std::chrono::steady_clock::time_point deadline,
                     std::chrono::milliseconds cap) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return std::clamp<long>(left.count() + 1, 0, cap.count());
}

int poll_sockets(zmq::pollitem_t* items, std::size_t count, std::chrono::milliseconds timeout) {
  try {
    return zmq::poll(items, count, timeout);
  } catch (const zmq::error_t& error) {
    if (error.num() == EINTR) return 0;
    throw;
  }
}

}  // namespace mob
