#include "fuzz/hostile_messages.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <tuple>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "agent/admission.hpp"
#include "bus/codec.hpp"
#include "bus/wire.hpp"

namespace mob::fuzz {

// ---- hostile values ------------------------------------------------------------------------

std::uint64_t Gen::wall_ms() const { return (words_.time ? *words_.time : system_time()).wall_ms(); }

std::uint64_t Gen::u64() {
  switch (range(0, 12)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 2;
    case 3: return 1ULL << 32;
    case 4: return 1ULL << 48;
    case 5: return (1ULL << 48) - 1;
    case 6: return 1ULL << 63;
    case 7: return UINT64_MAX;
    case 8: return UINT64_MAX - 1;
    case 9: return (wall_ms() << 16);
    case 10: return range(0, 16);
    default: return p_.ConsumeIntegral<std::uint64_t>();
  }
}
std::uint32_t Gen::u32() {
  switch (range(0, 8)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 2;
    case 3: return 100;
    case 4: return 101;
    case 5: return UINT32_MAX;
    case 6: return UINT32_MAX - 1;
    default: return p_.ConsumeIntegral<std::uint32_t>();
  }
}
std::int64_t Gen::i64() {
  switch (range(0, 5)) {
    case 0: return 0;
    case 1: return -1;
    case 2: return INT64_MIN;
    case 3: return INT64_MAX;
    default: return p_.ConsumeIntegral<std::int64_t>();
  }
}
std::int32_t Gen::i32() {
  switch (range(0, 5)) {
    case 0: return 0;
    case 1: return -1;
    case 2: return INT32_MIN;
    case 3: return INT32_MAX;
    default: return p_.ConsumeIntegral<std::int32_t>();
  }
}
double Gen::real() {
  switch (range(0, 8)) {
    case 0: return 0.0;
    case 1: return 1.0;
    case 2: return -1.0;
    case 3: return std::numeric_limits<double>::quiet_NaN();
    case 4: return std::numeric_limits<double>::infinity();
    case 5: return -std::numeric_limits<double>::infinity();
    case 6: return std::numeric_limits<double>::max();
    case 7: return std::numeric_limits<double>::denorm_min();
    default: return p_.ConsumeFloatingPoint<double>();
  }
}
// Hybrid logical clock stamps: both ends of the range, now, just under and just over the
// 5 min the store accepts ahead of its clock, and the past.
std::uint64_t Gen::hlc() {
  const std::uint64_t now = wall_ms();
  switch (range(0, 10)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return UINT64_MAX;
    case 3: return (now << 16) + range(0, 1000);
    case 4: return (now + 4 * 60 * 1000) << 16;
    case 5: return (now + 6 * 60 * 1000) << 16;
    case 6: return (now - 2 * 3600 * 1000) << 16;
    case 7: return ((now + 5 * 60 * 1000) << 16) | 0xffff;
    case 8: return now << 16;
    default: return p_.ConsumeIntegral<std::uint64_t>();
  }
}

// Wall clocks (ms) as peers report them in probes: this machine's, just past the 5 min
// bound either way, and the ends of the range (now + 2^63 makes the offset INT64_MIN).
std::uint64_t Gen::wall() {
  const std::uint64_t now = wall_ms();
  switch (range(0, 9)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return now;
    case 3: return now + 5 * 60 * 1000 + 1000;
    case 4: return now - 5 * 60 * 1000 - 1000;
    case 5: return now + (1ULL << 63);
    case 6: return UINT64_MAX;
    case 7: return now + 10 * 60 * 1000;
    case 8: return now - 10 * 60 * 1000;
    default: return p_.ConsumeIntegral<std::uint64_t>();
  }
}

std::string Gen::name() {
  switch (range(0, 15)) {
    case 0: return kSelf;
    case 1: return kPeer;
    case 2: return "node-b";
    case 3: return "node-c";
    case 4: return "";
    case 5: return std::string("a\0b", 3);
    case 6: return "a/b";
    case 7: return "../x";
    case 8: return "with space";
    case 9: return std::string(300, 'n');
    case 10: return std::string(64, 'n');
    case 11: return "\xff\xfe";
    case 12: return "node-" + std::to_string(range(0, 9));
    case 13: return std::string(kSelf) + "\n";
    default: return raw(40);
  }
}
std::string Gen::service() {
  switch (range(0, 13)) {
    case 0: return "echoes";
    case 1: return "db";
    case 2: return "web";
    case 3: return "a";
    case 4: return "";
    case 5: return "a/0";
    case 6: return std::string("x\0y", 3);
    case 7: return std::string(300, 's');
    case 8: return "..";
    case 9: return "-bad";
    case 10: return "with space";
    case 11: return "a/b/c";
    default: return raw(40);
  }
}

std::string Gen::address() {
  static const char* const hostile[] = {
      "garbage", "", "tcp://", "tcp://127.0.0.1:99999", "tcp://127.0.0.1:0", "ipc:///tmp/x",
      "inproc://zeromq.zap.01", "tcp://a;b:1", "tcp://127.0.0.1:6000;127.0.0.2:1",
      "udp://127.0.0.1:1", "tcp://[::1]:1", "tcp://localhost:1", "tcp://*:1",
      "tcp://127.0.0.1:-1", "tcp://127.0.0.1", "tcp://:1", "tcp://0.0.0.0:1",
      "tcp://127.0.0.1:1:2", "tcp://example.invalid:1", "tcp://%:1", "tcp://127.0.0.1:65535",
      "127.0.0.1:6666", "inproc://", "inproc://fuzz-io-store-1", "ws://127.0.0.1:1",
      "pgm://lo;239.192.1.1:5555", "epgm://127.0.0.1;239.192.1.1:5555", "norm://127.0.0.1:1",
      "tipc://{5560,0,0}", "vmci://1:1", "tcp://127.0.0.1:1;", "tcp://;127.0.0.1:1",
      "tcp://[::1", "tcp://[:::1]:1", "tcp://1.2.3.4.5:1", "TCP://127.0.0.1:1"};
  constexpr std::size_t kHostile = sizeof hostile / sizeof *hostile;
  switch (range(0, 9)) {
    case 0:
    case 1: return hostile[range(0, kHostile - 1)];
    case 2: return words_.self_address;
    case 3: return words_.peer_address;
    case 4: return words_.peer_pub_address;
    case 5: return words_.pub_address;
    case 6: {
      // Each value consumed in its own statement: the operands of + are unsequenced, and
      // an input must mean the same with every compiler.
      std::string host = "tcp://127.0.0." + std::to_string(range(1, 3));
      return host + ":" + std::to_string(p_.ConsumeIntegral<std::uint16_t>());
    }
    case 7: return "tcp://" + std::string(range(200, 5000), 'a') + ":1";
    default: return raw(64);
  }
}
// host:port, as mob-tool join passes seeds
std::string Gen::seed() {
  switch (range(0, 8)) {
    case 0: return "127.0.0.1:6666";
    case 1: return "[::1]:6670";
    case 2: return ":";
    case 3: return words_.peer_address.substr(6);
    case 4: return words_.self_address.substr(6);
    case 5: return "localhost:" + std::to_string(p_.ConsumeIntegral<std::uint16_t>());
    default: return address();
  }
}

MemberState Gen::member_state() {
  return static_cast<MemberState>(range(0, static_cast<std::size_t>(MemberState::count_) - 1));
}
InstanceState Gen::instance_state() {
  return static_cast<InstanceState>(range(0, static_cast<std::size_t>(InstanceState::count_) - 1));
}

std::vector<std::string> Gen::providers() {
  switch (range(0, 5)) {
    case 0: return {"bash"};
    case 1: return {};
    case 2: return {"docker"};
    case 3: return {"bash", "bash"};
    case 4: return {"", std::string(300, 'p')};
    default: return {raw(16), raw(16)};
  }
}
std::map<std::string, std::string> Gen::tags() {
  switch (range(0, 3)) {
    case 0: return {};
    case 1: return {{"zone", "a"}};
    case 2: return {{"", ""}, {"zone", std::string(300, 'z')}};
    default: return {{raw(16), raw(16)}};
  }
}

// Specs: valid ones of several shapes (named as `name` or not), and garbage.
std::string Gen::spec_json(const std::string& name) {
  nlohmann::json spec = {{"name", name}, {"provider", "bash"}, {"params", {{"command", "true"}}}};
  switch (range(0, 11)) {
    case 0: break;
    case 1: {
      // 9999: the most instances a spec from a peer may ask for (kMaxInstanceIndex - 1).
      static const std::uint64_t counts[] = {0, 1, 2, 3, 100, 101, 1000, UINT32_MAX, 9999, 10000};
      spec["instances"] = counts[range(0, std::size(counts) - 1)];
      break;
    }
    case 2: spec["depends_on"] = {service(), service()}; break;
    case 3: spec["constraints"] = {{"tags", {{"zone", coin() ? "a" : "b"}}}}; break;
    case 4:
      spec["provider"] = "docker";
      spec["params"] = {{"image", "busybox"}};
      break;
    case 5: spec["name"] = service(); break;
    case 6: spec["restart"] = {{"policy", "never"}, {"backoff_max_ms", UINT32_MAX}}; break;
    case 7: return "";
    case 8: return "{";
    case 9: return coin() ? "null" : "[]";
    case 10: return R"({"name":")" + name + R"("})";
    default: return raw(200);
  }
  return spec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Stamp Gen::stamp() { return Stamp{hlc(), name()}; }

Member Gen::member() {
  Member m;
  m.name = name();
  // Valid addresses half of the time, so that members get deep into the store too.
  m.address = coin() ? words_.peer_address : address();
  m.pub_address = coin() ? words_.peer_pub_address : address();
  m.state = member_state();
  m.providers = providers();
  m.tags = tags();
  m.incarnation = coin() ? range(0, 3) : u64();
  m.load = real();
  m.version = coin() ? MOB_VERSION : raw(16);
  switch (range(0, 3)) {
    case 0:
    case 1: m.problem = ""; break;
    case 2: m.problem = "its clock is 600 s behind 2 of its 2 peers"; break;
    default: m.problem = raw(40);
  }
  return m;
}
MemberEntry Gen::member_entry() { return MemberEntry{member(), hlc(), name()}; }
ServiceEntry Gen::service_entry() {
  ServiceEntry e;
  e.name = service();
  e.spec_json = spec_json(coin() ? e.name : service());
  e.generation = coin() ? range(0, 3) : u64();
  e.enabled = coin();
  e.restart_generation = coin() ? range(0, 3) : u64();
  e.removed = range(0, 3) == 0;
  e.stamp = stamp();
  return e;
}
AssignmentEntry Gen::assignment_entry() {
  return AssignmentEntry{service(), coin() ? static_cast<std::uint32_t>(range(0, 3)) : u32(),
                              name(), range(0, 3) == 0, stamp(), coin() ? 0 : u64(), {}};
}
InstanceStatus Gen::instance_status() {
  InstanceStatus s;
  s.service = service();
  s.index = coin() ? static_cast<std::uint32_t>(range(0, 3)) : u32();
  s.node = name();
  s.state = instance_state();
  s.restarts = u32();
  s.pid = i64();
  s.since_ms = i64();
  s.exit_code = i32();
  s.signal = i32();
  s.reason = coin() ? "" : raw(64);
  s.spec_version = u64();
  return s;
}
InstanceEntry Gen::instance_entry() {
  return InstanceEntry{instance_status(), range(0, 3) == 0, stamp()};
}
StateDelta Gen::delta() {
  StateDelta d;
  for (std::size_t n = range(0, 4); n > 0 && !empty(); --n) d.members.push_back(member_entry());
  for (std::size_t n = range(0, 4); n > 0 && !empty(); --n) d.services.push_back(service_entry());
  for (std::size_t n = range(0, 4); n > 0 && !empty(); --n) d.assignments.push_back(assignment_entry());
  for (std::size_t n = range(0, 4); n > 0 && !empty(); --n) d.instances.push_back(instance_entry());
  return d;
}
std::string Gen::record_key() {
  switch (range(0, 7)) {
    case 0: return "m/" + name();
    case 1: return "s/" + service();
    case 2: {
      std::string key = "a/" + service();
      return key + "/" + std::to_string(u32());
    }
    case 3: {
      std::string key = "i/" + service();
      key += "/" + std::to_string(u32());
      return key + "/" + name();
    }
    case 4: return "";
    case 5: return "m/";
    default: return raw(40);
  }
}
DigestEntry Gen::digest_entry() { return DigestEntry{record_key(), u64(), u64(), name()}; }

// ---- printing the steps of an input (to read a reproducer) ---------------------------------

std::string shown(const std::string& text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < 80; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
    else if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  out += '"';
  if (text.size() > 80) out += "...(" + std::to_string(text.size()) + " bytes)";
  return out;
}

namespace {

template <class T>
void describe(std::string& out, const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    out += value ? "true" : "false";
  } else if constexpr (std::is_enum_v<T>) {
    if constexpr (requires { to_string(value); }) out += to_string(value);
    else out += std::to_string(static_cast<std::uint64_t>(value));
  } else if constexpr (std::is_integral_v<T>) {
    out += std::to_string(value);
  } else if constexpr (std::is_floating_point_v<T>) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", static_cast<double>(value));
    out += text;
  } else if constexpr (std::is_same_v<T, std::string>) {
    out += shown(value);
  } else if constexpr (wire::is_vector<T>::value) {
    out += '[';
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (i) out += ", ";
      describe(out, value[i]);
    }
    out += ']';
  } else if constexpr (wire::is_map<T>::value) {
    out += '{';
    bool first = true;
    for (const auto& [key, item] : value) {
      if (!first) out += ", ";
      first = false;
      out += shown(key) + ": ";
      describe(out, item);
    }
    out += '}';
  } else if constexpr (wire::Reflected<T>) {
    out += '{';
    std::size_t index = 0;
    std::apply(
        [&](const auto&... field) {
          ((out += (index ? ", " : "") + wire::field_name(T::mob_field_names(), index) + "=",
            describe(out, field), ++index),
           ...);
        },
        value.mob_fields());
    out += '}';
  } else {
    out += "?";
  }
}

