// The socket options of bus/transport.hpp on real ZeroMQ sockets over loopback: the ones a
// peer link uses must survive what a loaded agent meets (a reader that falls behind while
// the other end goes away).
#include "bus/transport.hpp"

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <zmq.hpp>

namespace mob {
namespace {

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

}  // namespace
}  // namespace mob
