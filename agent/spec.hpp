// Service specifications: the JSON a user deploys, parsed and checked field by field
// into a ServiceSpec; errors name the field path and the reason.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "bus/error.hpp"
#include "bus/internal_messages.hpp"
#include "bus/messages.hpp"

namespace mob {

enum class RestartPolicy { always, on_failure, never };
std::string_view to_string(RestartPolicy policy);  // in restart_policy.cpp, with its inverse

struct RestartSpec {
  RestartPolicy policy = RestartPolicy::always;
  std::uint32_t max_restarts = 5;   // more than this many within window_s: failed
  std::uint32_t window_s = 60;
  std::uint32_t backoff_ms = 100;   // delay before the 2nd restart in a window; doubles after
  std::uint32_t backoff_max_ms = 10000;
};

// Health checks (`checks`, docs/spec.md): at most this many per service. A check is a
// CheckSpec (bus/messages.hpp); an empty host means the address of the agent that runs it.
inline constexpr std::size_t kMaxChecks = 8;

// How a new version replaces the running one (`update`, docs/spec.md): `max_parallel`
// instances at a time, each batch after the last one's new instances ran (and passed their
// checks) for `min_healthy_ms`; an instance not there within `healthy_deadline_ms` of being
// moved stops the rollout and, with `auto_revert`, brings the last healthy version back.
struct UpdateSpec {
  std::uint32_t max_parallel = 1;
  std::uint32_t min_healthy_ms = 5'000;
  std::uint32_t healthy_deadline_ms = 120'000;
  bool auto_revert = true;
  // New instances of a new version started beside the old ones, before `mob-tool promote`
  // lets the rollout go on (0: none; at most `instances`).
  std::uint32_t canary = 0;
  bool operator==(const UpdateSpec&) const = default;
};

// Service discovery (`ports`, docs/spec.md): a named port the instance listens on. `port` 0:
// the agent picks a free one from its --port-range; else that port, which two instances on
// one agent cannot share. A container publishes the chosen host port to `container_port`
// (0: the same number).
inline constexpr std::size_t kMaxPorts = 16;
struct PortSpec {
  std::uint32_t port = 0;
  std::uint32_t container_port = 0;
  bool operator==(const PortSpec&) const = default;
};

// What an instance does when its dependencies' endpoints change (`on_dependency_change`).
enum class DependencyChange : std::uint8_t { restart, signal, none };
struct OnDependencyChange {
  DependencyChange action = DependencyChange::restart;
  int signal = 0;  // for `signal`: the signal number, e.g. SIGHUP
  bool operator==(const OnDependencyChange&) const = default;
};

struct ServiceSpec {
  std::string name;
  std::string provider;
  nlohmann::json params = nlohmann::json::object();
  std::uint32_t instances = 1;
  RestartSpec restart;
  std::vector<std::string> depends_on;
  std::uint32_t stop_timeout_ms = 5000;
  std::map<std::string, std::string> constraint_tags;  // constraints.tags
  std::vector<CheckSpec> checks;
  std::optional<UpdateSpec> update;  // none: a new version replaces every instance at once
  std::map<std::string, PortSpec> ports;  // by name: a-z, 0-9 and _
  OnDependencyChange on_dependency_change;
  // By check: the name of the spec's port it connects to (`"port": "http"`), "" when its port
  // is a number; the supervisor puts in the port the instance got.
  std::vector<std::string> check_ports;
};

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

// A valid service name: 1-63 of [A-Za-z0-9_.-], starting with a letter or digit.
bool is_valid_service_name(std::string_view name);

}  // namespace mob