std::string encoded(Body body, std::string sender) {
  return encode(Envelope{kProtocolVersion, 0, std::move(sender), std::move(body)});
}

}  // namespace

std::string described(const Body& body) {
  std::string text(type_name(body));
  text += ' ';
  std::visit([&](const auto& message) { describe(text, message); }, body);
  return text;
}

std::string described(const InternalBody& body) {
  std::string text(internal_name(body));
  text += ' ';
  std::visit([&](const auto& message) { describe(text, message); }, body);
  return text;
}

void print_step(const Vocabulary& words, const char* how, const Body& body) {
  if (!words.print) return;
  std::fprintf(stderr, "%s step: %s %s\n", words.label.c_str(), how, described(body).c_str());
}

// ---- messages ------------------------------------------------------------------------------

namespace {

Body request_body(Gen& g, Kind kind) {
  switch (kind) {
    case Kind::ping: return PingRequest{};
    case Kind::deploy: return DeployRequest{g.spec_json(g.service()), {}};
    case Kind::status: return StatusRequest{g.coin() ? "" : g.service()};
    case Kind::control:
      return ControlRequest{g.service(),
                            static_cast<ControlAction>(g.range(0, static_cast<std::size_t>(ControlAction::count_) - 1)),
                            {}};
    case Kind::members: return MembersRequest{};
    case Kind::probe: return ProbeRequest{g.u64(), g.name(), g.coin() ? kSelf : g.name(), g.u64(), g.wall()};
    case Kind::indirect_probe: return IndirectProbeRequest{g.u64(), g.name(), g.name(), g.address(), g.coin()};
    case Kind::join: return JoinRequest{g.member_entry()};
    case Kind::sync: {
      SyncRequest sync{g.name(), g.u64(), {}, 0, {}};
      for (std::size_t n = g.range(0, 6); n > 0 && !g.empty(); --n) sync.digest.push_back(g.digest_entry());
      // Anti-entropy's rounds: the single round, round one (a sum and a bucket count), round
      // two (a scope), or counts and bucket numbers out of their bounds.
      switch (g.range(0, 3)) {
        case 0: break;
        case 1: sync.bucket_count = 1u << g.range(0, 8); break;
        case 2:
          sync.bucket_count = 1u << g.range(0, 8);
          for (std::size_t n = g.range(0, 4); n > 0; --n)
            sync.scope.push_back(static_cast<std::uint32_t>(g.range(0, sync.bucket_count - 1)));
          break;
        default:
          sync.bucket_count = g.u32();
          for (std::size_t n = g.range(0, 4); n > 0; --n) sync.scope.push_back(g.u32());
          break;
      }
      return sync;
    }
    case Kind::sync_push: return SyncPush{g.delta()};
    case Kind::join_command: {
      JoinCommand join;
      for (std::size_t n = g.range(0, 3); n > 0; --n) join.seeds.push_back(g.seed());
      return join;
    }
    case Kind::leave_command: return LeaveCommand{};
    case Kind::history: return HistoryRequest{g.service()};
    case Kind::rollback: return RollbackRequest{g.service(), g.coin() ? 0 : g.u64() % 8, {}};
    case Kind::promote: return PromoteRequest{g.service(), {}};
    case Kind::rebalance: return RebalanceRequest{g.coin() ? "" : g.service()};
    case Kind::write_copy: {
      StateDelta delta = g.delta();
      if (g.coin()) {  // service records only: past the door, to the store's handler
        delta.members.clear();
        delta.assignments.clear();
        delta.instances.clear();
      }
      return WriteCopy{g.coin() ? g.range(0, 4) : g.u64(), g.name(), std::move(delta)};
    }
    case Kind::peer_reply:
    case Kind::gossip:
    case Kind::count_: break;
  }
  return PingRequest{};
}

}  // namespace

