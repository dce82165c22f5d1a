// A hybrid logical clock: 48 bits of wall-clock milliseconds and 16 bits of counter, so
// stamps follow real time where clocks agree and still order causally where they do not.
#pragma once

#include <algorithm>
#include <cstdint>

namespace mob {

class HybridClock {
 public:
  // A new stamp, later than every stamp this clock issued or observed.
  std::uint64_t now(std::uint64_t wall_ms) {
    last_ = std::max(last_ + 1, wall_ms << 16);
    return last_;
  }
  // Takes in a stamp from another agent so that what happens next here orders after it.
  void observe(std::uint64_t remote) { last_ = std::max(last_, remote); }
  std::uint64_t last() const { return last_; }

  static std::uint64_t wall_ms_of(std::uint64_t stamp) { return stamp >> 16; }

 private:
  std::uint64_t last_ = 0;
};

}  // namespace mob
