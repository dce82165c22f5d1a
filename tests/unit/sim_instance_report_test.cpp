// The one InstanceStatus builder of the simulated supervisors (mob-sim's and FakeSupervisor).
#include "sim/instance_report.hpp"

#include <gtest/gtest.h>

namespace mob {
namespace sim_instance_report_test {

TEST(SimulatedInstanceStatus, ARunningInstanceCarriesItsProcessVersionAndTime) {
  ManualTime time(1'700'000'000'123ULL);
  auto status = simulated_instance_status("web", 2, "agent-a", InstanceState::running, 4242, 7, time);
  EXPECT_EQ(status.service, "web");
  EXPECT_EQ(status.index, 2u);
  EXPECT_EQ(status.node, "agent-a");
  EXPECT_EQ(status.state, InstanceState::running);
  EXPECT_EQ(status.pid, 4242);
  EXPECT_EQ(status.spec_version, 7u);
  EXPECT_EQ(status.since_ms, 1'700'000'000'123);
  EXPECT_EQ(status.health, Health::none);
}

TEST(SimulatedInstanceStatus, AStoppedInstanceHasNoProcess) {
  ManualTime time;
  auto status = simulated_instance_status("web", 0, "agent-a", InstanceState::stopped, 4242, 1, time);
  EXPECT_EQ(status.pid, 0);
  EXPECT_EQ(status.state, InstanceState::stopped);
}

}  // namespace sim_instance_report_test
}  // namespace mob
