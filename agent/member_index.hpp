// The member records of a ClusterState by name (pointers to its map's values): a lookup is a
// probe or two where the map's tree is a dozen string compares and cache misses (each copy in
// a gossip message looks its record up).
#pragma once

#include <string_view>

#include "agent/flat_index.hpp"
#include "bus/messages.hpp"

namespace mob {

struct MemberNameOf {
  std::string_view operator()(const MemberEntry& entry) const { return entry.member.name; }
};
using MemberIndex = FlatIndex<MemberEntry, MemberNameOf>;

}  // namespace mob
