#include "agent/member_index.hpp"

#include "agent/hashing.hpp"

namespace mob {

std::size_t MemberIndex::home_of(std::string_view name) const {
  return static_cast<std::size_t>(splitmix64_finalizer(fnv1a(name))) & (slots_.size() - 1);
}

MemberEntry* MemberIndex::find(std::string_view name) {
  if (count_ == 0) return nullptr;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t at = home_of(name);; at = (at + 1) & mask) {
    MemberEntry* entry = slots_[at];
    if (!entry) return nullptr;
    if (entry->member.name == name) return entry;
  }
}

const MemberEntry* MemberIndex::find(std::string_view name) const {
  return const_cast<MemberIndex*>(this)->find(name);  // the same walk; the table is unchanged
}

void MemberIndex::insert(MemberEntry* entry) {
  if (2 * (count_ + 1) > slots_.size()) rehash(slots_.empty() ? 16 : 2 * slots_.size());
  const std::size_t mask = slots_.size() - 1;
  std::size_t at = home_of(entry->member.name);
  while (slots_[at]) at = (at + 1) & mask;
  slots_[at] = entry;
  ++count_;
}

void MemberIndex::erase(const MemberEntry* entry) {
  if (count_ == 0) return;
  const std::size_t mask = slots_.size() - 1;
  std::size_t hole = home_of(entry->member.name);
  while (slots_[hole] != entry) {
    if (!slots_[hole]) return;  // not indexed
    hole = (hole + 1) & mask;
  }
  // Backward-shift deletion: each record after the hole, up to the next empty slot, moves
  // into it unless its home lies cyclically after the hole (it would then be unreachable).
  for (std::size_t next = (hole + 1) & mask; slots_[next]; next = (next + 1) & mask) {
    const std::size_t home = home_of(slots_[next]->member.name);
    const bool home_after_hole = ((next - home) & mask) < ((next - hole) & mask);
    if (home_after_hole) continue;
    slots_[hole] = slots_[next];
    hole = next;
  }
  slots_[hole] = nullptr;
  --count_;
}

void MemberIndex::clear() {
  slots_.clear();
  count_ = 0;
}

void MemberIndex::rehash(std::size_t capacity) {
  std::vector<MemberEntry*> old = std::move(slots_);
  slots_.assign(capacity, nullptr);
  count_ = 0;
  for (MemberEntry* entry : old)
    if (entry) insert(entry);
}

}  // namespace mob
