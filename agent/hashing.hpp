// Small hash functions shared by the parts that need a hash to be the same on every agent
// and in every release (placement's rendezvous ranks, anti-entropy's record hashes).
#pragma once

#include <cstdint>
#include <string_view>

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

// FNV-1a (64 bits) of `text`, continuing from `hash`. kFnvOffsetBasis starts a hash;
// anti-entropy's record hashes and placement's ranks start from kFnvShortBasis, a digit short
// of it, which every agent and every release computes the same: kept.
inline constexpr std::uint64_t kFnvOffsetBasis = 14695981039346656037ULL;
inline constexpr std::uint64_t kFnvShortBasis = 1469598103934665603ULL;
inline std::uint64_t fnv1a(std::string_view text, std::uint64_t hash = kFnvOffsetBasis) {
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ULL;
  return hash;
}

}  // namespace mob
