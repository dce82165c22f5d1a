#include "agent/restart_policy.hpp"

#include <algorithm>

namespace mob {

std::string_view to_string(RestartPolicy policy) {
  switch (policy) {
    case RestartPolicy::always: return "always";
    case RestartPolicy::on_failure: return "on-failure";
    case RestartPolicy::never: return "never";
    case RestartPolicy::count_: break;
  }
  return "always";
}

std::optional<RestartPolicy> restart_policy_named(std::string_view name) {
  for (auto policy : {RestartPolicy::always, RestartPolicy::on_failure, RestartPolicy::never})
    if (to_string(policy) == name) return policy;
  return std::nullopt;
}

bool wants_restart(RestartPolicy policy, const ExitOutcome& outcome) {
  switch (policy) {
    case RestartPolicy::always: return true;
    case RestartPolicy::on_failure:
      return outcome.start_failed || outcome.signal != 0 || outcome.exit_code != 0;
    case RestartPolicy::never: return false;
    case RestartPolicy::count_: break;
  }
  return false;
}

std::optional<std::chrono::milliseconds> next_restart_delay(
    const RestartSpec& spec, std::vector<std::chrono::steady_clock::time_point>& recent,
    std::chrono::steady_clock::time_point now) {
  const auto window = std::chrono::seconds(spec.window_s);
  recent.erase(recent.begin(), std::find_if(recent.begin(), recent.end(), [&](auto at) { return now - at < window; }));
  if (recent.size() >= spec.max_restarts) return std::nullopt;
  if (recent.empty()) return std::chrono::milliseconds(0);
  std::uint64_t delay = spec.backoff_ms;
  for (std::size_t i = 1; i < recent.size() && delay < spec.backoff_max_ms; ++i) delay *= 2;
  return std::chrono::milliseconds(std::min<std::uint64_t>(delay, spec.backoff_max_ms));
}

}  // namespace mob
