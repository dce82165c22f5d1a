#include "providers/docker/docker_params.hpp"

#include <charconv>

#include "providers/docker/docker_provider.hpp"

namespace mob::docker {
namespace {

constexpr std::string_view kKnownFields =
    "image, args, entrypoint, env, workdir, ports, volumes, pull, labels";
constexpr std::string_view kReservedLabelPrefix = "mob.";

std::unexpected<Error> field_error(std::string_view path, std::string_view reason) {
  return fail(Errc::invalid_argument, "params." + std::string(path) + ": " + std::string(reason));
}

std::string quoted(std::string_view text) { return nlohmann::json(std::string(text)).dump(); }

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n'; }

Result<std::vector<std::string>> string_list(const nlohmann::json& value, std::string_view path) {
  if (value.is_string()) {
    auto words = split_shell_words(value.get<std::string>());
    if (!words) return field_error(path, words.error().message);
    return words;
  }
  if (!value.is_array()) return field_error(path, "must be a string or an array of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string())
      return field_error(std::string(path) + "[" + std::to_string(i) + "]", "must be a string");
    out.push_back(value[i].get<std::string>());
  }
  return out;
}

Result<std::map<std::string, std::string>> string_map(const nlohmann::json& value,
                                                      std::string_view path) {
  if (!value.is_object()) return field_error(path, "must be an object of strings");
  std::map<std::string, std::string> out;
  for (const auto& [key, item] : value.items()) {
    const std::string item_path = std::string(path) + "." + key;
    if (key.empty()) return field_error(path, "keys must not be empty");
    if (!item.is_string()) return field_error(item_path, "must be a string");
    out.emplace(key, item.get<std::string>());
  }
  return out;
}

std::optional<std::uint16_t> port_number(std::string_view text) {
  unsigned value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

Result<PortMapping> parse_port(std::string_view text, std::string_view path) {
  auto reason = [&] {
    return field_error(path, quoted(text) +
                                 " is not HOST:CONTAINER[/tcp|/udp] with ports 1-65535, "
                                 "e.g. \"8080:80\" or \"5353:53/udp\"");
  };
  PortMapping mapping;
  std::string_view ports = text;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    mapping.protocol = std::string(text.substr(slash + 1));
    if (mapping.protocol != "tcp" && mapping.protocol != "udp") return reason();
    ports = text.substr(0, slash);
  }
  auto colon = ports.find(':');
  if (colon == std::string_view::npos) return reason();
  auto host = port_number(ports.substr(0, colon));
  auto container = port_number(ports.substr(colon + 1));
  if (!host || !container) return reason();
  mapping.host = *host;
  mapping.container = *container;
  return mapping;
}

Result<void> check_volume(std::string_view text, std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t from = 0;
  while (true) {
    auto colon = text.find(':', from);
    parts.push_back(text.substr(from, colon - from));
    if (colon == std::string_view::npos) break;
    from = colon + 1;
  }
  const bool shape = parts.size() == 2 || parts.size() == 3;
  const bool mode = parts.size() != 3 || parts[2] == "ro" || parts[2] == "rw";
  if (!shape || !mode || parts[0].empty() || parts.size() < 2 || !parts[1].starts_with('/'))
    return field_error(path, quoted(text) +
                                 " is not HOST:CONTAINER[:ro|:rw] with an absolute CONTAINER "
                                 "path, e.g. \"/srv/data:/data:ro\"");
  return {};
}

}  // namespace

Result<std::vector<std::string>> split_shell_words(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // a word has started (possibly empty, as with '')
  std::size_t i = 0;
  auto unterminated = [&](std::string_view which, std::size_t at) {
    return fail(Errc::invalid_argument, "unterminated " + std::string(which) +
                                            " quote starting at character " +
                                            std::to_string(at + 1) + " of " + quoted(line));
  };
  while (i < line.size()) {
    const char c = line[i];
    if (is_blank(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
    } else if (c == '\'') {
      auto close = line.find('\'', i + 1);
      if (close == std::string_view::npos) return unterminated("single", i);
      word.append(line.substr(i + 1, close - i - 1));
      in_word = true;
      i = close + 1;
    } else if (c == '"') {
      const std::size_t open = i++;
      bool closed = false;
      while (i < line.size()) {
        const char d = line[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < line.size()) {
          const char next = line[i + 1];
          if (next == '$' || next == '`' || next == '"' || next == '\\') {
            word += next;
            i += 2;
            continue;
          }
          if (next == '\n') {
            i += 2;
            continue;
          }
        }
        word += d;
        ++i;
      }
      if (!closed) return unterminated("double", open);
      in_word = true;
    } else if (c == '\\') {
      if (i + 1 < line.size()) {
        if (line[i + 1] != '\n') {
          word += line[i + 1];
          in_word = true;
        }
        i += 2;
      } else {
        word += '\\';  // a trailing backslash stays literal, as in sh
        in_word = true;
        ++i;
      }
    } else {
      word += c;
      in_word = true;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

Result<DockerParams> parse_docker_params(const nlohmann::json& params) {
  if (!params.is_object())
    return fail(Errc::invalid_argument, "params: must be an object with at least \"image\"");
  DockerParams out;
  for (const auto& [key, value] : params.items()) {
    if (key == "image") {
      if (!value.is_string() || value.get<std::string>().empty())
        return field_error("image", "must be a non-empty string, e.g. \"busybox:1.36\"");
      out.image = value.get<std::string>();
    } else if (key == "args") {
      auto words = string_list(value, "args");
      if (!words) return std::unexpected(words.error());
      out.args = std::move(*words);
    } else if (key == "entrypoint") {
      auto words = string_list(value, "entrypoint");
      if (!words) return std::unexpected(words.error());
      out.entrypoint = std::move(*words);
    } else if (key == "env") {
      auto env = string_map(value, "env");
      if (!env) return std::unexpected(env.error());
      for (const auto& [name, ignored] : *env)
        if (name.find('=') != std::string::npos)
          return field_error("env." + name, "a variable name cannot contain '='");
      out.env = std::move(*env);
    } else if (key == "workdir") {
      if (!value.is_string()) return field_error("workdir", "must be a string (a path)");
      out.workdir = value.get<std::string>();
    } else if (key == "ports") {
      if (!value.is_array()) return field_error("ports", "must be an array of strings");
      for (std::size_t i = 0; i < value.size(); ++i) {
        const std::string path = "ports[" + std::to_string(i) + "]";
        if (!value[i].is_string()) return field_error(path, "must be a string");
        auto mapping = parse_port(value[i].get<std::string>(), path);
        if (!mapping) return std::unexpected(mapping.error());
        out.ports.push_back(std::move(*mapping));
      }
    } else if (key == "volumes") {
      if (!value.is_array()) return field_error("volumes", "must be an array of strings");
      for (std::size_t i = 0; i < value.size(); ++i) {
        const std::string path = "volumes[" + std::to_string(i) + "]";
        if (!value[i].is_string()) return field_error(path, "must be a string");
        if (auto ok = check_volume(value[i].get<std::string>(), path); !ok)
          return std::unexpected(ok.error());
        out.volumes.push_back(value[i].get<std::string>());
      }
    } else if (key == "pull") {
      const std::string policy = value.is_string() ? value.get<std::string>() : "";
      if (policy == "missing") out.pull = PullPolicy::missing;
      else if (policy == "always") out.pull = PullPolicy::always;
      else if (policy == "never") out.pull = PullPolicy::never;
      else return field_error("pull", "must be one of missing, always, never");
    } else if (key == "labels") {
      auto labels = string_map(value, "labels");
      if (!labels) return std::unexpected(labels.error());
      for (const auto& [name, ignored] : *labels)
        if (name.starts_with(kReservedLabelPrefix))
          return field_error("labels." + name, "the \"mob.\" prefix is reserved for mob's own labels");
      out.labels = std::move(*labels);
    } else {
      return field_error(key, "unknown field; docker params are " + std::string(kKnownFields));
    }
  }
  if (out.image.empty()) return field_error("image", "required: the image to run, e.g. \"busybox:1.36\"");
  return out;
}

std::pair<std::string, std::string> split_image_reference(std::string_view image) {
  if (image.find('@') != std::string_view::npos) return {std::string(image), ""};
  const auto slash = image.rfind('/');
  const auto colon = image.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash))
    return {std::string(image.substr(0, colon)), std::string(image.substr(colon + 1))};
  return {std::string(image), "latest"};
}

std::string container_name(std::string_view agent_id, std::string_view key) {
  std::string name = "mob-" + std::string(agent_id) + "-" + std::string(key);
  for (char& c : name) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!allowed) c = '_';
  }
  return name;
}

void add_discovery(DockerParams& params, const std::map<std::string, std::string>& env,
                   const std::vector<PortBinding>& ports) {
  for (const auto& [name, value] : env) params.env[name] = value;
  for (const auto& port : ports)
    params.ports.push_back(PortMapping{static_cast<std::uint16_t>(port.host_port),
                                       static_cast<std::uint16_t>(port.container_port), "tcp"});
}

nlohmann::json container_create_body(const DockerParams& params, const InstanceLabels& instance) {
  nlohmann::json body = {{"Image", params.image}};
  if (params.args) body["Cmd"] = *params.args;
  if (params.entrypoint) body["Entrypoint"] = *params.entrypoint;
  if (!params.env.empty()) {
    auto env = nlohmann::json::array();
    for (const auto& [name, value] : params.env) env.push_back(name + "=" + value);
    body["Env"] = std::move(env);
  }
  if (!params.workdir.empty()) body["WorkingDir"] = params.workdir;
  nlohmann::json labels = nlohmann::json::object();
  for (const auto& [name, value] : params.labels) labels[name] = value;
  labels["mob.agent"] = instance.agent_id;
  labels["mob.service"] = instance.service;
  labels["mob.instance"] = std::to_string(instance.index);
  body["Labels"] = std::move(labels);
  nlohmann::json host_config = nlohmann::json::object();
  if (!params.ports.empty()) {
    nlohmann::json exposed = nlohmann::json::object();
    nlohmann::json bindings = nlohmann::json::object();
    for (const auto& port : params.ports) {
      const std::string name = std::to_string(port.container) + "/" + port.protocol;
      exposed[name] = nlohmann::json::object();
      bindings[name].push_back({{"HostPort", std::to_string(port.host)}});
    }
    body["ExposedPorts"] = std::move(exposed);
    host_config["PortBindings"] = std::move(bindings);
  }
  if (!params.volumes.empty()) host_config["Binds"] = params.volumes;
  body["HostConfig"] = std::move(host_config);
  return body;
}

}  // namespace mob::docker

namespace mob {

Result<void> check_docker_params(const nlohmann::json& params) {
  auto parsed = docker::parse_docker_params(params);
  if (!parsed) return std::unexpected(parsed.error());
  return {};
}

}  // namespace mob
