#include "agent/spec.hpp"

#include <arpa/inet.h>

#include <csignal>
#include <algorithm>
#include <cmath>
#include <set>

#include "providers/registry.hpp"

namespace mob {
namespace {

using nlohmann::json;

// Thrown inside this file only; parse_spec turns it into an Error value.
struct SpecError {
  std::string message;
};

[[noreturn]] void reject(const std::string& path, const std::string& reason) {
  throw SpecError{path + ": " + reason};
}

std::string json_type(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    default: return "value";
  }
}

std::string expect_string(const json& value, const std::string& path) {
  if (!value.is_string()) reject(path, "expected a string, got " + json_type(value));
  return value.get<std::string>();
}

std::uint32_t expect_uint(const json& value, const std::string& path, std::uint64_t min,
                          std::uint64_t max) {
  std::uint64_t number = 0;
  if (value.is_number_unsigned()) {
    number = value.get<std::uint64_t>();
  } else if (value.is_number_integer()) {
    reject(path, "expected an integer from " + std::to_string(min) + " to " +
                     std::to_string(max) + ", got " + value.dump());
  } else if (value.is_number_float()) {
    double as_float = value.get<double>();
    if (std::floor(as_float) != as_float || as_float < 0)
      reject(path, "expected a whole number, got " + value.dump());
    // Casting a double beyond the integer's range is undefined (found by fuzz/).
    if (as_float > static_cast<double>(max))
      reject(path, "expected an integer from " + std::to_string(min) + " to " +
                       std::to_string(max) + ", got " + value.dump());
    number = static_cast<std::uint64_t>(as_float);
  } else {
    reject(path, "expected an integer, got " + json_type(value));
  }
  if (number < min || number > max)
    reject(path, "expected an integer from " + std::to_string(min) + " to " +
                     std::to_string(max) + ", got " + std::to_string(number));
  return static_cast<std::uint32_t>(number);
}

void reject_unknown(const json& object, const std::string& prefix,
                    const std::vector<std::string_view>& known) {
  for (const auto& [key, value] : object.items()) {
    bool found = false;
    for (auto name : known) found = found || key == name;
    if (found) continue;
    std::string list;
    for (auto name : known) list += (list.empty() ? "" : ", ") + std::string(name);
    reject(prefix + key, "unknown field; allowed fields are " + list);
  }
}

RestartPolicy parse_policy(const std::string& text, const std::string& path, bool legacy) {
  if (text == "always") return RestartPolicy::always;
  if (text == "on-failure" || (legacy && text == "on_error")) return RestartPolicy::on_failure;
  if (text == "never" || (legacy && text == "none")) return RestartPolicy::never;
  reject(path, std::string("expected one of always, on-failure, never") +
                   (legacy ? " (or the original forms on_error, none)" : "") + ", got \"" +
                   text + "\"");
}

RestartSpec parse_restart(const json& value) {
  RestartSpec restart;
  if (value.is_string()) {
    restart.policy = parse_policy(value.get<std::string>(), "restart", true);
    return restart;
  }
  if (!value.is_object())
    reject("restart", "expected an object or one of \"always\", \"on_error\", \"none\", got " +
                          json_type(value));
  reject_unknown(value, "restart.",
                 {"policy", "max_restarts", "window_s", "backoff_ms", "backoff_max_ms"});
  if (value.contains("policy"))
    restart.policy = parse_policy(expect_string(value["policy"], "restart.policy"),
                                  "restart.policy", false);
  if (value.contains("max_restarts"))
    restart.max_restarts = expect_uint(value["max_restarts"], "restart.max_restarts", 0, 1000000);
  if (value.contains("window_s"))
    restart.window_s = expect_uint(value["window_s"], "restart.window_s", 1, 86400 * 7);
  if (value.contains("backoff_ms"))
    restart.backoff_ms = expect_uint(value["backoff_ms"], "restart.backoff_ms", 0, 3600000);
  if (value.contains("backoff_max_ms"))
    restart.backoff_max_ms =
        expect_uint(value["backoff_max_ms"], "restart.backoff_max_ms", 0, 3600000);
  if (restart.backoff_max_ms < restart.backoff_ms)
    reject("restart.backoff_max_ms", "must be at least restart.backoff_ms (" +
                                         std::to_string(restart.backoff_ms) + "), got " +
                                         std::to_string(restart.backoff_max_ms));
  return restart;
}

std::vector<std::string> parse_dependencies(const json& value, const std::string& path,
                                            const std::string& self) {
  if (!value.is_array()) reject(path, "expected an array of service names, got " + json_type(value));
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto item_path = path + "[" + std::to_string(i) + "]";
    auto name = expect_string(value[i], item_path);
    if (!is_valid_service_name(name)) reject(item_path, "\"" + name + "\" is not a valid service name");
    if (name == self) reject(item_path, "a service cannot depend on itself");
    if (seen.insert(name).second) names.push_back(name);
  }
  return names;
}

