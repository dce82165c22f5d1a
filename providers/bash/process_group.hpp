// Starting a command in a process group of its own, and finding the groups an earlier
// life of the agent left behind. Internal to the bash provider; called on its worker.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bus/error.hpp"
#include "providers/bash/unique_fd.hpp"

namespace mob::bash {

struct SpawnRequest {
  std::string command;                        // run as /bin/bash -c <command>, or exec'd without bash when it needs none (direct_exec.hpp)
  std::vector<std::string> environment;       // complete, "NAME=value" entries
  std::optional<std::filesystem::path> cwd;
};

struct SpawnedGroup {
  pid_t leader = -1;  // also the process group id
  UniqueFd pidfd;     // readable once the leader has exited
  UniqueFd output;    // non-blocking read end of the command's stdout and stderr
};

// Starts commands, each in a process group of its own, for one thread (the bash worker's).
// A child made by vfork gets a copy of the agent's whole descriptor table and closes it
// again: with thousands of instances running (a pidfd and a pipe each) that cost about a
// millisecond of kernel time per start, growing with every instance. A Spawner reserves two
// descriptors at low numbers when it is made; a start points them at the child's output
// and exec-status pipes, and the child, sharing the agent's table, copies only the table
// below them (close_range with CLOSE_RANGE_UNSHARE). Where the kernel lacks that (before
// 5.9), and under ThreadSanitizer, it starts with a plain vfork.
class Spawner {
 public:
  Spawner();
  ~Spawner();
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;

  // Returns once the command has been exec'd, or with the reason it could not be (a bad
  // cwd, a missing /bin/bash): the child reports chdir and exec failures back before exiting.
  Result<SpawnedGroup> spawn(const SpawnRequest& request);
  // Whether starts copy only the low part of the descriptor table (the fast way above).
  bool copies_low_descriptors_only() const { return share_table_; }

 private:
  Result<SpawnedGroup> spawn_once(const SpawnRequest& request);

  UniqueFd dev_null_;       // every command's stdin, and what the slots point at between starts
  UniqueFd output_slot_;    // the child's output pipe during a start
  UniqueFd status_slot_;    // the child's exec-status pipe during a start
  void* child_stack_ = nullptr;  // the child's stack while it shares the agent's memory
  bool share_table_ = false;
};

// One start with a Spawner of its own (tests and one-off starts).
Result<SpawnedGroup> spawn_group(const SpawnRequest& request);

// The environment this process runs with, with `overrides` replacing or adding entries.
std::vector<std::string> merged_environment(
    const std::vector<std::pair<std::string, std::string>>& overrides);

// SIGKILLs every process whose environment holds exactly `entry` (e.g. "MOB_AGENT_ID=x"),
// and its process group, except this process and its group. Returns how many matched.
std::size_t kill_processes_with_env_entry(const std::string& entry);

}  // namespace mob::bash
