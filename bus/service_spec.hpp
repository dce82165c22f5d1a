// What a service spec is once parsed (ServiceSpec), as plain structs that can travel between
// an agent's threads: the store parses a spec's JSON once (agent/spec.hpp: parse_spec) and
// hands the supervisor the typed value in its ServiceAssignment (bus/internal_messages.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bus/wire.hpp"

namespace mob {

namespace wire {
// A provider's params (any JSON) travel as msgpack bytes (nlohmann's MessagePack form): no
// JSON text to parse again on the other side.
template <>
struct WireForm<nlohmann::json> {
  template <class Packer>
  static void pack(Packer& pk, const nlohmann::json& value) {
    std::vector<std::uint8_t> bytes = nlohmann::json::to_msgpack(value);
    pk.pack_bin(static_cast<std::uint32_t>(bytes.size()));
    pk.pack_bin_body(reinterpret_cast<const char*>(bytes.data()), static_cast<std::uint32_t>(bytes.size()));
  }
  static Result<void> read(const msgpack::object& obj, nlohmann::json& out) {
    if (obj.type != msgpack::type::BIN) return type_mismatch("bin", obj);
    const auto* begin = reinterpret_cast<const std::uint8_t*>(obj.via.bin.ptr);
    out = nlohmann::json::from_msgpack(begin, begin + obj.via.bin.size, /*strict=*/true,
                                       /*allow_exceptions=*/false);
    if (out.is_discarded()) return fail(Errc::malformed, "params that are not a JSON value in msgpack form");
    return {};
  }
};
}  // namespace wire

enum class RestartPolicy : std::uint8_t { always, on_failure, never, count_ };

struct RestartSpec {
  RestartPolicy policy = RestartPolicy::always;
  std::uint32_t max_restarts = 5;   // more than this many within window_s: failed
  std::uint32_t window_s = 60;
  std::uint32_t backoff_ms = 100;   // delay before the 2nd restart in a window; doubles after
  std::uint32_t backoff_max_ms = 10000;
  MOB_FIELDS(policy, max_restarts, window_s, backoff_ms, backoff_max_ms)
};

// A health check of a service (docs/spec.md, "checks"); the supervisor sends the checks of a
// running instance to the health checker (HealthWatch).
enum class CheckType : std::uint8_t { exec, tcp, http, count_ };
struct CheckSpec {
  std::string name;
  CheckType type = CheckType::tcp;
  std::string host;        // tcp, http: an IP address (the supervisor fills in the default)
  std::uint32_t port = 0;  // tcp, http
  std::string path;        // http
  std::uint32_t expect_status = 0;  // http: 0 means any 2xx or 3xx
  std::string command;     // exec: run with /bin/bash -c
  std::uint32_t interval_ms = 0;
  std::uint32_t timeout_ms = 0;
  std::uint32_t failures = 0;
  std::uint32_t successes = 0;
  std::uint32_t grace_ms = 0;
  bool restart_on_failure = true;
  MOB_FIELDS(name, type, host, port, path, expect_status, command, interval_ms, timeout_ms,
             failures, successes, grace_ms, restart_on_failure)
};

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
  MOB_FIELDS(max_parallel, min_healthy_ms, healthy_deadline_ms, auto_revert, canary)
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
  MOB_FIELDS(port, container_port)
};

// What an instance does when its dependencies' endpoints change (`on_dependency_change`).
enum class DependencyChange : std::uint8_t { restart, signal, none, count_ };
struct OnDependencyChange {
  DependencyChange action = DependencyChange::restart;
  int signal = 0;  // for `signal`: the signal number, e.g. SIGHUP
  bool operator==(const OnDependencyChange&) const = default;
  MOB_FIELDS(action, signal)
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
  MOB_FIELDS(name, provider, params, instances, restart, depends_on, stop_timeout_ms, constraint_tags,
             checks, update, ports, on_dependency_change, check_ports)
};

}  // namespace mob
