#include "agent/actor.hpp"

#include <future>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "bus/transport.hpp"

namespace mob {
namespace actor_test {

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
    auto request = receive_control(pipe_.second);
    if (!request || !std::holds_alternative<ShutdownRequest>(*request)) return;
    send_internal(pipe_.second, ProviderAvailability{"bash", true});  // a worker's event meanwhile
    send_control(pipe_.second, LeaveAsked{});                     // not the reply asked for
    send_control(pipe_.second, ShutdownDone{});
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

// Actor: the one shape of every thread in an agent.
class ActorShape : public ::testing::Test {
 protected:
  // An actor's loop that ends on its terminate command, answering it.
  static void serve_until_terminated(zmq::socket_t& pipe) {
    while (true) {
      zmq::pollitem_t item{pipe.handle(), 0, ZMQ_POLLIN, 0};
      poll_sockets(&item, 1, std::chrono::milliseconds(-1));
      while (auto message = receive_control(pipe)) {
        if (std::holds_alternative<ShutdownRequest>(*message)) {
          send_control(pipe, ShutdownDone{});
          return;
        }
      }
    }
  }

  zmq::context_t context_{1};
  Pipe pipe_ = make_pipe(context_, "actor-test");
};

TEST_F(ActorShape, StartReturnsOnlyOnceTheActorIsReady) {
  int set_up = 0;  // plain: only the handshake orders the actor's write before the read
  auto actor = Actor::start("counter", [&](ActorStartup& startup) {
    set_up = 42;
    startup.ready();
    serve_until_terminated(pipe_.second);
  });
  ASSERT_TRUE(actor) << actor.error().message;
  EXPECT_EQ(set_up, 42);
  EXPECT_EQ((*actor)->name(), "counter");
  EXPECT_FALSE((*actor)->ended());
  auto stopped = ask_actor<ShutdownDone>(pipe_.first, "counter", ShutdownRequest{},
                                         AskLimits{std::chrono::seconds(30), nullptr, -1, {}});
  EXPECT_TRUE(stopped) << stopped.error().message;
}

TEST_F(ActorShape, TheTerminateCommandEndsItAndTheDestructorJoins) {
  std::promise<bool> ended_with;
  bool last_step_done = false;
  auto actor = Actor::start(
      "worker",
      [&](ActorStartup& startup) {
        startup.ready();
        serve_until_terminated(pipe_.second);
        last_step_done = true;
      },
      [&](bool crashed) { ended_with.set_value(crashed); });
  ASSERT_TRUE(actor) << actor.error().message;
  ASSERT_TRUE(ask_actor<ShutdownDone>(pipe_.first, "worker", ShutdownRequest{},
                                      AskLimits{std::chrono::seconds(30), nullptr, -1, {}}));
  EXPECT_FALSE(ended_with.get_future().get());  // on_end ran, not crashed
  actor->reset();  // joins: everything the thread did is visible here
  EXPECT_TRUE(last_step_done);
}

TEST_F(ActorShape, ASetUpThatThrowsIsAFailedStartNamingTheActor) {
  bool on_end_ran = false;
  auto actor = Actor::start(
      "store", [](ActorStartup&) { throw std::runtime_error("cannot open state.db"); },
      [&](bool) { on_end_ran = true; });
  ASSERT_FALSE(actor);
  EXPECT_EQ(actor.error().code, Errc::internal);
  EXPECT_EQ(actor.error().message, "the store thread did not start: cannot open state.db");
  EXPECT_FALSE(on_end_ran);  // the thread has ended (joined) and never reached on_end
}

TEST_F(ActorShape, ABodyThatReturnsBeforeReadyIsAFailedStart) {
  auto actor = Actor::start("health", [](ActorStartup&) {});
  ASSERT_FALSE(actor);
  EXPECT_EQ(actor.error().message, "the health thread did not start: it ended before it was ready");
}

TEST_F(ActorShape, AnExceptionAfterReadyIsReportedAsACrash) {
  std::promise<bool> ended_with;
  auto actor = Actor::start(
      "io",
      [](ActorStartup& startup) {
        startup.ready();
        throw std::logic_error("a bug in the loop");
      },
      [&](bool crashed) { ended_with.set_value(crashed); });
  ASSERT_TRUE(actor) << actor.error().message;
  EXPECT_TRUE(ended_with.get_future().get());
  EXPECT_TRUE((*actor)->ended());
}

TEST_F(ActorShape, ReadyTwiceIsHarmless) {
  auto actor = Actor::start("twice", [&](ActorStartup& startup) {
    startup.ready();
    startup.ready();
    serve_until_terminated(pipe_.second);
  });
  ASSERT_TRUE(actor) << actor.error().message;
  EXPECT_TRUE(ask_actor<ShutdownDone>(pipe_.first, "twice", ShutdownRequest{},
                                      AskLimits{std::chrono::seconds(30), nullptr, -1, {}}));
}

}  // namespace actor_test
}  // namespace mob
