// Time as the agent's parts read it: a steady clock for timers and deadlines, and the wall
// clock for stamps and clock comparisons, behind one interface so that unit tests and the
// simulator drive time themselves (Envoy's TimeSource). Implementations are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace mob {

class TimeSource {
 public:
  using SteadyClock = std::chrono::steady_clock;
  virtual ~TimeSource() = default;
  // Monotonic time: timers, deadlines, how long ago.
  virtual SteadyClock::time_point steady_now() const = 0;
  // Wall-clock milliseconds since the Unix epoch: stamps, what peers compare.
  virtual std::uint64_t wall_ms() const = 0;
};

// The machine's clocks.
class SystemTime final : public TimeSource {
 public:
  SteadyClock::time_point steady_now() const override { return SteadyClock::now(); }
  std::uint64_t wall_ms() const override;
};

// The machine's clocks, one shared instance (it holds no state).
const TimeSource& system_time();

// How long an actor's loop polls for `deadline` read on `time`: to 1 ms past it (so that
// it has come when the poll returns), never below 0 nor above `cap`.
std::chrono::milliseconds poll_wait(const TimeSource& time, TimeSource::SteadyClock::time_point deadline,
                                    std::chrono::milliseconds cap = std::chrono::seconds(1));

// The deadline of an actor with nothing due: what it waits for comes as a message, on a file
// descriptor or at a deadline it computes, so an idle agent's threads sleep instead of waking
// every second for nothing (docs/performance.md, "Idle CPU at the default flags"). A bound
// against a deadline missed by mistake, not a timer.
inline constexpr std::chrono::milliseconds kIdleWait = std::chrono::minutes(1);

// Time that moves only when told: advance() moves both clocks, set_wall_ms() skews the wall
// clock alone (a clock stepped by NTP, or a wrong one).
class ManualTime final : public TimeSource {
 public:
  explicit ManualTime(std::uint64_t wall_ms = 1'800'000'000'000ULL) : wall_ms_(wall_ms) {}
  SteadyClock::time_point steady_now() const override {
    return SteadyClock::time_point(SteadyClock::duration(steady_.load()));
  }
  std::uint64_t wall_ms() const override { return wall_ms_.load(); }
  void advance(std::chrono::milliseconds by) {
    steady_ += std::chrono::duration_cast<SteadyClock::duration>(by).count();
    wall_ms_ += static_cast<std::uint64_t>(by.count());
  }
  void set_wall_ms(std::uint64_t wall_ms) { wall_ms_ = wall_ms; }

 private:
  // Starts a day in, so that "now - a period" never goes below the clock's epoch.
  std::atomic<SteadyClock::rep> steady_{
      std::chrono::duration_cast<SteadyClock::duration>(std::chrono::hours(24)).count()};
  std::atomic<std::uint64_t> wall_ms_;
};

}  // namespace mob
