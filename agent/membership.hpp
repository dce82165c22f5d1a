// The membership protocol's bookkeeping, apart from the store's merge: the join through
// seeds, the indirect probes this agent relays for others, what a probe's ack answers, and
// which peer to sync with or which failed member to probe again. The store sends what these
// decide and merges what comes back.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "agent/actor.hpp"
#include "agent/cluster_state.hpp"

namespace mob {

// A probe's seq says who sent it: the failure detector counts from 0; the others from
// their own base, so that an ack finds its way back.
inline constexpr std::uint64_t kRelaySeqBase = 1ULL << 62;
inline constexpr std::uint64_t kReconnectSeqBase = 1ULL << 61;   // probes of failed members
inline constexpr std::uint64_t kClockCheckSeqBase = 1ULL << 60;  // probes that measure a clock

enum class AckFor { detector, clock_check, reconnect, relay };
AckFor ack_for(std::uint64_t seq);

// Joining through seeds: a JoinRequest to each, again with backoff (200 ms doubling to 5 s)
// until one answers. A client's JoinCommand waits for the answer, or 2.5 s.
class JoinAttempt {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kFirstBackoff = std::chrono::milliseconds(200);
  static constexpr auto kMaxBackoff = std::chrono::milliseconds(5000);
  static constexpr auto kClientWait = std::chrono::milliseconds(2500);

  // Starts (again) through `seeds` (HOST:PORT, with or without tcp://): the first requests
  // are due at once. Returns a line for each seed refused, saying why.
  std::vector<std::string> begin(const std::vector<std::string>& seeds, Clock::time_point now);
  // The seeds to send a JoinRequest to, when one is due at `now` (the next one is then
  // scheduled); empty otherwise.
  std::vector<std::string> due(Clock::time_point now);
  // A client's JoinCommand, answered when the network answers or the wait is over.
  void wait(Routed request) { waiting_.push_back(std::move(request)); }
  // A seed answered: joining is over; returns the client requests that waited.
  std::vector<Routed> answered();
  // The client requests waiting past kClientWait (joining goes on in the background).
  std::vector<Routed> overdue(Clock::time_point now);

  bool joining() const { return joining_; }
  Clock::time_point next_at() const { return next_at_; }

 private:
  std::vector<std::string> seeds_;  // tcp://HOST:PORT
  std::vector<Routed> waiting_;
  Clock::time_point next_at_{};
  Clock::time_point client_deadline_{};
  std::chrono::milliseconds backoff_{kFirstBackoff};
  bool joining_ = false;
};

// Indirect probes this agent relays for others: at most `limit` at once (docs/security.md),
// each until `expires`, and answered with a nack at `nack_at` if the requester wants one
// and the target has not acked by then. The relay's own probe carries a seq from
// kRelaySeqBase up.
class ProbeRelays {
 public:
  using Clock = std::chrono::steady_clock;
  struct Relay {
    Routed request;         // the IndirectProbeRequest, answered with the ack
    std::uint64_t seq = 0;  // the requester's seq, which the answer carries
    Clock::time_point expires;
    std::optional<Clock::time_point> nack_at;  // none: no nack wanted, or sent
  };

  explicit ProbeRelays(std::size_t limit) : limit_(limit) {}
  // The seq of this agent's probe for `request`; nullopt when `limit` relays are in flight.
  std::optional<std::uint64_t> open(Routed request, std::uint64_t their_seq, Clock::time_point expires,
                                    std::optional<Clock::time_point> nack_at = std::nullopt);
  // The relay an ack of `seq` answers, forgotten here; nullopt when none (expired).
  std::optional<Relay> close(std::uint64_t seq);
  // The relays whose nack is due at `now` (each once; they stay open for a late ack).
  std::vector<Relay> nacks_due(Clock::time_point now);
  // When the next nack is due (time_point::max() when none is).
  Clock::time_point next_nack() const;
  void expire(Clock::time_point now);
  std::size_t size() const { return relays_.size(); }
  std::size_t limit() const { return limit_; }

 private:
  std::size_t limit_;
  std::map<std::uint64_t, Relay> relays_;
  std::uint64_t next_seq_ = 0;
};

// A live peer (not `self`) at random, by its address; "" when there is none.
std::string random_live_peer(const ClusterState& state, const std::string& self, std::mt19937_64& random);

// A failed member (not `self`) at random, to probe again; null when there is none.
const Member* random_failed_member(const ClusterState& state, const std::string& self, std::mt19937_64& random);

}  // namespace mob