std::map<std::string, std::string> parse_constraints(const json& value) {
  if (!value.is_object()) reject("constraints", "expected an object, got " + json_type(value));
  reject_unknown(value, "constraints.", {"tags"});
  std::map<std::string, std::string> tags;
  if (!value.contains("tags")) return tags;
  const auto& tag_object = value["tags"];
  if (!tag_object.is_object())
    reject("constraints.tags", "expected an object of tag names to values, got " + json_type(tag_object));
  for (const auto& [key, tag_value] : tag_object.items())
    tags[key] = expect_string(tag_value, "constraints.tags." + key);
  return tags;
}

// "10", "0.5": milliseconds as the seconds a spec writes.
std::string seconds_text(std::uint32_t ms) {
  std::string text = std::to_string(ms / 1000);
  if (ms % 1000 != 0) {
    std::string fraction = std::to_string(1000 + ms % 1000).substr(1);
    while (fraction.back() == '0') fraction.pop_back();
    text += "." + fraction;
  }
  return text;
}

// Seconds as a JSON number (fractions allowed) from `min_ms` to `max_ms`, in milliseconds.
std::uint32_t expect_seconds(const json& value, const std::string& path, std::uint32_t min_ms,
                             std::uint32_t max_ms) {
  const std::string range = "expected seconds from " + seconds_text(min_ms) + " to " + seconds_text(max_ms);
  if (!value.is_number()) reject(path, range + ", got " + json_type(value));
  double seconds = value.get<double>();
  if (!(seconds * 1000 >= min_ms && seconds * 1000 <= max_ms)) reject(path, range + ", got " + value.dump());
  return static_cast<std::uint32_t>(std::llround(seconds * 1000));
}

std::string check_type_list() { return "exec, tcp, http"; }

CheckType parse_check_type(const json& value, const std::string& path) {
  auto text = expect_string(value, path);
  if (text == "exec") return CheckType::exec;
  if (text == "tcp") return CheckType::tcp;
  if (text == "http") return CheckType::http;
  reject(path, "expected one of " + check_type_list() + ", got \"" + text + "\"");
}

// An IP address: a check never waits on a name lookup (it would block the checker's loop).
std::string parse_check_host(const json& value, const std::string& path) {
  auto host = expect_string(value, path);
  if (host == "localhost") return "127.0.0.1";
  unsigned char address[16];
  if (inet_pton(AF_INET, host.c_str(), address) == 1 || inet_pton(AF_INET6, host.c_str(), address) == 1)
    return host;
  reject(path, "expected an IPv4 or IPv6 address (or localhost), got \"" + host +
                   "\"; names are not resolved, so that a slow DNS cannot hold a check; leave it out "
                   "for the address of the agent that runs the instance");
}

