#include "agent/actor.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace mob
