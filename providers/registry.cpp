#include "providers/registry.hpp"

#include "providers/bash/bash_provider.hpp"
#include "providers/docker/docker_params.hpp"
#include "providers/plugin.hpp"

namespace mob {

// Never destroyed: a store thread may still parse a spec while the process exits (the store
// fuzzer's exit handlers ran after this list's destructor had freed it).
const std::vector<std::string>& known_providers() {
  static const auto* names = new const std::vector<std::string>{"bash", "docker"};
  return *names;
}

bool is_known_provider(std::string_view name) {
  for (const auto& known : known_providers())
    if (known == name) return true;
  return false;
}

static std::string known_list() {
  std::string out;
  for (const auto& name : known_providers()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

Result<void> check_provider_params(std::string_view provider, const nlohmann::json& params) {
  if (provider == "bash") return check_bash_params(params);
  if (provider == "docker") return check_docker_params(params);
  return fail(Errc::invalid_argument,
              "unknown provider \"" + std::string(provider) + "\"; known providers: " + known_list());
}

Result<std::unique_ptr<Provider>> make_provider(std::string_view name,
                                                const ProviderContext& context) {
  if (name == "bash") return make_bash_provider(context);
  if (name == "docker") return load_provider_plugin(name, context);
  return fail(Errc::invalid_argument,
              "unknown provider \"" + std::string(name) + "\"; known providers: " + known_list());
}

}  // namespace mob
