// The providers this build knows: their names, their parameter checks and factories.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "providers/provider.hpp"

namespace mob {

const std::vector<std::string>& known_providers();
bool is_known_provider(std::string_view name);
// Checks a spec's params for a provider; errors name the field ("params.command: ...").
Result<void> check_provider_params(std::string_view provider, const nlohmann::json& params);
Result<std::unique_ptr<Provider>> make_provider(std::string_view name,
                                                const ProviderContext& context);

}  // namespace mob
