#include "providers/bash/bash_provider.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

#include "bus/log.hpp"
#include "bus/instance_id.hpp"
#include "providers/bash/log_files.hpp"
#include "providers/bash/process_group.hpp"

namespace mob {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using bash::LogWriter;
using bash::UniqueFd;

// Bounds one poll()'s reading from one instance, so that a chatty command cannot starve
// the others: its pipe stays readable and the worker comes straight back.
constexpr std::size_t kDrainBudgetBytes = 1024 * 1024;
constexpr std::size_t kReadBufferBytes = 64 * 1024;
// Events taken from the epoll set by one poll(); more ready fds keep the set readable, so
// the worker comes straight back for them.
constexpr int kEventsPerPoll = 256;
// How long stop_all waits for SIGKILLed leaders (a process in uninterruptible sleep
// ignores even SIGKILL until its I/O ends) before it stops waiting at agent exit.
constexpr auto kWaitAfterKill = 5s;

struct ExitStatus {
  std::int32_t exit_code = -1;
  std::int32_t signal = 0;
};

struct Instance {
  Instance(std::string instance_key, std::uint64_t instance_serial, bash::SpawnedGroup group,
           LogWriter log_writer)
      : key(std::move(instance_key)),
        serial(instance_serial),
        leader(group.leader),
        pidfd(std::move(group.pidfd)),
        output(std::move(group.output)),
        log(std::move(log_writer)) {}

  std::string key;
  std::uint64_t serial = 0;  // names it in the epoll set: never reused, unlike keys and fds
  pid_t leader = -1;  // also the process group id
  UniqueFd pidfd;
  UniqueFd output;  // reset at end of file
  LogWriter log;
  bool stop_requested = false;
  std::chrono::milliseconds grace{0};
  std::optional<Clock::time_point> kill_at;  // SIGKILL the group then, unless it has exited
  bool killed_after_grace = false;
};

// The key names the log file "<key>.log", so it must stay inside the logs directory.
bool is_valid_key(const std::string& key) {
  return !key.empty() && key.find('/') == std::string::npos &&
         key.find('\0') == std::string::npos;
}

std::string describe(const ExitStatus& status) {
  if (status.signal != 0) {
    const char* name = sigdescr_np(status.signal);
    return "killed by signal " + std::to_string(status.signal) + " (" +
           (name != nullptr ? name : "unknown") + ")";
  }
  if (status.exit_code >= 0) return "exited with code " + std::to_string(status.exit_code);
  return "exited; its status was lost";
}

class BashProvider final : public Provider {
 public:
  explicit BashProvider(ProviderContext context)
      : context_(std::move(context)),
        epoll_(::epoll_create1(EPOLL_CLOEXEC)),
        epoll_error_(epoll_ ? "" : std::string("cannot create an epoll set: ") + std::strerror(errno)),
        read_buffer_(kReadBufferBytes) {
    if (!epoll_) log::error("bash", epoll_error_, "; no bash instance can run");
  }
  ~BashProvider() override {
    if (!instances_.empty()) stop_all(0ms);
  }
  BashProvider(const BashProvider&) = delete;
  BashProvider& operator=(const BashProvider&) = delete;

  void reclaim_leftovers() override;
  void start(const LaunchRequest& request) override;
  void stop(const std::string& key, std::chrono::milliseconds grace) override;
  void signal(const std::string& key, int signal_number) override;
  std::vector<int> watched_fds() override;
  std::optional<Clock::time_point> next_deadline() override;
  std::vector<ProviderEvent> poll() override;
  LogChunk read_logs(const std::string& key, std::uint32_t tail_lines, bool from_offset,
                     std::uint64_t offset) override;
  bool available() override { return static_cast<bool>(epoll_); }
  void stop_all(std::chrono::milliseconds grace) override;
  // A bash instance has no environment of its own to run a check in: the health checker
  // runs its exec checks as local processes, so a request here is a routing mistake.
  void start_exec_check(const ProviderExecCheck& check) override {
    exec_results_.push_back(ProviderExecCheckResult{
        check.token, check.key, false, "the bash provider runs no exec checks; the health checker does"});
  }
  std::vector<ProviderExecCheckResult> take_exec_results() override {
    return std::exchange(exec_results_, {});
  }

