// Commands that need no shell: one simple command of plain words, which `bash -c` would
// only look up in PATH and exec. Such a command is exec'd directly, as GNU make runs a
// recipe line without shell metacharacters, saving bash's start (about 1.3 ms of CPU per
// instance here); anything else runs under /bin/bash -c as written.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mob::bash {

struct DirectExec {
  std::string path;               // the executable, found the way bash would find it
  std::vector<std::string> argv;  // the words, argv[0] as written
};

// The direct exec of `command` in `environment` ("NAME=value" entries, the child's whole
// environment), or nullopt when bash must run it: any character outside letters, digits and
// `_@%+=:,./-` (quotes, `$`, globs, `~`, `#`, redirections, `;`, `&`, `|`, newlines...), a
// first word that is a bash builtin or keyword or an assignment (a leading `exec` is dropped
// first), an environment that could change what bash does (BASH_ENV, exported functions,
// SHELLOPTS, BASHOPTS), a PATH that is missing or holds a relative directory, or no
// executable file found on it (bash then says why, as it always did).
std::optional<DirectExec> direct_exec_of(std::string_view command, const std::vector<std::string>& environment);

}  // namespace mob::bash
