// Test support: real child processes in their own process groups, commands whose output
// we capture, waits on conditions (never fixed sleeps), free loopback ports, temp dirs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mob::test {

using namespace std::chrono_literals;

// A process the test started; its destructor SIGKILLs its whole process group.
class Child {
 public:
  Child() = default;
  Child(const std::vector<std::string>& argv, const std::filesystem::path& output_file,
        const std::map<std::string, std::string>& extra_env = {});
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  pid_t pid() const { return pid_; }
  bool running();  // reaps it if it has exited
  void signal(int signo);
  // Waits for exit; returns the raw wait status, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  void kill_group();  // SIGKILL to the process group, then reap
  std::string output() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::filesystem::path output_file_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs a command to completion (bounded by `timeout`, then SIGKILL) and captures output.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = 20s,
                          const std::string& stdin_text = {},
                          const std::map<std::string, std::string>& extra_env = {});

// Polls `condition` every few ms until true or `timeout`; returns the last result.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s);

// A TCP port on 127.0.0.1 nobody listens on now, with port+1 free too.
int free_port_pair();

// A fresh directory under /tmp removed (recursively) by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Is a process alive (not a zombie)?
bool process_alive(pid_t pid);
// Pids of live processes whose environment contains `marker` (e.g. "MOB_TEST_TAG=xyz").
std::vector<pid_t> processes_with_env(const std::string& marker);
std::string read_file(const std::filesystem::path& path);

}  // namespace mob::test