 private:
  std::filesystem::path log_dir() const { return context_.data_dir / "logs"; }
  std::filesystem::path live_log(const std::string& key) const {
    return log_dir() / (key + ".log");
  }
  void report_start_failed(const std::string& key, const std::string& message);
  Result<bash::SpawnedGroup> spawn(const LaunchRequest& request);
  void collect(std::vector<ProviderEvent>& out);
  bool drain_output(Instance& instance);
  std::optional<ExitStatus> exit_status(const Instance& instance);
  ProviderEvent finish(Instance& instance, const ExitStatus& status);
  void wait_for_activity(Clock::time_point until);
  // The epoll set holds each instance's pidfd and, until end of file, its output pipe;
  // an event's data is the instance's serial times two, plus one for the pipe.
  Result<void> watch(const Instance& instance);
  void end_output(Instance& instance);
  void schedule_kill(Instance& instance, Clock::time_point at);
  void kill_after_grace(Clock::time_point now);
  std::map<std::string, Instance>::iterator forget(std::map<std::string, Instance>::iterator it);

  ProviderContext context_;
  const TimeSource& time_ = context_.time ? *context_.time : system_time();
  UniqueFd epoll_;
  std::string epoll_error_;
  std::map<std::string, Instance> instances_;
  std::unordered_map<std::uint64_t, Instance*> by_serial_;
  std::uint64_t next_serial_ = 1;
  // The SIGKILLs due when a stop's grace ends, earliest first.
  std::set<std::pair<Clock::time_point, std::string>> kills_due_;
  std::vector<ProviderEvent> pending_;  // reported by the next poll()
  std::vector<ProviderExecCheckResult> exec_results_;
  std::vector<char> read_buffer_;
  bash::Spawner spawner_;  // made and used on the worker's thread, as the rest
};

void BashProvider::reclaim_leftovers() {
  if (context_.agent_id.empty()) {
    log::warn("bash", "no agent id, so processes of an earlier run cannot be told apart; "
                      "nothing reclaimed");
    return;
  }
  auto reclaimed = bash::kill_processes_with_env_entry("MOB_AGENT_ID=" + context_.agent_id);
  log::info("bash", "reclaimed ", reclaimed, " process(es) left by an earlier run of agent ",
            context_.agent_id);
}

void BashProvider::report_start_failed(const std::string& key, const std::string& message) {
  log::warn("bash", log::about_instance(key), key, ": cannot start: ", message);
  ProviderEvent event;
  event.key = key;
  event.kind = ProviderEventKind::start_failed;
  event.message = message;
  pending_.push_back(std::move(event));
}

Result<bash::SpawnedGroup> BashProvider::spawn(const LaunchRequest& request) {
  if (auto checked = check_bash_params(request.params); !checked)
    return std::unexpected(checked.error());
  bash::SpawnRequest spawn_request;
  spawn_request.command = request.params.at("command").get<std::string>();
  std::vector<std::pair<std::string, std::string>> overrides;
  if (auto env = request.params.find("env"); env != request.params.end()) {
    for (const auto& [name, value] : env->items())
      overrides.emplace_back(name, value.get<std::string>());
  }
  for (const auto& [name, value] : request.env) overrides.emplace_back(name, value);
  overrides.emplace_back("MOB_SERVICE", request.service);
  overrides.emplace_back("MOB_INSTANCE", std::to_string(request.index));
  overrides.emplace_back("MOB_AGENT_ID", context_.agent_id);
  spawn_request.environment = bash::merged_environment(overrides);
  if (auto cwd = request.params.find("cwd"); cwd != request.params.end())
    spawn_request.cwd = cwd->get<std::string>();
  return spawner_.spawn(spawn_request);
}

void BashProvider::start(const LaunchRequest& request) {
  const auto& key = request.key;
  if (!is_valid_key(key)) return report_start_failed(key, "invalid instance key \"" + key + "\"");
  if (auto running = instances_.find(key); running != instances_.end())
    return report_start_failed(
        key, "already running as pid " + std::to_string(running->second.leader));
  if (!epoll_) return report_start_failed(key, epoll_error_);
  if (auto dir = bash::ensure_log_dir(log_dir()); !dir)
    return report_start_failed(key, dir.error().message);
  auto log_writer = LogWriter::open(live_log(key), context_.log_max_bytes,
                                    context_.log_keep_files, context_.max_log_line_bytes);
  if (!log_writer) return report_start_failed(key, log_writer.error().message);

  auto group = spawn(request);
  if (!group) return report_start_failed(key, group.error().message);

  const pid_t leader = group->leader;
  auto [it, inserted] = instances_.try_emplace(key, key, next_serial_++, std::move(*group),
                                               std::move(*log_writer));
  if (auto watched = watch(it->second); !watched) {
    // Without a watch its exit would go unseen: end it now (a bash that has just started
    // dies at SIGKILL) and reap it, so that nothing runs unsupervised.
    ::kill(-leader, SIGKILL);
    siginfo_t ignored{};
    waitid(P_PIDFD, static_cast<id_t>(it->second.pidfd.get()), &ignored, WEXITED);
    forget(it);
    return report_start_failed(key, watched.error().message);
  }
  by_serial_.emplace(it->second.serial, &it->second);
  log::info("bash", log::about_instance(key), key, ": started as pid ", leader);
  ProviderEvent event;
  event.key = key;
  event.kind = ProviderEventKind::started;
  event.pid = leader;
  pending_.push_back(std::move(event));
}

void BashProvider::stop(const std::string& key, std::chrono::milliseconds grace) {
  auto found = instances_.find(key);
  if (found == instances_.end()) {
    ProviderEvent event;
    event.key = key;
    event.kind = ProviderEventKind::stopped;
    event.message = "was not running";
    pending_.push_back(std::move(event));
    return;
  }
  Instance& instance = found->second;
  if (instance.killed_after_grace) return;
  if (!instance.stop_requested) {
    instance.stop_requested = true;
    instance.grace = grace;
    ::kill(-instance.leader, SIGTERM);
    log::info("bash", log::about_instance(key), key, ": sent SIGTERM to process group ", instance.leader);
  }
  schedule_kill(instance, time_.steady_now() + grace);
}

void BashProvider::schedule_kill(Instance& instance, Clock::time_point at) {
  if (instance.kill_at && *instance.kill_at <= at) return;
  if (instance.kill_at) kills_due_.erase({*instance.kill_at, instance.key});
  instance.kill_at = at;
  kills_due_.emplace(at, instance.key);
}

Result<void> BashProvider::watch(const Instance& instance) {
  epoll_event exit_event{};
  exit_event.events = EPOLLIN;
  exit_event.data.u64 = instance.serial * 2;
  epoll_event output_event{};
  output_event.events = EPOLLIN;
  output_event.data.u64 = instance.serial * 2 + 1;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, instance.pidfd.get(), &exit_event) != 0 ||
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, instance.output.get(), &output_event) != 0)
    return fail(Errc::unavailable, std::string("cannot watch the new process (epoll_ctl: ") +
                                       std::strerror(errno) +
                                       "); raise fs.epoll.max_user_watches or run fewer instances");
  return {};
}

