// give_back_freed_memory: what a burst freed goes back to the system, and again after the
// pages were used and freed again; a heap with less free than the threshold is left alone.
#include "agent/freed_memory.hpp"

#include <malloc.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

namespace mob {
namespace freed_memory_test {

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

TEST(FreedMemory, WhatABurstFreedGoesBackAndComesBackWhenUsedAgain) {
  constexpr std::size_t kThreshold = std::size_t{1} << 20;
  // A burst of small allocations (records, messages), then three quarters of them freed, as
  // a burst of deploys leaves the heap: no chunk goes back to the system alone.
  constexpr std::size_t kChunks = 64 * 1024, kChunkBytes = 400;
  std::vector<std::unique_ptr<char[]>> chunks(kChunks);
  auto fill = [&](std::size_t from) {
    for (std::size_t i = from; i + 1 < kChunks; ++i) {
      chunks[i] = std::make_unique<char[]>(kChunkBytes);
      chunks[i][0] = 1;
    }
  };
  // The last chunk stays: the span freed is inside the heap, not at its top (which free()
  // itself gives back).
  auto free_from = [&](std::size_t from) {
    for (std::size_t i = from; i + 1 < kChunks; ++i) chunks[i].reset();
  };
  fill(0);
  chunks.back() = std::make_unique<char[]>(kChunkBytes);  // above the others
  free_from(kChunks / 4);
  const std::size_t freed = (kChunks * 3 / 4 - 1) * kChunkBytes;  // about 19 MiB
  if (::mallinfo2().fordblks < freed / 2) {
    // A sanitizer's allocator holds the heap: glibc's reports nothing freed, nothing to give.
    EXPECT_FALSE(give_back_freed_memory(kThreshold)) << "glibc reports " << ::mallinfo2().fordblks << " bytes free";
    return;
  }
  const std::size_t resident_before = resident_bytes();
  EXPECT_TRUE(give_back_freed_memory(kThreshold));
  const std::size_t resident_after = resident_bytes();
  EXPECT_LT(resident_after + freed / 2, resident_before)
      << "at least half of the " << freed << " bytes freed left the resident set";

  // Used again, the pages come back; freed again, they go back again.
  fill(kChunks / 4);
  EXPECT_GT(resident_bytes(), resident_after + freed / 2) << "the pages were faulted in again";
  free_from(kChunks / 4);
  EXPECT_TRUE(give_back_freed_memory(kThreshold));
  EXPECT_LT(resident_bytes(), resident_after + freed / 4);

  // Less free than the threshold: left alone.
  EXPECT_EQ(give_back_freed_memory(std::size_t{1} << 40), false) << "less free than the threshold";
}

}  // namespace freed_memory_test
}  // namespace mob
