#include "providers/bash/process_group.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>

#include "providers/bash/direct_exec.hpp"

extern char** environ;

namespace mob::bash {
namespace {

// What the child writes to the exec-status pipe when it cannot become the command.
struct ChildFailure {
  enum Stage : int { chdir_failed = 1, exec_failed = 2, unshare_failed = 3 } stage;
  int error;
};

std::string errno_text(int error) { return std::strerror(error); }

// Moves a descriptor above 0-2 so that dup2 onto stdio in the child can never clobber it
// (possible only if this process runs with a standard descriptor closed).
Result<UniqueFd> above_stdio(int fd) {
  UniqueFd owned(fd);
  if (fd > STDERR_FILENO) return owned;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  if (moved < 0) return fail(Errc::io, "fcntl: " + errno_text(errno));
  return UniqueFd(moved);
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Result<Pipe> make_pipe(const char* purpose) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return fail(Errc::io, std::string(purpose) + " pipe: " + errno_text(errno));
  auto read_end = above_stdio(fds[0]);
  auto write_end = above_stdio(fds[1]);
  if (!read_end) return std::unexpected(read_end.error());
  if (!write_end) return std::unexpected(write_end.error());
  return Pipe{std::move(*read_end), std::move(*write_end)};
}

// What the child needs, all built before it starts: it must not allocate.
struct ChildPlan {
  pid_t agent = 0;
  int dev_null = -1;
  int output = -1;
  int status = -1;
  // >= 0: the child shares the agent's descriptor table and first copies what is below
  // this number and above none (Spawner); -1: it has a copy of its own (vfork).
  int shared_table_top = -1;
  const char* cwd = nullptr;
  const char* direct_path = nullptr;
  char* const* direct_argv = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
};

#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif
#else
constexpr bool kThreadSanitizer = false;
#endif

// Runs in a child that shares the agent's memory (vfork, or clone with CLONE_VM), so only
// async-signal-safe system calls, nothing allocated and nothing of the agent's memory
// written (the child borrows it until execve): the agent is multithreaded, another thread
// may hold the allocator's lock, and the parent thread waits suspended. The agent installs
// no signal handler (it reads SIGINT, SIGTERM and SIGHUP from a signalfd), so none can run
// in the child and write the memory it shares. Not instrumented: a sanitizer's bookkeeping
// in a child that shares the agent's memory would be the agent's.
[[noreturn]] __attribute__((no_sanitize("address", "thread"))) void become_command(const ChildPlan& plan) {
  setpgid(0, 0);
  // An instance does not outlive a killed agent (the network runs it elsewhere once the agent
  // is declared failed): the kernel SIGKILLs it when the thread that forked it ends, and that
  // thread lives as long as the agent. An agent that died before this line: exit at once.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != plan.agent) _exit(127);

  // The agent blocks and may ignore signals in all its threads; a service must start with
  // the defaults, or it could not be stopped with SIGTERM. Dispositions first, so that a
  // signal pending in the inherited mask meets the default action when unblocked.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int signo = 1; signo < NSIG; ++signo) {
    if (signo == SIGKILL || signo == SIGSTOP) continue;
    sigaction(signo, &default_action, nullptr);  // fails harmlessly for libc-reserved ones
  }
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);

  ChildFailure failure{};
  // Until here the table is the agent's own: a table of this child's, holding only the
  // descriptors below the top (the agent's first few and the slots), before any dup2.
  if (plan.shared_table_top >= 0 &&
      close_range(static_cast<unsigned>(plan.shared_table_top) + 1, ~0U, CLOSE_RANGE_UNSHARE) != 0) {
    failure = {ChildFailure::unshare_failed, errno};
    [[maybe_unused]] auto written = write(plan.status, &failure, sizeof failure);
    _exit(127);
  }

  dup2(plan.dev_null, STDIN_FILENO);
  dup2(plan.output, STDOUT_FILENO);
  dup2(plan.output, STDERR_FILENO);
  // Everything but stdio and the exec-status pipe, which O_CLOEXEC closes on success.
  const int status = plan.status;
  if (status > STDERR_FILENO + 1) close_range(STDERR_FILENO + 1, static_cast<unsigned>(status) - 1, 0);
  close_range(static_cast<unsigned>(status) + 1, ~0U, 0);