CheckSpec parse_check(const json& value, const std::string& path, std::string& port_name) {
  if (!value.is_object()) reject(path, "expected an object such as {\"type\": \"tcp\", \"port\": 8080}, got " + json_type(value));
  reject_unknown(value, path + ".",
                 {"name", "type", "host", "port", "path", "expect_status", "command", "interval_s",
                  "timeout_s", "failures", "successes", "grace_s", "on_failure"});
  CheckSpec check;
  if (!value.contains("type")) reject(path + ".type", "required; one of " + check_type_list());
  check.type = parse_check_type(value["type"], path + ".type");
  const std::string type_name = value["type"].get<std::string>();
  auto only_for = [&](std::string_view field, std::initializer_list<CheckType> types, std::string_view which) {
    if (!value.contains(field)) return false;
    for (auto type : types)
      if (type == check.type) return true;
    reject(path + "." + std::string(field), "only " + std::string(which) + " checks take it; this check is " + type_name);
  };
  check.name = type_name;
  if (value.contains("name")) {
    check.name = expect_string(value["name"], path + ".name");
    if (!is_valid_service_name(check.name))
      reject(path + ".name", "\"" + check.name + "\" is not valid: use 1-63 letters, digits, '_', '.' or '-', "
                             "starting with a letter or digit");
  }
  bool networked = check.type == CheckType::tcp || check.type == CheckType::http;
  if (only_for("host", {CheckType::tcp, CheckType::http}, "tcp and http"))
    check.host = parse_check_host(value["host"], path + ".host");
  if (only_for("port", {CheckType::tcp, CheckType::http}, "tcp and http")) {
    if (value["port"].is_string()) {
      port_name = value["port"].get<std::string>();  // checked against `ports` once they are parsed
      if (port_name.empty())
        reject(path + ".port", "expected a port number 1-65535 or the name of one of ports, got \"\"");
    }
    else check.port = expect_uint(value["port"], path + ".port", 1, 65535);
  } else if (networked)
    reject(path + ".port", "required for " + type_name + "; the port to connect to, e.g. 8080");
  if (check.type == CheckType::http) check.path = "/";
  if (only_for("path", {CheckType::http}, "http")) {
    check.path = expect_string(value["path"], path + ".path");
    if (check.path.empty() || check.path.front() != '/' || check.path.size() > 1024 ||
        check.path.find_first_of(" \t\r\n", 0) != std::string::npos || check.path.find('\0') != std::string::npos)
      reject(path + ".path", "expected a path starting with '/', without spaces, at most 1024 bytes, got " +
                                 value["path"].dump());
  }
  if (only_for("expect_status", {CheckType::http}, "http"))
    check.expect_status = expect_uint(value["expect_status"], path + ".expect_status", 100, 599);
  if (only_for("command", {CheckType::exec}, "exec")) {
    check.command = expect_string(value["command"], path + ".command");
    if (check.command.empty() || check.command.find('\0') != std::string::npos)
      reject(path + ".command", "expected a non-empty shell command without NUL bytes, e.g. \"pg_isready -q\"");
  } else if (check.type == CheckType::exec) {
    reject(path + ".command", "required for exec; a shell command whose exit code 0 means healthy, e.g. \"pg_isready -q\"");
  }
  check.interval_ms = value.contains("interval_s")
                          ? expect_seconds(value["interval_s"], path + ".interval_s", 100, 3'600'000)
                          : 10'000;
  check.timeout_ms = value.contains("timeout_s")
                         ? expect_seconds(value["timeout_s"], path + ".timeout_s", 100, 300'000)
                         : std::min<std::uint32_t>(2000, check.interval_ms);
  if (check.timeout_ms > check.interval_ms)
    reject(path + ".timeout_s", "must be at most interval_s (" + seconds_text(check.interval_ms) +
                                    "): a check runs one at a time; lower it or raise interval_s");
  check.failures = value.contains("failures") ? expect_uint(value["failures"], path + ".failures", 1, 100) : 3;
  check.successes = value.contains("successes") ? expect_uint(value["successes"], path + ".successes", 1, 100) : 1;
  check.grace_ms = value.contains("grace_s") ? expect_seconds(value["grace_s"], path + ".grace_s", 0, 3'600'000) : 0;
  if (value.contains("on_failure")) {
    auto action = expect_string(value["on_failure"], path + ".on_failure");
    if (action != "restart" && action != "none")
      reject(path + ".on_failure", "expected one of restart, none, got \"" + action + "\"");
    check.restart_on_failure = action == "restart";
  }
  return check;
}

std::vector<CheckSpec> parse_checks(const json& value, std::vector<std::string>& port_names) {
  if (!value.is_array())
    reject("checks", "expected an array of checks such as [{\"type\": \"tcp\", \"port\": 8080}], got " +
                         json_type(value));
  if (value.size() > kMaxChecks)
    reject("checks", std::to_string(value.size()) + " checks; at most " + std::to_string(kMaxChecks) +
                         " are allowed");
  std::vector<CheckSpec> checks;
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto path = "checks[" + std::to_string(i) + "]";
    std::string port_name;
    auto check = parse_check(value[i], path, port_name);
    port_names.push_back(std::move(port_name));
    for (std::size_t j = 0; j < checks.size(); ++j)
      if (checks[j].name == check.name)
        reject(path + ".name", "\"" + check.name + "\" is already the name of checks[" + std::to_string(j) +
                                   "]; give each check its own name");
    checks.push_back(std::move(check));
  }
  return checks;
}

