// What a simulated supervisor reports of one instance: the InstanceStatus the real
// supervisor would send when the instance changes state, with no process behind it. Shared by
// mob-sim's supervisor and the store tests' FakeSupervisor (tests/support/store_harness.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "agent/time_source.hpp"
#include "bus/messages.hpp"

namespace mob {

// The instance `service`.`index` on `node` entered `state` now (on `time`'s wall clock),
// running version `spec_version` of its spec as process `pid` (0 once stopped).
InstanceStatus simulated_instance_status(const std::string& service, std::uint32_t index,
                                         const std::string& node, InstanceState state,
                                         std::int64_t pid, std::uint64_t spec_version,
                                         const TimeSource& time);

}  // namespace mob
