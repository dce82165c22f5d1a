// Restart decisions as pure functions: whether an exit calls for a restart, and after
// what delay, given the restarts already made within the window. The supervisor decides
// with them; mob-tool uses them to tell a finished instance from one about to restart.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>
#include <optional>
#include <string_view>

#include "agent/spec.hpp"

namespace mob {

struct ExitOutcome {
  std::int32_t exit_code = -1;
  std::int32_t signal = 0;
  bool start_failed = false;
};

// The policy a normalized spec names (`to_string`'s words: always, on-failure, never);
// nullopt for any other word, such as the original forms that parse_spec also accepts.
std::optional<RestartPolicy> restart_policy_named(std::string_view name);

// True when `policy` restarts after this exit: always; on-failure unless exit code 0.
bool wants_restart(RestartPolicy policy, const ExitOutcome& outcome);

// Drops restarts older than the window, then returns the delay before the next restart,
// or nullopt when max_restarts within window_s are used up (the instance has failed).
// The first restart in a window is immediate; later ones wait backoff_ms, doubling up to
// backoff_max_ms.
std::optional<std::chrono::milliseconds> next_restart_delay(
    const RestartSpec& spec, std::vector<std::chrono::steady_clock::time_point>& recent,
    std::chrono::steady_clock::time_point now);

}  // namespace mob
