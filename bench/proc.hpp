// The process table as the bench sees it: children of a process, their command lines, and a
// "crashed machine" (an agent and every process group it started, SIGKILLed). Linux /proc.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace mob::bench {

// Direct children of `pid`, across all its threads (a multithreaded agent forks from any).
std::vector<pid_t> children_of(pid_t pid);

// argv joined with spaces; empty if the process is gone.
std::string command_line(pid_t pid);

// SIGKILLs `pid` and then the process group of every child it had: what a machine crash
// leaves behind is nothing. Returns how many child groups were killed.
int crash(pid_t pid);

}  // namespace mob::bench
