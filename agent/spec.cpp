#include "agent/spec.hpp"

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

ServiceSpec parse_document(const json& doc, const SpecLimits& limits) {
  if (!doc.is_object()) reject("spec", "expected a JSON object, got " + json_type(doc));
  reject_unknown(doc, "", {"name", "provider", "params", "instances", "restart", "depends_on",
                           "requires", "stop_timeout_s", "constraints"});
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
  return spec;
}

}  // namespace

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
  return out;
}

}  // namespace mob
