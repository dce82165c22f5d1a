// Service discovery as pure functions (docs/spec.md, "Service discovery"): the host ports an
// instance gets for its spec's named ports, the variables that tell it where it listens, and
// the addresses of its dependencies' instances, read from the replicated state.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "agent/cluster_state.hpp"
#include "agent/spec.hpp"
#include "bus/error.hpp"

namespace mob {

// The host ports an agent hands out for `"port": 0` (--port-range FIRST-LAST).
struct PortRange {
  std::uint32_t first = 20000;
  std::uint32_t last = 32000;
  bool operator==(const PortRange&) const = default;
};
// "20000-32000"; errors say what a range must be.
Result<PortRange> parse_port_range(std::string_view text);

struct PortChoice {
  std::map<std::string, std::uint32_t> ports;  // by name: the host port
  std::uint32_t busy_port = 0;                 // a fixed port found in use: nothing chosen
};

// Chooses instance `key`'s host ports: a fixed port as given, unless `is_free` says it is in
// use or another instance on this agent holds it (`taken`), then busy_port names it; a 0 port
// from `range`, neither taken nor in use, keeping the one it had (`previous`) when it still
// can, else starting at a place that depends on `key` so instances spread over the range.
// A range with no port left: an error naming the range.
Result<PortChoice> choose_ports(const std::string& key, const std::map<std::string, PortSpec>& wanted,
                                const std::map<std::string, std::uint32_t>& previous,
                                const std::set<std::uint32_t>& taken, PortRange range,
                                const std::function<bool(std::uint32_t)>& is_free);

// MOB_HOST and MOB_PORT_<NAME> of an instance listening on `host` at `ports`.
std::map<std::string, std::string> instance_env(const std::string& host,
                                                const std::map<std::string, std::uint32_t>& ports);

// Running, and healthy when its service has checks: an instance whose endpoints are listed.
bool serves(const InstanceStatus& status);

// The addresses of `spec`'s dependencies, as variables (empty when none has endpoints): for
// each dependency D with port P, MOB_D_HOST and MOB_D_PORT_P of one instance (the lowest
// index that serves) and MOB_D_ENDPOINTS_P, host:port of every instance that serves on a live
// agent, by index.
std::map<std::string, std::string> dependency_env(const ClusterState& state, const ServiceSpec& spec);

// Whether TCP `port` can be bound at `host` (an IPv4 or IPv6 address of this machine; any
// other host, e.g. an address a NAT forwards: at every address): nothing listens on it or
// holds it there.
bool tcp_port_is_free(const std::string& host, std::uint32_t port);

}  // namespace mob
