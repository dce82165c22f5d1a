// libFuzzer target for the spec parser: mob::parse_spec never crashes, leaks or hangs on
// arbitrary text, and every spec it accepts survives to_json: parse_spec(to_json(s)) == s; and
// may_name_dependencies, which the store reads instead of parsing, never misses a dependency
// of the input or of its normalized form.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include "agent/spec.hpp"

namespace {

bool same(const mob::ServiceSpec& a, const mob::ServiceSpec& b) {
  return a.name == b.name && a.provider == b.provider && a.params == b.params &&
         a.instances == b.instances && a.restart.policy == b.restart.policy &&
         a.restart.max_restarts == b.restart.max_restarts &&
         a.restart.window_s == b.restart.window_s && a.restart.backoff_ms == b.restart.backoff_ms &&
         a.restart.backoff_max_ms == b.restart.backoff_max_ms && a.depends_on == b.depends_on &&
         a.stop_timeout_ms == b.stop_timeout_ms && a.constraint_tags == b.constraint_tags;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = mob::parse_spec(text);
  if (!spec) return 0;
  const std::string normalized = mob::to_json(*spec).dump();
  for (std::string_view form : {text, std::string_view(normalized)}) {
    if (!spec->depends_on.empty() && !mob::may_name_dependencies(form)) {
      std::fprintf(stderr, "may_name_dependencies missed the dependencies of\n%.*s\n", static_cast<int>(form.size()),
                   form.data());
      std::abort();
    }
  }
  if (spec->depends_on.empty() && mob::may_name_dependencies(normalized) &&
      normalized.find("depends_on") == normalized.rfind("depends_on") &&
      normalized.find("requires") == std::string::npos && normalized.find("\\u") == std::string::npos) {
    std::fprintf(stderr, "may_name_dependencies would parse a normalized spec without dependencies:\n%s\n",
                 normalized.c_str());
    std::abort();
  }
  // The normalized form fills in defaults, so it may be longer than the limit the input met.
  mob::SpecLimits roomy;
  roomy.max_spec_bytes = std::numeric_limits<std::size_t>::max();
  auto again = mob::parse_spec(normalized, roomy);
  if (!again) {
    std::fprintf(stderr, "normalized spec refused: %s\n%s\n", again.error().message.c_str(),
                 normalized.c_str());
    std::abort();
  }
  if (!same(*spec, *again)) {
    std::fprintf(stderr, "parse_spec(to_json(s)) != s for\n%s\n", normalized.c_str());
    std::abort();
  }
  return 0;
}
