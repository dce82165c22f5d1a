// Test support: replicated records as the agent writes them, for tests that build a
// ClusterState by hand.
#pragma once

#include <string>
#include <utility>

#include "bus/messages.hpp"

namespace mob::test {

// A service record as a deploy writes it.
inline ServiceEntry service_record(std::string name, std::string spec_json, std::uint64_t generation, bool enabled,
                                   std::uint64_t restart_generation, bool removed, Stamp stamp) {
  ServiceEntry entry;
  entry.name = std::move(name);
  entry.spec_json = std::move(spec_json);
  entry.generation = generation;
  entry.enabled = enabled;
  entry.restart_generation = restart_generation;
  entry.removed = removed;
  entry.stamp = std::move(stamp);
  return entry;
}

}  // namespace mob::test
