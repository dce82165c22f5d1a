// The pure pieces of mob-sim's simulated network: what happens to one message on a link
// (latency, loss, duplication, reordering), which directions a partition cuts, the ordered
// queue of timed events, and the trace hash. No I/O, no clock: unit-tested on their own.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

namespace mob::sim {

// Virtual time in microseconds since the simulation began.
using Micros = std::int64_t;
constexpr Micros kMillisecond = 1000;
constexpr Micros kSecond = 1000 * kMillisecond;

// How the network treats every message between two agents.
struct LinkFaults {
  Micros latency_min = 200;       // one-way delay, drawn uniformly in [min, max]
  Micros latency_max = 2 * kMillisecond;
  double loss = 0.0;              // probability a message is dropped
  double duplicate = 0.0;         // probability it arrives twice
  double reorder = 0.0;           // probability it is held back by up to `reorder_delay`
  Micros reorder_delay = 50 * kMillisecond;
};

// When a message sent now arrives: none (lost), one delay, or two (duplicated). Draws from
// `random` a fixed number of times whatever the outcome, so that one fault switched on does
// not shift every later draw.
std::vector<Micros> delivery_delays(const LinkFaults& link, std::mt19937_64& random);

// Which directions between agents are cut. Agents are numbered 0..N-1.
class Partitions {
 public:
  // Messages from every agent in `from` to every agent in `to` are dropped; with
  // `both_ways`, also from `to` to `from`.
  void cut(const std::vector<int>& from, const std::vector<int>& to, bool both_ways);
  void heal() { cuts_.clear(); }
  bool blocked(int from, int to) const;
  bool whole() const { return cuts_.empty(); }

 private:
  // The groups as given, not every pair they cut: half of 5,000 agents from the other half
  // is 12.5 million pairs.
  struct Cut {
    std::vector<int> from, to;  // sorted
    bool both_ways = false;
  };
  std::vector<Cut> cuts_;  // only those that cut at least one pair
};

// Timed actions run in time order; actions at the same time run in the order they were
// scheduled (so a run never depends on how the heap breaks ties).
class EventQueue {
 public:
  using Action = std::function<void()>;
  void schedule(Micros at, Action action);
  bool empty() const { return heap_.empty(); }
  Micros next_time() const { return heap_.front().at; }
  // Removes the earliest action and returns it with its time. REQUIRED: !empty().
  std::pair<Micros, Action> pop();
  std::size_t size() const { return heap_.size(); }

 private:
  struct Entry {
    Micros at;
    std::uint64_t order;
    Action action;
    bool operator>(const Entry& other) const {
      return at != other.at ? at > other.at : order > other.order;
    }
  };
  std::vector<Entry> heap_;  // a min-heap by (at, order)
  std::uint64_t next_order_ = 0;
};

// FNV-1a over everything a run delivers, in order: equal hashes mean equal runs.
class TraceHash {
 public:
  void add(std::string_view bytes);
  void add(std::uint64_t number);
  std::uint64_t value() const { return hash_; }

 private:
  std::uint64_t hash_ = 14695981039346656037ULL;
};

// A well-mixed 64-bit value from `seed` and `stream` (SplitMix64): the seed of one agent's
// store, one scenario's schedule.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream);

}  // namespace mob::sim