std::optional<Routed> request(Gen& g, Kind kind, std::uint64_t& request_ids, bool door) {
  Body body = request_body(g, kind);
  // Routes as ROUTER identities are: never empty, opaque bytes.
  std::string route = "r" + g.raw(6);
  std::uint64_t id = g.coin() ? ++request_ids : g.u64();
  std::string sender = g.coin() ? g.name() : "fuzz";
  auto admitted = door ? admit_request(body) : Result<void>{};
  print_step(g.words(), admitted ? "request" : "request refused at the door:", body);
  if (!admitted) return std::nullopt;
  return Routed{std::move(route), Envelope{kProtocolVersion, id, std::move(sender), std::move(body)}};
}

std::string peer_reply(Gen& g, std::uint64_t last_probe_seq) {
  std::string bytes;
  Body body;
  switch (g.range(0, 8)) {
    case 0: body = ProbeAck{g.coin() ? last_probe_seq : g.u64(), g.name(), g.u64(), g.wall()}; break;
    case 8:
      body = WriteCopied{g.coin() ? g.range(0, 4) : g.u64(), g.name(),
                         g.coin() ? static_cast<std::uint32_t>(g.range(0, 3)) : g.u32()};
      break;
    case 7: body = ProbeNack{g.coin() ? last_probe_seq : g.u64(), g.name()}; break;
    case 1: body = JoinReply{g.delta()}; break;
    case 2: {
      std::vector<std::string> keys;
      for (std::size_t n = g.range(0, 4); n > 0; --n) keys.push_back(g.record_key());
      SyncReply reply{g.delta(), std::move(keys), 0, {}};
      if (g.coin()) {  // a round-one answer: bucket summaries, as many as the count or not
        reply.bucket_count = g.coin() ? 1u << g.range(0, 8) : g.u32();
        reply.buckets.resize(g.coin() ? std::min<std::size_t>(reply.bucket_count, 256) : g.range(0, 4));
        for (std::size_t n = g.range(0, 3); n > 0 && !reply.buckets.empty(); --n)
          reply.buckets[g.range(0, reply.buckets.size() - 1)] = g.u64();
      }
      body = std::move(reply);
      break;
    }
    case 3: body = SyncPush{g.delta()}; break;
    case 4: body = ErrorReply{static_cast<Errc>(g.range(1, 12)), g.raw(64)}; break;
    case 5: bytes = g.raw(128); break;
    default: body = PingReply{g.name(), g.raw(8), g.u32(), g.address()}; break;
  }
  if (!bytes.empty()) {
    if (g.words().print)
      std::fprintf(stderr, "%s step: peer reply of raw bytes %s\n", g.words().label.c_str(), shown(bytes).c_str());
    return bytes;
  }
  print_step(g.words(), "peer reply", body);
  return encoded(std::move(body), kPeer);
}

