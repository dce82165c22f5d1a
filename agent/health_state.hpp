// An instance's health from its checks' results (docs/spec.md, "checks"): which results
// count (grace_s), when a check turns failing (failures in a row) and passing again
// (successes in a row), and what that makes of the instance. Pure: time is passed in.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bus/internal_messages.hpp"
#include "bus/messages.hpp"

namespace mob {

class HealthTracker {
 public:
  using Time = std::chrono::steady_clock::time_point;

  // `started`: when the instance's process started; failures before started + grace_s do
  // not count.
  HealthTracker(std::vector<CheckSpec> checks, Time started);

  // What a result changed: the instance's health, a check's verdict, or a check's result
  // from pass to fail or back (its first result included), so that the replicated record
  // says why without carrying every result; and whether the instance is to be restarted.
  struct Change {
    Health health = Health::starting;
    std::size_t decided_by = 0;  // the check whose result made the change
    bool restart = false;        // a check with on_failure restart turned failing
  };

  // Records the result of check `index` (its output in words) at `now` (`wall_ms`: the
  // same moment, for the record). Returns a change when there is one to report.
  std::optional<Change> record(std::size_t index, bool passed, std::string output, Time now,
                               std::int64_t wall_ms);

  Health health() const;
  const std::vector<CheckSpec>& checks() const { return checks_; }
  // Each check's last result (a check not run yet has at_ms 0).
  const std::vector<CheckResult>& results() const { return results_; }
  // "http: connection refused (3 in a row)": check `index`'s last result in words.
  std::string describe(std::size_t index) const;

 private:
  enum class Verdict { unknown, passing, failing };
  std::vector<CheckSpec> checks_;
  Time started_;
  std::vector<Verdict> verdicts_;
  std::vector<std::uint32_t> counted_failures_;  // in a row, after the grace period
  std::vector<CheckResult> results_;
};

}  // namespace mob
