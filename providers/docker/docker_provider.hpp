// The docker provider: runs containers through the Docker Engine HTTP API on a Unix socket
// (DOCKER_HOST or /var/run/docker.sock) and reports their exit. Lives on its worker thread.
#pragma once

#include <memory>

#include "providers/provider.hpp"

namespace mob {

Result<void> check_docker_params(const nlohmann::json& params);
std::unique_ptr<Provider> make_docker_provider(const ProviderContext& context);

}  // namespace mob
