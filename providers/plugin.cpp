#include "providers/plugin.hpp"

#include <dlfcn.h>

#include <filesystem>
#include <system_error>

#include "bus/log.hpp"

namespace mob {

Result<std::unique_ptr<Provider>> load_provider_plugin(std::string_view name,
                                                       const ProviderContext& context) {
  const std::string file = "mob-provider-" + std::string(name) + ".so";
  std::error_code error;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error)
    return fail(Errc::internal, "cannot find the directory of mob-agent to load " + file + ": " +
                                    error.message());
  std::filesystem::path candidates[] = {exe.parent_path().parent_path() / "lib" / "mob" / file,
                                        exe.parent_path() / file};
  std::string tried;
  for (const auto& path : candidates) {
    if (!std::filesystem::exists(path, error)) {
      tried += (tried.empty() ? "" : ", ") + path.string();
      continue;
    }
    // Never closed: the provider's code and libcurl's global state live as long as we do.
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!library)
      return fail(Errc::internal, "cannot load the " + std::string(name) + " provider from " +
                                      path.string() + ": " + dlerror());
    auto create = reinterpret_cast<ProviderPluginCreate>(dlsym(library, kProviderPluginEntry));
    if (!create)
      return fail(Errc::internal, path.string() + " is not a Mob provider plugin (no " +
                                      kProviderPluginEntry + ")");
    ProviderPluginArgs args{kProviderPluginAbi, sizeof(ProviderContext), &context,
                            static_cast<int>(log::level()), static_cast<int>(log::format()),
                            log::journal_priorities()};
    std::string why;
    std::unique_ptr<Provider> provider(create(&args, &why));
    if (!provider)
      return fail(Errc::internal, "the " + std::string(name) + " provider from " + path.string() +
                                      " refused to start: " + why);
    return provider;
  }
  return fail(Errc::not_found, "the " + std::string(name) + " provider is not installed: no " +
                                   file + " (looked at " + tried +
                                   "); build the whole project, or run mob-agent without -P " +
                                   std::string(name));
}

}  // namespace mob
