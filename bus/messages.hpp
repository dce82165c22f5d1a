// Every message that travels between mob-tool and agents, and between an agent's threads.
// Plain structs; the codec (bus/codec.hpp) puts them in one envelope. Append only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "bus/wire.hpp"

namespace mob {

// ---- shared records -------------------------------------------------------------------

enum class InstanceState : std::uint8_t {
  pending, starting, running, exited, restarting, failed, stopped, count_
};
std::string_view to_string(InstanceState state);

enum class MemberState : std::uint8_t { alive, suspect, failed, left, count_ };
std::string_view to_string(MemberState state);

struct InstanceStatus {
  std::string service;
  std::uint32_t index = 0;
  std::string node;
  InstanceState state = InstanceState::pending;
  std::uint32_t restarts = 0;
  std::int64_t pid = 0;
  std::int64_t since_ms = 0;  // unix ms when `state` was entered
  std::int32_t exit_code = -1;
  std::int32_t signal = 0;
  std::string reason;  // why pending/failed/exited, in words
  std::uint64_t spec_version = 0;
  MOB_FIELDS(service, index, node, state, restarts, pid, since_ms, exit_code, signal, reason,
             spec_version)
};

struct ServiceStatus {
  std::string name;
  std::string provider;
  std::uint64_t version = 0;  // 1 on first deploy, +1 per update
  std::uint32_t instances = 0;
  bool enabled = true;  // false after `mob-tool stop`
  std::string spec_json;
  std::vector<InstanceStatus> instance_list;
  MOB_FIELDS(name, provider, version, instances, enabled, spec_json, instance_list)
};

struct Member {
  std::string name;
  std::string address;      // ROUTER endpoint, tcp://host:port
  std::string pub_address;  // PUB endpoint
  MemberState state = MemberState::alive;
  std::vector<std::string> providers;
  std::map<std::string, std::string> tags;
  std::uint64_t incarnation = 0;
  double load = 0.0;
  std::string version;
  MOB_FIELDS(name, address, pub_address, state, providers, tags, incarnation, load, version)
};

// ---- mob-tool <-> agent ---------------------------------------------------------------

struct PingRequest {
  MOB_FIELDS()
};
struct PingReply {
  std::string agent;
  std::string version;
  std::uint32_t protocol = 0;
  MOB_FIELDS(agent, version, protocol)
};

struct DeployRequest {
  std::string spec_json;
  MOB_FIELDS(spec_json)
};
struct DeployReply {
  std::string service;
  std::uint64_t version = 0;
  bool created = false;
  MOB_FIELDS(service, version, created)
};

struct StatusRequest {
  std::string service;  // empty: every service
  MOB_FIELDS(service)
};
struct StatusReply {
  std::vector<ServiceStatus> services;
  MOB_FIELDS(services)
};

enum class ControlAction : std::uint8_t { stop, start, restart, remove, count_ };
std::string_view to_string(ControlAction action);

struct ControlRequest {
  std::string service;
  ControlAction action = ControlAction::stop;
  MOB_FIELDS(service, action)
};
struct ControlReply {
  std::string service;
  std::uint64_t version = 0;
  MOB_FIELDS(service, version)
};

struct LogsRequest {
  std::string service;
  std::int32_t instance = -1;     // -1: every instance
  std::uint32_t tail_lines = 0;   // 0 with from_offset=false: the whole retained log
  bool from_offset = false;       // follow mode: read from `offset` onwards
  std::uint64_t offset = 0;
  MOB_FIELDS(service, instance, tail_lines, from_offset, offset)
};
struct LogChunk {
  std::uint32_t instance = 0;
  std::string node;
  std::string data;
  std::uint64_t next_offset = 0;  // pass back as `offset` to follow
  MOB_FIELDS(instance, node, data, next_offset)
};
struct LogsReply {
  std::string service;
  std::vector<LogChunk> chunks;
  MOB_FIELDS(service, chunks)
};

struct MembersRequest {
  MOB_FIELDS()
};
struct MembersReply {
  std::vector<Member> members;
  MOB_FIELDS(members)
};

struct ErrorReply {
  Errc code = Errc::internal;
  std::string message;
  MOB_FIELDS(code, message)
};

// ---- between an agent's threads -------------------------------------------------------

// Store -> supervisor: run these instances of a service on this agent.
struct ServiceAssignment {
  std::string name;
  std::uint64_t version = 0;
  std::string spec_json;  // normalized spec, parsed again by the supervisor
  std::vector<std::uint32_t> instances;
  bool enabled = true;
  std::uint64_t restart_generation = 0;  // bumped by `mob-tool restart`
  bool dependencies_ready = true;
  MOB_FIELDS(name, version, spec_json, instances, enabled, restart_generation,
             dependencies_ready)
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

// Supervisor -> provider worker.
struct ProviderStart {
  std::string key;  // "<service>.<index>", unique on this agent
  std::string service;
  std::uint32_t index = 0;
  std::string params_json;
  MOB_FIELDS(key, service, index, params_json)
};
struct ProviderStop {
  std::string key;
  std::uint32_t timeout_ms = 0;
  MOB_FIELDS(key, timeout_ms)
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

// Main -> actors: stop everything (supervisor: stop every instance first).
struct ShutdownRequest {
  MOB_FIELDS()
};
struct ShutdownDone {
  MOB_FIELDS()
};

// The variant order is the wire type code (index + 1): append only, never reorder.
using Body = std::variant<PingRequest, PingReply, DeployRequest, DeployReply, StatusRequest,
                          StatusReply, ControlRequest, ControlReply, LogsRequest, LogsReply,
                          MembersRequest, MembersReply, ErrorReply, ServiceAssignment,
                          ServiceWithdrawn, InstanceReport, ProviderStart, ProviderStop,
                          ProviderEvent, ProviderLogsRequest, ProviderLogsReply,
                          ShutdownRequest, ShutdownDone>;

}  // namespace mob
