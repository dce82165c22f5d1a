// The entry point of mob-provider-docker.so (see providers/plugin.hpp).
#include <cstring>

#include "bus/log.hpp"
#include "providers/docker/docker_provider.hpp"
#include "providers/plugin.hpp"

extern "C" __attribute__((visibility("default"))) mob::Provider* mob_provider_create(
    const mob::ProviderPluginArgs* args, std::string* error) {
  if (args == nullptr || args->abi == nullptr ||
      std::strcmp(args->abi, mob::kProviderPluginAbi) != 0 ||
      args->context_size != sizeof(mob::ProviderContext)) {
    if (error)
      *error = std::string("built for another mob-agent (plugin ") + mob::kProviderPluginAbi +
               ", agent " + (args && args->abi ? args->abi : "unknown") + ")";
    return nullptr;
  }
  mob::log::set_level(static_cast<mob::log::Level>(args->log_level));
  mob::log::set_format(static_cast<mob::log::Format>(args->log_format));
  mob::log::set_journal_priorities(args->journal_priorities);
  return mob::make_docker_provider(*args->context).release();
}
