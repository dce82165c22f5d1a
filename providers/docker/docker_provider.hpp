// The docker provider: runs containers mob-<agent_id>-<key> through the Docker Engine API on a
// Unix socket (DOCKER_HOST or /var/run/docker.sock). Lives on its worker thread; one helper
// thread inside carries the engine requests, so none blocks the worker; the destructor joins it.
#pragma once

#include <memory>

#include "providers/docker/docker_params.hpp"
#include "providers/provider.hpp"

namespace mob {

// Reads DOCKER_HOST now. Never null; without an engine, available() is false.
std::unique_ptr<Provider> make_docker_provider(const ProviderContext& context);

}  // namespace mob
