#include "agent/admission.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>

#include <nlohmann/json.hpp>

#include "agent/node_settings.hpp"
#include "agent/spec.hpp"
#include "bus/codec.hpp"

namespace mob {
namespace {

// Thrown inside this file only: the first field that breaks a rule.
struct Refusal {
  std::string message;
};

// Where a field is in a message ("delta.members[3].member.name"), written out only when the
// field is refused: the door checks every record of every gossip, and building each field's
// path as a string cost more than the checks themselves. A path made from another points
// into it, so it lives no longer than the one it extends (a temporary within one statement,
// or a named path).
class FieldPath {
 public:
  FieldPath(const char* root) : part_(root) {}         // NOLINT(google-explicit-constructor)
  FieldPath(const std::string& root) : part_(root) {}  // NOLINT(google-explicit-constructor)
  explicit FieldPath(std::string_view root) : part_(root) {}
  // This path followed by `field` (".name").
  FieldPath operator+(std::string_view field) const { return FieldPath(this, field, kNoIndex); }
  // This path followed by "[index]".
  FieldPath operator[](std::size_t index) const { return FieldPath(this, {}, index); }
  std::string str() const {
    std::string out = parent_ ? parent_->str() : std::string();
    out += part_;
    if (index_ != kNoIndex) out += "[" + std::to_string(index_) + "]";
    return out;
  }

 private:
  static constexpr std::size_t kNoIndex = SIZE_MAX;
  FieldPath(const FieldPath* parent, std::string_view part, std::size_t index)
      : parent_(parent), part_(part), index_(index) {}
  const FieldPath* parent_ = nullptr;
  std::string_view part_;
  std::size_t index_ = kNoIndex;
};

[[noreturn]] void refuse(const FieldPath& path, const std::string& why) {
  throw Refusal{path.str() + ": " + why};
}

// Anti-entropy's buckets (SyncRequest, SyncReply): a count that is 0 (the single-round form)
// or a power of two up to kMaxSyncBuckets, and bucket numbers (`ids`) below it, each at most
// once.
void check_sync_buckets(std::uint32_t bucket_count, const std::vector<std::uint32_t>& ids, const FieldPath& path) {
  bool power_of_two = bucket_count != 0 && (bucket_count & (bucket_count - 1)) == 0;
  if (bucket_count != 0 && (!power_of_two || bucket_count > kMaxSyncBuckets))
    refuse("bucket_count", std::to_string(bucket_count) + " is not 0 or a power of two up to " +
                               std::to_string(kMaxSyncBuckets));
  if (ids.size() > bucket_count)
    refuse(path, std::to_string(ids.size()) + " buckets, more than bucket_count " + std::to_string(bucket_count));
  std::vector<bool> seen(bucket_count, false);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= bucket_count)
      refuse(path[i],
             std::to_string(ids[i]) + " is not a bucket below " + std::to_string(bucket_count));
    if (seen[ids[i]]) refuse(path[i], "bucket " + std::to_string(ids[i]) + " named twice");
    seen[ids[i]] = true;
  }
}

}  // namespace

std::string printable(std::string_view value) {
  std::string out = "\"";
  for (std::size_t i = 0; i < value.size() && i < 80; ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (value.size() > 80) out += "...(" + std::to_string(value.size()) + " bytes)";
  return out + "\"";
}

namespace {

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_ipv4(std::string_view host) {
  int parts = 0;
  std::size_t i = 0;
  while (i <= host.size()) {
    std::size_t start = i;
    unsigned value = 0;
    while (i < host.size() && is_digit(host[i]) && i - start < 3) value = value * 10 + (host[i++] - '0');
    if (i == start || value > 255) return false;
    ++parts;
    if (i == host.size()) break;
    if (host[i] != '.') return false;
    ++i;
  }
  return parts == 4;
}

bool is_dns_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  bool has_letter = false;
  std::size_t label = 0;
  for (std::size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!is_alnum(c) && c != '-') return false;
    if (++label > 63) return false;
    if (c == '-' && label == 1) return false;
    has_letter = has_letter || !is_digit(c);
  }
  // All digits and dots is a malformed IPv4 literal, not a name.
  return label > 0 && has_letter;
}

