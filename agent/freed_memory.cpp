#include "agent/freed_memory.hpp"

#include <malloc.h>

namespace mob {

bool give_back_freed_memory(std::size_t threshold) {
  if (::mallinfo2().fordblks <= threshold) return false;
  ::malloc_trim(0);
  return true;
}

}  // namespace mob
