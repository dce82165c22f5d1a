#include "providers/bash/direct_exec.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>

namespace mob::bash {
namespace {

bool plain(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
}

// bash 5's builtins and reserved words (`help`, `compgen -b`, `compgen -k`) that are plain
// words: run by bash itself, never looked up in PATH.
constexpr std::string_view kShellWords[] = {
    ".",       ":",        "alias",  "bg",       "bind",     "break",   "builtin", "caller",
    "case",    "cd",       "command", "compgen", "complete", "compopt", "continue", "coproc",
    "declare", "dirs",     "disown", "do",       "done",     "echo",    "elif",    "else",
    "enable",  "esac",     "eval",   "exec",     "exit",     "export",  "false",   "fc",
    "fg",      "fi",       "for",    "function", "getopts",  "hash",    "help",    "history",
    "if",      "in",       "jobs",   "kill",     "let",      "local",   "logout",  "mapfile",
    "popd",    "printf",   "pushd",  "pwd",      "read",     "readarray", "readonly", "return",
    "select",  "set",      "shift",  "shopt",    "source",   "suspend", "test",    "then",
    "time",    "times",    "trap",   "true",     "type",     "typeset", "ulimit",  "umask",
    "unalias", "unset",    "until",  "wait",     "while"};

bool shell_word(std::string_view word) {
  return std::find(std::begin(kShellWords), std::end(kShellWords), word) != std::end(kShellWords);
}

bool changes_bash(std::string_view entry) {
  return entry.starts_with("BASH_ENV=") || entry.starts_with("BASH_FUNC_") || entry.starts_with("SHELLOPTS=") ||
         entry.starts_with("BASHOPTS=");
}

bool executable_file(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::optional<DirectExec> direct_exec_of(std::string_view command, const std::vector<std::string>& environment) {
  std::vector<std::string> words;
  std::string word;
  for (char c : command) {
    if (c == ' ' || c == '\t') {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else if (plain(c)) {
      word.push_back(c);
    } else {
      return std::nullopt;
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  if (!words.empty() && words.front() == "exec") words.erase(words.begin());
  if (words.empty()) return std::nullopt;
  const std::string& name = words.front();
  if (shell_word(name) || name.find('=') != std::string::npos || name.starts_with('-')) return std::nullopt;

  std::string_view path_list;
  bool has_path = false;
  for (const auto& entry : environment) {
    if (changes_bash(entry)) return std::nullopt;
    if (entry.starts_with("PATH=")) {
      path_list = std::string_view(entry).substr(5);
      has_path = true;
    }
  }
  if (name.find('/') != std::string::npos) {
    // A path: bash execs it as it is, relative ones from the child's cwd, which is not ours.
    if (!name.starts_with('/') || !executable_file(name)) return std::nullopt;
    return DirectExec{name, std::move(words)};
  }
  if (!has_path) return std::nullopt;  // bash would search its own default PATH
  std::size_t start = 0;
  while (start <= path_list.size()) {
    std::size_t end = path_list.find(':', start);
    if (end == std::string_view::npos) end = path_list.size();
    std::string_view directory = path_list.substr(start, end - start);
    // An empty or relative directory means the child's cwd: leave it to bash.
    if (directory.empty() || directory.front() != '/') return std::nullopt;
    std::string candidate(directory);
    if (candidate.back() != '/') candidate.push_back('/');
    candidate += name;
    if (executable_file(candidate)) return DirectExec{std::move(candidate), std::move(words)};
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace mob::bash
