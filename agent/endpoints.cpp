#include "agent/endpoints.hpp"
#include "agent/hashing.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <vector>

namespace mob {

Result<PortRange> parse_port_range(std::string_view text) {
  auto bad = [&] {
    return fail(Errc::invalid_argument, "\"" + std::string(text) +
                                            "\" is not a port range FIRST-LAST with 1 <= FIRST <= LAST <= 65535, "
                                            "e.g. 20000-32000");
  };
  auto dash = text.find('-');
  if (dash == std::string_view::npos) return bad();
  auto number = [](std::string_view part, std::uint32_t& out) {
    auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), out);
    return error == std::errc{} && end == part.data() + part.size() && !part.empty();
  };
  PortRange range;
  if (!number(text.substr(0, dash), range.first) || !number(text.substr(dash + 1), range.last)) return bad();
  if (range.first < 1 || range.last > 65535 || range.first > range.last) return bad();
  return range;
}

Result<PortChoice> choose_ports(const std::string& key, const std::map<std::string, PortSpec>& wanted,
                                const std::map<std::string, std::uint32_t>& previous,
                                const std::set<std::uint32_t>& taken, PortRange range,
                                const std::function<bool(std::uint32_t)>& is_free) {
  PortChoice choice;
  std::set<std::uint32_t> used = taken;
  for (const auto& [name, port] : wanted) {
    if (port.port == 0) continue;
    if (used.contains(port.port) || !is_free(port.port)) {
      choice.busy_port = port.port;
      choice.ports.clear();
      return choice;
    }
    choice.ports[name] = port.port;
    used.insert(port.port);
  }
  const std::uint32_t size = range.last - range.first + 1;
  std::uint32_t next = static_cast<std::uint32_t>(fnv1a(key) % size);
  for (const auto& [name, port] : wanted) {
    if (port.port != 0) continue;
    if (auto before = previous.find(name); before != previous.end()) {
      std::uint32_t again = before->second;
      if (again >= range.first && again <= range.last && !used.contains(again) && is_free(again)) {
        choice.ports[name] = again;
        used.insert(again);
        continue;
      }
    }
    bool found = false;
    for (std::uint32_t tried = 0; tried < size && !found; ++tried) {
      std::uint32_t candidate = range.first + (next + tried) % size;
      if (used.contains(candidate) || !is_free(candidate)) continue;
      choice.ports[name] = candidate;
      used.insert(candidate);
      next = (next + tried + 1) % size;
      found = true;
    }
    if (!found)
      return fail(Errc::unavailable, "no free port left in --port-range " + std::to_string(range.first) + "-" +
                                         std::to_string(range.last) + " for ports." + name);
  }
  return choice;
}

std::map<std::string, std::string> instance_env(const std::string& host,
                                                const std::map<std::string, std::uint32_t>& ports) {
  std::map<std::string, std::string> env;
  if (ports.empty()) return env;
  env["MOB_HOST"] = host;
  for (const auto& [name, port] : ports) env["MOB_PORT_" + env_name_part(name)] = std::to_string(port);
  return env;
}

bool serves(const InstanceStatus& status) {
  return status.state == InstanceState::running &&
         (status.health == Health::none || status.health == Health::healthy);
}

std::map<std::string, std::string> dependency_env(const ClusterState& state, const ServiceSpec& spec) {
  std::map<std::string, std::string> env;
  for (const auto& dependency : spec.depends_on) {
    // By index: the record on the agent it is assigned to, else another that serves (a copy
    // handing over).
    std::map<std::uint32_t, const InstanceStatus*> serving;
    state.for_each_instance(dependency, [&](const InstanceEntry& instance) {
      const InstanceStatus& status = instance.status;
      if (instance.removed || !serves(status) || status.host.empty() || status.ports.empty()) return;
      const MemberEntry* node = state.member(status.node);
      if (!node || !is_live_member(node->member.state)) return;
      const AssignmentEntry* assignment = state.assignment(dependency, status.index);
      bool assigned_here = assignment && !assignment->removed && assignment->node == status.node;
      auto [slot, fresh] = serving.emplace(status.index, &status);
      if (!fresh && assigned_here) slot->second = &status;
    });
    if (serving.empty()) continue;
    const std::string prefix = "MOB_" + env_name_part(dependency) + "_";
    const InstanceStatus& chosen = *serving.begin()->second;
    env[prefix + "HOST"] = chosen.host;
    for (const auto& [name, port] : chosen.ports) env[prefix + "PORT_" + env_name_part(name)] = std::to_string(port);
    std::map<std::string, std::string> lists;
    for (const auto& [index, status] : serving)
      for (const auto& [name, port] : status->ports) {
        auto& list = lists[name];
        list += (list.empty() ? "" : ",") + status->host + ":" + std::to_string(port);
      }
    for (const auto& [name, list] : lists) env[prefix + "ENDPOINTS_" + env_name_part(name)] = list;
  }
  return env;
}

bool tcp_port_is_free(const std::string& host, std::uint32_t port) {
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  v4.sin_family = AF_INET;
  v4.sin_port = htons(static_cast<std::uint16_t>(port));
  v6.sin6_family = AF_INET6;
  v6.sin6_port = v4.sin_port;
  const bool is_v6 = ::inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) == 1;
  if (!is_v6 && ::inet_pton(AF_INET, host.c_str(), &v4.sin_addr) != 1) v4.sin_addr.s_addr = htonl(INADDR_ANY);
  auto try_bind = [&](bool at_host) {
    int fd = ::socket(is_v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return EMFILE;
    int on = 1;
    // A port some connection left in TIME_WAIT is free to a server that sets SO_REUSEADDR,
    // as servers do; one a socket is bound to or listens on is not.
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in any_v4 = v4;
    sockaddr_in6 any_v6 = v6;
    if (!at_host) {
      any_v4.sin_addr.s_addr = htonl(INADDR_ANY);
      any_v6.sin6_addr = in6addr_any;
    }
    int result = is_v6 ? ::bind(fd, reinterpret_cast<sockaddr*>(&any_v6), sizeof any_v6)
                       : ::bind(fd, reinterpret_cast<sockaddr*>(&any_v4), sizeof any_v4);
    int error = result == 0 ? 0 : errno;
    ::close(fd);
    return error;
  };
  int error = try_bind(true);
  if (error == EADDRNOTAVAIL) error = try_bind(false);  // not an address of this machine
  return error == 0;
}

}  // namespace mob
