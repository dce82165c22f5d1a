// wait_for_input: the actor loops' wait. Each test is a case where a cheaper wait than
// zmq::poll could miss a message: queued before the wait, left unread after the last one,
// or announced while this thread was sending.
#include "bus/transport.hpp"

#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace mob {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class WaitForInput : public ::testing::Test {
 protected:
  WaitForInput() {
    a_.bind("inproc://wait-a");
    b_.connect("inproc://wait-a");
    c_.bind("inproc://wait-c");
    d_.connect("inproc://wait-c");
  }

  static bool send(zmq::socket_t& socket, std::string_view text) {
    return send_frames(socket, {text}, /*dont_wait=*/true);
  }

  zmq::context_t context_;
  zmq::socket_t a_{context_, zmq::socket_type::pair};  // waited on; b_ writes to it
  zmq::socket_t b_{context_, zmq::socket_type::pair};
  zmq::socket_t c_{context_, zmq::socket_type::pair};  // waited on; d_ writes to it
  zmq::socket_t d_{context_, zmq::socket_type::pair};
};

TEST_F(WaitForInput, NothingArrivingTimesOutAfterTheTimeout) {
  zmq::pollitem_t items[] = {{a_.handle(), 0, ZMQ_POLLIN, 0}, {c_.handle(), 0, ZMQ_POLLIN, 0}};
  auto start = Clock::now();
  EXPECT_EQ(wait_for_input(items, 120ms), 0);
  auto waited = Clock::now() - start;
  EXPECT_GE(waited, 120ms);
  EXPECT_LT(waited, 1000ms);
  EXPECT_EQ(items[0].revents, 0);
  EXPECT_EQ(items[1].revents, 0);
  // A zero timeout does not block.
  start = Clock::now();
  EXPECT_EQ(wait_for_input(items, 0ms), 0);
  EXPECT_LT(Clock::now() - start, 100ms);
}

TEST_F(WaitForInput, AMessageQueuedBeforeTheWaitIsReportedAtOnce) {
  ASSERT_TRUE(send(d_, "queued"));
  zmq::pollitem_t items[] = {{a_.handle(), 0, ZMQ_POLLIN, 0}, {c_.handle(), 0, ZMQ_POLLIN, 0}};
  auto start = Clock::now();
  EXPECT_EQ(wait_for_input(items, 5000ms), 1);
  EXPECT_LT(Clock::now() - start, 1000ms);
  EXPECT_EQ(items[0].revents, 0);
  EXPECT_EQ(items[1].revents, ZMQ_POLLIN);
  EXPECT_EQ(recv_frames(c_)->front(), "queued");
}

TEST_F(WaitForInput, AMessageSentFromAnotherThreadWakesTheWait) {
  zmq::pollitem_t items[] = {{a_.handle(), 0, ZMQ_POLLIN, 0}, {c_.handle(), 0, ZMQ_POLLIN, 0}};
  std::jthread sender([&] {
    std::this_thread::sleep_for(100ms);
    send(b_, "late");
  });
  auto start = Clock::now();
  EXPECT_EQ(wait_for_input(items, 5000ms), 1);
  auto waited = Clock::now() - start;
  EXPECT_GE(waited, 90ms);
  EXPECT_LT(waited, 2000ms);
  EXPECT_EQ(items[0].revents, ZMQ_POLLIN);
  EXPECT_EQ(items[1].revents, 0);
  sender.join();
  EXPECT_EQ(recv_frames(a_)->front(), "late");
}

TEST_F(WaitForInput, AMessageLeftUnreadIsReportedByTheNextWait) {
  ASSERT_TRUE(send(b_, "one"));
  ASSERT_TRUE(send(b_, "two"));
  zmq::pollitem_t items[] = {{a_.handle(), 0, ZMQ_POLLIN, 0}};
  ASSERT_EQ(wait_for_input(items, 5000ms), 1);
  EXPECT_EQ(recv_frames(a_)->front(), "one");
  // The descriptor signalled once, for both; the second is still there.
  auto start = Clock::now();
  EXPECT_EQ(wait_for_input(items, 5000ms), 1);
  EXPECT_LT(Clock::now() - start, 1000ms);
  EXPECT_EQ(recv_frames(a_)->front(), "two");
  EXPECT_EQ(wait_for_input(items, 50ms), 0);
}

TEST_F(WaitForInput, AMessageAnnouncedWhileThisThreadSentIsNotMissed) {
  // Sending on `a_` processes its pending commands, the announcement of b_'s message among
  // them, which resets a_'s descriptor: only asking the socket finds the message.
  ASSERT_TRUE(send(b_, "crossing"));
  ASSERT_TRUE(send(a_, "reply"));
  zmq::pollitem_t items[] = {{a_.handle(), 0, ZMQ_POLLIN, 0}, {c_.handle(), 0, ZMQ_POLLIN, 0}};
  auto start = Clock::now();
  EXPECT_EQ(wait_for_input(items, 5000ms), 1);
  EXPECT_LT(Clock::now() - start, 1000ms);
  EXPECT_EQ(items[0].revents, ZMQ_POLLIN);
  EXPECT_EQ(recv_frames(a_)->front(), "crossing");
  EXPECT_EQ(recv_frames(b_)->front(), "reply");
}

TEST_F(WaitForInput, PlainDescriptorsAreWaitedOnBesideSockets) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  zmq::pollitem_t items[] = {{a_.handle(), 0, ZMQ_POLLIN, 0}, {nullptr, pipe_fds[0], ZMQ_POLLIN, 0}};
  EXPECT_EQ(wait_for_input(items, 50ms), 0);
  ASSERT_EQ(::write(pipe_fds[1], "x", 1), 1);
  EXPECT_EQ(wait_for_input(items, 5000ms), 1);
  EXPECT_EQ(items[0].revents, 0);
  EXPECT_EQ(items[1].revents, ZMQ_POLLIN);
  // Both ready at once: both reported.
  ASSERT_TRUE(send(b_, "both"));
  EXPECT_EQ(wait_for_input(items, 5000ms), 2);
  EXPECT_EQ(items[0].revents, ZMQ_POLLIN);
  EXPECT_EQ(items[1].revents, ZMQ_POLLIN);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

}  // namespace
}  // namespace mob