bool is_ipv6_literal(std::string_view host) {
  if (host.size() < 4 || host.front() != '[' || host.back() != ']') return false;
  auto inner = host.substr(1, host.size() - 2);
  if (inner.size() > 45) return false;
  for (char c : inner)
    if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.'))
      return false;
  return inner.find(':') != std::string_view::npos;
}

// HOST:PORT; the error says what is wrong with it.
std::optional<std::string> host_port_problem(std::string_view host_port) {
  auto colon = host_port.rfind(':');
  if (colon == std::string_view::npos) return "no :PORT";
  auto host = host_port.substr(0, colon);
  auto port = host_port.substr(colon + 1);
  if (port.empty() || port.size() > 5) return "the port must be a number from 1 to 65535";
  unsigned value = 0;
  for (char c : port) {
    if (!is_digit(c)) return "the port must be a number from 1 to 65535";
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return "the port must be a number from 1 to 65535";
  if (!is_ipv4(host) && !is_ipv6_literal(host) && !is_dns_name(host))
    return "the host must be an IPv4 address, a bracketed IPv6 address or a DNS name";
  return std::nullopt;
}

void check_endpoint_at(const FieldPath& path, std::string_view endpoint) {
  if (auto ok = check_endpoint(endpoint); !ok) refuse(path, ok.error().message);
}

void check_agent_name(const FieldPath& path, std::string_view name) {
  if (!is_valid_agent_name(name))
    refuse(path, printable(name) + " is not a valid agent name (1-253 letters, digits, '.', '_', '-', "
                               "':', '@', '[' or ']')");
}

void check_service_name(const FieldPath& path, std::string_view name) {
  if (!is_valid_service_name(name))
    refuse(path, printable(name) + " is not a valid service name (1-63 letters, digits, '_', '.' or "
                               "'-', starting with a letter or digit)");
}

void check_index(const FieldPath& path, std::uint64_t index) {
  if (index >= kMaxInstanceIndex)
    refuse(path, std::to_string(index) + " is not an instance index (below " +
                     std::to_string(kMaxInstanceIndex) + ")");
}

void check_text(const FieldPath& path, std::string_view text, std::size_t limit) {
  if (text.size() > limit)
    refuse(path, std::to_string(text.size()) + " bytes, more than " + std::to_string(limit));
}

// A client's write id: at most kMaxWriteIdBytes of letters, digits, '-' and '_'.
void check_write_id(const FieldPath& path, std::string_view id) {
  bool plain = std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
  if (id.size() > kMaxWriteIdBytes || !plain)
    refuse(path, printable(id) + " is not a write id (at most " + std::to_string(kMaxWriteIdBytes) +
                     " letters, digits, '-' or '_')");
}

void check_tag_key(const FieldPath& path, std::string_view key) {
  if (!is_valid_tag_key(key))
    refuse(path, printable(key) + " is not a tag key (1-" + std::to_string(kMaxTagKeyBytes) +
                     " letters, digits, '.', '_', '-', '/' or ':')");
}

// Records restored from an old data dir may carry no origin.
void check_stamp(const FieldPath& path, const Stamp& stamp) {
  if (!stamp.origin.empty()) check_agent_name(path + ".origin", stamp.origin);
}

void check_member(const FieldPath& path, const MemberEntry& entry) {
  const Member& member = entry.member;
  check_agent_name(path + ".member.name", member.name);
  check_endpoint_at(path + ".member.address", member.address);
  check_endpoint_at(path + ".member.pub_address", member.pub_address);
  if (auto checked = check_incarnation(entry); !checked)
    refuse(path + ".member.incarnation", checked.error().message);
  if (!std::isfinite(member.load) || member.load < 0)
    refuse(path + ".member.load", "must be a finite number of at least 0");
  if (member.providers.size() > 64) refuse(path + ".member.providers", "more than 64 providers");
  for (std::size_t i = 0; i < member.providers.size(); ++i)
    if (!is_valid_service_name(member.providers[i]))
      refuse((path + ".member.providers")[i],
             printable(member.providers[i]) + " is not a provider name");
  if (member.tags.size() > 64) refuse(path + ".member.tags", "more than 64 tags");
  for (const auto& [key, value] : member.tags) {
    check_text(path + ".member.tags", key, 255);
    check_text(path + ".member.tags." + key.substr(0, 64), value, 1024);
  }
  check_text(path + ".member.version", member.version, 64);
  check_text(path + ".member.problem", member.problem, 512);
  check_text(path + ".member.degraded", member.degraded, 512);
  if (!entry.reported_by.empty()) check_agent_name(path + ".reported_by", entry.reported_by);
}

// A spec kept in a service's record: JSON text (kept on disk and parsed by every agent, so
// valid UTF-8) of an object naming that service. A spec naming another service would make
// a rollback or a revert write that other service's record.
// Reads JSON text as nlohmann's parser reports it, event by event, keeping only whether the
// text is an object and what its own "name" holds (the last one, as a parsed document would):
// every agent checks every spec it is sent, and building each document to look at one
// member was most of that check's cost.
class SpecNameReader {
 public:
  using json = nlohmann::json;
  bool null() { return value(nullptr); }
  bool boolean(bool) { return value(nullptr); }
  bool number_integer(json::number_integer_t) { return value(nullptr); }
  bool number_unsigned(json::number_unsigned_t) { return value(nullptr); }
  bool number_float(json::number_float_t, const json::string_t&) { return value(nullptr); }
  bool string(json::string_t& text) { return value(&text); }
  bool binary(json::binary_t&) { return value(nullptr); }
  bool start_object(std::size_t) {
    if (depth_ == 0) is_object_ = true;
    return open();
  }
  bool key(json::string_t& key) {
    at_name_ = depth_ == 1 && key == "name";
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

  bool is_object() const { return is_object_; }
  const std::optional<std::string>& name() const { return name_; }

 private:
  bool value(json::string_t* text) {
    if (depth_ == 1 && at_name_) {
      if (text) name_ = std::move(*text);
      else name_.reset();  // a "name" that is not a string
      at_name_ = false;
    }
    return true;
  }
  bool open() {
    if (depth_ == 1 && at_name_) {  // "name" holds an object or an array
      name_.reset();
      at_name_ = false;
    }
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }

  std::size_t depth_ = 0;
  bool is_object_ = false;
  bool at_name_ = false;  // the next value at depth 1 is the object's "name"
  std::optional<std::string> name_;
};

void check_spec_of(const FieldPath& path, std::string_view spec_json, const std::string& service) {
  SpecNameReader reader;
  if (!nlohmann::json::sax_parse(spec_json, &reader)) refuse(path, "not JSON text");
  if (!reader.is_object() || reader.name() != service)
    refuse(path, "not a spec of the service " + printable(service) + " (its \"name\" must be that service's)");
}

void check_service(const FieldPath& path, const ServiceEntry& entry) {
  check_service_name(path + ".name", entry.name);
  if (!entry.spec_json.empty()) check_spec_of(path + ".spec_json", entry.spec_json, entry.name);
  if (entry.generation >= (1ULL << 53))
    refuse(path + ".generation", std::to_string(entry.generation) + " is not below 2^53");
  check_stamp(path + ".stamp", entry.stamp);
  check_write_id(path + ".write_id", entry.write_id);
  if (entry.stable_generation > entry.generation)
    refuse(path + ".stable_generation", std::to_string(entry.stable_generation) + " is past the version " +
                                            std::to_string(entry.generation) + "; the stable version is an earlier one");
  if (!entry.stable_spec_json.empty()) check_spec_of(path + ".stable_spec_json", entry.stable_spec_json, entry.name);
  check_text(path + ".rollout", entry.rollout, 4096);
  check_text(path + ".rebalance", entry.rebalance, 4096);
  if (entry.history.size() > kMaxHistory)
    refuse(path + ".history", std::to_string(entry.history.size()) + " versions, more than " + std::to_string(kMaxHistory));
  std::size_t spec_bytes = 0;
  const FieldPath history = path + ".history";
  for (std::size_t i = 0; i < entry.history.size(); ++i) {
    const auto& version = entry.history[i];
    const FieldPath at = history[i];
    if (version.version == 0 || version.version > entry.generation)
      refuse(at + ".version", std::to_string(version.version) + " is not a version from 1 to the record's " +
                                  std::to_string(entry.generation));
    if (i > 0 && version.version <= entry.history[i - 1].version)
      refuse(at + ".version", "versions must ascend (oldest first)");
    if (version.rollback_of >= version.version)
      refuse(at + ".rollback_of", std::to_string(version.rollback_of) + " is not an earlier version");
    if (!version.through.empty()) check_agent_name(at + ".through", version.through);
    // The current version's spec is the record's own, checked above: not parsed twice.
    if (version.spec_json != entry.spec_json && version.spec_json != entry.stable_spec_json)
      check_spec_of(at + ".spec_json", version.spec_json, entry.name);
    else if (version.spec_json.empty())
      refuse(at + ".spec_json", "not JSON text");
    check_text(at + ".outcome", version.outcome, 4096);
    spec_bytes += version.spec_json.size();
  }
  if (spec_bytes > kMaxHistoryBytes)
    refuse(path + ".history", std::to_string(spec_bytes) + " bytes of specs, more than " + std::to_string(kMaxHistoryBytes));
  if (entry.canaries >= kMaxInstanceIndex)
    refuse(path + ".canaries", std::to_string(entry.canaries) + " is more than " + std::to_string(kMaxInstanceIndex - 1));
}

void check_assignment(const FieldPath& path, const AssignmentEntry& entry) {
  check_service_name(path + ".service", entry.service);
  check_index(path + ".index", entry.index);
  check_agent_name(path + ".node", entry.node);
  check_stamp(path + ".stamp", entry.stamp);
  if (entry.generation >= (1ULL << 53))
    refuse(path + ".generation", std::to_string(entry.generation) + " is not below 2^53");
  if (entry.avoid.size() > kMaxAvoidedAgents)
    refuse(path + ".avoid", std::to_string(entry.avoid.size()) + " agents, more than " +
                                std::to_string(kMaxAvoidedAgents));
  const FieldPath avoid = path + ".avoid";
  for (std::size_t i = 0; i < entry.avoid.size(); ++i) check_agent_name(avoid[i], entry.avoid[i]);
}

void check_port_number(const FieldPath& path, std::uint32_t port, bool zero_allowed) {
  if ((port == 0 && !zero_allowed) || port > 65535)
    refuse(path, std::to_string(port) + " is not a port (" + (zero_allowed ? "0 or " : "") + "1-65535)");
}

// Where an instance listens (service discovery): an address of at most 253 bytes and named
// ports as a spec names them.
void check_endpoints(const FieldPath& path, const InstanceStatus& status) {
  check_text(path + ".host", status.host, 253);
  for (char c : status.host.str())
    if (static_cast<unsigned char>(c) <= ' ' || c == ',' || c == 0x7f)
      refuse(path + ".host", printable(status.host) + " is not a host name or address");
  if (status.ports.size() > kMaxPorts)
    refuse(path + ".ports", std::to_string(status.ports.size()) + " ports, more than " + std::to_string(kMaxPorts));
  for (const auto& [name, port] : status.ports) {
    bool valid = !name.empty() && name.size() <= 32;
    for (char c : name) valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
    if (!valid) refuse(path + ".ports", printable(name) + " is not a port name (1-32 of a-z, 0-9 and _)");
    check_port_number(path + ".ports." + name, port, false);
  }
  check_port_number(path + ".busy_port", status.busy_port, true);
}

void check_instance(const FieldPath& path, const InstanceEntry& entry) {
  const InstanceStatus& status = entry.status;
  check_service_name(path + ".status.service", status.service);
  check_index(path + ".status.index", status.index);
  check_agent_name(path + ".status.node", status.node);
  check_text(path + ".status.reason", status.reason, 4096);
  if (status.checks.size() > kMaxChecks)
    refuse(path + ".status.checks", "more than " + std::to_string(kMaxChecks) + " checks");
  const FieldPath checks = path + ".status.checks";
  for (std::size_t i = 0; i < status.checks.size(); ++i) {
    const FieldPath check_path = checks[i];
    check_text(check_path + ".name", status.checks[i].name, 63);
    check_text(check_path + ".output", status.checks[i].output, kMaxCheckOutputBytes + 64);
  }
  check_endpoints(path + ".status", status);
  check_stamp(path + ".stamp", entry.stamp);
}

template <class Entry, class Check>
void check_all(const FieldPath& path, const std::vector<Entry>& entries, Check check) {
  for (std::size_t i = 0; i < entries.size(); ++i) check(path[i], entries[i]);
}

void check_delta(const FieldPath& path, const StateDelta& delta) {
  check_all(path + ".members", delta.members, check_member);
  check_all(path + ".services", delta.services, check_service);
  check_all(path + ".assignments", delta.assignments, check_assignment);
  check_all(path + ".instances", delta.instances, check_instance);
}

void check_digest_key(const FieldPath& path, std::string_view key) {
  bool known = key.starts_with("m/") || key.starts_with("s/") || key.starts_with("a/") ||
               key.starts_with("i/");
  if (!known || key.size() > 400)
    refuse(path, printable(key) + " is not a record key (m/, s/, a/ or i/, at most 400 bytes)");
}

void check_request(const Body& body) {
  std::visit(
      [](const auto& message) {
        using T = std::decay_t<decltype(message)>;
        if constexpr (std::is_same_v<T, StatusRequest>) {
          if (!message.service.empty()) check_service_name("service", message.service);
        } else if constexpr (std::is_same_v<T, DeployRequest>) {
          check_write_id("write_id", message.write_id);
        } else if constexpr (std::is_same_v<T, ControlRequest>) {
          check_service_name("service", message.service);
          check_write_id("write_id", message.write_id);
          if (message.instances >= kMaxInstanceIndex)
            refuse("instances", std::to_string(message.instances) + " is more than " +
                                    std::to_string(kMaxInstanceIndex - 1));
        } else if constexpr (std::is_same_v<T, HistoryRequest>) {
          check_service_name("service", message.service);
        } else if constexpr (std::is_same_v<T, RollbackRequest>) {
          check_service_name("service", message.service);
          check_write_id("write_id", message.write_id);
          if (message.version >= (1ULL << 53))
            refuse("version", std::to_string(message.version) + " is not a version (below 2^53; 0: the one before the current one)");
        } else if constexpr (std::is_same_v<T, PromoteRequest>) {
          check_service_name("service", message.service);
          check_write_id("write_id", message.write_id);
        } else if constexpr (std::is_same_v<T, RebalanceRequest>) {
          if (!message.service.empty()) check_service_name("service", message.service);
        } else if constexpr (std::is_same_v<T, NodeSettingsRequest>) {
          check_agent_name("node", message.node);
          if (message.set_tags.size() > kMaxTags) refuse("set_tags", "more than " + std::to_string(kMaxTags) + " tags");
          for (const auto& [key, value] : message.set_tags) {
            check_tag_key("set_tags", key);
            if (!is_valid_tag_value(value))
              refuse("set_tags." + key, printable(value) + " is not a tag value (at most " +
                                            std::to_string(kMaxTagValueBytes) + " bytes, no control characters)");
          }
          if (message.remove_tags.size() > kMaxTags)
            refuse("remove_tags", "more than " + std::to_string(kMaxTags) + " tags");
          for (std::size_t i = 0; i < message.remove_tags.size(); ++i)
            check_tag_key("remove_tags[" + std::to_string(i) + "]", message.remove_tags[i]);
        } else if constexpr (std::is_same_v<T, LogsRequest>) {
          check_service_name("service", message.service);
          if (message.instance < -1 || message.instance >= static_cast<std::int64_t>(kMaxInstanceIndex))
            refuse("instance", std::to_string(message.instance) +
                                   " is not an instance index (-1 for every instance)");
          if (message.tail_lines > kMaxTailLines)
            refuse("tail_lines", std::to_string(message.tail_lines) + " is more than " +
                                     std::to_string(kMaxTailLines));
        } else if constexpr (std::is_same_v<T, ProbeRequest>) {
          check_agent_name("from", message.from);
          check_agent_name("target", message.target);
          // An incarnation + 1 (0: not suspected), the claim of another: below 2^48 - 1.
          if (message.suspected_at > kMaxClaimedIncarnation)
            refuse("suspected_at", std::to_string(message.suspected_at) +
                                       " is not an incarnation + 1 (at most 2^48 - 1)");
        } else if constexpr (std::is_same_v<T, IndirectProbeRequest>) {
          check_agent_name("from", message.from);
          check_agent_name("target", message.target);
          check_endpoint_at("target_address", message.target_address);
        } else if constexpr (std::is_same_v<T, JoinRequest>) {
          check_member("joiner", message.joiner);
        } else if constexpr (std::is_same_v<T, SyncRequest>) {
          check_agent_name("from", message.from);
          const FieldPath digest = "digest";
          for (std::size_t i = 0; i < message.digest.size(); ++i) {
            const FieldPath path = digest[i];
            check_digest_key(path + ".key", message.digest[i].key);
            check_text(path + ".tiebreak", message.digest[i].tiebreak, kMaxAgentNameBytes);
          }
          check_sync_buckets(message.bucket_count, message.scope, "scope");
        } else if constexpr (std::is_same_v<T, SyncPush>) {
          check_delta("delta", message.delta);
        } else if constexpr (std::is_same_v<T, WriteCopy>) {
          check_agent_name("from", message.from);
          // A client write is a service's record: a copy carries nothing else.
          if (!message.delta.members.empty() || !message.delta.assignments.empty() || !message.delta.instances.empty())
            refuse("delta", "a write copy carries service records only (members, assignments or instances given)");
          check_delta("delta", message.delta);
        } else if constexpr (std::is_same_v<T, JoinCommand>) {
          if (message.seeds.size() > kMaxJoinSeeds)
            refuse("seeds", std::to_string(message.seeds.size()) + " seeds, more than " +
                                std::to_string(kMaxJoinSeeds));
          for (std::size_t i = 0; i < message.seeds.size(); ++i)
            if (auto seed = seed_endpoint(message.seeds[i]); !seed)
              refuse("seeds[" + std::to_string(i) + "]", seed.error().message);
        }
      },
      body);
}

}  // namespace

Result<void> check_endpoint(std::string_view endpoint) {
  constexpr std::string_view kScheme = "tcp://";
  if (!endpoint.starts_with(kScheme))
    return fail(Errc::invalid_argument,
                printable(endpoint) + " is not an endpoint tcp://HOST:PORT (only tcp is accepted)");
  if (auto problem = host_port_problem(endpoint.substr(kScheme.size())))
    return fail(Errc::invalid_argument,
                printable(endpoint) + " is not an endpoint tcp://HOST:PORT: " + *problem);
  return {};
}

Result<std::string> seed_endpoint(std::string_view seed) {
  std::string endpoint = seed.starts_with("tcp://") ? std::string(seed) : "tcp://" + std::string(seed);
  if (auto ok = check_endpoint(endpoint); !ok)
    return fail(Errc::invalid_argument,
                printable(seed) + " is not HOST:PORT (" + ok.error().message + ")");
  return endpoint;
}

bool is_valid_agent_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxAgentNameBytes) return false;
  for (char c : name)
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-' && c != ':' && c != '@' && c != '[' && c != ']')
      return false;
  return true;
}

