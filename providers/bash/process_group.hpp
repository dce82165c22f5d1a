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

// Returns once the command has been exec'd, or with the reason it could not be (a bad cwd,
// a missing /bin/bash): the child reports chdir and exec failures back before exiting.
Result<SpawnedGroup> spawn_group(const SpawnRequest& request);

// The environment this process runs with, with `overrides` replacing or adding entries.
std::vector<std::string> merged_environment(
    const std::vector<std::pair<std::string, std::string>>& overrides);

// SIGKILLs every process whose environment holds exactly `entry` (e.g. "MOB_AGENT_ID=x"),
// and its process group, except this process and its group. Returns how many matched.
std::size_t kill_processes_with_env_entry(const std::string& entry);

}  // namespace mob::bash