std::string gossip(Gen& g) {
  std::string sender = g.coin() ? kPeer : g.name();
  Gossip message{sender, g.coin() ? g.range(0, 8) : g.u64(), g.delta()};
  print_step(g.words(), "published", Body{message});
  return encoded(std::move(message), std::move(sender));
}

// ---- the store's files ---------------------------------------------------------------------

Result<std::filesystem::path> make_scratch_dir(const std::string& prefix) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::path base = fs::is_directory("/dev/shm", error) ? fs::path("/dev/shm") : fs::temp_directory_path();
  const std::string pattern_of_others = prefix + "-%d-";
  for (const auto& entry : fs::directory_iterator(base, error)) {
    const std::string name = entry.path().filename().string();
    int pid = 0;
    if (name.starts_with(prefix + "-") && std::sscanf(name.c_str(), pattern_of_others.c_str(), &pid) == 1 &&
        pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH)
      fs::remove_all(entry.path(), error);
  }
  std::string pattern = (base / (prefix + "-" + std::to_string(::getpid()) + "-XXXXXX")).string();
  if (!::mkdtemp(pattern.data())) return fail(Errc::io, "mkdtemp " + pattern + ": " + std::strerror(errno));
  return fs::path(pattern);
}

Result<std::filesystem::path> next_data_dir(const std::filesystem::path& root, unsigned& made,
                                            const std::filesystem::path& previous) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!previous.empty()) fs::remove_all(previous, error);
  fs::path dir = root / ("data-" + std::to_string(made++));
  if (!fs::create_directories(dir, error) && error)
    return fail(Errc::io, "cannot make " + dir.string() + ": " + error.message());
  fs::permissions(dir, fs::perms::owner_all, error);
  return dir;
}

