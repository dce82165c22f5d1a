#include <string>
#include <string_view>

#include "providers/bash/bash_provider.hpp"

namespace mob {
namespace {

using nlohmann::json;

constexpr std::string_view kCommandHint =
    "the shell command to run, e.g. \"while true; do echo hi; sleep 5; done\"";

std::unexpected<Error> reject(const std::string& path, const std::string& reason) {
  return fail(Errc::invalid_argument, path + ": " + reason);
}

std::string expected(std::string_view what, const json& got) {
  return "expected " + std::string(what) + ", got " + got.type_name();
}

bool has_nul(const std::string& text) { return text.find('\0') != std::string::npos; }

// Mob sets these itself; a spec that tried to would silently lose, so it is refused.
bool is_reserved_env_name(const std::string& name) {
  return name == "MOB_SERVICE" || name == "MOB_INSTANCE" || name == "MOB_AGENT_ID";
}

Result<void> check_env(const json& env) {
  if (!env.is_object()) return reject("params.env", expected("an object", env));
  for (const auto& [name, value] : env.items()) {
    const std::string path = "params.env." + name;
    if (name.empty() || name.find('=') != std::string::npos || has_nul(name))
      return reject(path, "invalid variable name; names are non-empty and contain no '='");
    if (is_reserved_env_name(name))
      return reject(path, "reserved; Mob sets MOB_SERVICE, MOB_INSTANCE and MOB_AGENT_ID itself");
    if (!value.is_string()) return reject(path, expected("a string", value));
    if (has_nul(value.get_ref<const std::string&>()))
      return reject(path, "must not contain a NUL byte");
  }
  return {};
}

}  // namespace

Result<void> check_bash_params(const json& params) {
  if (!params.is_object()) return reject("params", expected("an object", params));
  for (const auto& [name, value] : params.items()) {
    if (name != "command" && name != "env" && name != "cwd")
      return reject("params." + name, "unknown field; bash params are command, env, cwd");
  }

  auto command = params.find("command");
  if (command == params.end())
    return reject("params.command", "required; " + std::string(kCommandHint));
  if (!command->is_string()) return reject("params.command", expected("a string", *command));
  const auto& command_text = command->get_ref<const std::string&>();
  if (command_text.empty())
    return reject("params.command", "must not be empty; " + std::string(kCommandHint));
  if (has_nul(command_text)) return reject("params.command", "must not contain a NUL byte");

  if (auto env = params.find("env"); env != params.end()) {
    if (auto checked = check_env(*env); !checked) return checked;
  }

  if (auto cwd = params.find("cwd"); cwd != params.end()) {
    if (!cwd->is_string()) return reject("params.cwd", expected("a string", *cwd));
    const auto& cwd_text = cwd->get_ref<const std::string&>();
    if (cwd_text.empty())
      return reject("params.cwd", "must not be empty; the directory to run the command in");
    if (has_nul(cwd_text)) return reject("params.cwd", "must not contain a NUL byte");
  }
  return {};
}

}  // namespace mob
