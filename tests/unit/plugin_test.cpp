// Provider plugins: the docker provider loads from the build tree's lib/mob; a missing
// plugin is named with the paths looked at.
#include "providers/plugin.hpp"

#include <cstdlib>

#include <gtest/gtest.h>

#include "tests/support/process.hpp"

namespace mob {
namespace plugin_test {

TEST(ProviderPlugin, TheDockerPluginLoadsAndMakesAWorkingProvider) {
  test::TempDir dir;
  ::setenv("DOCKER_HOST", "unix:///nonexistent/mob-plugin-test.sock", 1);
  auto provider = load_provider_plugin("docker", ProviderContext{"agent", "plugin-test", dir.path()});
  ASSERT_TRUE(provider) << provider.error().message;
  EXPECT_FALSE((*provider)->available());  // no engine answers at that socket
}

TEST(ProviderPlugin, AMissingPluginIsNamedWithWhereItWasLookedFor) {
  test::TempDir dir;
  auto provider = load_provider_plugin("kvm", ProviderContext{"agent", "plugin-test", dir.path()});
  ASSERT_FALSE(provider);
  EXPECT_EQ(provider.error().code, Errc::not_found);
  const auto& message = provider.error().message;
  EXPECT_NE(message.find("no mob-provider-kvm.so"), std::string::npos) << message;
  EXPECT_NE(message.find("lib/mob/mob-provider-kvm.so"), std::string::npos) << message;
  EXPECT_NE(message.find("without -P kvm"), std::string::npos) << message;
}

}  // namespace plugin_test
}  // namespace mob
