// Test support: a real mob-agent process on loopback with its own data dir, and a direct
// DEALER client to ask it things the way mob-tool does.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "bus/codec.hpp"
#include "bus/security.hpp"
#include "tests/support/process.hpp"

namespace mob::test {

class AgentProcess {
 public:
  // Starts `mob-agent -p PORT -P providers --data-dir DIR extra...` and waits until it answers.
  // With `--key-file FILE` among `extra_args`, requests use that key pair as CURVE client.
  explicit AgentProcess(const std::filesystem::path& data_dir, std::string providers = "bash",
                        std::vector<std::string> extra_args = {}, int port = 0);
  ~AgentProcess() = default;

  // Starts it again (same port and data dir) after a stop or kill.
  void restart();
  void sigkill();  // the agent alone; the kernel ends its instances' main processes with it
  int terminate(std::chrono::milliseconds timeout = 20s);  // SIGTERM; the exit status
  bool answers();
  int port() const { return port_; }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string log() const { return child_.output(); }
  std::string name() const { return "agent-" + std::to_string(port_); }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  // Pids of the processes this agent started (they carry its agent id).
  std::vector<pid_t> service_processes() const;
  // SIGKILL of the agent and of everything it started: a crashed machine.
  void crash();
  std::vector<Member> members();
  // The state this agent sees `name` in; nullopt if it does not know it.
  std::optional<MemberState> sees(const std::string& name);
  pid_t pid() const { return child_.pid(); }

  // One request/reply; the error says what went wrong (timeout, error reply, wrong type).
  Result<Body> request(Body body, std::chrono::milliseconds timeout = 5s);
  Result<DeployReply> deploy(const std::string& spec_json);
  std::optional<ServiceStatus> service(const std::string& name);
  std::optional<InstanceStatus> instance(const std::string& name, std::uint32_t index);
  // Waits until instance `index` of `name` is in `state` (and, if given, pid differs from `not_pid`).
  bool wait_state(const std::string& name, std::uint32_t index, InstanceState state,
                  std::chrono::milliseconds timeout = 15s, std::int64_t not_pid = 0);

 private:
  void spawn();

  std::filesystem::path data_dir_;
  std::string providers_;
  std::vector<std::string> extra_args_;
  int port_;
  std::optional<ClientKeys> keys_;  // from --key-file in extra_args_
  Child child_;
  std::uint64_t next_request_id_ = 1;
};

// A plain TCP connection to 127.0.0.1:`port`, for bytes that are not ZMTP; -1 if refused.
int connect_loopback_tcp(int port);
// Connects to 127.0.0.1:`port`, sends 4 KiB of bytes that are not ZMTP and hangs up; the
// number of bytes the kernel took, or -1 if the connection was refused.
long send_junk_tcp(int port);

// Deploys `spec_json` through `agent` until `sub` (subscribed to "service.") receives a
// service event: the agent's PUB socket still serves its subscribers.
bool service_events_reach(AgentProcess& agent, zmq::socket_t& sub, const std::string& spec_json);

}  // namespace mob::test
