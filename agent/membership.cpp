#include "agent/membership.hpp"

#include <algorithm>

#include "agent/admission.hpp"

namespace mob {

AckFor ack_for(std::uint64_t seq) {
  if (seq >= kRelaySeqBase) return AckFor::relay;
  if (seq >= kReconnectSeqBase) return AckFor::reconnect;
  if (seq >= kClockCheckSeqBase) return AckFor::clock_check;
  return AckFor::detector;
}

std::vector<std::string> JoinAttempt::begin(const std::vector<std::string>& seeds, Clock::time_point now) {
  std::vector<std::string> refused;
  seeds_.clear();
  for (const auto& seed : seeds) {
    auto endpoint = seed_endpoint(seed);
    if (endpoint) seeds_.push_back(*endpoint);
    else refused.push_back(endpoint.error().message);
  }
  backoff_ = kFirstBackoff;
  next_at_ = now;
  client_deadline_ = now + kClientWait;
  joining_ = true;
  return refused;
}

std::vector<std::string> JoinAttempt::due(Clock::time_point now) {
  if (!joining_ || now < next_at_) return {};
  next_at_ = now + backoff_;
  backoff_ = std::min<std::chrono::milliseconds>(backoff_ * 2, kMaxBackoff);
  return seeds_;
}

std::vector<Routed> JoinAttempt::answered() {
  joining_ = false;
  return std::exchange(waiting_, {});
}

std::vector<Routed> JoinAttempt::overdue(Clock::time_point now) {
  if (!joining_ || now < client_deadline_) return {};
  return std::exchange(waiting_, {});
}

std::optional<std::uint64_t> ProbeRelays::open(Routed request, std::uint64_t their_seq, Clock::time_point expires,
                                               std::optional<Clock::time_point> nack_at) {
  if (relays_.size() >= limit_) return std::nullopt;
  std::uint64_t seq = kRelaySeqBase + next_seq_++ % kRelaySeqBase;
  relays_[seq] = Relay{std::move(request), their_seq, expires, nack_at};
  return seq;
}

std::vector<ProbeRelays::Relay> ProbeRelays::nacks_due(Clock::time_point now) {
  std::vector<Relay> due;
  for (auto& [seq, relay] : relays_) {
    if (!relay.nack_at || now < *relay.nack_at) continue;
    relay.nack_at.reset();
    due.push_back(relay);
  }
  return due;
}

ProbeRelays::Clock::time_point ProbeRelays::next_nack() const {
  auto next = Clock::time_point::max();
  for (const auto& [seq, relay] : relays_)
    if (relay.nack_at) next = std::min(next, *relay.nack_at);
  return next;
}

std::optional<ProbeRelays::Relay> ProbeRelays::close(std::uint64_t seq) {
  auto relay = relays_.find(seq);
  if (relay == relays_.end()) return std::nullopt;
  Relay found = std::move(relay->second);
  relays_.erase(relay);
  return found;
}

void ProbeRelays::expire(Clock::time_point now) {
  std::erase_if(relays_, [&](const auto& relay) { return relay.second.expires < now; });
}

std::string random_live_peer(const ClusterState& state, const std::string& self, std::mt19937_64& random) {
  // Addresses in place, not a copy of every live member: this runs every second.
  std::vector<const std::string*> addresses;
  for (const auto& [key, entry] : state.members())
    if (is_live_member(entry.member.state) && entry.member.name != self)
      addresses.push_back(&entry.member.address);
  if (addresses.empty()) return "";
  std::uniform_int_distribution<std::size_t> pick(0, addresses.size() - 1);
  return *addresses[pick(random)];
}

const Member* random_failed_member(const ClusterState& state, const std::string& self, std::mt19937_64& random) {
  std::vector<const Member*> failed;
  for (const auto& [key, entry] : state.members())
    if (entry.member.state == MemberState::failed && entry.member.name != self) failed.push_back(&entry.member);
  if (failed.empty()) return nullptr;
  std::uniform_int_distribution<std::size_t> pick(0, failed.size() - 1);
  return failed[pick(random)];
}

}  // namespace mob
