// One instance of a service: the pair (service, index). The supervisor and the providers key
// an instance's process, log files and container by "web.0"; people read it as "web/0".
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "bus/error.hpp"

namespace mob {

struct InstanceId {
  std::string service;
  std::uint32_t index = 0;

  // "web.0": the instance's key (ProviderStart.key, the log file "web.0.log").
  std::string key() const;
  // "web/0": how mob-tool, the events and the docs name an instance.
  std::string display_name() const;

  // The inverse of key(). It splits at the last '.', since a service name may hold dots
  // ("api.v2.3" is instance 3 of "api.v2"); the index is decimal digits only, within
  // 32 bits. An error names the key and what is wrong with it.
  static Result<InstanceId> from_key(std::string_view key);

  friend auto operator<=>(const InstanceId&, const InstanceId&) = default;
};

}  // namespace mob
