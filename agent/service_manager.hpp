// Tells systemd how the agent is doing (Type=notify: READY=1 once it serves, STOPPING=1 when
// it begins to stop) through libsystemd's sd_notify. Main thread only. Without a service
// manager ($NOTIFY_SOCKET unset) it does nothing and loads nothing.
#pragma once

#include <string_view>

#include "bus/error.hpp"

namespace mob {

// Sends `state` ("READY=1", "STOPPING=1", "STATUS=...", newline-separated) to the service
// manager named by $NOTIFY_SOCKET. libsystemd is loaded for the call and unloaded after it,
// so that an agent maps none of it (nor its compression and crypto libraries) while it runs.
// Returns false when there was no service manager to tell; an error when there was one and
// the message could not be sent.
Result<bool> notify_service_manager(std::string_view state);

}  // namespace mob
