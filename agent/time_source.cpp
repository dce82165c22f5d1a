#include "agent/time_source.hpp"

#include <algorithm>

namespace mob {

std::uint64_t SystemTime::wall_ms() const {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

const TimeSource& system_time() {
  static const SystemTime time;
  return time;
}

std::chrono::milliseconds poll_wait(const TimeSource& time, TimeSource::SteadyClock::time_point deadline,
                                    std::chrono::milliseconds cap) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - time.steady_now());
  return std::clamp(left + std::chrono::milliseconds(1), std::chrono::milliseconds(0), cap);
}

}  // namespace mob
