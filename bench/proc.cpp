#include "bench/proc.hpp"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

namespace mob::bench {

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> children;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = opendir(tasks.c_str());
  if (!dir) return children;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream file(tasks + "/" + entry->d_name + "/children");
    pid_t child = 0;
    while (file >> child) children.push_back(child);
  }
  closedir(dir);
  return children;
}

std::string command_line(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  while (!text.empty() && text.back() == '\0') text.pop_back();
  for (char& c : text)
    if (c == '\0') c = ' ';
  return text;
}

int crash(pid_t pid) {
  // Stop it first so it cannot start anything between the listing and the kill.
  kill(pid, SIGSTOP);
  auto children = children_of(pid);
  kill(pid, SIGKILL);
  int killed = 0;
  for (pid_t child : children) {
    pid_t group = getpgid(child);
    if (group > 1 && group != getpgid(0) && kill(-group, SIGKILL) == 0) ++killed;
    else if (kill(child, SIGKILL) == 0) ++killed;
  }
  return killed;
}

}  // namespace mob::bench
