#include "agent/failure_detector.hpp"

#include <algorithm>
#include <cmath>

namespace mob {

FailureDetector::FailureDetector(DetectorConfig config, std::uint64_t seed)
    : config_(config), random_(seed), suspicion_queues_(config_.indirect_probes + 2) {}

std::size_t FailureDetector::queue_of(std::size_t confirmations) const {
  return std::min<std::size_t>(confirmations, suspicion_queues_.size() - 1);
}

void FailureDetector::forget_suspicion(Suspicions::iterator suspicion) {
  suspicion_queues_[queue_of(suspicion->second.confirmations.size())].erase(
      {suspicion->second.started, suspicion->first});
  suspicions_.erase(suspicion);
}

void FailureDetector::set_members(const std::vector<std::string>& names) {
  std::set<std::string> present(names.begin(), names.end());
  std::vector<std::string> gone;
  for (const auto& name : members_)
    if (!present.contains(name)) gone.push_back(name);
  change_members(names, gone);
  for (auto it = suspicions_.begin(); it != suspicions_.end();) {
    auto next = std::next(it);
    if (!present.contains(it->first)) forget_suspicion(it);
    it = next;
  }
}

void FailureDetector::change_members(const std::vector<std::string>& added, const std::vector<std::string>& gone) {
  for (const auto& name : gone) {
    auto member = members_.find(name);
    if (member == members_.end()) continue;
    // The cursor keeps pointing at the next member of this cycle: removing before it would
    // otherwise skip a member.
    auto at = std::find(order_.begin(), order_.end(), &*member);
    if (at != order_.end()) {
      if (static_cast<std::size_t>(at - order_.begin()) < cursor_) --cursor_;
      order_.erase(at);
    }
    members_.erase(member);
    if (auto suspicion = suspicions_.find(name); suspicion != suspicions_.end()) forget_suspicion(suspicion);
    std::erase(soon_, name);
    // A member that left is not expected to answer: its silence says nothing of our health.
    if (probe_ && probe_->target == name) probe_.reset();
  }
  for (const auto& name : added) {
    auto [member, inserted] = members_.insert(name);
    if (!inserted) continue;
    // New members go in at a random place so that everyone probes them soon (and inserting
    // before the cursor moves it, so that no member of this cycle is probed twice).
    std::uniform_int_distribution<std::size_t> at(0, order_.size());
    auto position = at(random_);
    order_.insert(order_.begin() + static_cast<long>(position), &*member);
    if (position < cursor_) ++cursor_;
  }
}

std::chrono::milliseconds FailureDetector::scaled(std::chrono::milliseconds base) const {
  return base * (1 + health_penalty_);
}

std::chrono::milliseconds FailureDetector::ack_timeout() const {
  if (!smoothed_rtt_ms_) return config_.probe_timeout;
  auto measured = std::chrono::milliseconds(static_cast<long>(std::ceil(*smoothed_rtt_ms_ + 4 * rtt_deviation_ms_)));
  return std::clamp(measured, config_.probe_timeout, std::max(config_.probe_timeout, config_.max_probe_timeout));
}

std::chrono::milliseconds FailureDetector::probe_interval() const {
  return std::max(config_.probe_interval, 2 * ack_timeout());
}

std::chrono::milliseconds FailureDetector::configured_window() const {
  return std::min(config_.probe_interval, 2 * config_.probe_timeout);
}

std::chrono::milliseconds FailureDetector::probe_window() const {
  return std::max(configured_window(), 2 * ack_timeout());
}

// RFC 6298, 2.2 and 2.3: the first sample sets the mean and half of it as the deviation,
// then each moves 1/8 and 1/4 of the way to the new sample.
void FailureDetector::sample_round_trip(Clock::duration round_trip) {
  double sample = std::chrono::duration<double, std::milli>(std::max(round_trip, Clock::duration::zero())).count();
  if (!smoothed_rtt_ms_) {
    smoothed_rtt_ms_ = sample;
    rtt_deviation_ms_ = sample / 2;
    return;
  }
  rtt_deviation_ms_ = 0.75 * rtt_deviation_ms_ + 0.25 * std::abs(*smoothed_rtt_ms_ - sample);
  smoothed_rtt_ms_ = 0.875 * *smoothed_rtt_ms_ + 0.125 * sample;
}

std::optional<std::string> FailureDetector::next_target() {
  if (order_.empty()) return std::nullopt;
  if (cursor_ >= order_.size()) {
    std::shuffle(order_.begin(), order_.end(), random_);
    cursor_ = 0;
  }
  return *order_[cursor_++];
}

std::vector<std::string> FailureDetector::pick_helpers(const std::string& target) {
  std::vector<std::string> candidates;
  for (const auto& name : members_)
    if (name != target) candidates.push_back(name);
  std::shuffle(candidates.begin(), candidates.end(), random_);
  if (candidates.size() > config_.indirect_probes) candidates.resize(config_.indirect_probes);
  return candidates;
}

void FailureDetector::start_probe(const std::string& target, Clock::time_point now,
                                  std::vector<Action>& actions) {
  Probe probe;
  probe.seq = next_seq_++;
  probe.target = target;
  probe.sent = now;
  probe.indirect_at = now + scaled(ack_timeout());
  probe.give_up_at = now + scaled(probe_window());
  probe_ = probe;
  next_probe_at_ = now + scaled(probe_interval());
  actions.push_back({Action::Kind::probe, target, probe.seq, {}});
}

std::vector<FailureDetector::Action> FailureDetector::tick(Clock::time_point now) {
  std::vector<Action> actions;
  if (probe_ && !probe_->acked) {
    if (!probe_->indirect_sent && now >= probe_->indirect_at) {
      probe_->indirect_sent = true;
      auto helpers = pick_helpers(probe_->target);
      probe_->helpers = helpers.size();
      if (!helpers.empty())
        actions.push_back({Action::Kind::indirect_probe, probe_->target, probe_->seq, helpers});
    }
    if (now >= probe_->give_up_at && !probe_->waited_longer && now - probe_->give_up_at > ack_timeout() / 2) {
      // This agent woke up well past the deadline (its process did not run, or a long turn
      // held it): the ack may be waiting unread. It counts against our own health and the
      // probe waits one ack timeout more, so that a starved agent does not suspect others
      // for its own slowness.
      health_penalty_ = std::min(health_penalty_ + 1, config_.max_health_penalty);
      probe_->waited_longer = true;
      probe_->give_up_at = now + scaled(ack_timeout());
      next_probe_at_ = std::max(next_probe_at_, probe_->give_up_at);  // no probe is due before
    } else if (now >= probe_->give_up_at) {
      // Lifeguard: a missed ack counts against our own health, unless a helper nacks (it
      // heard us and could not reach the target either). In a partition, with helpers on
      // both sides, some nack: without that, every failed probe across it would stretch
      // this agent's probe interval, and the other side would take minutes to be found.
      if (probe_->helpers > 0) {  // set only once they were asked
        if (!probe_->nacked) awaiting_nacks_.push_back({probe_->seq, now + scaled(probe_window())});
      } else {
        health_penalty_ = std::min(health_penalty_ + 1, config_.max_health_penalty);
      }
      actions.push_back({Action::Kind::suspect, probe_->target, probe_->seq, {}});
      probe_.reset();
    }
  }
  std::erase_if(awaiting_nacks_, [&](const AwaitingNack& awaiting) {
    if (now < awaiting.deadline) return false;
    health_penalty_ = std::min(health_penalty_ + 1, config_.max_health_penalty);
    return true;
  });
  const bool idle = !probe_ || probe_->acked;
  if (idle && !soon_.empty()) {
    // Out of turn: the regular schedule goes on from here.
    auto target = soon_.front();
    soon_.erase(soon_.begin());
    soon_since_ = now;
    start_probe(target, now, actions);
  } else if (idle && now >= next_probe_at_) {
    probe_.reset();
    if (auto target = next_target()) start_probe(*target, now, actions);
    next_probe_at_ = now + scaled(probe_interval());
  }
  // Those whose time is up, declared in the order of their names.
  const std::size_t n = members_.size() + 1;
  std::vector<std::string> expired;
  for (std::size_t queue = 0; queue < suspicion_queues_.size(); ++queue) {
    auto timeout = suspicion_timeout(queue, n);
    for (const auto& [started, name] : suspicion_queues_[queue]) {
      if (now - started < timeout) break;
      expired.push_back(name);
    }
  }
  std::sort(expired.begin(), expired.end());
  for (auto& name : expired) {
    forget_suspicion(suspicions_.find(name));
    actions.push_back({Action::Kind::declare_failed, std::move(name), 0, {}});
  }
  return actions;
}

void FailureDetector::on_ack(std::uint64_t seq, Clock::time_point now) {
  if (probe_ && probe_->seq == seq && !probe_->acked) {
    probe_->acked = true;
    sample_round_trip(now - probe_->sent);
    if (health_penalty_ > 0) --health_penalty_;
  }
}

bool FailureDetector::on_nack(std::uint64_t seq) {
  auto waiting = std::find_if(awaiting_nacks_.begin(), awaiting_nacks_.end(),
                              [&](const AwaitingNack& awaiting) { return awaiting.seq == seq; });
  if (waiting != awaiting_nacks_.end()) {
    awaiting_nacks_.erase(waiting);
    return true;
  }
  // A nack can also overtake the prober's own give-up (a helper with a shorter ack wait):
  // the probe still in flight then fails without counting against this agent.
  if (probe_ && probe_->seq == seq && !probe_->acked && probe_->indirect_sent) {
    probe_->nacked = true;
    return true;
  }
  return false;
}

std::string FailureDetector::probe_target(std::uint64_t seq) const {
  return probe_ && probe_->seq == seq ? probe_->target : std::string();
}

void FailureDetector::on_suspected(const std::string& target, const std::string& by,
                                   Clock::time_point now) {
  auto [it, inserted] = suspicions_.try_emplace(target);
  Suspicion& suspicion = it->second;
  if (inserted) {
    suspicion.started = now;
    suspicion_queues_[queue_of(0)].emplace(now, target);
  }
  const std::size_t queue = queue_of(suspicion.confirmations.size());
  if (by.empty() || std::ranges::find(suspicion.confirmations, by) != suspicion.confirmations.end()) return;
  if (suspicion.confirmations.size() >= suspicion_queues_.size() - 1) return;  // changes nothing
  suspicion.confirmations.push_back(by);
  if (queue_of(suspicion.confirmations.size()) == queue) return;
  suspicion_queues_[queue].erase({suspicion.started, target});
  suspicion_queues_[queue_of(suspicion.confirmations.size())].emplace(suspicion.started, target);
}

bool FailureDetector::suspicion_fully_confirmed(const std::string& target) const {
  auto suspicion = suspicions_.find(target);
  if (suspicion == suspicions_.end()) return false;
  const double confirmations = static_cast<double>(suspicion->second.confirmations.size());
  return confirmations >= 1.0 + expected_confirmations(members_.size() + 1);
}

bool FailureDetector::counted(std::string_view target, std::string_view by) const {
  if (by.empty()) return suspicions_.contains(target);
  auto suspicion = suspicions_.find(target);
  return suspicion != suspicions_.end() &&
         (suspicion->second.confirmations.size() >= suspicion_queues_.size() - 1 ||
          std::ranges::find(suspicion->second.confirmations, by) != suspicion->second.confirmations.end());
}

bool FailureDetector::suspicion_confirmed_by(std::string_view target, std::string_view by) const {
  auto suspicion = suspicions_.find(target);
  return suspicion != suspicions_.end() &&
         std::ranges::find(suspicion->second.confirmations, by) != suspicion->second.confirmations.end();
}

double FailureDetector::expected_confirmations(std::size_t n) const {
  // k, but no more than the other members there are to give them (as memberlist does: in a
  // tiny network one suspicion is all there will be).
  return std::min<double>(config_.indirect_probes, n >= 3 ? static_cast<double>(n - 2) : 0.0);
}

void FailureDetector::on_cleared(const std::string& target) {
  if (auto suspicion = suspicions_.find(target); suspicion != suspicions_.end()) forget_suspicion(suspicion);
}

void FailureDetector::probe_soon(const std::string& target, Clock::time_point now) {
  if (!members_.contains(target)) return;
  if (probe_ && !probe_->acked && probe_->target == target) return;
  if (std::find(soon_.begin(), soon_.end(), target) != soon_.end()) return;
  if (soon_.empty()) soon_since_ = now;
  soon_.push_back(target);
}

void FailureDetector::on_refuted_self() {
  health_penalty_ = std::min(health_penalty_ + 1, config_.max_health_penalty);
}

FailureDetector::Clock::time_point FailureDetector::next_deadline() const {
  auto deadline = next_probe_at_;
  if (!soon_.empty() && (!probe_ || probe_->acked)) deadline = std::min(deadline, soon_since_);
  if (probe_ && !probe_->acked) {
    if (!probe_->indirect_sent) deadline = std::min(deadline, probe_->indirect_at);
    deadline = std::min(deadline, probe_->give_up_at);
  }
  for (const auto& awaiting : awaiting_nacks_) deadline = std::min(deadline, awaiting.deadline);
  for (std::size_t queue = 0; queue < suspicion_queues_.size(); ++queue)
    if (!suspicion_queues_[queue].empty())
      deadline = std::min(deadline, suspicion_queues_[queue].begin()->first +
                                        suspicion_timeout(queue, members_.size() + 1));
  return deadline;
}

std::chrono::milliseconds FailureDetector::suspicion_timeout(std::size_t confirmations,
                                                             std::size_t n) const {
  // Lifeguard: start at max and fall toward min as independent confirmations arrive.
  double scale = std::max(1.0, std::log10(static_cast<double>(std::max<std::size_t>(n, 1))));
  double min_ms = config_.suspicion_min_mult * scale * static_cast<double>(configured_window().count());
  double max_ms = config_.suspicion_max_mult * min_ms;
  double expected = expected_confirmations(n);
  if (expected < 1.0) return std::chrono::milliseconds(static_cast<long>(min_ms));
  // The accuser's own suspicion is one of the confirmations; count the others.
  double others = confirmations > 0 ? static_cast<double>(confirmations - 1) : 0.0;
  double fraction = std::min(1.0, std::log(others + 1.0) / std::log(expected + 1.0));
  double timeout = std::max(min_ms, max_ms - (max_ms - min_ms) * fraction);
  return std::chrono::milliseconds(static_cast<long>(timeout));
}

}  // namespace mob
