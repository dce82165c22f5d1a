// The messages between the threads of one agent (store, supervisor, provider workers,
// health checker) on its inproc pipes: apart from the wire's Body, so no client or peer can
// send one. Plain structs in InternalBody; the codec is bus/internal_codec.hpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "bus/messages.hpp"
#include "bus/service_spec.hpp"
#include "bus/wire.hpp"

namespace mob {

// Store -> supervisor: run these instances of a service on this agent. The specs come parsed
// (the store parses each spec text once): `spec_json` and `stable_spec_json` only say which
// spec a version runs (two deploys may make one version number with two specs).
struct ServiceAssignment {
  std::string name;
  std::uint64_t version = 0;
  std::string spec_json;  // normalized
  std::vector<std::uint32_t> instances;
  bool enabled = true;
  std::uint64_t restart_generation = 0;  // bumped by `mob-tool restart`
  bool dependencies_ready = true;
  std::string waiting_reason;  // when not ready: why, in words that say what to do
  // A rolling update in progress: `stable_instances` (not in `instances`) run the last
  // healthy version, `stable_version` with `stable_spec_json`, until the owner moves them.
  std::uint64_t stable_version = 0;
  std::string stable_spec_json;
  std::vector<std::uint32_t> stable_instances;
  // The addresses of the dependencies' instances, as the environment variables an instance
  // starts with (MOB_DB_PORT_PG, MOB_DB_ENDPOINTS_PG, ...; docs/spec.md, "Service discovery").
  std::map<std::string, std::string> dependency_env;
  ServiceSpec spec = {};                       // of spec_json
  std::optional<ServiceSpec> stable_spec = {};  // of stable_spec_json, when stable_instances run it
  MOB_FIELDS(name, version, spec_json, instances, enabled, restart_generation,
             dependencies_ready, waiting_reason, stable_version, stable_spec_json, stable_instances,
             dependency_env, spec, stable_spec)
};
// Store -> supervisor: this agent no longer runs the service.
struct ServiceWithdrawn {
  std::string name;
  MOB_FIELDS(name)
};
// Supervisor -> store: an instance changed state.
struct InstanceReport {
  InstanceStatus status;
  MOB_FIELDS(status)
};

// A named port of an instance (docs/spec.md, "Service discovery"): the host port chosen on
// the agent and, for a container, the port inside it that the host port is published to.
struct PortBinding {
  std::string name;
  std::uint32_t host_port = 0;
  std::uint32_t container_port = 0;
  MOB_FIELDS(name, host_port, container_port)
};

// Supervisor -> provider worker.
struct ProviderStart {
  std::string key;  // "<service>.<index>", unique on this agent
  std::string service;
  std::uint32_t index = 0;
  nlohmann::json params;  // the spec's, already checked by its provider's check_params
  // Added to the instance's environment: MOB_HOST, MOB_PORT_<NAME>, the dependencies' addresses.
  std::map<std::string, std::string> env;
  std::vector<PortBinding> ports;  // a container publishes these
  MOB_FIELDS(key, service, index, params, env, ports)
};
struct ProviderStop {
  std::string key;
  std::uint32_t timeout_ms = 0;
  MOB_FIELDS(key, timeout_ms)
};
// Supervisor -> provider worker: send a running instance a signal (on_dependency_change
// "signal:SIGHUP"); nothing comes back.
struct ProviderSignal {
  std::string key;
  std::int32_t signal = 0;
  MOB_FIELDS(key, signal)
};
enum class ProviderEventKind : std::uint8_t { started, exited, start_failed, stopped, count_ };
// Provider worker -> supervisor.
struct ProviderEvent {
  std::string key;
  ProviderEventKind kind = ProviderEventKind::started;
  std::int64_t pid = 0;
  std::int32_t exit_code = -1;
  std::int32_t signal = 0;
  std::string message;
  MOB_FIELDS(key, kind, pid, exit_code, signal, message)
};
struct ProviderLogsRequest {
  std::vector<std::string> keys;
  std::uint32_t tail_lines = 0;
  bool from_offset = false;
  std::uint64_t offset = 0;
  MOB_FIELDS(keys, tail_lines, from_offset, offset)
};
struct ProviderLogsReply {
  std::vector<std::string> keys;
  std::vector<LogChunk> chunks;  // chunks[i] belongs to keys[i]
  MOB_FIELDS(keys, chunks)
};

// Supervisor -> health checker: check a running instance (docs/spec.md, "checks").
struct HealthWatch {
  std::string key;                   // the instance, as in ProviderStart
  std::uint64_t launch = 0;          // which start of it: a change for an older one is stale
  std::string service;
  std::uint32_t index = 0;
  std::vector<CheckSpec> checks;
  std::map<std::string, std::string> env;  // exec checks: the service's env
  std::string cwd;                         // exec checks: the service's cwd ("" inherits)
  // Exec checks run inside the instance through its provider's worker (docker: the Engine
  // API's exec) instead of as a local process (bash).
  bool exec_in_provider = false;
  MOB_FIELDS(key, launch, service, index, checks, env, cwd, exec_in_provider)
};
struct HealthUnwatch {
  std::string key;
  MOB_FIELDS(key)
};
// Health checker -> supervisor: an instance's health changed (its first word, healthy,
// unhealthy). `decided_by` names the check whose result made the change.
struct HealthChange {
  std::string key;
  std::uint64_t launch = 0;
  Health health = Health::starting;
  std::string decided_by;
  bool restart = false;  // unhealthy through a check whose on_failure is restart
  std::vector<CheckResult> checks;
  MOB_FIELDS(key, launch, health, decided_by, restart, checks)
};
// Health checker -> supervisor -> provider worker: run one exec check inside an instance
// whose provider has its own environment (docker: in the container, via the Engine API).
struct ProviderExecCheck {
  std::uint64_t token = 0;  // the checker's; the result carries it back
  std::string key;          // the instance, as in ProviderStart
  std::string command;      // run with /bin/sh -c in the instance
  std::uint32_t timeout_ms = 0;
  MOB_FIELDS(token, key, command, timeout_ms)
};
// Provider worker (or the supervisor, when nothing runs the instance) -> health checker.
struct ProviderExecCheckResult {
  std::uint64_t token = 0;
  std::string key;
  bool passed = false;
  std::string output;  // the end of the command's output, or why it could not run
  MOB_FIELDS(token, key, passed, output)
};


// Provider worker -> supervisor -> store: whether this agent can run the provider now
// (a docker provider whose engine does not answer is not advertised).
struct ProviderAvailability {
  std::string provider;
  bool available = false;
  MOB_FIELDS(provider, available)
};

// The order is the pipe's type code (index): pipes stay inside one process, so codes may
// change between releases. Their old wire codes are retired (bus/codec.cpp).
using InternalBody =
    std::variant<ServiceAssignment, ServiceWithdrawn, InstanceReport, ProviderAvailability, ProviderStart,
                 ProviderStop, ProviderSignal, ProviderEvent, ProviderLogsRequest, ProviderLogsReply,
                 HealthWatch, HealthUnwatch, HealthChange, ProviderExecCheck, ProviderExecCheckResult>;

}  // namespace mob
