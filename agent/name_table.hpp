// The agent and host names a cluster state's records hold, each held once: a record merged
// into the state shares the table's copy of each of its names (bus/shared_name.hpp), so ten
// thousand records written by one agent hold its name once, not ten thousand times.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "agent/hashing.hpp"
#include "bus/shared_name.hpp"

namespace mob {

class NameTable {
 public:
  // Makes `name` share the table's copy of its text, which it becomes when the table has none.
  void intern(SharedName& name) {
    if (name.empty()) return;
    if (4 * (count_ + 1) > 3 * slots_.size()) rehash(slots_.empty() ? 16 : 2 * slots_.size());
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t at = home_of(name);; at = (at + 1) & mask) {
      SharedName& held = slots_[at];
      if (held.empty()) {
        held = name;
        ++count_;
        return;
      }
      if (held == name) {
        name = held;
        return;
      }
    }
  }
  // Forgets the names no record holds any more (only the table does); returns how many.
  std::size_t forget_unheld() {
    std::vector<SharedName> kept;
    kept.reserve(count_);
    for (SharedName& name : slots_)
      if (!name.empty() && name.holders() > 1) kept.push_back(std::move(name));
    const std::size_t forgotten = count_ - kept.size();
    slots_.assign(slots_.size(), SharedName());
    count_ = 0;
    for (SharedName& name : kept) intern(name);
    return forgotten;
  }
  std::size_t size() const { return count_; }

 private:
  std::size_t home_of(std::string_view text) const {
    return static_cast<std::size_t>(splitmix64_finalizer(fnv1a(text))) & (slots_.size() - 1);
  }
  void rehash(std::size_t capacity) {
    std::vector<SharedName> old = std::move(slots_);
    slots_.assign(capacity, SharedName());
    count_ = 0;
    for (SharedName& name : old)
      if (!name.empty()) intern(name);
  }

  // Open addressing, a power of two of slots, at most three quarters in use.
  std::vector<SharedName> slots_;
  std::size_t count_ = 0;
};

}  // namespace mob
