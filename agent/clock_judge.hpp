// Whether clocks agree: the offsets of peers' wall clocks, sampled on acks to this agent's
// own probes, and the verdicts drawn from them (is this agent's clock the odd one; is a
// peer's off). Pure: every call is given the time. Owned by the store thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace mob {

class ClockJudge {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Bounds {
    std::uint64_t max_offset_ms = 5 * 60 * 1000;  // clocks further apart disagree
    std::chrono::steady_clock::duration sample_life = std::chrono::seconds(30);
    std::size_t max_peers = 10000;  // samples of more peers are dropped
  };

  explicit ClockJudge(Bounds bounds) : bounds_(bounds) {}

  // `peer`'s wall clock read `their_wall_ms` when this agent's read `our_wall_ms`, at `now`.
  // A reading of 0 means unknown and is ignored.
  void note(const std::string& peer, std::uint64_t their_wall_ms, std::uint64_t our_wall_ms, TimePoint now);
  // A fresh sample says `peer`'s clock and this agent's are further apart than the bound,
  // and more of the sampled peers agree with this agent than not (counting itself): when
  // this agent is the odd one, or cannot tell (a tie), a peer that disagrees with it proves
  // nothing about the peer's clock.
  bool measured_off(const std::string& peer, TimePoint now) const;
  // Forgets stale samples, then: nullopt when none is left (the last verdict stands); "" when
  // this agent's clock agrees with at least half of its peers, counting itself as agreeing;
  // else what is wrong with it ("clock is 600 s behind 2 of its 2 peers (more than 300 s)").
  // A tie (one peer against this agent) says nothing is wrong, unless this agent's own step
  // is what parted it from a peer it agreed with (forget_samples), or `lose_ties` (its clock
  // has not been compared with a peer's since it started or stepped, its peers' have): then
  // it is the odd one.
  std::optional<std::string> judge_own_clock(TimePoint now, bool lose_ties = false);

  std::size_t peers_sampled() const { return samples_.size(); }
  // The samples split evenly between agreeing with this agent and not (counting itself) and
  // no step of its own parted them: its clock is trusted, but one more peer could overturn it.
  bool undecided() const {
    return samples_off_ > 0 && samples_off_ == 1 + samples_.size() - samples_off_ && samples_parted_ == 0;
  }
  // This agent's wall clock stepped by `step_ms`: every sample compared a peer with the
  // clock before the step. The last verdict stands until new samples come. The peers it
  // agreed with are remembered until the next step: each sample of one that disagrees after,
  // by about the step, says this agent's own step parted them, which tells which clock is
  // wrong even one against one. So does a peer not sampled before the step whose offset
  // after it is minus the step (it agreed with the clock before the step).
  void forget_samples(std::int64_t step_ms);
  std::int64_t last_step_ms() const { return last_step_ms_; }  // 0: none yet

 private:
  struct Sample {
    std::int64_t offset_ms;    // their clock minus ours, clamped to +-2^62
    std::uint64_t distance_ms;  // how far apart, exactly
    TimePoint taken;
    bool parted_by_our_step = false;  // it agreed before this agent's step, not after it
  };
  bool off(const Sample& sample) const;
  bool majority_agrees_with_us() const;

  Bounds bounds_;
  std::map<std::string, Sample> samples_;
  std::size_t samples_off_ = 0;  // of samples_, those further apart than the bound
  std::size_t samples_parted_ = 0;  // of those, the ones parted by this agent's step
  std::map<std::string, std::int64_t> agreed_before_step_;  // offsets then, by peer
  std::int64_t last_step_ms_ = 0;
};

}  // namespace mob
