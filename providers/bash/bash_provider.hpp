// The bash provider: runs params.command with /bin/bash -c in its own process group,
// logs its output to rotated files and reports its exit. Lives on its worker thread.
#pragma once

#include <memory>

#include "providers/provider.hpp"

namespace mob {

Result<void> check_bash_params(const nlohmann::json& params);
std::unique_ptr<Provider> make_bash_provider(const ProviderContext& context);

}  // namespace mob
