// ZeroMQ helpers shared by every socket owner: safe socket options and multipart framing.
// Internal (inproc) traffic is two frames: [route, envelope]; route is opaque to actors.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

namespace mob {

// Sets ZMQ_MAXMSGSIZE, a zero linger and bounded high-water marks.
void harden_socket(zmq::socket_t& socket, std::size_t max_message_bytes);

// Without the two below, a connection through a partition that lasted a minute waits out
// TCP's retransmission backoff (another minute) after the network is whole. Both give up a
// connect that gets no answer after 2 s and try again.
//
// For a SUB, which only reads: a connection that carries nothing back for 4 s (TCP
// keepalive probes after 1 s idle, one a second, 3 unanswered) is closed and made again.
// It is the only way a reader learns that the publisher's end is gone.
void keep_links_alive(zmq::socket_t& socket);
// For a DEALER, which speaks first: data the peer's kernel has not acknowledged for 3 s
// closes the connection (TCP_USER_TIMEOUT, done by the kernel), and a half-open one is found
// by the next request. Neither sends ZMTP heartbeats: a process with a link to each of N
// peers would wake for 2N pings and pongs a second while idle, and libzmq 4.3.4 can abort
// on one (transport.cpp).
void bound_unacknowledged_data(zmq::socket_t& socket);

// Sends every frame; false when the socket would block or the peer is unroutable.
bool send_frames(zmq::socket_t& socket, const std::vector<std::string_view>& frames,
                 bool dont_wait = true);

// Receives one whole multipart message; nullopt when nothing is waiting (dont_wait) or on error.
std::optional<std::vector<std::string>> recv_frames(zmq::socket_t& socket, bool dont_wait = true);

// One notification of a zmq_socket_monitor() socket: what happened, to which endpoint.
struct MonitorEvent {
  std::uint16_t event = 0;  // ZMQ_EVENT_*
  std::uint32_t value = 0;  // a descriptor, an errno or a protocol error, by event
  std::string endpoint;     // as libzmq names it, e.g. tcp://127.0.0.1:6667
};

// The reading end of a monitor of `watched`: zmq_socket_monitor() for the ZMQ_EVENT_* bits of
// `events`, published at an inproc address made of `name` and a number no other monitor of
// the process had (a name reused while libzmq's reaper still holds the last monitor's socket
// would fail to bind), and a PAIR connected to it that queues every event. libzmq's I/O
// thread sends each event with a blocking send, so a full queue (a flood of connections or
// bad handshakes) would stall that thread, and with it every socket of the context, until
// this end reads. Throws zmq::error_t.
// Use SocketMonitor below when the caller owns `watched`.
zmq::socket_t open_monitor(zmq::context_t& context, zmq::socket_t& watched, std::string_view name,
                           int events);

// A monitor and its reading end, owned by the thread that owns the watched socket: it stops
// the monitor before the end closes (a monitor left writing to a closed end would stop the I/O
// thread for good). REQUIRED: the watched socket outlives it (declare this after it).
class SocketMonitor {
 public:
  // As open_monitor(); throws zmq::error_t.
  SocketMonitor(zmq::context_t& context, zmq::socket_t& watched, std::string_view name, int events);
  ~SocketMonitor();
  SocketMonitor(const SocketMonitor&) = delete;
  SocketMonitor& operator=(const SocketMonitor&) = delete;

  // Where the events arrive: poll it for ZMQ_POLLIN, read with recv_monitor_event().
  zmq::socket_t& events() { return events_; }
  zmq::pollitem_t poll_item() { return {events_.handle(), 0, ZMQ_POLLIN, 0}; }

 private:
  void* watched_;  // the monitored socket's handle
  zmq::socket_t events_;
};

// The next notification waiting on `monitor` (a PAIR connected to the monitor endpoint);
// nullopt when none waits. Frames that are not a notification are skipped.
std::optional<MonitorEvent> recv_monitor_event(zmq::socket_t& monitor);

// zmq::poll that returns 0 (nothing ready) when a signal interrupts it, instead of
// throwing: a loop that polls simply goes round again.
int poll_sockets(zmq::pollitem_t* items, std::size_t count, std::chrono::milliseconds timeout);

// Milliseconds until `deadline`, clamped to [0, cap]; the poll timeout of an actor loop.
long poll_timeout_ms(std::chrono::steady_clock::time_point deadline,
                     std::chrono::milliseconds cap = std::chrono::milliseconds(1000));

}  // namespace mob
