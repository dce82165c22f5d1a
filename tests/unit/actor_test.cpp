#include "agent/actor.hpp"

#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "bus/transport.hpp"

namespace mob {
namespace {

// A step that throws is dropped and the actor goes on with the next one.
TEST(StepGuard, AStepThatThrowsIsDroppedAndTheNextStepsRun) {
  StepGuard guard("test");
  int ran = 0;
  guard.run("a bad message", [&] { throw std::runtime_error("boom"); });
  guard.run("a message that is not an exception", [&] { throw 42; });
  guard.run("a good message", [&] { ++ran; });
  guard.run("another good one", [&] { ++ran; });
  EXPECT_EQ(ran, 2);
}

TEST(StepGuard, ManyFailuresDoNotStopIt) {
  StepGuard guard("test");
  int after = 0;
  for (int i = 0; i < 10000; ++i) guard.run("a bad message", [] { throw std::logic_error("again"); });
  guard.run("a good message", [&] { ++after; });
  EXPECT_EQ(after, 1);
}

// ask_actor: the main thread's question on a control pipe, bounded in time.
class AskActor : public ::testing::Test {
 protected:
  zmq::context_t context_{1};
  Pipe pipe_ = make_pipe(context_, "ask-test");
};

TEST_F(AskActor, AnActorThatNeverAnswersIsReportedAtTheLimit) {
  // The actor's end of the pipe is never read: the request waits there forever.
  const auto started = std::chrono::steady_clock::now();
  auto answer = ask_actor<ShutdownDone>(pipe_.first, "stuck", ShutdownRequest{},
                                        AskLimits{std::chrono::milliseconds(50), nullptr, -1, {}});
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, Errc::timeout);
  EXPECT_EQ(answer.error().message, "the stuck actor did not answer shutdown_request within 50 ms");
  EXPECT_GE(took, std::chrono::milliseconds(50));
  EXPECT_LT(took, std::chrono::milliseconds(1000));
}

TEST_F(AskActor, AnActorThatAnswersIsHeardAndOtherMessagesAreSkipped) {
  std::jthread actor([&] {
    zmq::pollitem_t item{pipe_.second.handle(), 0, ZMQ_POLLIN, 0};
    poll_sockets(&item, 1, std::chrono::milliseconds(5000));
    auto request = receive_routed(pipe_.second);
    if (!request) return;
    send_body(pipe_.second, LeaveCommand{});  // not the reply asked for
    reply_to(pipe_.second, *request, ShutdownDone{});
  });
  auto answer = ask_actor<ShutdownDone>(pipe_.first, "io", ShutdownRequest{},
                                        AskLimits{std::chrono::milliseconds(5000), nullptr, -1, {}});
  EXPECT_TRUE(answer) << answer.error().message;
}

TEST_F(AskActor, AnActorWhoseThreadEndedIsNotWaitedFor) {
  std::atomic<bool> dead{true};
  auto answer = ask_actor<ShutdownDone>(pipe_.first, "supervisor", ShutdownRequest{},
                                        AskLimits{std::chrono::hours(1), &dead, -1, {}});
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, Errc::unavailable);
  EXPECT_EQ(answer.error().message, "the supervisor actor's thread has ended");
}

}  // namespace
}  // namespace mob
