#include "agent/health.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include "agent/actor.hpp"
#include "agent/health_state.hpp"
#include "agent/time_source.hpp"
#include "bus/log.hpp"
#include "bus/transport.hpp"
#include "providers/bash/process_group.hpp"

namespace mob {
namespace {

using Clock = std::chrono::steady_clock;
using bash::UniqueFd;
constexpr std::string_view kHealthLog = "health";
// The most of an HTTP response head read for its status line.
constexpr std::size_t kMaxResponseHead = 4096;

std::string errno_text(int error) {
  std::string text = std::strerror(error);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

std::string seconds_text(std::uint32_t ms) {
  std::string text = std::to_string(ms / 1000);
  if (ms % 1000) {
    auto fraction = std::to_string(1000 + ms % 1000).substr(1);
    while (fraction.back() == '0') fraction.pop_back();
    text += "." + fraction;
  }
  return text + " s";
}

// The end of `text` past `limit` bytes, and no trailing blank lines.
std::string tail(std::string text, std::size_t limit) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  if (text.size() > limit) text = "..." + text.substr(text.size() - limit + 3);
  return text;
}

struct Outcome {
  bool passed = false;
  std::string output;
};

// One run of one check, from its start to its result. Owns its socket, or its exec
// process group's pipe and pidfd.
struct Probe {
  CheckType type = CheckType::tcp;
  Clock::time_point started;
  Clock::time_point deadline;
  UniqueFd fd;     // tcp, http: the socket; exec: the output pipe
  UniqueFd pidfd;  // exec
  pid_t leader = -1;
  std::uint64_t token = 0;  // exec in the provider: the request's, 0 otherwise
  bool connected = false;  // http: the request is being sent or the response read
  std::string request;     // http: what is left to send
  std::string received;    // http: the response head so far; exec: the output (its end)
  std::optional<Outcome> outcome;
};

struct Watched {
  HealthWatch watch;
  HealthTracker tracker;
  std::vector<Clock::time_point> next_due;
  std::vector<std::optional<Probe>> probes;
};

// A killed exec check's leader, waited for without blocking the loop.
struct Reaping {
  pid_t leader = -1;
  UniqueFd pidfd;
};

std::optional<sockaddr_storage> address_of(const std::string& host, std::uint32_t port, socklen_t& length) {
  sockaddr_storage storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    length = sizeof(sockaddr_in);
    return storage;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    length = sizeof(sockaddr_in6);
    return storage;
  }
  return std::nullopt;
}

class HealthChecker {
 public:
  HealthChecker(HealthConfig config, zmq::socket_t supervisor)
      : config_(std::move(config)), supervisor_(std::move(supervisor)) {}

  ~HealthChecker() {
    for (auto& [key, watched] : watched_)
      for (auto& probe : watched.probes) abandon(probe);
    for (auto& reaping : reaping_)
      while (waitpid(reaping.leader, nullptr, 0) < 0 && errno == EINTR) {
      }
  }

  void run() {
    while (!finished_) {
      std::vector<zmq::pollitem_t> items = {{supervisor_.handle(), 0, ZMQ_POLLIN, 0}};
      std::vector<std::pair<Watched*, std::size_t>> polled;
      for (auto& [key, watched] : watched_) {
        for (std::size_t i = 0; i < watched.probes.size(); ++i) {
          auto& probe = watched.probes[i];
          if (!probe || probe->outcome || probe->token != 0) continue;  // the provider runs it
          short events = 0;
          if (probe->type == CheckType::exec) {
            if (probe->fd) {
              items.push_back({nullptr, probe->fd.get(), ZMQ_POLLIN, 0});
              polled.emplace_back(&watched, i);
            }
            events = ZMQ_POLLIN;
            items.push_back({nullptr, probe->pidfd.get(), events, 0});
          } else {
            events = (!probe->connected || !probe->request.empty()) ? ZMQ_POLLOUT : ZMQ_POLLIN;
            items.push_back({nullptr, probe->fd.get(), events, 0});
          }
          polled.emplace_back(&watched, i);
        }
      }
      const std::size_t reap_from = items.size();
      for (auto& reaping : reaping_) items.push_back({nullptr, reaping.pidfd.get(), ZMQ_POLLIN, 0});
      poll_sockets(items.data(), items.size(), poll_wait(time_, next_deadline(), kIdleWait));
      // The fds first: a message may unwatch what `polled` points into.
      guard_.run("a round of checks", [&] {
        for (std::size_t n = 0; n < polled.size(); ++n) {
          const auto& item = items[n + 1];
          if (item.revents == 0) continue;
          auto& probe = polled[n].first->probes[polled[n].second];
          if (probe && !probe->outcome) advance(*probe, item.fd, polled[n].first->watch.checks[polled[n].second]);
        }
        reap(items, reap_from);
      });
      handle_waiting(
          supervisor_, guard_, [&](const ControlBody& control) { handle_control(control); },
          [&](const InternalMessage& message) { handle(message); });
      if (finished_) break;
      guard_.run("a round of checks", [&] { finish_and_start(); });
    }
  }

