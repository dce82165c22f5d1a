#include "agent/time_source.hpp"

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

}  // namespace mob
