// One Mob agent: binds its sockets, starts its actors (I/O, peer store, supervisor, one
// worker per provider) on their own threads, and stops them in order.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/endpoints.hpp"
#include "agent/failure_detector.hpp"
#include "agent/spec.hpp"
#include "bus/error.hpp"

namespace mob {

struct AgentOptions {
  std::string name;  // default: <hostname>:<port>
  std::string bind = "127.0.0.1";
  int port = 6666;
  int pub_port = 0;  // 0: port + 1
  std::vector<std::string> providers;
  std::map<std::string, std::string> tags;
  std::filesystem::path data_dir;
  std::size_t max_message_bytes = 4 * 1024 * 1024;
  SpecLimits spec_limits;
  std::uint32_t max_services = 10000;
  std::uint32_t history = 10;  // versions kept per service (1 to kMaxHistory)
  std::uint64_t log_max_bytes = 10 * 1024 * 1024;
  std::uint32_t log_keep_files = 2;
  std::uint64_t max_log_line_bytes = 16 * 1024;  // longer lines of service output are cut
  std::size_t max_pending_requests = 1024;       // requests in flight per client connection
  std::vector<std::string> seeds;  // -j HOST:PORT,...
  bool state_from_network = false;  // set by start(): its state.db was damaged and moved aside
  DetectorConfig detector;
  std::chrono::milliseconds heartbeat_interval{5000};  // StoreConfig::heartbeat_interval
  std::chrono::milliseconds sync_interval{1000};
  std::uint32_t max_subscriptions = 8;
  std::chrono::seconds tombstone_ttl{3600};
  std::chrono::milliseconds reconnect_interval{1000};
  std::chrono::seconds reconnect_timeout{24 * 3600};
  // Security (docs/security.md). With a key file every socket runs CURVE: the agent serves
  // with the network key pair and connects to peers with it; clients must present the
  // network key or one listed in `authorized_keys_file` (re-read on SIGHUP).
  std::filesystem::path key_file;
  std::filesystem::path authorized_keys_file;
  bool insecure = false;  // allow a non-loopback --bind without a key
  // Service discovery: the host ports handed out for `"port": 0`, and the address instances
  // are reached at (MOB_HOST, endpoints; empty: the --bind address, 127.0.0.1 for 0.0.0.0).
  PortRange port_range;
  std::string advertise_host;
  // Serve the metrics over HTTP there (agent/metrics_http.hpp); empty: none.
  std::string metrics_address;
};

class Agent {
 public:
  // Binds the sockets and starts every thread; errors say what to change.
  static Result<std::unique_ptr<Agent>> start(AgentOptions options);
  // Waits until `signal_fd` (a signalfd for SIGINT/SIGTERM) fires or a client asks this
  // agent to leave the network. SIGHUP on `signal_fd` reloads the authorized keys.
  void wait_for_stop(int signal_fd);
  // Announces that this agent leaves, stops every service (each within its stop timeout),
  // then every thread. A SIGINT or SIGTERM on `signal_fd` (-1: none) meanwhile kills the
  // services left at once (SIGKILL to their process groups).
  void stop(int signal_fd = -1);
  // Whether an actor's thread stopped on an internal error (the agent then exits non-zero).
  bool failed() const;
  ~Agent();

  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  struct State;

 private:
  explicit Agent(std::unique_ptr<State> state);
  // Joins every actor's thread once all have ended, waiting at most `limit`; false (and
  // none joined that has not ended) when one has not.
  bool join_threads_within(std::chrono::milliseconds limit);
  std::unique_ptr<State> state_;
  bool abandoned_threads_ = false;  // stop() left threads that did not end behind
};

}  // namespace mob
