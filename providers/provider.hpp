// The interface a provider (bash, docker, ...) implements. A provider object lives on its
// own worker thread, which calls it, polls the fds it names and relays its events.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/time_source.hpp"
#include "bus/error.hpp"
#include "bus/internal_messages.hpp"
#include "bus/messages.hpp"

namespace mob {

// What every provider of one agent shares.
struct ProviderContext {
  std::string agent_name;
  std::string agent_id;                 // stable per data dir: marks what this agent started
  std::filesystem::path data_dir;       // per-provider state and logs go below it
  std::uint64_t log_max_bytes = 10 * 1024 * 1024;  // per file, before rotation
  std::uint32_t log_keep_files = 2;     // rotated files kept besides the live one
  std::uint64_t max_log_line_bytes = 16 * 1024;  // longer output lines are cut and marked
  // The clocks the provider's timers read (grace periods, retries); null: the machine's.
  // A test passes a ManualTime, the same one its worker reads.
  const TimeSource* time = nullptr;
};

struct LaunchRequest {
  std::string key;  // "<service>.<index>", unique on this agent
  std::string service;
  std::uint32_t index = 0;
  nlohmann::json params;  // already checked by check_params
  // Added to the instance's environment (MOB_HOST, MOB_PORT_<NAME>, the dependencies'
  // addresses) and, for a container, the ports it publishes (docs/spec.md, "Service discovery").
  std::map<std::string, std::string> env;
  std::vector<PortBinding> ports;
};

class Provider {
 public:
  virtual ~Provider() = default;

  // Called once before the first start: stop and remove whatever an earlier life of this
  // agent (same agent_id) left running.
  virtual void reclaim_leftovers() = 0;
  // Starts an instance; the outcome comes back from poll() as started or start_failed.
  virtual void start(const LaunchRequest& request) = 0;
  // Stops an instance gracefully, forcefully after `grace`; poll() later reports stopped.
  virtual void stop(const std::string& key, std::chrono::milliseconds grace) = 0;
  // Sends a running instance `signal_number` (its process group, or its container); an
  // instance that does not run is left alone.
  virtual void signal(const std::string& key, int signal_number) = 0;
  // File descriptors the worker polls for readability on the provider's behalf.
  virtual std::vector<int> watched_fds() = 0;
  // When poll() must run next even if no fd is readable (a grace period ending, a retry).
  virtual std::optional<std::chrono::steady_clock::time_point> next_deadline() = 0;
  // Does the provider's work and returns what happened: started, exited, stopped, ...
  virtual std::vector<ProviderEvent> poll() = 0;
  // Log output of an instance: the last `tail_lines` lines, or from `offset` on.
  virtual LogChunk read_logs(const std::string& key, std::uint32_t tail_lines,
                             bool from_offset, std::uint64_t offset) = 0;
  // False while the provider cannot run anything (no container engine answers).
  virtual bool available() = 0;
  // Stops every instance and waits for them (agent exit); leaves nothing running.
  virtual void stop_all(std::chrono::milliseconds grace) = 0;
  // Starts an exec health check inside an instance (docker: in its container); the result
  // comes back from take_exec_results(), within about `check.timeout_ms`. A provider whose
  // instances are plain processes answers at once that it does not: the health checker runs
  // those checks itself.
  virtual void start_exec_check(const ProviderExecCheck& check) = 0;
  virtual std::vector<ProviderExecCheckResult> take_exec_results() = 0;
};

}  // namespace mob
