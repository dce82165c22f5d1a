#include "tests/support/agent.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "bus/transport.hpp"

namespace mob::test {

AgentProcess::AgentProcess(const std::filesystem::path& data_dir, std::string providers,
                           std::vector<std::string> extra_args, int port)
    : data_dir_(data_dir),
      providers_(std::move(providers)),
      extra_args_(std::move(extra_args)),
      port_(port ? port : free_port_pair()) {
  for (std::size_t i = 0; i + 1 < extra_args_.size(); ++i)
    if (extra_args_[i] == "--key-file")
      if (auto keys = load_key_file(extra_args_[i + 1])) keys_ = ClientKeys{*keys, keys->public_key};
  spawn();
}

void AgentProcess::spawn() {
  // --config '': never the machine's /etc/mob/agent.conf (an installed package's).
  std::vector<std::string> argv = {MOB_AGENT_BIN, "--config", "", "-p", std::to_string(port_), "-P", providers_,
                                   "--data-dir", data_dir_.string(), "--name",
                                   "agent-" + std::to_string(port_)};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  child_ = Child(argv, data_dir_.parent_path() / ("agent-" + std::to_string(port_) + ".log"));
  if (!wait_until([&] { return answers() || !child_.running(); }, 15s) || !child_.running())
    ADD_FAILURE() << "mob-agent did not come up on port " << port_ << ":\n" << log();
}

void AgentProcess::restart() { spawn(); }

void AgentProcess::sigkill() {
  child_.signal(SIGKILL);
  child_.wait(10s);
}

int AgentProcess::terminate(std::chrono::milliseconds timeout) {
  child_.signal(SIGTERM);
  return child_.wait(timeout);
}

std::vector<pid_t> AgentProcess::service_processes() const {
  auto id = read_file(data_dir_ / "agent-id");
  if (id.empty()) return {};
  return processes_with_env("MOB_AGENT_ID=" + id);
}

void AgentProcess::crash() {
  sigkill();
  for (pid_t pid : service_processes()) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
  }
}

std::vector<Member> AgentProcess::members() {
  auto reply = request(MembersRequest{}, 2s);
  if (!reply) return {};
  return std::get<MembersReply>(*reply).members;
}

std::optional<MemberState> AgentProcess::sees(const std::string& name) {
  for (const auto& member : members())
    if (member.name == name) return member.state;
  return std::nullopt;
}

bool AgentProcess::answers() {
  auto reply = request(PingRequest{}, 300ms);
  return reply && std::holds_alternative<PingReply>(*reply);
}

Result<Body> AgentProcess::request(Body body, std::chrono::milliseconds timeout) {
  static zmq::context_t context;
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  if (keys_) make_curve_client(dealer, *keys_);
  dealer.connect("tcp://" + endpoint());
  std::uint64_t id = next_request_id_++;
  auto bytes = encode(Envelope{kProtocolVersion, id, "test", std::move(body)});
  send_frames(dealer, {bytes}, false);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(poll_timeout_ms(deadline)));
    auto frames = recv_frames(dealer);
    if (!frames) continue;
    auto reply = decode(frames->back());
    if (!reply) return std::unexpected(reply.error());
    if (reply->request_id != id) continue;
    if (auto* error = std::get_if<ErrorReply>(&reply->body))
      return fail(error->code, error->message);
    return reply->body;
  }
  return fail(Errc::timeout, "no reply from " + endpoint());
}

Result<DeployReply> AgentProcess::deploy(const std::string& spec_json) {
  auto reply = request(DeployRequest{spec_json, {}});
  if (!reply) return std::unexpected(reply.error());
  return std::get<DeployReply>(*reply);
}

std::optional<ServiceStatus> AgentProcess::service(const std::string& name) {
  auto reply = request(StatusRequest{name}, 2s);
  if (!reply) return std::nullopt;
  auto& status = std::get<StatusReply>(*reply);
  if (status.services.empty()) return std::nullopt;
  return status.services.front();
}

std::optional<InstanceStatus> AgentProcess::instance(const std::string& name, std::uint32_t index) {
  auto status = service(name);
  if (!status) return std::nullopt;
  for (auto& instance : status->instance_list)
    if (instance.index == index) return instance;
  return std::nullopt;
}

bool AgentProcess::wait_state(const std::string& name, std::uint32_t index, InstanceState state,
                              std::chrono::milliseconds timeout, std::int64_t not_pid) {
  return wait_until(
      [&] {
        auto found = instance(name, index);
        return found && found->state == state && (not_pid == 0 || found->pid != not_pid);
      },
      timeout);
}

int connect_loopback_tcp(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

long send_junk_tcp(int port) {
  int fd = connect_loopback_tcp(port);
  if (fd < 0) return -1;
  std::string junk(4096, '\0');
  for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>(i * 7919 % 251);
  long sent = ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
  ::close(fd);
  return sent;
}

bool service_events_reach(AgentProcess& agent, zmq::socket_t& sub, const std::string& spec_json) {
  bool seen = false;
  return wait_until([&] {
    // Again and again: the subscription reaches the agent a moment after connect().
    (void)agent.deploy(spec_json);
    zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(200));
    while (auto frames = recv_frames(sub))
      if (!frames->empty() && frames->front().rfind("service.", 0) == 0) seen = true;
    return seen;
  });
}

}  // namespace mob::test
