// What a running agent maps. Each shared library an agent maps costs about its code size in
// resident memory (docs/performance.md), so: an agent without -P docker maps no libcurl (the
// docker provider is a plugin), one without --metrics-addr no libevent (loaded for the
// endpoint), and a MOB_STATIC_LINK build maps neither libzmq.so nor libstdc++.so. Read from
// /proc/PID/maps of a real agent.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <string>
#include <string_view>

#include "tests/support/agent.hpp"
#include "tests/support/process.hpp"

namespace mob::test {
namespace footprint_test {

// File names of the shared objects mapped by `pid` ("libc.so.6", "mob-provider-docker.so").
std::set<std::string> mapped_libraries(pid_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::set<std::string> names;
  std::string line;
  while (std::getline(maps, line)) {
    auto path = line.find(" /");
    if (path == std::string::npos) continue;
    std::string name = line.substr(line.rfind('/') + 1);
    if (name.find(".so") != std::string::npos) names.insert(name);
  }
  return names;
}

// Is a library whose file name starts with `stem` + ".so" (any version) among `names`?
bool maps(const std::set<std::string>& names, std::string_view stem) {
  for (const auto& name : names)
    if (name.starts_with(std::string(stem) + ".so") || name.starts_with(std::string(stem) + "-")) return true;
  return false;
}

std::string listed(const std::set<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += name + " ";
  return text;
}

TEST(Footprint, AnAgentWithoutDockerMapsNeitherCurlNorThePlugin) {
  TempDir dir;
  AgentProcess agent(dir.path() / "a", "bash");
  auto names = mapped_libraries(agent.pid());
  ASSERT_TRUE(maps(names, "libc")) << "cannot read the maps of the agent: " << listed(names);
  EXPECT_FALSE(maps(names, "libcurl")) << listed(names);
  EXPECT_FALSE(maps(names, "mob-provider-docker")) << listed(names);
  EXPECT_FALSE(maps(names, "libevent")) << listed(names);
#if MOB_TEST_STATIC_LINK
  EXPECT_FALSE(maps(names, "libzmq")) << listed(names);
  EXPECT_FALSE(maps(names, "libstdc++")) << listed(names);
  EXPECT_FALSE(maps(names, "libnorm")) << listed(names);
  EXPECT_FALSE(maps(names, "libpgm")) << listed(names);
#else
  EXPECT_TRUE(maps(names, "libzmq")) << listed(names);  // sanitizer builds link it shared
#endif
}

// The same reading sees the plugin and libcurl once -P docker asks for them: the checks
// above can fail.
TEST(Footprint, ADockerAgentMapsThePluginAndCurl) {
  TempDir dir;
  AgentProcess agent(dir.path() / "a", "bash,docker");
  auto names = mapped_libraries(agent.pid());
  EXPECT_TRUE(maps(names, "mob-provider-docker")) << listed(names);
  EXPECT_TRUE(maps(names, "libcurl")) << listed(names);
}

// libevent (the metrics endpoint's HTTP server) comes only with --metrics-addr, and brings no
// TLS library (Debian's libmicrohttpd would map GnuTLS and 8 more: 2.6 MiB, docs/performance.md).
TEST(Footprint, AnAgentServingMetricsMapsLibeventAndNoTls) {
  TempDir dir;
  AgentProcess agent(dir.path() / "a", "bash", {"--metrics-addr", std::to_string(free_port_pair())});
  auto names = mapped_libraries(agent.pid());
  EXPECT_TRUE(maps(names, "libevent")) << listed(names);
  EXPECT_FALSE(maps(names, "libgnutls")) << listed(names);
  EXPECT_FALSE(maps(names, "libssl")) << listed(names);
}

}  // namespace footprint_test
}  // namespace mob::test
