#include "agent/health_state.hpp"

#include <algorithm>

namespace mob {

HealthTracker::HealthTracker(std::vector<CheckSpec> checks, Time started)
    : checks_(std::move(checks)),
      started_(started),
      verdicts_(checks_.size(), Verdict::unknown),
      counted_failures_(checks_.size(), 0),
      results_(checks_.size()) {
  for (std::size_t i = 0; i < checks_.size(); ++i) results_[i].name = checks_[i].name;
}

Health HealthTracker::health() const {
  if (checks_.empty()) return Health::none;
  if (std::ranges::any_of(verdicts_, [](Verdict v) { return v == Verdict::failing; })) return Health::unhealthy;
  if (std::ranges::all_of(verdicts_, [](Verdict v) { return v == Verdict::passing; })) return Health::healthy;
  return Health::starting;
}

std::optional<HealthTracker::Change> HealthTracker::record(std::size_t index, bool passed, std::string output,
                                                           Time now, std::int64_t wall_ms) {
  if (index >= checks_.size()) return std::nullopt;
  const CheckSpec& check = checks_[index];
  CheckResult& result = results_[index];
  const Health before = health();
  const Verdict was = verdicts_[index];
  const bool flipped = result.at_ms == 0 || result.passed != passed;
  result.in_a_row = (result.at_ms != 0 && result.passed == passed) ? result.in_a_row + 1 : 1;
  result.passed = passed;
  result.at_ms = wall_ms;
  if (output.size() > kMaxCheckOutputBytes) output.erase(0, output.size() - kMaxCheckOutputBytes);
  result.output = std::move(output);
  if (passed) {
    counted_failures_[index] = 0;
    // The first pass after a start makes a check pass; after failing it takes `successes`.
    if (was == Verdict::unknown || (was == Verdict::failing && result.in_a_row >= check.successes))
      verdicts_[index] = Verdict::passing;
  } else {
    bool in_grace = now < started_ + std::chrono::milliseconds(check.grace_ms);
    if (!in_grace && ++counted_failures_[index] >= check.failures) verdicts_[index] = Verdict::failing;
  }
  const Health after = health();
  const Verdict is = verdicts_[index];
  if (after == before && is == was && !flipped) return std::nullopt;
  bool turned_failing = is == Verdict::failing && was != Verdict::failing;
  return Change{after, index, turned_failing && check.restart_on_failure};
}

std::string HealthTracker::describe(std::size_t index) const {
  if (index >= results_.size()) return "";
  const CheckResult& result = results_[index];
  if (result.at_ms == 0) return result.name + ": not run yet";
  std::string text = result.name + ": " + (result.output.empty() ? (result.passed ? "passed" : "failed") : result.output);
  if (result.in_a_row > 1) text += " (" + std::to_string(result.in_a_row) + " in a row)";
  return text;
}

}  // namespace mob