void BashProvider::end_output(Instance& instance) {
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, instance.output.get(), nullptr);
  instance.output.reset();
  instance.log.end_of_output();
}

std::map<std::string, Instance>::iterator BashProvider::forget(
    std::map<std::string, Instance>::iterator it) {
  Instance& instance = it->second;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, instance.pidfd.get(), nullptr);
  if (instance.output) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, instance.output.get(), nullptr);
  if (instance.kill_at) kills_due_.erase({*instance.kill_at, instance.key});
  by_serial_.erase(instance.serial);
  return instances_.erase(it);
}

void BashProvider::signal(const std::string& key, int signal_number) {
  auto found = instances_.find(key);
  if (found == instances_.end() || found->second.stop_requested) return;
  ::kill(-found->second.leader, signal_number);
  log::info("bash", log::about_instance(key), key, ": sent signal ", signal_number, " to process group ", found->second.leader);
}

// One fd for the worker to poll: the epoll set is readable while any instance has output
// or has exited, so an idle worker's wake-up costs the same for one instance or thousands.
std::vector<int> BashProvider::watched_fds() {
  if (instances_.empty()) return {};
  return {epoll_.get()};
}

std::optional<Clock::time_point> BashProvider::next_deadline() {
  if (!pending_.empty() || !exec_results_.empty()) return time_.steady_now();
  if (kills_due_.empty()) return std::nullopt;
  return kills_due_.begin()->first;
}

