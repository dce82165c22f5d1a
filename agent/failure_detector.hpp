// SWIM failure detection with Lifeguard's refinements, as a pure state machine driven by
// an injected clock: it says whom to probe and whom to suspect or declare failed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mob {

struct DetectorConfig {
  // How often a round-robin probe goes out. A crash is found sooner than its turn: the
  // crashed process's connections drop and its readers probe it at once (probe_soon).
  std::chrono::milliseconds probe_interval{1000};
  std::chrono::milliseconds probe_timeout{100};  // direct ack wait before indirect probes
  std::uint32_t indirect_probes = 3;             // k members asked to probe for us
  // A probe's window (how long it waits for a direct or relayed ack before it suspects) is
  // min(probe_interval, 2 * probe_timeout), stretched like the ack wait; the window is also
  // the unit of the suspicion timeout.
  double suspicion_min_mult = 4.0;               // min suspicion = mult * log10(N) * window
  double suspicion_max_mult = 4.0;               // max suspicion = mult * min suspicion
  std::uint32_t max_health_penalty = 8;          // Lifeguard's local health multiplier cap
  // The ack wait follows the acks' measured latency (RFC 6298's estimator: smoothed round
  // trip plus four deviations), from probe_timeout up to this; the probe interval stays at
  // least twice the wait, so a loaded network probes less often instead of suspecting more.
  std::chrono::milliseconds max_probe_timeout{2000};
};

class FailureDetector {
 public:
  using Clock = std::chrono::steady_clock;

  struct Action {
    enum class Kind { probe, indirect_probe, suspect, declare_failed };
    Kind kind;
    std::string target;
    std::uint64_t seq = 0;
    std::vector<std::string> helpers;  // indirect_probe: whom to ask
  };

  FailureDetector(DetectorConfig config, std::uint64_t seed);

  // The members to probe (everyone alive or suspect except this agent).
  void set_members(const std::vector<std::string>& names);
  // The same, as a change: `added` are probed from now on (those already probed are left
  // as they are), `gone` no longer are. Costs what changed, not the whole membership: the
  // store calls it after each change in a network of thousands. set_members() of the list
  // that results, with `added` in that list's order, draws the same random numbers.
  void change_members(const std::vector<std::string>& added, const std::vector<std::string>& gone);
  // Advances time; returns what to do now.
  std::vector<Action> tick(Clock::time_point now);
  // An ack for probe `seq` arrived (directly or relayed) and was read at `now`: its round
  // trip is a latency sample.
  void on_ack(std::uint64_t seq, Clock::time_point now);
  // A helper asked to probe for `seq` answered that the target did not ack it either: this
  // agent's links work, so that probe's failure does not count against its health. Whether
  // the nack answered a probe still waiting for one.
  bool on_nack(std::uint64_t seq);
  // The member probe `seq` went to, while it is in flight (empty otherwise).
  std::string probe_target(std::uint64_t seq) const;
  // Someone (`by`) suspects `target`: start or confirm its suspicion timer.
  void on_suspected(const std::string& target, const std::string& by, Clock::time_point now);
  // Whether `target`'s suspicion holds every independent confirmation that shortens its
  // timeout (k, or fewer in a small network): one more changes nothing, here or at a peer
  // that counted the same, so it need not be made or passed on (memberlist's cap).
  bool suspicion_fully_confirmed(const std::string& target) const;
  // Whether `by`'s suspicion of `target` is counted already.
  bool suspicion_confirmed_by(std::string_view target, std::string_view by) const;
  // Whether on_suspected(target, by) would change nothing: the suspicion runs and counts `by`
  // or is fully confirmed (or `by` is empty).
  bool counted(std::string_view target, std::string_view by) const;
  // `target` is alive again (refuted) or gone (failed/left): forget its suspicion.
  void on_cleared(const std::string& target);
  // This agent had to refute a suspicion of itself: a sign that it is slow.
  void on_refuted_self();
  // `target` closed its connection to us, as the sockets of a crashed process close at
  // once: probe it before anyone else, as soon as no probe is in flight, without waiting
  // for its turn (which still comes). The probe decides; the hint alone suspects no one.
  void probe_soon(const std::string& target, Clock::time_point now);
  Clock::time_point next_deadline() const;

