// A periodic timer whose work may move by up to half a period either way (anti-entropy,
// heartbeats, garbage collection): it runs at the first wake-up of its loop inside that
// window, so that an idle agent does its periodic work in the wake-ups it has anyway (the
// failure detector's probes) instead of adding wake-ups of its own at other phases.
#pragma once

#include <chrono>

namespace mob {

class LaxTimer {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LaxTimer(Clock::duration period) : period_(period) {}

  // May the work run at `now`? From half a period before its time, and never twice within
  // half a period.
  bool due(Clock::time_point now) const {
    if (!started_) return true;
    return now >= nominal_ - period_ / 2 && now >= last_run_ + period_ / 2;
  }
  // When the loop must wake at the latest for it: half a period after its time.
  Clock::time_point latest() const { return started_ ? nominal_ + period_ / 2 : Clock::time_point{}; }
  // The work ran at `now`: its next time is a period after this one's, so that runs keep an
  // average of one a period wherever in its window each one fell; never before `now`, so
  // that the latest wake-up is never before the earliest run (a late run would otherwise
  // leave latest() in the past and due() false: a loop that spins).
  void ran(Clock::time_point now) {
    nominal_ = started_ ? nominal_ + period_ : now + period_;
    if (nominal_ + period_ / 2 < now) nominal_ = now + period_;  // the loop slept through periods
    else if (nominal_ < now) nominal_ = now;                      // it ran late in its window
    last_run_ = now;
    started_ = true;
  }

 private:
  Clock::duration period_;
  Clock::time_point nominal_{};
  Clock::time_point last_run_{};
  bool started_ = false;
};

}  // namespace mob
