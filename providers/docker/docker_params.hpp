// Internal to the docker provider (tests include it too): a service's docker params,
// checked and turned into the Engine API's container-create body. Pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "bus/error.hpp"
#include "bus/internal_messages.hpp"
#include "bus/messages.hpp"

namespace mob::docker {

enum class PullPolicy : std::uint8_t { missing, always, never };

struct PortMapping {
  std::uint16_t host = 0;
  std::uint16_t container = 0;
  std::string protocol = "tcp";
};

struct DockerParams {
  std::string image;
  std::optional<std::vector<std::string>> args;        // the container's Cmd
  std::optional<std::vector<std::string>> entrypoint;
  std::map<std::string, std::string> env;
  std::string workdir;
  std::vector<PortMapping> ports;
  std::vector<std::string> volumes;  // "HOST:CONTAINER[:ro|rw]", as Binds
  PullPolicy pull = PullPolicy::missing;
  std::map<std::string, std::string> labels;
};

// Splits a command line into words as a POSIX shell would, without expansions:
// blanks separate words; '...' is literal; in "..." a backslash escapes $ ` " \ and
// newline only; elsewhere a backslash escapes the next character (backslash-newline
// joins lines). An unterminated quote is an error.
Result<std::vector<std::string>> split_shell_words(std::string_view line);

// Errors name the field: "params.ports[1]: ...".
Result<DockerParams> parse_docker_params(const nlohmann::json& params);

// "repo[:tag]" -> {repo, tag} as POST /images/create wants them (tag "latest" if none;
// a digest reference keeps the whole reference as repo and an empty tag).
std::pair<std::string, std::string> split_image_reference(std::string_view image);

// "mob-<agent_id>-<key>" with every character outside [a-zA-Z0-9_.-] replaced by '_'.
std::string container_name(std::string_view agent_id, std::string_view key);

struct InstanceLabels {
  std::string agent_id;
  std::string service;
  std::uint32_t index = 0;
};
// Adds what service discovery gives an instance (docs/spec.md, "Service discovery"): the
// variables to its environment, and each named port published from its host port to its
// container port.
void add_discovery(DockerParams& params, const std::map<std::string, std::string>& env,
                   const std::vector<PortBinding>& ports);

// The body of POST /containers/create.
nlohmann::json container_create_body(const DockerParams& params, const InstanceLabels& labels);

}  // namespace mob::docker

namespace mob {
// Checks a service's docker params (see docs/providers-docker.md); errors name the field.
// Every agent runs it, with or without the docker provider loaded.
Result<void> check_docker_params(const nlohmann::json& params);
}  // namespace mob
