// Gives the heap an agent freed back to the system. glibc keeps what a process frees in its
// arenas' free lists: after a burst (thousands of deploys, the syncs and gossip they bring)
// an agent at rest would keep the burst's peak resident for good.
#pragma once

#include <cstddef>

namespace mob {

// Returns the heap's free pages to the kernel (malloc_trim: they stay mapped and are faulted
// in again when used) when more than `threshold` bytes of it are free; returns whether it
// did. Cost: two walks of the free chunks of every arena and a madvise per free run of pages
// (1-2 ms for an agent holding 3,000 services after their deploys): call it now and then (the
// agent's main thread, every 30 s).
bool give_back_freed_memory(std::size_t threshold);

}  // namespace mob
