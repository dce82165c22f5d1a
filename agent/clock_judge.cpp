#include "agent/clock_judge.hpp"

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace mob {

void ClockJudge::note(const std::string& peer, std::uint64_t their_wall_ms, std::uint64_t our_wall_ms,
                      TimePoint now) {
  if (their_wall_ms == 0 || our_wall_ms == 0) return;
  if (samples_.size() >= bounds_.max_peers && !samples_.contains(peer)) return;
  // Readings come from peers and may be anything: the distance is computed unsigned, and the
  // signed offset (for the direction and the median) is clamped to +-2^62.
  std::uint64_t distance = their_wall_ms > our_wall_ms ? their_wall_ms - our_wall_ms : our_wall_ms - their_wall_ms;
  constexpr std::uint64_t kClamp = 1ULL << 62;
  std::int64_t magnitude = static_cast<std::int64_t>(std::min(distance, kClamp));
  Sample sample{their_wall_ms > our_wall_ms ? magnitude : -magnitude, distance, now};
  if (last_step_ms_ != 0) {
    // Our step moved their offset by minus the step; a peer's own step at the same moment,
    // or jitter, would not match it within this much. A peer not sampled before the step
    // (cut off then, or new) whose offset is now minus the step, within that much, was within
    // 2 s of our clock before it: our step parted us all the same (offset after = offset
    // before - step, whatever the offset before was).
    constexpr std::int64_t kStepMatchMs = 2000;
    auto before = agreed_before_step_.find(peer);
    const std::int64_t expected = (before != agreed_before_step_.end() ? before->second : 0) - last_step_ms_;
    sample.parted_by_our_step = off(sample) && std::llabs(sample.offset_ms - expected) <= kStepMatchMs;
  }
  auto [it, added] = samples_.try_emplace(peer, sample);
  if (!added) {
    if (off(it->second)) --samples_off_;
    if (it->second.parted_by_our_step) --samples_parted_;
    it->second = sample;
  }
  if (off(sample)) ++samples_off_;
  if (sample.parted_by_our_step) ++samples_parted_;
}

void ClockJudge::forget_samples(std::int64_t step_ms) {
  agreed_before_step_.clear();
  for (const auto& [peer, sample] : samples_)
    if (!off(sample)) agreed_before_step_.emplace(peer, sample.offset_ms);
  last_step_ms_ = step_ms;
  samples_.clear();
  samples_off_ = 0;
  samples_parted_ = 0;
}

bool ClockJudge::majority_agrees_with_us() const {
  return 1 + samples_.size() - samples_off_ > samples_off_;  // this agent agrees with itself
}

bool ClockJudge::off(const Sample& sample) const {
  return sample.distance_ms > bounds_.max_offset_ms;
}

bool ClockJudge::measured_off(const std::string& peer, TimePoint now) const {
  auto sample = samples_.find(peer);
  return sample != samples_.end() && now - sample->second.taken < bounds_.sample_life && off(sample->second) &&
         majority_agrees_with_us();
}

std::optional<std::string> ClockJudge::judge_own_clock(TimePoint now, bool lose_ties) {
  std::erase_if(samples_, [&](const auto& sample) {
    bool stale = now - sample.second.taken >= bounds_.sample_life;
    if (stale && off(sample.second)) --samples_off_;
    if (stale && sample.second.parted_by_our_step) --samples_parted_;
    return stale;
  });
  if (samples_.empty()) return std::nullopt;
  const std::size_t outside = samples_off_;
  const std::size_t inside = 1 + samples_.size() - samples_off_;  // this agent agrees with itself
  const bool tie = outside == inside;
  if (outside < inside || (tie && samples_parted_ == 0 && !lose_ties)) return std::string();
  std::vector<std::int64_t> offsets_off;
  for (const auto& [peer, sample] : samples_)
    if (off(sample)) offsets_off.push_back(sample.offset_ms);
  auto middle = offsets_off.begin() + static_cast<std::ptrdiff_t>(offsets_off.size() / 2);
  std::nth_element(offsets_off.begin(), middle, offsets_off.end());
  std::int64_t median = *middle;  // the peers' clock minus ours
  return "clock is " + std::to_string(std::abs(median) / 1000) + " s " + (median > 0 ? "behind " : "ahead of ") +
         std::to_string(outside) + " of its " + std::to_string(outside + inside - 1) + " peers (more than " +
         std::to_string(bounds_.max_offset_ms / 1000) + " s)" +
         (tie && samples_parted_ == 0 ? "; one against one, and its clock is the one not compared since it started or stepped" : "");
}

}  // namespace mob