std::vector<ProviderEvent> BashProvider::poll() {
  std::vector<ProviderEvent> events;
  collect(events);
  return events;
}

void BashProvider::collect(std::vector<ProviderEvent>& out) {
  std::move(pending_.begin(), pending_.end(), std::back_inserter(out));
  pending_.clear();
  if (!instances_.empty()) {
    std::array<epoll_event, kEventsPerPoll> ready{};
    int count = ::epoll_wait(epoll_.get(), ready.data(), kEventsPerPoll, 0);
    for (int i = 0; i < count; ++i) {
      const std::uint64_t data = ready[static_cast<std::size_t>(i)].data.u64;
      auto found = by_serial_.find(data / 2);
      if (found == by_serial_.end()) continue;  // ended earlier in this batch
      Instance& instance = *found->second;
      if (data % 2 == 1) {
        if (instance.output && !drain_output(instance)) end_output(instance);
      } else if (auto status = exit_status(instance)) {
        out.push_back(finish(instance, *status));
        forget(instances_.find(instance.key));
      }
    }
  }
  kill_after_grace(time_.steady_now());
}

void BashProvider::kill_after_grace(Clock::time_point now) {
  while (!kills_due_.empty() && kills_due_.begin()->first <= now) {
    auto due = kills_due_.extract(kills_due_.begin());
    auto found = instances_.find(due.value().second);
    if (found == instances_.end()) continue;
    Instance& instance = found->second;
    ::kill(-instance.leader, SIGKILL);
    instance.kill_at.reset();
    instance.killed_after_grace = true;
    log::warn("bash", log::about_instance(instance.key), instance.key, ": the grace of ", instance.grace.count(),
              " ms after SIGTERM ended; sent SIGKILL to process group ", instance.leader);
  }
}

// Returns false at end of file: every process holding the pipe's write end is gone.
bool BashProvider::drain_output(Instance& instance) {
  std::size_t total = 0;
  while (total < kDrainBudgetBytes) {
    ssize_t n = ::read(instance.output.get(), read_buffer_.data(), read_buffer_.size());
    if (n > 0) {
      instance.log.append(std::string_view(read_buffer_.data(), static_cast<std::size_t>(n)));
      total += static_cast<std::size_t>(n);
    } else if (n == 0) {
      return false;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return true;
    } else {
      log::warn("bash", log::about_instance(instance.key), instance.key, ": reading output: ", std::strerror(errno));
      return false;
    }
  }
  return true;
}