 private:
  Clock::time_point next_deadline() const {
    auto deadline = time_.steady_now() + kIdleWait;
    for (const auto& [key, watched] : watched_)
      for (std::size_t i = 0; i < watched.probes.size(); ++i)
        deadline = std::min(deadline, watched.probes[i] ? watched.probes[i]->deadline : watched.next_due[i]);
    return deadline;
  }

  void handle(const InternalMessage& message) {
    const InternalBody& body = message.envelope.body;
    if (const auto* watch = std::get_if<HealthWatch>(&body)) {
      unwatch(watch->key);
      auto now = time_.steady_now();
      HealthWatch filled = *watch;
      for (auto& check : filled.checks)
        if (check.host.empty()) check.host = config_.default_host;
      auto checks = filled.checks;
      Watched watched{std::move(filled), HealthTracker(std::move(checks), now),
                      std::vector<Clock::time_point>(watch->checks.size(), now),
                      std::vector<std::optional<Probe>>(watch->checks.size())};
      watched_.emplace(watch->key, std::move(watched));
      finish_and_start();
    } else if (const auto* unwatched = std::get_if<HealthUnwatch>(&body)) {
      unwatch(unwatched->key);
    } else if (const auto* result = std::get_if<ProviderExecCheckResult>(&body)) {
      exec_result(*result);
    }
  }

  void handle_control(const ControlBody& body) {
    if (std::holds_alternative<ShutdownRequest>(body)) {
      for (auto& [key, watched] : watched_)
        for (auto& probe : watched.probes) abandon(probe);
      watched_.clear();
      send_control(supervisor_, ShutdownDone{});
      finished_ = true;
    }
  }

  // The result of an exec check the provider ran; one for a run already timed out, or of
  // an instance no longer watched, is late and dropped.
  void exec_result(const ProviderExecCheckResult& result) {
    auto found = watched_.find(result.key);
    if (found == watched_.end()) return;
    for (auto& probe : found->second.probes)
      if (probe && probe->token == result.token && !probe->outcome)
        probe->outcome = Outcome{result.passed, tail(result.output, kMaxCheckOutputBytes)};
  }

  void unwatch(const std::string& key) {
    auto found = watched_.find(key);
    if (found == watched_.end()) return;
    for (auto& probe : found->second.probes) abandon(probe);
    watched_.erase(found);
  }

  // Ends a probe whose result no longer matters; an exec check's group is killed.
  void abandon(std::optional<Probe>& probe) {
    if (probe && probe->type == CheckType::exec && probe->leader > 0) kill_group(*probe);
    probe.reset();
  }

  void kill_group(Probe& probe) {
    ::kill(-probe.leader, SIGKILL);
    if (probe.pidfd) reaping_.push_back(Reaping{probe.leader, std::move(probe.pidfd)});
    probe.leader = -1;
  }

  void reap(const std::vector<zmq::pollitem_t>& items, std::size_t from) {
    std::vector<Reaping> still;
    for (std::size_t i = 0; i < reaping_.size(); ++i) {
      bool ready = from + i < items.size() && items[from + i].revents != 0;
      if (ready && waitpid(reaping_[i].leader, nullptr, WNOHANG) != 0) continue;
      still.push_back(std::move(reaping_[i]));
    }
    reaping_ = std::move(still);
  }

  // Records the results that came in, times out what ran too long, starts what is due.
  void finish_and_start() {
    auto now = time_.steady_now();
    for (auto& [key, watched] : watched_) {
      for (std::size_t i = 0; i < watched.probes.size(); ++i) {
        auto& probe = watched.probes[i];
        const CheckSpec& check = watched.watch.checks[i];
        if (probe && !probe->outcome && now >= probe->deadline) time_out(*probe, check);
        if (probe && probe->outcome) {
          auto outcome = std::move(*probe->outcome);
          watched.next_due[i] = std::max(now, probe->started + std::chrono::milliseconds(check.interval_ms));
          probe.reset();
          record(watched, i, std::move(outcome), now);
        }
        if (!probe && now >= watched.next_due[i]) {
          probe = start(watched.watch, check, now);
          if (probe->outcome) {  // decided at once (refused, or could not start)
            auto outcome = std::move(*probe->outcome);
            watched.next_due[i] = now + std::chrono::milliseconds(check.interval_ms);
            probe.reset();
            record(watched, i, std::move(outcome), now);
          }
        }
      }
    }
  }

