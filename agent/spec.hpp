// Service specifications: the JSON a user deploys, parsed and checked field by field
// into a ServiceSpec (bus/service_spec.hpp); errors name the field path and the reason.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "bus/error.hpp"
#include "bus/messages.hpp"
#include "bus/service_spec.hpp"

namespace mob {

std::string_view to_string(RestartPolicy policy);  // in restart_policy.cpp, with its inverse

// Health checks (`checks`, docs/spec.md): at most this many per service. An empty host of a
// check means the address of the agent that runs it.
inline constexpr std::size_t kMaxChecks = 8;

// The part of an environment variable name that stands for `name` (a service or port name):
// upper case, with every character outside A-Z and 0-9 as '_' ("web-db.1" -> "WEB_DB_1").
std::string env_name_part(std::string_view name);

struct SpecLimits {
  std::size_t max_spec_bytes = 64 * 1024;
  std::uint32_t max_instances = 100;
};

// Parses and validates a spec: JSON syntax, every field's type and range, unknown fields,
// and the provider's params. Accepts the original Mob forms (`requires`, string `restart`).
Result<ServiceSpec> parse_spec(std::string_view json_text, const SpecLimits& limits = {});

// The normalized spec with every default filled in; parse_spec(to_json(s)) == s.
nlohmann::json to_json(const ServiceSpec& spec);

// The normalized spec without what a running instance does not depend on (`instances`,
// `update`): two versions with equal run specs run the same, so instances carry over.
nlohmann::json run_spec_of(const ServiceSpec& spec);

// Whether a spec text may name a dependency, read without parsing it: false only when its one
// mention of `depends_on` is the normalized empty list (`"depends_on":[]`, as to_json writes
// it) and it holds neither `requires` nor a \u escape that could spell either key. A text
// it answers true for may still name none (the word inside a command, say): parse it to know.
bool may_name_dependencies(std::string_view spec_text);

// A valid service name: 1-63 of [A-Za-z0-9_.-], starting with a letter or digit.
bool is_valid_service_name(std::string_view name);

}  // namespace mob