// ---- the store and what it says of itself --------------------------------------------------

StoreConfig store_config(const Vocabulary& words, const std::filesystem::path& data_dir) {
  StoreConfig config;
  config.self.name = kSelf;
  config.self.address = words.self_address;
  config.self.pub_address = words.pub_address;
  config.self.state = MemberState::alive;
  // As agent.cpp: the providers are configured (-P bash) and advertised once their worker says
  // they run (a ProviderAvailability).
  config.providers = {"bash"};
  config.self.tags = {{"zone", "a"}};
  config.self.version = MOB_VERSION;
  config.data_dir = data_dir;
  config.time = words.time;
  return config;
}

Member fake_peer(const Vocabulary& words) {
  Member peer;
  peer.name = kPeer;
  peer.address = words.peer_address;
  peer.pub_address = words.peer_pub_address;
  peer.providers = {"bash"};
  peer.tags = {{"zone", "b"}};
  peer.version = MOB_VERSION;
  return peer;
}

// "its clock is 1800022883 s ahead of 1 of its 1 peers (more than 300 s); one against one, ...",
// or "... 600 s behind 1 of its 1 peers ...": the fake peer's clock may be off either way.
static bool lost_a_tie(const std::string& problem) {
  const bool one_of_one = problem.find(" ahead of 1 of its 1 peers (more than ") != std::string::npos ||
                          problem.find(" behind 1 of its 1 peers (more than ") != std::string::npos;
  return problem.starts_with("its clock is ") && one_of_one &&
         problem.ends_with("; one against one, and its clock is the one not compared since it started or stepped");
}