UpdateSpec parse_update(const json& value) {
  if (!value.is_object())
    reject("update", "expected an object such as {\"max_parallel\": 1, \"min_healthy_s\": 5}, got " + json_type(value));
  reject_unknown(value, "update.", {"max_parallel", "min_healthy_s", "healthy_deadline_s", "auto_revert", "canary"});
  UpdateSpec update;
  if (value.contains("max_parallel"))
    update.max_parallel = expect_uint(value["max_parallel"], "update.max_parallel", 1, 1000);
  if (value.contains("min_healthy_s"))
    update.min_healthy_ms = expect_seconds(value["min_healthy_s"], "update.min_healthy_s", 0, 3'600'000);
  if (value.contains("healthy_deadline_s"))
    update.healthy_deadline_ms =
        expect_seconds(value["healthy_deadline_s"], "update.healthy_deadline_s", 1'000, 86'400'000);
  if (update.healthy_deadline_ms <= update.min_healthy_ms)
    reject("update.healthy_deadline_s", "must be more than min_healthy_s (" + seconds_text(update.min_healthy_ms) +
                                            "), got " + seconds_text(update.healthy_deadline_ms) +
                                            "; a new instance could never be healthy in time");
  if (value.contains("auto_revert")) {
    if (!value["auto_revert"].is_boolean())
      reject("update.auto_revert", "expected true or false, got " + json_type(value["auto_revert"]));
    update.auto_revert = value["auto_revert"].get<bool>();
  }
  if (value.contains("canary")) update.canary = expect_uint(value["canary"], "update.canary", 0, 1000);
  return update;
}

std::map<std::string, PortSpec> parse_ports(const json& value, const std::string& provider) {
  if (!value.is_object())
    reject("ports", "expected an object of names and port numbers such as {\"http\": 0}, got " + json_type(value));
  if (value.size() > kMaxPorts) reject("ports", "more than " + std::to_string(kMaxPorts) + " ports");
  std::map<std::string, PortSpec> ports;
  std::map<std::uint32_t, std::string> fixed;
  for (const auto& [name, item] : value.items()) {
    bool valid = !name.empty() && name.size() <= 32;
    for (char c : name) valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
    if (!valid) reject("ports", "name \"" + name + "\" may contain a-z, 0-9 and _ (1-32 of them)");
    const std::string path = "ports." + name;
    auto port_number = [&](const json& number, const std::string& where, bool zero_allowed) {
      if (!number.is_number_integer() && !number.is_number_unsigned())
        reject(where, std::string("must be ") + (zero_allowed ? "0 or " : "") + "1-65535, got " + number.dump());
      auto wide = number.get<std::int64_t>();
      if (wide < (zero_allowed ? 0 : 1) || wide > 65535)
        reject(where, std::string("must be ") + (zero_allowed ? "0 or " : "") + "1-65535, got " + number.dump());
      return static_cast<std::uint32_t>(wide);
    };
    PortSpec port;
    if (item.is_object()) {
      reject_unknown(item, path + ".", {"port", "container_port"});
      if (item.contains("port")) port.port = port_number(item["port"], path + ".port", true);
      if (item.contains("container_port")) {
        if (provider != "docker")
          reject(path + ".container_port", "only a docker service publishes a container port; give the port alone");
        port.container_port = port_number(item["container_port"], path + ".container_port", false);
      }
    } else {
      port.port = port_number(item, path, true);
    }
    if (port.port != 0) {
      auto [other, fresh] = fixed.emplace(port.port, name);
      if (!fresh) reject(path, "port " + std::to_string(port.port) + " is also ports." + other->second);
    }
    ports.emplace(name, port);
  }
  return ports;
}

const std::vector<std::pair<std::string_view, int>>& dependency_signals() {
  // Never destroyed, like known_providers(): a thread may parse a spec while the process exits.
  static const auto* signals = new const std::vector<std::pair<std::string_view, int>>{
      {"SIGHUP", SIGHUP}, {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"SIGINT", SIGINT},
      {"SIGQUIT", SIGQUIT}, {"SIGTERM", SIGTERM}, {"SIGWINCH", SIGWINCH}};
  return *signals;
}

OnDependencyChange parse_dependency_change(const json& value) {
  const std::string text = expect_string(value, "on_dependency_change");
  if (text == "restart") return {DependencyChange::restart, 0};
  if (text == "none") return {DependencyChange::none, 0};
  if (text.starts_with("signal:"))
    for (const auto& [name, number] : dependency_signals())
      if (text.substr(7) == name) return {DependencyChange::signal, number};
  std::string names;
  for (const auto& [name, number] : dependency_signals()) names += (names.empty() ? "" : ", ") + std::string(name);
  reject("on_dependency_change", "expected restart, none or signal:NAME (NAME one of " + names + "), got \"" +
                                     text + "\"");
}

std::string dependency_change_text(const OnDependencyChange& change) {
  if (change.action == DependencyChange::none) return "none";
  if (change.action == DependencyChange::restart) return "restart";
  for (const auto& [name, number] : dependency_signals())
    if (number == change.signal) return "signal:" + std::string(name);
  return "restart";
}

ServiceSpec parse_document(const json& doc, const SpecLimits& limits) {
  if (!doc.is_object()) reject("spec", "expected a JSON object, got " + json_type(doc));
  reject_unknown(doc, "", {"name", "provider", "params", "instances", "restart", "depends_on",
                           "requires", "stop_timeout_s", "constraints", "checks", "update", "ports",
                           "on_dependency_change"});
  ServiceSpec spec;
  if (!doc.contains("name")) reject("name", "required; a service name such as \"echoes\"");
  spec.name = expect_string(doc["name"], "name");
  if (!is_valid_service_name(spec.name))
    reject("name", "\"" + spec.name + "\" is not valid: use 1-63 letters, digits, '_', '.' or '-', "
                   "starting with a letter or digit");
  if (!doc.contains("provider")) reject("provider", "required; for example \"bash\"");
  spec.provider = expect_string(doc["provider"], "provider");
  if (!is_known_provider(spec.provider)) {
    std::string list;
    for (const auto& name : known_providers()) list += (list.empty() ? "" : ", ") + name;
    reject("provider", "unknown provider \"" + spec.provider + "\"; known providers: " + list);
  }
  if (doc.contains("params")) spec.params = doc["params"];
  if (auto checked = check_provider_params(spec.provider, spec.params); !checked)
    throw SpecError{checked.error().message};
  if (doc.contains("instances")) {
    const json& instances = doc["instances"];
    if (instances.is_number_unsigned() && instances.get<std::uint64_t>() > limits.max_instances)
      reject("instances", "expected an integer from 0 to " + std::to_string(limits.max_instances) +
                              ", got " + instances.dump() + " (the agent's limit, --max-instances)");
    spec.instances = expect_uint(instances, "instances", 0, limits.max_instances);
  }
  if (doc.contains("restart")) spec.restart = parse_restart(doc["restart"]);
  if (doc.contains("depends_on") && doc.contains("requires"))
    reject("requires", "give either depends_on or requires (its original name), not both");
  if (doc.contains("depends_on"))
    spec.depends_on = parse_dependencies(doc["depends_on"], "depends_on", spec.name);
  if (doc.contains("requires"))
    spec.depends_on = parse_dependencies(doc["requires"], "requires", spec.name);
  if (doc.contains("stop_timeout_s")) {
    const auto& value = doc["stop_timeout_s"];
    if (!value.is_number()) reject("stop_timeout_s", "expected a number of seconds, got " + json_type(value));
    double seconds = value.get<double>();
    if (!(seconds >= 0 && seconds <= 3600))
      reject("stop_timeout_s", "expected seconds from 0 to 3600, got " + value.dump());
    spec.stop_timeout_ms = static_cast<std::uint32_t>(std::llround(seconds * 1000));
  }
  if (doc.contains("constraints")) spec.constraint_tags = parse_constraints(doc["constraints"]);
  if (doc.contains("checks")) spec.checks = parse_checks(doc["checks"], spec.check_ports);
  if (doc.contains("update")) spec.update = parse_update(doc["update"]);
  if (spec.update && spec.update->canary > spec.instances)
    reject("update.canary", "expected an integer from 0 to instances (" + std::to_string(spec.instances) + "), got " +
                                std::to_string(spec.update->canary));
  if (doc.contains("ports")) spec.ports = parse_ports(doc["ports"], spec.provider);
  for (std::size_t i = 0; i < spec.check_ports.size(); ++i) {
    const std::string& name = spec.check_ports[i];
    if (name.empty() || spec.ports.contains(name)) continue;
    std::string known;
    for (const auto& [port, value] : spec.ports) known += (known.empty() ? "" : ", ") + port;
    reject("checks[" + std::to_string(i) + "].port",
           "\"" + name + "\" is not a port of this spec" +
               (known.empty() ? std::string("; give a number, or name the port in ports") : " (its ports: " + known + ")"));
  }
  if (std::all_of(spec.check_ports.begin(), spec.check_ports.end(), [](const auto& name) { return name.empty(); }))
    spec.check_ports.clear();
  if (doc.contains("on_dependency_change"))
    spec.on_dependency_change = parse_dependency_change(doc["on_dependency_change"]);
  return spec;
}

}  // namespace

