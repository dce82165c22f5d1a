// The socket options of bus/transport.hpp on real ZeroMQ sockets over loopback: the ones a
// peer link uses must survive what a loaded agent meets (a reader that falls behind while
// the other end goes away).
#include "bus/transport.hpp"

#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>

namespace mob {
namespace transport_test {

using namespace std::chrono_literals;

// libzmq 4.3.4 (Debian 12) aborts the whole process with "Assertion failed: !_io_error
// (src/stream_engine_base.cpp:331)" when a ZMTP heartbeat timer fires on a connection whose
// reader had fallen behind (its pipe full, input stopped) and which then saw an error or
// its peer's close. 200 agents on 2 cores met it: a store busy in a join storm stops
// reading its SUB, peers shut down, and the agent died. A SUB set up by keep_links_alive()
// must come through that: the child process fills its pipe, the publisher closes, and the
// child lives past several heartbeat intervals.
TEST(Transport, ASubscriberThatFellBehindOutlivesItsPublishersCloseWithTheLinkOptions) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        zmq::context_t context;
        zmq::socket_t pub(context, zmq::socket_type::pub);
        pub.set(zmq::sockopt::linger, 0);
        pub.set(zmq::sockopt::sndhwm, 100000);
        pub.bind("tcp://127.0.0.1:*");
        const std::string endpoint = pub.get(zmq::sockopt::last_endpoint);
        zmq::socket_t sub(context, zmq::socket_type::sub);
        harden_socket(sub, 1 << 20);
        keep_links_alive(sub);
        sub.set(zmq::sockopt::rcvhwm, 10);  // falls behind at once
        sub.set(zmq::sockopt::subscribe, "");
        sub.connect(endpoint);
        // The subscription reaches the publisher, then a flood the reader never reads.
        std::this_thread::sleep_for(300ms);
        const std::string payload(1024, 'x');
        for (int i = 0; i < 20000; ++i) pub.send(zmq::buffer(payload), zmq::send_flags::dontwait);
        std::this_thread::sleep_for(500ms);
        pub.close();
        // Several heartbeat intervals (1 s) after the close.
        std::this_thread::sleep_for(3500ms);
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

// The next notification on `monitor` within `timeout`, or nullopt.
std::optional<MonitorEvent> wait_for_event(SocketMonitor& monitor, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto item = monitor.poll_item();
    poll_sockets(&item, 1, 50ms);
    if (auto event = recv_monitor_event(monitor.events())) return event;
  }
  return std::nullopt;
}

// A request and its reply between `dealer` and `router` within `timeout`. The request is sent
// again every 200 ms: one sent while a connection was being lost goes down with it.
bool round_trip(zmq::socket_t& dealer, zmq::socket_t& router, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto next_send = std::chrono::steady_clock::now();
  bool answered = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!answered && std::chrono::steady_clock::now() >= next_send) {
      send_frames(dealer, {"ping"});
      next_send += 200ms;
    }
    zmq::pollitem_t items[] = {{router.handle(), 0, ZMQ_POLLIN, 0}, {dealer.handle(), 0, ZMQ_POLLIN, 0}};
    poll_sockets(items, 2, 20ms);
    while (auto request = recv_frames(router)) {
      if (request->size() == 2 && (*request)[1] == "ping") {
        send_frames(router, {(*request)[0], "pong"});
        answered = true;
      }
    }
    if (auto reply = recv_frames(dealer)) return reply->size() == 1 && reply->front() == "pong";
  }
  return false;
}

// Binds `router` to `endpoint`, retrying while the port's last listener is still being
// closed (libzmq closes sockets in its I/O thread, after close() returns).
void bind_again(zmq::socket_t& router, const std::string& endpoint) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (true) {
    try {
      router.bind(endpoint);
      return;
    } catch (const zmq::error_t& error) {
      if (error.num() != EADDRINUSE || std::chrono::steady_clock::now() >= deadline) throw;
      std::this_thread::sleep_for(20ms);
    }
  }
}

