#include "bus/transport.hpp"

#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace mob {

void harden_socket(zmq::socket_t& socket, std::size_t max_message_bytes) {
  socket.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(max_message_bytes));
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::sndhwm, 10000);
  socket.set(zmq::sockopt::rcvhwm, 10000);
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

namespace {

// ZMQ_EVENTS has ZMQ_POLLIN: a whole message waits. Reading it processes the socket's pending
// commands, which is what resets its descriptor.
bool has_input(void* socket) {
  int events = 0;
  std::size_t size = sizeof events;
  if (zmq_getsockopt(socket, ZMQ_EVENTS, &events, &size) == 0) return (events & ZMQ_POLLIN) != 0;
  // Interrupted: the commands stay pending, so the descriptor stays readable and the next
  // poll() returns at once to ask again.
  if (zmq_errno() == EINTR) return false;
  throw zmq::error_t();
}

}  // namespace

int wait_for_input(std::span<zmq::pollitem_t> items, std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  // An actor waits on a handful of sockets; more is rare and goes to the heap.
  constexpr std::size_t kOnStack = 16;
  std::array<pollfd, kOnStack> stack_fds{};
  std::vector<pollfd> heap_fds;
  std::span<pollfd> fds(stack_fds.data(), std::min(items.size(), kOnStack));
  if (items.size() > kOnStack) {
    heap_fds.resize(items.size());
    fds = heap_fds;
  }
  int ready = 0;
  bool plain_fds = false;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto& item = items[i];
    item.revents = 0;
    fds[i] = pollfd{item.fd, POLLIN, 0};
    if (item.socket == nullptr) {
      plain_fds = true;
      continue;
    }
    std::size_t size = sizeof fds[i].fd;
    if (zmq_getsockopt(item.socket, ZMQ_FD, &fds[i].fd, &size) != 0) throw zmq::error_t();
    if (has_input(item.socket)) {
      item.revents = ZMQ_POLLIN;
      ++ready;
    }
  }
  if (ready > 0 && !plain_fds) return ready;
  // Plain descriptors are only known after a poll(); without sockets ready, that is the wait.
  while (true) {
    int wait_ms = 0;
    if (ready == 0 && timeout.count() != 0) {
      wait_ms = timeout.count() < 0 ? -1 : static_cast<int>(poll_timeout_ms(deadline, timeout));
    }
    const int fired = ::poll(fds.data(), static_cast<nfds_t>(items.size()), wait_ms);
    if (fired < 0) {
      if (errno == EINTR) return ready;
      throw zmq::error_t();
    }
    for (std::size_t i = 0; fired > 0 && i < items.size(); ++i) {
      auto& item = items[i];
      if (fds[i].revents == 0 || item.revents != 0) continue;
      if (item.socket != nullptr) {
        if (has_input(item.socket)) item.revents = ZMQ_POLLIN;
      } else {
        if (fds[i].revents & POLLIN) item.revents |= ZMQ_POLLIN;
        if (fds[i].revents & ~(POLLIN | POLLOUT | POLLPRI)) item.revents |= ZMQ_POLLERR;
      }
      if (item.revents != 0) ++ready;
    }
    if (ready > 0 || timeout.count() == 0) return ready;
    if (timeout.count() > 0 && Clock::now() >= deadline) return 0;
  }
}

long poll_timeout_ms(std::chrono::steady_clock::time_point deadline,
                     std::chrono::milliseconds cap) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return std::clamp<long>(left.count() + 1, 0, cap.count());
}

}  // namespace mob
