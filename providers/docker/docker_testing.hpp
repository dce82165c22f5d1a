// Internal to the docker provider: the factory with an explicit DOCKER_HOST value instead
// of the environment's, so tests can point a provider at an engine (or at none).
#pragma once

#include <memory>
#include <string_view>

#include "providers/provider.hpp"

namespace mob::docker {

// docker_host as in DOCKER_HOST: "unix:///path", or "" for /var/run/docker.sock.
std::unique_ptr<Provider> make_docker_provider_for(const ProviderContext& context,
                                                   std::string_view docker_host);

}  // namespace mob::docker