  if (plan.cwd != nullptr && chdir(plan.cwd) != 0) {
    failure = {ChildFailure::chdir_failed, errno};
  } else {
    // A command that needs no shell first (providers/bash/direct_exec.hpp); should its exec
    // fail (a script without #!, a file gone since it was found), bash runs it as written.
    if (plan.direct_path != nullptr) execve(plan.direct_path, plan.direct_argv, plan.envp);
    execve(plan.argv[0], plan.argv, plan.envp);
    failure = {ChildFailure::exec_failed, errno};
  }
  [[maybe_unused]] auto written = write(status, &failure, sizeof failure);
  _exit(127);
}

__attribute__((no_sanitize("address", "thread"))) int cloned_child(void* plan) {
  become_command(*static_cast<const ChildPlan*>(plan));
}

// The child's stack while it shares the agent's memory (clone needs one; vfork borrows the
// parent's): a few frames of system calls, and a sanitizer's interceptors at most.
constexpr std::size_t kChildStackBytes = 256 * 1024;

// Waits for the child to exec or to report why it could not: nothing read means it exec'd.
// An unshare failure comes back as its stage, for the caller to start again with vfork.
Result<void> read_exec_status(int status_read, const SpawnRequest& request, bool& unshare_failed) {
  ChildFailure failure{};
  ssize_t got;
  do {
    got = read(status_read, &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  if (got == 0) return {};
  if (got != static_cast<ssize_t>(sizeof failure))
    return fail(Errc::internal, "the child process ended before it could run /bin/bash");
  if (failure.stage == ChildFailure::unshare_failed) {
    unshare_failed = true;
    return fail(Errc::unavailable, "close_range(CLOSE_RANGE_UNSHARE): " + errno_text(failure.error));
  }
  if (failure.stage == ChildFailure::chdir_failed)
    return fail(Errc::invalid_argument,
                "cwd \"" + request.cwd->string() + "\": " + errno_text(failure.error));
  return fail(Errc::unavailable, "/bin/bash: " + errno_text(failure.error));
}

void reap_blocking(pid_t pid) {
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

bool environ_has_entry(const std::string& environ_block, const std::string& entry) {
  std::size_t start = 0;
  while (start < environ_block.size()) {
    std::size_t end = environ_block.find('\0', start);
    if (end == std::string::npos) end = environ_block.size();
    if (std::string_view(environ_block).substr(start, end - start) == entry) return true;
    start = end + 1;
  }
  return false;
}

std::string read_whole_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

std::vector<std::string> merged_environment(
    const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::map<std::string, std::string> by_name;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    auto equals = text.find('=');
    if (equals == std::string_view::npos) continue;
    by_name.emplace(std::string(text.substr(0, equals)), std::string(text.substr(equals + 1)));
  }
  for (const auto& [name, value] : overrides) by_name[name] = value;
  std::vector<std::string> out;
  out.reserve(by_name.size());
  for (const auto& [name, value] : by_name) out.push_back(name + "=" + value);
  return out;
}

Spawner::Spawner() {
  int dev_null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (dev_null_fd < 0) return;  // spawn() opens it again and says why it cannot
  auto dev_null = above_stdio(dev_null_fd);
  if (!dev_null) return;
  dev_null_ = std::move(*dev_null);
  if (kThreadSanitizer) return;  // its interceptors would take the child's calls for the agent's
  output_slot_ = UniqueFd(fcntl(dev_null_.get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1));
  status_slot_ = UniqueFd(fcntl(dev_null_.get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1));
  void* stack = mmap(nullptr, kChildStackBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack != MAP_FAILED) child_stack_ = stack;
  share_table_ = output_slot_ && status_slot_ && child_stack_ != nullptr;
}

Spawner::~Spawner() {
  if (child_stack_ != nullptr) munmap(child_stack_, kChildStackBytes);
}

Result<SpawnedGroup> spawn_group(const SpawnRequest& request) {
  Spawner spawner;
  return spawner.spawn(request);
}

Result<SpawnedGroup> Spawner::spawn(const SpawnRequest& request) {
  const bool tried_shared = share_table_;
  auto spawned = spawn_once(request);
  if (spawned || !tried_shared || share_table_) return spawned;
  return spawn_once(request);  // the kernel refused the unshare: the same start with vfork
}

Result<SpawnedGroup> Spawner::spawn_once(const SpawnRequest& request) {
  UniqueFd own_dev_null;
  int dev_null_fd = dev_null_.get();
  if (dev_null_fd < 0) {
    int opened = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (opened < 0) return fail(Errc::io, "/dev/null: " + errno_text(errno));
    auto moved = above_stdio(opened);
    if (!moved) return std::unexpected(moved.error());
    own_dev_null = std::move(*moved);
    dev_null_fd = own_dev_null.get();
  }
  auto output = make_pipe("output");
  if (!output) return std::unexpected(output.error());
  auto exec_status = make_pipe("exec status");
  if (!exec_status) return std::unexpected(exec_status.error());

  // Everything the child needs is built here: it must not allocate once started.
  std::string shell = "/bin/bash";
  std::string dash_c = "-c";
  std::string command = request.command;
  std::vector<char*> argv = {shell.data(), dash_c.data(), command.data(), nullptr};
  auto direct = direct_exec_of(request.command, request.environment);
  std::vector<char*> direct_argv;
  if (direct) {
    for (auto& word : direct->argv) direct_argv.push_back(word.data());
    direct_argv.push_back(nullptr);
  }
  std::vector<std::string> environment = request.environment;
  std::vector<char*> envp;
  envp.reserve(environment.size() + 1);
  for (auto& entry : environment) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::string cwd = request.cwd ? request.cwd->string() : std::string();

  ChildPlan plan;
  plan.agent = getpid();
  plan.dev_null = dev_null_fd;
  plan.output = output->write.get();
  plan.status = exec_status->write.get();
  plan.cwd = request.cwd ? cwd.c_str() : nullptr;
  plan.direct_path = direct ? direct->path.c_str() : nullptr;
  plan.direct_argv = direct ? direct_argv.data() : nullptr;
  plan.argv = argv.data();
  plan.envp = envp.data();

  // Neither starts with fork: a fork copies the page tables of the whole agent (which grows
  // with the services it holds) for a child that execs at once; 7.5 % of an agent's CPU went
  // there while 10,000 services started (docs/performance.md, "Starting instances with vfork").
  pid_t pid;
  if (share_table_ && dup3(plan.output, output_slot_.get(), O_CLOEXEC) >= 0 &&
      dup3(plan.status, status_slot_.get(), O_CLOEXEC) >= 0) {
    plan.output = output_slot_.get();
    plan.status = status_slot_.get();
    plan.shared_table_top = std::max({dev_null_fd, plan.output, plan.status});
    pid = clone(cloned_child, static_cast<char*>(child_stack_) + kChildStackBytes,
                CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &plan);
  } else {
    pid = vfork();
    if (pid == 0) become_command(plan);
  }
  const int start_error = errno;
  if (share_table_) {
    // The slots let go of the pipes, or the output would never reach its end of file.
    dup3(dev_null_.get(), output_slot_.get(), O_CLOEXEC);
    dup3(dev_null_.get(), status_slot_.get(), O_CLOEXEC);
  }
  if (pid < 0) return fail(Errc::unavailable, "starting a process: " + errno_text(start_error));

  // Also set here, so that the group exists whichever of parent and child runs first;
  // EACCES once the child has exec'd is expected.
  setpgid(pid, pid);
  exec_status->write.reset();
  output->write.reset();

  bool unshare_failed = false;
  if (auto status = read_exec_status(exec_status->read.get(), request, unshare_failed); !status) {
    reap_blocking(pid);
    if (unshare_failed) share_table_ = false;
    return std::unexpected(status.error());
  }

  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int error = errno;
    kill(-pid, SIGKILL);
    reap_blocking(pid);
    return fail(Errc::unavailable, "pidfd_open: " + errno_text(error));
  }
  if (fcntl(output->read.get(), F_SETFL, O_NONBLOCK) != 0) {
    int error = errno;
    kill(-pid, SIGKILL);
    reap_blocking(pid);
    close(pidfd);
    return fail(Errc::io, "fcntl: " + errno_text(error));
  }
  return SpawnedGroup{pid, UniqueFd(pidfd), std::move(output->read)};
}

std::size_t kill_processes_with_env_entry(const std::string& entry) {
  const pid_t self = getpid();
  const pid_t own_group = getpgrp();
  std::size_t matched = 0;
  std::error_code error;
  std::filesystem::directory_iterator proc_entry("/proc", error);
  const std::filesystem::directory_iterator end;
  for (; !error && proc_entry != end; proc_entry.increment(error)) {
    const auto name = proc_entry->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid == self) continue;
    // Unreadable (another user's process) or gone: not ours either way.
    if (!environ_has_entry(read_whole_file(proc_entry->path() / "environ"), entry)) continue;
    const pid_t group = getpgid(pid);
    if (group > 1 && group != own_group) kill(-group, SIGKILL);
    kill(pid, SIGKILL);
    ++matched;
  }
  return matched;
}

}  // namespace mob::bash