// A SocketMonitor reports what it was asked for, names the endpoint, and once it is gone the
// watched socket's connections come and go without it: the I/O thread that sent its events
// is not left blocked on an end nobody reads (a reconnect and a round trip still work).
// Without the stop, the disconnect's event blocks the I/O thread for good: the round trip
// fails and the context never ends (ctest's timeout ends the test).
TEST(Transport, ASocketMonitorReportsItsEventsAndStopsWhenItGoes) {
  zmq::context_t context;
  auto router = std::make_unique<zmq::socket_t>(context, zmq::socket_type::router);
  router->set(zmq::sockopt::linger, 0);
  router->bind("tcp://127.0.0.1:*");
  const std::string endpoint = router->get(zmq::sockopt::last_endpoint);
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::reconnect_ivl, 20);
  {
    SocketMonitor monitor(context, dealer, "transport-test",
                          ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED);
    dealer.connect(endpoint);
    auto connected = wait_for_event(monitor, 5000ms);
    ASSERT_TRUE(connected) << "no event within 5 s of the connect";
    EXPECT_EQ(connected->event, ZMQ_EVENT_CONNECTED);
    EXPECT_EQ(connected->endpoint, endpoint);
    ASSERT_TRUE(round_trip(dealer, *router, 5000ms));
  }
  // Gone: the disconnect and the reconnect below would be its events.
  router.reset();
  router = std::make_unique<zmq::socket_t>(context, zmq::socket_type::router);
  router->set(zmq::sockopt::linger, 0);
  bind_again(*router, endpoint);
  EXPECT_TRUE(round_trip(dealer, *router, 5000ms)) << "no round trip after the monitor was stopped";
  // A new monitor of the same socket, under the same name, reports in its turn.
  SocketMonitor again(context, dealer, "transport-test", ZMQ_EVENT_DISCONNECTED);
  router.reset();
  auto disconnected = wait_for_event(again, 5000ms);
  ASSERT_TRUE(disconnected) << "no event within 5 s of the router's close";
  EXPECT_EQ(disconnected->event, ZMQ_EVENT_DISCONNECTED);
}

// Monitors opened under one name each get an endpoint of their own: two at once each report
// their own socket's events, and a monitor made again right after the last one went (a store
// restarted in the same process) binds, though libzmq's reaper may still hold the last one's
// socket. With the name alone as the endpoint the second monitor could not bind.
TEST(Transport, MonitorsUnderOneNameEachGetAnEndpointOfTheirOwn) {
  zmq::context_t context;
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);
  zmq::socket_t first(context, zmq::socket_type::dealer);
  zmq::socket_t second(context, zmq::socket_type::dealer);
  first.set(zmq::sockopt::linger, 0);
  second.set(zmq::sockopt::linger, 0);

  for (int round = 0; round < 50; ++round) {
    SocketMonitor gone(context, first, "transport-test-same", ZMQ_EVENT_CONNECTED);
  }
  SocketMonitor of_first(context, first, "transport-test-same", ZMQ_EVENT_CONNECTED);
  SocketMonitor of_second(context, second, "transport-test-same", ZMQ_EVENT_CONNECTED);
  first.connect(endpoint);
  auto connected = wait_for_event(of_first, 5000ms);
  ASSERT_TRUE(connected) << "the first socket's monitor reported nothing within 5 s of its connect";
  EXPECT_EQ(connected->event, ZMQ_EVENT_CONNECTED);
  EXPECT_FALSE(wait_for_event(of_second, 300ms)) << "the second socket's monitor reported the first's connect";
  second.connect(endpoint);
  connected = wait_for_event(of_second, 5000ms);
  ASSERT_TRUE(connected) << "the second socket's monitor reported nothing within 5 s of its connect";
  EXPECT_EQ(connected->endpoint, endpoint);
}

}  // namespace transport_test
}  // namespace mob