std::optional<std::string> own_record_problem(const Vocabulary& words, const std::vector<Member>& members,
                                              std::uint64_t incarnation,
                                              const std::vector<std::string>& advertised) {
  for (const auto& member : members) {
    if (member.name != kSelf) continue;
    auto wrong = [&](const char* what) {
      std::string self;
      describe(self, member);
      return std::string("this agent's own member record ") + what + " (it answers probes with incarnation " +
             std::to_string(incarnation) + "): " + self;
    };
    if (member.state != MemberState::alive) return wrong("is not alive");
    if (member.incarnation != incarnation) return wrong("is not at the incarnation the agent has");
    if (member.address != words.self_address || member.pub_address != words.pub_address)
      return wrong("advertises other addresses");
    // The harness's clock is right, but one peer against one cannot tell whose is: an agent
    // not compared since it started on its data dir (it rejoins the peers it remembers) or
    // stepped loses the tie to the fake peer's clock, with that verdict and no other
    // (agent/clock_judge.hpp, judge_own_clock).
    if (!member.problem.empty() && !lost_a_tie(member.problem))
      return wrong("says it has a problem (the harness's clock is right)");
    if (member.providers != advertised || member.tags != std::map<std::string, std::string>{{"zone", "a"}} ||
        member.version != MOB_VERSION)
      return wrong("advertises other providers, tags or version");
    return std::nullopt;
  }
  return "this agent is not among its own members";
}

}  // namespace mob::fuzz
