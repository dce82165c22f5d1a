#include "agent/failure_detector.hpp"

#include <algorithm>
#include <cmath>

namespace mob {

FailureDetector::FailureDetector(DetectorConfig config, std::uint64_t seed)
    : config_(config), random_(seed) {}

void FailureDetector::set_members(const std::vector<std::string>& names) {
  members_ = names;
  std::set<std::string> present(names.begin(), names.end());
  // The cursor keeps pointing at the next member of this cycle: removing or inserting
  // before it would otherwise skip a member or probe one twice.
  auto removed_before_cursor = std::count_if(
      order_.begin(), order_.begin() + static_cast<long>(cursor_),
      [&](const std::string& name) { return !present.contains(name); });
  cursor_ -= static_cast<std::size_t>(removed_before_cursor);
  std::erase_if(order_, [&](const std::string& name) { return !present.contains(name); });
  for (const auto& name : names)
    if (std::find(order_.begin(), order_.end(), name) == order_.end()) {
      // New members go in at a random place so that everyone probes them soon.
      std::uniform_int_distribution<std::size_t> at(0, order_.size());
      auto position = at(random_);
      order_.insert(order_.begin() + static_cast<long>(position), name);
      if (position < cursor_) ++cursor_;
    }
  std::erase_if(suspicions_, [&](const auto& entry) { return !present.contains(entry.first); });
  std::erase_if(soon_, [&](const std::string& name) { return !present.contains(name); });
  // A member that left is not expected to answer: its silence says nothing of our health.
  if (probe_ && !present.contains(probe_->target)) probe_.reset();
}

std::chrono::milliseconds FailureDetector::scaled(std::chrono::milliseconds base) const {
  return base * (1 + health_penalty_);
}

std::optional<std::string> FailureDetector::next_target() {
  if (order_.empty()) return std::nullopt;
  if (cursor_ >= order_.size()) {
    std::shuffle(order_.begin(), order_.end(), random_);
    cursor_ = 0;
  }
  return order_[cursor_++];
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
  probe.indirect_at = now + scaled(config_.probe_timeout);
  probe.give_up_at = now + scaled(config_.probe_interval);
  probe_ = probe;
  next_probe_at_ = now + scaled(config_.probe_interval);
  actions.push_back({Action::Kind::probe, target, probe.seq, {}});
}

std::vector<FailureDetector::Action> FailureDetector::tick(Clock::time_point now) {
  std::vector<Action> actions;
  if (probe_ && !probe_->acked) {
    if (!probe_->indirect_sent && now >= probe_->indirect_at) {
      probe_->indirect_sent = true;
      auto helpers = pick_helpers(probe_->target);
      if (!helpers.empty())
        actions.push_back({Action::Kind::indirect_probe, probe_->target, probe_->seq, helpers});
    }
    if (now >= probe_->give_up_at) {
      // Lifeguard: a missed ack counts against our own health first.
      health_penalty_ = std::min(health_penalty_ + 1, config_.max_health_penalty);
      actions.push_back({Action::Kind::suspect, probe_->target, probe_->seq, {}});
      probe_.reset();
    }
  }
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
    next_probe_at_ = now + scaled(config_.probe_interval);
  }
  for (auto it = suspicions_.begin(); it != suspicions_.end();) {
    auto timeout = suspicion_timeout(it->second.confirmations.size(), members_.size() + 1);
    if (now - it->second.started >= timeout) {
      actions.push_back({Action::Kind::declare_failed, it->first, 0, {}});
      it = suspicions_.erase(it);
    } else {
      ++it;
    }
  }
  return actions;
}

void FailureDetector::on_ack(std::uint64_t seq) {
  if (probe_ && probe_->seq == seq && !probe_->acked) {
    probe_->acked = true;
    if (health_penalty_ > 0) --health_penalty_;
  }
}

std::string FailureDetector::probe_target(std::uint64_t seq) const {
  return probe_ && probe_->seq == seq ? probe_->target : std::string();
}

void FailureDetector::on_suspected(const std::string& target, const std::string& by,
                                   Clock::time_point now) {
  auto [it, inserted] = suspicions_.try_emplace(target);
  if (inserted) it->second.started = now;
  if (!by.empty()) it->second.confirmations.insert(by);
}

void FailureDetector::on_cleared(const std::string& target) { suspicions_.erase(target); }

void FailureDetector::probe_soon(const std::string& target, Clock::time_point now) {
  if (std::find(members_.begin(), members_.end(), target) == members_.end()) return;
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
  for (const auto& [name, suspicion] : suspicions_)
    deadline = std::min(deadline, suspicion.started + suspicion_timeout(suspicion.confirmations.size(),
                                                                        members_.size() + 1));
  return deadline;
}

std::chrono::milliseconds FailureDetector::suspicion_timeout(std::size_t confirmations,
                                                             std::size_t n) const {
  // Lifeguard: start at max and fall toward min as independent confirmations arrive.
  double scale = std::max(1.0, std::log10(static_cast<double>(std::max<std::size_t>(n, 1))));
  double min_ms = config_.suspicion_min_mult * scale * static_cast<double>(config_.probe_interval.count());
  double max_ms = config_.suspicion_max_mult * min_ms;
  // Confirmations to expect: k, but no more than the other members there are to give them
  // (as memberlist does: in a tiny network one suspicion is all there will be).
  double expected = std::min<double>(config_.indirect_probes, n >= 3 ? static_cast<double>(n - 2) : 0.0);
  if (expected < 1.0) return std::chrono::milliseconds(static_cast<long>(min_ms));
  // The accuser's own suspicion is one of the confirmations; count the others.
  double others = confirmations > 0 ? static_cast<double>(confirmations - 1) : 0.0;
  double fraction = std::min(1.0, std::log(others + 1.0) / std::log(expected + 1.0));
  double timeout = std::max(min_ms, max_ms - (max_ms - min_ms) * fraction);
  return std::chrono::milliseconds(static_cast<long>(timeout));
}

}  // namespace mob