Result<void> check_incarnation(const MemberEntry& entry) {
  const Member& member = entry.member;
  bool own_word = entry.reported_by == member.name && member.state == MemberState::alive;
  std::uint64_t bound = own_word ? kMaxIncarnation : kMaxClaimedIncarnation;
  if (member.incarnation < bound) return {};
  return fail(Errc::invalid_argument,
              std::to_string(member.incarnation) + " is not below " +
                  (own_word ? std::string("2^48")
                            : std::string("2^48 - 1 (what others say of a member stays below the "
                                          "last incarnation, which only the member may take to refute it)")));
}

Result<void> admit_request(const Body& body) {
  try {
    check_request(body);
  } catch (const Refusal& refusal) {
    return fail(Errc::invalid_argument, std::string(type_name(body)) + " refused: " + refusal.message);
  }
  return {};
}

Result<void> admit_sync_reply(const SyncReply& reply) {
  try {
    check_delta("newer", reply.newer);
    check_sync_buckets(reply.bucket_count, {}, "buckets");
    if (!reply.buckets.empty() && reply.buckets.size() != reply.bucket_count)
      refuse("buckets", std::to_string(reply.buckets.size()) + " summaries for a bucket_count of " +
                            std::to_string(reply.bucket_count));
  } catch (const Refusal& refusal) {
    return fail(Errc::invalid_argument, refusal.message);
  }
  return {};
}

Result<void> admit_delta(const StateDelta& delta, std::string_view path) {
  try {
    check_delta(FieldPath(path), delta);
  } catch (const Refusal& refusal) {
    return fail(Errc::invalid_argument, refusal.message);
  }
  return {};
}

}  // namespace mob