  std::uint32_t health_penalty() const { return health_penalty_; }
  // Failed probes whose helpers may still nack (each counts against our health if none does).
  std::size_t probes_awaiting_nacks() const { return awaiting_nacks_.size(); }
  // How long a probe waits for its ack before asking helpers, and the probe interval, as
  // they are now: the configured ones stretched by the measured latency, before the health
  // penalty multiplies them.
  std::chrono::milliseconds ack_timeout() const;
  std::chrono::milliseconds probe_interval() const;
  // How long a probe waits for any ack (direct, then relayed by helpers) before it suspects.
  std::chrono::milliseconds probe_window() const;
  // The suspicion timeout for `confirmations` independent suspicions in a network of n.
  std::chrono::milliseconds suspicion_timeout(std::size_t confirmations, std::size_t n) const;

 private:
  struct Probe {
    std::uint64_t seq = 0;
    std::string target;
    Clock::time_point sent;
    Clock::time_point indirect_at;
    Clock::time_point give_up_at;
    bool indirect_sent = false;
    bool acked = false;
    bool waited_longer = false;  // give_up_at was moved once: this agent woke up late
    std::size_t helpers = 0;     // asked to probe for us
    bool nacked = false;         // one of them answered that the target is silent to it too
  };
  // A probe that failed after helpers were asked: it counts against this agent's health
  // (Lifeguard) unless one of them nacks before `deadline`.
  struct AwaitingNack {
    std::uint64_t seq = 0;
    Clock::time_point deadline;
  };
  // Who suspects a member, up to the count past which more change nothing (indirect_probes
  // + 1: the timeout is at its minimum and the suspicion fully confirmed): a few names, not
  // one per agent that ever accused it.
  struct Suspicion {
    Clock::time_point started;
    std::vector<std::string> confirmations;
  };

  // By name, hashed: a partition's gossip asks about each of thousands of suspicions at
  // every copy of one (counted()), and nothing walks them in order.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
  };
  using Suspicions = std::unordered_map<std::string, Suspicion, NameHash, std::equal_to<>>;
  std::chrono::milliseconds scaled(std::chrono::milliseconds base) const;
  // The window as configured, before the measured latency stretches it.
  std::chrono::milliseconds configured_window() const;
  void sample_round_trip(Clock::duration round_trip);
  // Independent confirmations past the accuser's own that bring a suspicion's timeout to its
  // minimum in a network of n.
  double expected_confirmations(std::size_t n) const;
  // Which of suspicion_queues_ holds a suspicion with `confirmations`.
  std::size_t queue_of(std::size_t confirmations) const;
  void forget_suspicion(Suspicions::iterator suspicion);
  void start_probe(const std::string& target, Clock::time_point now, std::vector<Action>& actions);
  std::optional<std::string> next_target();
  std::vector<std::string> pick_helpers(const std::string& target);

  DetectorConfig config_;
  std::mt19937_64 random_;
  std::set<std::string, std::less<>> members_;
  // This cycle's probe order: members_, shuffled, each by its name in members_ (a set's
  // elements stay put), so a change moves pointers and a member's name is held once.
  std::vector<const std::string*> order_;
  std::size_t cursor_ = 0;
  std::uint64_t next_seq_ = 1;
  std::optional<Probe> probe_;
  Clock::time_point next_probe_at_{};
  std::vector<std::string> soon_;  // probe_soon() targets, oldest first, each once
  Clock::time_point soon_since_{};  // when the oldest of them was asked for
  Suspicions suspicions_;
  // The suspicions again, by when each started, one queue per count of confirmations up to
  // indirect_probes + 1 (a suspicion's timeout depends only on that count and on n, and is
  // the same for every count past it): the next to time out is at the front of one of them,
  // so a tick and next_deadline() cost the same with 3 suspicions or 3,000.
  std::vector<std::set<std::pair<Clock::time_point, std::string>>> suspicion_queues_;
  std::uint32_t health_penalty_ = 0;
  std::vector<AwaitingNack> awaiting_nacks_;  // one per probe failed in the last window: a few
  // The acks' round trip, smoothed, and its mean deviation, in ms (no sample yet: none).
  std::optional<double> smoothed_rtt_ms_;
  double rtt_deviation_ms_ = 0;
};

}  // namespace mob
