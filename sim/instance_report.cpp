#include "sim/instance_report.hpp"

namespace mob {

InstanceStatus simulated_instance_status(const std::string& service, std::uint32_t index,
                                         const std::string& node, InstanceState state,
                                         std::int64_t pid, std::uint64_t spec_version,
                                         const TimeSource& time) {
  InstanceStatus status;
  status.service = service;
  status.index = index;
  status.node = node;
  status.state = state;
  status.pid = state == InstanceState::stopped ? 0 : pid;
  status.since_ms = static_cast<std::int64_t>(time.wall_ms());
  status.spec_version = spec_version;
  return status;
}

}  // namespace mob