  void record(Watched& watched, std::size_t index, Outcome outcome, Clock::time_point now) {
    auto change = watched.tracker.record(index, outcome.passed, std::move(outcome.output), now,
                                         static_cast<std::int64_t>(time_.wall_ms()));
    if (!change) return;
    HealthChange message{watched.watch.key, watched.watch.launch, change->health,
                         watched.tracker.checks()[change->decided_by].name, change->restart,
                         watched.tracker.results()};
    if (change->health == Health::unhealthy || change->health == Health::healthy)
      log::info(kHealthLog, log::about_instance(watched.watch.key), watched.watch.key, " ", to_string(change->health), ": ",
                watched.tracker.describe(change->decided_by));
    send_internal(supervisor_, std::move(message));
  }

  Probe start(const HealthWatch& watch, const CheckSpec& check, Clock::time_point now) {
    Probe probe;
    probe.type = check.type;
    probe.started = now;
    probe.deadline = now + std::chrono::milliseconds(check.timeout_ms);
    if (check.type == CheckType::exec && watch.exec_in_provider) {
      probe.token = next_token_++;
      send_internal(supervisor_, ProviderExecCheck{probe.token, watch.key, check.command, check.timeout_ms});
      return probe;
    }
    if (check.type == CheckType::exec) {
      start_exec(probe, watch, check);
      return probe;
    }
    socklen_t length = 0;
    auto address = address_of(check.host, check.port, length);
    if (!address) {
      probe.outcome = Outcome{false, "host \"" + check.host + "\" is not an IP address"};
      return probe;
    }
    probe.fd = UniqueFd(::socket(address->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!probe.fd) {
      probe.outcome = Outcome{false, "socket: " + errno_text(errno)};
      return probe;
    }
    if (check.type == CheckType::http) {
      std::string host = check.host.find(':') == std::string::npos ? check.host : "[" + check.host + "]";
      probe.request = "GET " + check.path + " HTTP/1.0\r\nHost: " + host + ":" + std::to_string(check.port) +
                      "\r\nUser-Agent: mob-agent health check\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    }
    if (::connect(probe.fd.get(), reinterpret_cast<const sockaddr*>(&*address), length) == 0) {
      probe.connected = true;
      if (check.type == CheckType::tcp) probe.outcome = Outcome{true, "connected"};
    } else if (errno != EINPROGRESS) {
      probe.outcome = Outcome{false, errno_text(errno)};
    }
    return probe;
  }

  void start_exec(Probe& probe, const HealthWatch& watch, const CheckSpec& check) {
    bash::SpawnRequest request;
    request.command = check.command;
    std::vector<std::pair<std::string, std::string>> overrides(watch.env.begin(), watch.env.end());
    overrides.emplace_back("MOB_SERVICE", watch.service);
    overrides.emplace_back("MOB_INSTANCE", std::to_string(watch.index));
    overrides.emplace_back("MOB_AGENT_ID", config_.agent_id);
    overrides.emplace_back("MOB_CHECK", check.name);
    request.environment = bash::merged_environment(overrides);
    if (!watch.cwd.empty()) request.cwd = watch.cwd;
    auto spawned = bash::spawn_group(request);
    if (!spawned) {
      probe.outcome = Outcome{false, "could not run: " + spawned.error().message};
      return;
    }
    probe.leader = spawned->leader;
    probe.pidfd = std::move(spawned->pidfd);
    probe.fd = std::move(spawned->output);
  }

  // Reads what the check's fd has for it; sets the outcome once there is one.
  void advance(Probe& probe, int fd, const CheckSpec& check) {
    if (probe.type == CheckType::exec) {
      if (fd == probe.fd.get()) read_output(probe);
      else exec_ended(probe);
      return;
    }
    if (!probe.connected) {
      int error = 0;
      socklen_t size = sizeof error;
      ::getsockopt(probe.fd.get(), SOL_SOCKET, SO_ERROR, &error, &size);
      if (error != 0) {
        probe.outcome = Outcome{false, errno_text(error)};
        return;
      }
      probe.connected = true;
      if (probe.type == CheckType::tcp) {
        probe.outcome = Outcome{true, "connected"};
        return;
      }
    }
    if (!probe.request.empty()) {
      auto sent = ::send(probe.fd.get(), probe.request.data(), probe.request.size(), MSG_NOSIGNAL);
      if (sent < 0 && errno != EAGAIN && errno != EINTR) {
        probe.outcome = Outcome{false, "sending the request: " + errno_text(errno)};
        return;
      }
      if (sent > 0) probe.request.erase(0, static_cast<std::size_t>(sent));
      return;
    }
    char buffer[1024];
    auto got = ::recv(probe.fd.get(), buffer, sizeof buffer, 0);
    if (got < 0) {
      if (errno != EAGAIN && errno != EINTR) probe.outcome = Outcome{false, "reading the response: " + errno_text(errno)};
      return;
    }
    probe.received.append(buffer, static_cast<std::size_t>(got));
    auto line_end = probe.received.find("\r\n");
    if (line_end == std::string::npos) {
      if (got == 0) probe.outcome = Outcome{false, "the connection closed before a response"};
      else if (probe.received.size() > kMaxResponseHead) probe.outcome = Outcome{false, "not an HTTP response"};
      return;
    }
    probe.outcome = judge_status_line(probe.received.substr(0, line_end), check);
  }

  static Outcome judge_status_line(const std::string& line, const CheckSpec& check) {
    // "HTTP/1.1 200 OK"
    auto space = line.find(' ');
    if (!line.starts_with("HTTP/") || space == std::string::npos || line.size() < space + 4)
      return {false, "not an HTTP response: " + tail(line, 80)};
    int status = 0;
    for (std::size_t i = space + 1; i < space + 4; ++i) {
      if (line[i] < '0' || line[i] > '9') return {false, "not an HTTP response: " + tail(line, 80)};
      status = status * 10 + (line[i] - '0');
    }
    std::string said = "HTTP " + tail(line.substr(space + 1), 120);
    bool passed = check.expect_status ? status == static_cast<int>(check.expect_status) : status >= 200 && status < 400;
    if (passed) return {true, said};
    return {false, said + (check.expect_status ? " (expected " + std::to_string(check.expect_status) + ")"
                                               : " (expected 2xx or 3xx)")};
  }

  static void read_output(Probe& probe) {
    char buffer[4096];
    while (true) {
      auto got = ::read(probe.fd.get(), buffer, sizeof buffer);
      if (got > 0) {
        probe.received.append(buffer, static_cast<std::size_t>(got));
        if (probe.received.size() > 2 * kMaxCheckOutputBytes)
          probe.received.erase(0, probe.received.size() - kMaxCheckOutputBytes);
        continue;
      }
      if (got == 0) probe.fd.reset();  // every writer closed it
      return;
    }
  }

  void exec_ended(Probe& probe) {
    int status = 0;
    pid_t waited = waitpid(probe.leader, &status, WNOHANG);
    if (waited == 0) return;
    if (probe.fd) read_output(probe);
    // What the check left running in its group ends with it.
    ::kill(-probe.leader, SIGKILL);
    probe.leader = -1;
    std::string output = tail(probe.received, kMaxCheckOutputBytes - 40);
    if (waited < 0) {
      probe.outcome = Outcome{false, "waitpid: " + errno_text(errno)};
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      probe.outcome = Outcome{true, output};
    } else {
      std::string how = WIFEXITED(status) ? "exit code " + std::to_string(WEXITSTATUS(status))
                                          : "killed by signal " + std::to_string(WTERMSIG(status));
      probe.outcome = Outcome{false, output.empty() ? how : output + " (" + how + ")"};
    }
  }

  void time_out(Probe& probe, const CheckSpec& check) {
    std::string said = "timed out after " + seconds_text(check.timeout_ms);
    if (probe.token != 0) {
      // In the provider: the engine has no way to kill an exec; the late result is dropped.
    } else if (probe.type == CheckType::exec) {
      if (probe.fd) read_output(probe);
      kill_group(probe);
      said += "; killed";
      auto output = tail(probe.received, kMaxCheckOutputBytes - 60);
      if (!output.empty()) said = output + " (" + said + ")";
    } else if (!probe.connected) {
      said = "connect " + said;
    }
    probe.outcome = Outcome{false, said};
  }

  HealthConfig config_;
  const TimeSource& time_ = config_.time ? *config_.time : system_time();
  StepGuard guard_{"health"};
  zmq::socket_t supervisor_;
  std::map<std::string, Watched> watched_;
  std::vector<Reaping> reaping_;
  std::uint64_t next_token_ = 1;
  bool finished_ = false;
};

}  // namespace

std::string check_host_of_endpoint(const std::string& endpoint) {
  std::string rest = endpoint.starts_with("tcp://") ? endpoint.substr(6) : endpoint;
  auto colon = rest.rfind(':');
  std::string host = colon == std::string::npos ? rest : rest.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "*" || host == "0.0.0.0" || host.empty()) return "127.0.0.1";
  if (host == "::") return "::1";
  unsigned char address[16];
  if (inet_pton(AF_INET, host.c_str(), address) == 1 || inet_pton(AF_INET6, host.c_str(), address) == 1) return host;
  return "127.0.0.1";
}

void run_health_checker(ActorStartup& startup, HealthConfig config, zmq::socket_t supervisor) {
  HealthChecker checker(std::move(config), std::move(supervisor));
  startup.ready();
  checker.run();
}

}  // namespace mob
