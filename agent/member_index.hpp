// The member records of a ClusterState by name, in a flat open-addressing table of pointers
// into its map: a lookup is a probe or two where the map's tree is a dozen string compares
// and cache misses (each copy in a gossip message looks its record up).
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "bus/messages.hpp"

namespace mob {

class MemberIndex {
 public:
  const MemberEntry* find(std::string_view name) const;
  MemberEntry* find(std::string_view name);
  // `entry` must stay where it is until erased (a std::map's values do) and its name must
  // not be indexed already.
  void insert(MemberEntry* entry);
  void erase(const MemberEntry* entry);
  void clear();
  std::size_t size() const { return count_; }

 private:
  std::size_t home_of(std::string_view name) const;
  void rehash(std::size_t capacity);

  std::vector<MemberEntry*> slots_;  // a power of two of them, at most half in use
  std::size_t count_ = 0;
};

}  // namespace mob