// Looks without reaping (WNOWAIT): see finish() for why the reaping waits.
std::optional<ExitStatus> BashProvider::exit_status(const Instance& instance) {
  siginfo_t info{};
  if (waitid(P_PIDFD, static_cast<id_t>(instance.pidfd.get()), &info,
             WEXITED | WNOHANG | WNOWAIT) != 0) {
    if (errno == EINTR) return std::nullopt;
    // Someone else reaped our child (a SIGCHLD set to SIG_IGN): it is gone all the same.
    log::warn("bash", log::about_instance(instance.key), instance.key, ": waitid: ", std::strerror(errno));
    return ExitStatus{};
  }
  if (info.si_pid == 0) return std::nullopt;
  ExitStatus status;
  if (info.si_code == CLD_EXITED) status.exit_code = info.si_status;
  else status.signal = info.si_status;
  return status;
}

ProviderEvent BashProvider::finish(Instance& instance, const ExitStatus& status) {
  // The unreaped leader keeps its pid, and so the group id, from being reused: the group
  // is killed before the reaping, never after, so the kill cannot reach a stranger.
  ::kill(-instance.leader, SIGKILL);
  siginfo_t ignored{};
  waitid(P_PIDFD, static_cast<id_t>(instance.pidfd.get()), &ignored, WEXITED | WNOHANG);
  if (instance.output) drain_output(instance);
  instance.log.end_of_output();

  ProviderEvent event;
  event.key = instance.key;
  event.pid = instance.leader;
  event.exit_code = status.exit_code;
  event.signal = status.signal;
  if (instance.stop_requested) {
    event.kind = ProviderEventKind::stopped;
    if (!instance.killed_after_grace)
      event.message = "stopped: " + describe(status);
    else if (instance.grace > 0ms)
      event.message = "stopped: still running " + std::to_string(instance.grace.count()) +
                      " ms after SIGTERM, killed with SIGKILL";
    else
      event.message = "stopped: killed with SIGKILL";
  } else {
    event.kind = ProviderEventKind::exited;
    event.message = describe(status);
  }
  log::info("bash", log::about_instance(instance.key), instance.key, ": pid ", instance.leader, " ", event.message);
  return event;
}

void BashProvider::wait_for_activity(Clock::time_point until) {
  std::vector<pollfd> fds;
  for (int fd : watched_fds()) fds.push_back(pollfd{fd, POLLIN, 0});
  auto remaining = std::chrono::ceil<std::chrono::milliseconds>(until - time_.steady_now());
  int timeout_ms = static_cast<int>(std::clamp<std::int64_t>(remaining.count(), 0, 60'000));
  ::poll(fds.data(), fds.size(), timeout_ms);
}

LogChunk BashProvider::read_logs(const std::string& key, std::uint32_t tail_lines,
                                 bool from_offset, std::uint64_t offset) {
  LogChunk chunk;
  if (is_valid_key(key))
    chunk = bash::read_log_file(live_log(key), tail_lines, from_offset, offset);
  if (auto id = InstanceId::from_key(key)) chunk.instance = id->index;
  return chunk;
}

void BashProvider::stop_all(std::chrono::milliseconds grace) {
  for (auto& [key, instance] : instances_) stop(key, grace);
  const auto give_up = time_.steady_now() + grace + kWaitAfterKill;
  std::vector<ProviderEvent> events;
  while (true) {
    collect(events);
    if (instances_.empty() || time_.steady_now() >= give_up) break;
    wait_for_activity(std::min(next_deadline().value_or(give_up), give_up));
  }
  for (auto it = instances_.begin(); it != instances_.end();) {
    ::kill(-it->second.leader, SIGKILL);
    log::error("bash", log::about_instance(it->first), it->first, ": pid ", it->second.leader,
               " has not exited after SIGKILL; no longer waiting for it");
    it = forget(it);
  }
  std::move(events.begin(), events.end(), std::back_inserter(pending_));
}

}  // namespace

std::unique_ptr<Provider> make_bash_provider(const ProviderContext& context) {
  return std::make_unique<BashProvider>(context);
}

}  // namespace mob
