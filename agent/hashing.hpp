// Small hash functions shared by the parts that need a hash to be the same on every agent
// and in every release (placement's rendezvous ranks, anti-entropy's record hashes).
#pragma once

#include <cstdint>

namespace mob {

// splitmix64's finalizer: every input bit flips about half of the output bits, so that
// values that differ little (similar names, consecutive numbers) hash far apart.
inline std::uint64_t splitmix64_finalizer(std::uint64_t value) {
  value ^= value >> 30;
  value *= 0xbf58476d1ce4e5b9ULL;
  value ^= value >> 27;
  value *= 0x94d049bb133111ebULL;
  value ^= value >> 31;
  return value;
}

}  // namespace mob
