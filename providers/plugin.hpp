// Provider plugins: a provider whose dependencies only some agents need (the docker
// provider and libcurl) is a shared object that an agent loads when it runs that provider.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "providers/provider.hpp"

namespace mob {

// What the agent hands a plugin's entry point. `abi` must equal kProviderPluginAbi: agent
// and plugin come from the same build, since they share C++ types.
struct ProviderPluginArgs {
  const char* abi;
  std::size_t context_size;  // sizeof(ProviderContext) in the agent: a cheap layout check
  const ProviderContext* context;
  // The plugin's copy of the logger (bus/log.hpp) writes as the agent's does:
  int log_level;            // mob::log::Level
  int log_format;           // mob::log::Format (text or json)
  bool journal_priorities;  // each line prefixed with its syslog priority
};

inline constexpr const char* kProviderPluginAbi = "mob-provider-plugin/2 " MOB_VERSION;
// Every plugin exports `extern "C" Provider* mob_provider_create(const ProviderPluginArgs*,
// std::string* error)`: a new provider, or null with `error` set.
inline constexpr const char* kProviderPluginEntry = "mob_provider_create";
using ProviderPluginCreate = Provider* (*)(const ProviderPluginArgs*, std::string*);

// Loads mob-provider-<name>.so from <dir of mob-agent>/../lib/mob or beside mob-agent and
// creates its provider. The library stays loaded for the life of the process.
Result<std::unique_ptr<Provider>> load_provider_plugin(std::string_view name,
                                                       const ProviderContext& context);

}  // namespace mob