std::string env_name_part(std::string_view name) {
  std::string part;
  for (char c : name) {
    if (c >= 'a' && c <= 'z') part += static_cast<char>(c - 'a' + 'A');
    else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) part += c;
    else part += '_';
  }
  return part;
}

bool is_valid_service_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  auto allowed = [](char c, bool first) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    return alnum || (!first && (c == '_' || c == '.' || c == '-'));
  };
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!allowed(name[i], i == 0)) return false;
  return true;
}

Result<ServiceSpec> parse_spec(std::string_view json_text, const SpecLimits& limits) {
  if (json_text.size() > limits.max_spec_bytes)
    return fail(Errc::too_large, "spec: " + std::to_string(json_text.size()) +
                                     " bytes exceeds the limit of " +
                                     std::to_string(limits.max_spec_bytes) +
                                     " bytes (the agent's --max-spec-bytes)");
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception& e) {
    // Not only parse_error: a number too large for a double is out_of_range (found by fuzz/).
    return fail(Errc::invalid_argument, std::string("spec is not valid JSON: ") + e.what());
  }
  try {
    return parse_document(doc, limits);
  } catch (const SpecError& e) {
    return fail(Errc::invalid_argument, e.message);
  } catch (const json::exception& e) {
    return fail(Errc::invalid_argument, std::string("spec: ") + e.what());
  }
}

