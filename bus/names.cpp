#include "bus/messages.hpp"

namespace mob {

std::string_view to_string(InstanceState state) {
  switch (state) {
    case InstanceState::pending: return "pending";
    case InstanceState::starting: return "starting";
    case InstanceState::running: return "running";
    case InstanceState::exited: return "exited";
    case InstanceState::restarting: return "restarting";
    case InstanceState::failed: return "failed";
    case InstanceState::stopped: return "stopped";
    case InstanceState::count_: break;
  }
  return "unknown";
}

std::string_view to_string(MemberState state) {
  switch (state) {
    case MemberState::alive: return "alive";
    case MemberState::suspect: return "suspect";
    case MemberState::failed: return "failed";
    case MemberState::left: return "left";
    case MemberState::count_: break;
  }
  return "unknown";
}

std::string_view to_string(Health health) {
  switch (health) {
    case Health::none: return "-";
    case Health::starting: return "starting";
    case Health::healthy: return "healthy";
    case Health::unhealthy: return "unhealthy";
    case Health::count_: break;
  }
  return "unknown";
}

std::string_view to_string(ControlAction action) {
  switch (action) {
    case ControlAction::stop: return "stop";
    case ControlAction::start: return "start";
    case ControlAction::restart: return "restart";
    case ControlAction::remove: return "remove";
    case ControlAction::force_remove: return "remove --force";
    case ControlAction::scale: return "scale";
    case ControlAction::count_: break;
  }
  return "unknown";
}

}  // namespace mob
