// Restart decisions as pure functions: whether an exit calls for a restart, and after
// what delay, given the restarts already made within the window.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>

#include "agent/spec.hpp"

namespace mob {

struct ExitOutcome {
  std::int32_t exit_code = -1;
  std::int32_t signal = 0;
  bool start_failed = false;
};

// True when `policy` restarts after this exit: always; on-failure unless exit code 0.
bool wants_restart(RestartPolicy policy, const ExitOutcome& outcome);

// Drops restarts older than the window, then returns the delay before the next restart,
// or nullopt when max_restarts within window_s are used up (the instance has failed).
// The first restart in a window is immediate; later ones wait backoff_ms, doubling up to
// backoff_max_ms.
std::optional<std::chrono::milliseconds> next_restart_delay(
    const RestartSpec& spec, std::deque<std::chrono::steady_clock::time_point>& recent,
    std::chrono::steady_clock::time_point now);

}  // namespace mob