bool may_name_dependencies(std::string_view spec_text) {
  if (spec_text.find("requires") != std::string_view::npos || spec_text.find("\\u") != std::string_view::npos)
    return true;
  constexpr std::string_view kNone = "depends_on\":[]";
  for (auto at = spec_text.find("depends_on"); at != std::string_view::npos; at = spec_text.find("depends_on", at + 1))
    if (spec_text.substr(at, kNone.size()) != kNone) return true;
  return false;
}

nlohmann::json to_json(const ServiceSpec& spec) {
  json out = {
      {"name", spec.name},
      {"provider", spec.provider},
      {"params", spec.params},
      {"instances", spec.instances},
      {"restart",
       {{"policy", std::string(to_string(spec.restart.policy))},
        {"max_restarts", spec.restart.max_restarts},
        {"window_s", spec.restart.window_s},
        {"backoff_ms", spec.restart.backoff_ms},
        {"backoff_max_ms", spec.restart.backoff_max_ms}}},
      {"depends_on", spec.depends_on},
      {"stop_timeout_s", spec.stop_timeout_ms / 1000.0},
  };
  if (!spec.constraint_tags.empty()) out["constraints"] = {{"tags", spec.constraint_tags}};
  if (!spec.checks.empty()) {
    json checks = json::array();
    for (const auto& check : spec.checks) {
      json item = {{"name", check.name},
                   {"type", check.type == CheckType::exec  ? "exec"
                            : check.type == CheckType::tcp ? "tcp"
                                                           : "http"},
                   {"interval_s", check.interval_ms / 1000.0},
                   {"timeout_s", check.timeout_ms / 1000.0},
                   {"failures", check.failures},
                   {"successes", check.successes},
                   {"grace_s", check.grace_ms / 1000.0},
                   {"on_failure", check.restart_on_failure ? "restart" : "none"}};
      if (!check.host.empty()) item["host"] = check.host;
      const std::size_t index = checks.size();
      if (index < spec.check_ports.size() && !spec.check_ports[index].empty()) item["port"] = spec.check_ports[index];
      else if (check.port != 0) item["port"] = check.port;
      if (check.type == CheckType::http) item["path"] = check.path;
      if (check.expect_status != 0) item["expect_status"] = check.expect_status;
      if (check.type == CheckType::exec) item["command"] = check.command;
      checks.push_back(std::move(item));
    }
    out["checks"] = std::move(checks);
  }
  if (spec.update)
    out["update"] = {{"max_parallel", spec.update->max_parallel},
                     {"min_healthy_s", spec.update->min_healthy_ms / 1000.0},
                     {"healthy_deadline_s", spec.update->healthy_deadline_ms / 1000.0},
                     {"auto_revert", spec.update->auto_revert}};
  // Left out when 0, so that specs deployed before canaries keep their identity.
  if (spec.update && spec.update->canary != 0) out["update"]["canary"] = spec.update->canary;
  if (!spec.ports.empty()) {
    json ports = json::object();
    for (const auto& [name, port] : spec.ports)
      ports[name] = port.container_port == 0 ? json(port.port)
                                             : json{{"port", port.port}, {"container_port", port.container_port}};
    out["ports"] = std::move(ports);
  }
  // Left out when it is the default, so that specs deployed before it keep their identity.
  if (spec.on_dependency_change != OnDependencyChange{})
    out["on_dependency_change"] = dependency_change_text(spec.on_dependency_change);
  return out;
}

nlohmann::json run_spec_of(const ServiceSpec& spec) {
  auto out = to_json(spec);
  out.erase("instances");
  out.erase("update");
  return out;
}

}  // namespace mob
