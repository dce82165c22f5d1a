// A flat open-addressing table of pointers to values held elsewhere (a std::map's values,
// which stay in place), found by a text key each value holds: a lookup is a hash and a probe
// or two where the map's tree is a dozen string compares and cache misses. The store looks a
// record up for every copy of it a gossip message carries (docs/performance.md, "Less work
// per record").
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "agent/hashing.hpp"

namespace mob {

// `KeyOf` gives a value's key: `std::string_view KeyOf{}(const Value&)`.
template <class Value, class KeyOf>
class FlatIndex {
 public:
  Value* find(std::string_view key) const {
    if (count_ == 0) return nullptr;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t at = home_of(key);; at = (at + 1) & mask) {
      Value* value = slots_[at];
      if (!value) return nullptr;
      if (KeyOf{}(*value) == key) return value;
    }
  }
  // `value` must stay where it is until erased and its key must not be indexed already.
  void insert(Value* value) {
    if (4 * (count_ + 1) > 3 * slots_.size()) rehash(slots_.empty() ? 16 : 2 * slots_.size());
    const std::size_t mask = slots_.size() - 1;
    std::size_t at = home_of(KeyOf{}(*value));
    while (slots_[at]) at = (at + 1) & mask;
    slots_[at] = value;
    ++count_;
  }
  // Forgets `value` (nothing when it is not indexed).
  void erase(const Value* value) {
    if (count_ == 0) return;
    const std::size_t mask = slots_.size() - 1;
    std::size_t hole = home_of(KeyOf{}(*value));
    while (slots_[hole] != value) {
      if (!slots_[hole]) return;  // not indexed
      hole = (hole + 1) & mask;
    }
    // Backward-shift deletion: each value after the hole, up to the next empty slot, moves
    // into it unless its home lies cyclically after the hole (it would then be unreachable).
    for (std::size_t next = (hole + 1) & mask; slots_[next]; next = (next + 1) & mask) {
      const std::size_t home = home_of(KeyOf{}(*slots_[next]));
      const bool home_after_hole = ((next - home) & mask) < ((next - hole) & mask);
      if (home_after_hole) continue;
      slots_[hole] = slots_[next];
      hole = next;
    }
    slots_[hole] = nullptr;
    --count_;
  }
  void clear() {
    slots_.clear();
    count_ = 0;
  }
  std::size_t size() const { return count_; }

 private:
  std::size_t home_of(std::string_view key) const {
    return static_cast<std::size_t>(splitmix64_finalizer(fnv1a(key))) & (slots_.size() - 1);
  }
  void rehash(std::size_t capacity) {
    std::vector<Value*> old = std::move(slots_);
    slots_.assign(capacity, nullptr);
    count_ = 0;
    for (Value* value : old)
      if (value) insert(value);
  }

  // A power of two of them, at most three quarters in use: at 10,000 records, 16,384 slots
  // (128 KiB) where at most half would take 32,768.
  std::vector<Value*> slots_;
  std::size_t count_ = 0;
};

}  // namespace mob
