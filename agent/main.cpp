// mob-agent: the command line of one Mob agent. Parses flags and the config file, starts the
// agent, tells systemd it is ready, waits for SIGINT/SIGTERM, then stops every service and
// exits 0; a second signal kills what is left.
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include <boost/program_options.hpp>

#include "agent/admission.hpp"
#include "agent/agent.hpp"
#include "agent/service_manager.hpp"
#include "bus/log.hpp"
#include "providers/registry.hpp"

namespace po = boost::program_options;

namespace {

constexpr int kUsageError = 2;

int usage_error(const std::string& message) {
  std::cerr << "mob-agent: " << message << "\ntry 'mob-agent --help'\n";
  return kUsageError;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  for (char c : text) {
    if (c == separator) {
      if (!part.empty()) parts.push_back(part);
      part.clear();
    } else if (c != ' ') {
      part += c;
    }
  }
  if (!part.empty()) parts.push_back(part);
  return parts;
}

std::string default_data_dir(int port) {
  const char* state_home = std::getenv("XDG_STATE_HOME");
  const char* home = std::getenv("HOME");
  std::string base = state_home && *state_home ? state_home
                     : home && *home           ? std::string(home) + "/.local/state"
                                               : "/var/lib";
  return base + "/mob/agent-" + std::to_string(port);
}

// Is stderr the journal? systemd sets $JOURNAL_STREAM to "DEVICE:INODE" of the stream it
// connects to a service's stderr; a shell's redirection of that stderr makes them differ.
bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  struct stat stderr_stat {};
  if (stream == nullptr || ::fstat(STDERR_FILENO, &stderr_stat) != 0) return false;
  return std::string(stream) == std::to_string(stderr_stat.st_dev) + ":" + std::to_string(stderr_stat.st_ino);
}

std::string host_name() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0) return "mob";
  return buffer;
}

constexpr const char* kDefaultConfigFile = "/etc/mob/agent.conf";
// Options of the command line only: they say what to read or do, not how the agent runs.
const std::set<std::string> kCommandLineOnly = {"help", "version", "config", "print-config"};
// Keys that may be given on several lines: their values add up.
const std::set<std::string> kRepeatable = {"join", "tag"};

std::string trim(std::string_view text) {
  auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  auto last = text.find_last_not_of(" \t\r");
  return std::string(text.substr(first, last - first + 1));
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Where each setting came from, so that an error names the config file's line, or the flag.
class Origins {
 public:
  void note(const std::string& key, const std::string& value, std::string where) {
    by_value_[{key, value}] = where;
    by_key_.emplace(key, std::move(where));
  }
  // "FILE:LINE: key" for a setting read from the config file, else "--key".
  std::string of(const std::string& key, const std::string& value = {}) const {
    if (auto it = by_value_.find({key, value}); it != by_value_.end()) return it->second;
    if (auto it = by_key_.find(key); it != by_key_.end()) return it->second;
    return "--" + key;
  }

 private:
  std::map<std::pair<std::string, std::string>, std::string> by_value_;
  std::map<std::string, std::string> by_key_;
};

// Reads the config file `path` into `values`: one "key = value" per line, every long flag a
// key, '#' starts a comment (at the start of a line, or after a space). A key given on the
// command line is skipped (the flag wins); repeatable keys (join, tag) add up. Returns the
// error, naming FILE:LINE and the key, or nullopt.
std::optional<std::string> read_config_file(const std::string& path, const po::options_description& flags,
                                            po::variables_map& values, Origins& origins) {
  std::ifstream file(path);
  if (!file)
    return "cannot read the config file " + path + ": " + std::strerror(errno) +
           " (give another with --config FILE, or --config '' for none)";
  std::set<std::string> from_command_line;
  for (const auto& [key, value] : values)
    if (!value.defaulted()) from_command_line.insert(key);
  std::map<std::string, int> first_line;
  std::string text;
  for (int number = 1; std::getline(file, text); ++number) {
    const std::string at = path + ":" + std::to_string(number);
    if (auto comment = text.find('#'); comment != std::string::npos &&
                                       (comment == 0 || text[comment - 1] == ' ' || text[comment - 1] == '\t'))
      text.erase(comment);
    std::string line = trim(text);
    if (line.empty()) continue;
    auto equals = line.find('=');
    if (equals == std::string::npos)
      return at + ": expected KEY = VALUE, got \"" + line + "\"";
    std::string key = trim(std::string_view(line).substr(0, equals));
    std::string value = trim(std::string_view(line).substr(equals + 1));
    const po::option_description* option = key.empty() ? nullptr : flags.find_nothrow(key, false);
    if (option == nullptr || kCommandLineOnly.contains(key) || option->long_name() != key) {
      std::string hint;
      if (kCommandLineOnly.contains(key)) {
        hint = " (--" + key + " is for the command line only)";
      } else {
        std::size_t best = 3;
        for (const auto& candidate : flags.options()) {
          const auto& name = candidate->long_name();
          if (kCommandLineOnly.contains(name)) continue;
          if (auto distance = edit_distance(key, name); distance < best) {
            best = distance;
            hint = " (did you mean '" + name + "'?)";
          }
        }
        if (hint.empty()) hint = " (the keys are the long flags of mob-agent --help, without the dashes)";
      }
      return at + ": unknown key '" + key + "'" + hint;
    }
    if (!kRepeatable.contains(key)) {
      if (auto [it, fresh] = first_line.emplace(key, number); !fresh)
        return at + ": key '" + key + "' is given again (first on line " + std::to_string(it->second) +
               "); only join and tag may be repeated";
    }
    if (from_command_line.contains(key)) continue;
    po::parsed_options parsed(&flags);
    parsed.options.emplace_back(key, std::vector<std::string>{value});
    try {
      po::store(parsed, values);
    } catch (const po::error& e) {
      return at + ": key '" + key + "': bad value \"" + value + "\" (" + e.what() + ")";
    }
    origins.note(key, value, at + ": key '" + key + "'");
  }
  if (file.bad()) return "cannot read the config file " + path + ": " + std::strerror(errno);
  return std::nullopt;
}

// A setting's value in the config file's syntax; nullopt for a type it does not know.
std::optional<std::string> config_value(const boost::any& value) {
  auto number = [](auto n) { return std::to_string(n); };
  if (auto* v = boost::any_cast<std::string>(&value)) return *v;
  if (auto* v = boost::any_cast<bool>(&value)) return std::string(*v ? "true" : "false");
  if (auto* v = boost::any_cast<int>(&value)) return number(*v);
  if (auto* v = boost::any_cast<long>(&value)) return number(*v);
  if (auto* v = boost::any_cast<std::uint32_t>(&value)) return number(*v);
  if (auto* v = boost::any_cast<std::uint64_t>(&value)) return number(*v);
  if (auto* v = boost::any_cast<double>(&value)) {
    char buffer[64];
    auto end = std::to_chars(buffer, buffer + sizeof buffer, *v).ptr;
    return std::string(buffer, end);
  }
  return std::nullopt;
}

// The effective settings in the config file's syntax, each under its description: fed back
// with --config, it gives the same agent. Unset settings are commented out.
std::string print_config(const po::options_description& flags, const po::variables_map& values) {
  std::ostringstream out;
  out << "# mob-agent settings (mob-agent --print-config): one KEY = VALUE per line, every key a\n"
      << "# long flag of mob-agent --help; a flag given on the command line wins over this file.\n";
  for (const auto& option : flags.options()) {
    const auto& key = option->long_name();
    if (kCommandLineOnly.contains(key)) continue;
    out << "\n# " << option->description() << "\n";
    auto found = values.find(key);
    if (found == values.end() || found->second.empty()) {
      out << "# " << key << " =\n";
      continue;
    }
    if (auto* list = boost::any_cast<std::vector<std::string>>(&found->second.value())) {
      for (const auto& item : *list) out << key << " = " << item << "\n";
      continue;
    }
    if (auto text = config_value(found->second.value())) out << key << " = " << *text << "\n";
  }
  return out.str();
}
}  // namespace

int main(int argc, char** argv) {
  mob::AgentOptions options;
  std::string providers_text;
  std::vector<std::string> tag_texts;
  std::string log_level = "info";
  std::string log_format = "text";
  std::string config_path;
  std::string data_dir;
  std::vector<std::string> join_texts;
  long probe_interval_ms = options.detector.probe_interval.count();
  long probe_timeout_ms = options.detector.probe_timeout.count();
  long heartbeat_ms = options.heartbeat_interval.count();
  long sync_ms = options.sync_interval.count();
  long tombstone_ttl_s = options.tombstone_ttl.count();
  long reconnect_interval_ms = options.reconnect_interval.count();
  long reconnect_timeout_s = options.reconnect_timeout.count();
  std::string key_file;
  std::string port_range_text = "20000-32000";
  std::string authorized_keys_file;
  po::options_description flags(
      "Usage: mob-agent -p PORT -P PROVIDER[,PROVIDER...] [options]\n\n"
      "Runs one Mob agent: it accepts commands from mob-tool on PORT and supervises the\n"
      "services deployed to it. Settings come from the flags, then from the config file\n"
      "(every long flag is a key: 'port = 6666'); a flag given wins over the file.\n\nOptions");
  flags.add_options()
      ("help,h", "show this help and exit")
      ("version", "show the version and exit")
      ("config", po::value<std::string>(&config_path), "config file of KEY = VALUE lines (default /etc/mob/agent.conf when it exists; '' for none)")
      ("print-config", "print the effective settings in the config file's format and exit")
      ("port,p", po::value<int>(&options.port)->default_value(6666), "port of the request (ROUTER) socket")
      ("pub-port", po::value<int>(&options.pub_port)->default_value(0), "port of the gossip/event (PUB) socket; 0 means PORT+1")
      ("providers,P", po::value<std::string>(&providers_text)->default_value("bash"), "comma-separated providers this agent runs: bash, docker")
      ("join,j", po::value<std::vector<std::string>>(&join_texts)->composing(), "HOST:PORT[,HOST:PORT...] of agents to join through (retried with backoff until one answers)")
      ("probe-interval-ms", po::value<long>(&probe_interval_ms)->default_value(probe_interval_ms), "failure detection: one round-robin probe per interval (a member whose connection drops is probed at once)")
      ("probe-timeout-ms", po::value<long>(&probe_timeout_ms)->default_value(probe_timeout_ms), "failure detection: wait for a direct ack before asking others; a probe suspects after min(interval, 2 x timeout)")
      ("indirect-probes", po::value<std::uint32_t>(&options.detector.indirect_probes)->default_value(options.detector.indirect_probes), "failure detection: members asked to probe indirectly (k)")
      ("suspicion-mult", po::value<double>(&options.detector.suspicion_min_mult)->default_value(options.detector.suspicion_min_mult), "failure detection: minimum suspicion = MULT * log10(N) * min(probe interval, 2 x probe timeout)")
      ("heartbeat-ms", po::value<long>(&heartbeat_ms)->default_value(heartbeat_ms), "gossip: how often this agent publishes its heartbeat")
      ("sync-ms", po::value<long>(&sync_ms)->default_value(sync_ms), "anti-entropy: how often to compare state with a random peer")
      ("max-subscriptions", po::value<std::uint32_t>(&options.max_subscriptions)->default_value(options.max_subscriptions), "gossip: most peers whose PUB socket this agent reads (relaying covers the rest)")
      ("tombstone-ttl-s", po::value<long>(&tombstone_ttl_s)->default_value(tombstone_ttl_s), "how long removed records are kept before collection")
      ("reconnect-interval-ms", po::value<long>(&reconnect_interval_ms)->default_value(reconnect_interval_ms), "how often a failed member is probed again (one at random, with jitter)")
      ("reconnect-timeout-s", po::value<long>(&reconnect_timeout_s)->default_value(reconnect_timeout_s), "how long failed members are retried before they are forgotten (at least --tombstone-ttl-s)")
      ("bind", po::value<std::string>(&options.bind)->default_value("127.0.0.1"), "address to listen on")
      ("name", po::value<std::string>(&options.name), "agent name, unique in the network (default HOSTNAME:PORT)")
      ("tag", po::value<std::vector<std::string>>(&tag_texts)->composing(), "KEY=VALUE tag for placement constraints; repeatable")
      ("data-dir", po::value<std::string>(&data_dir), "where specs and logs live (default $XDG_STATE_HOME/mob/agent-PORT or ~/.local/state/mob/agent-PORT)")
      ("log-level", po::value<std::string>(&log_level)->default_value("info"), "debug, info, warn, error or off")
      ("log-format", po::value<std::string>(&log_format)->default_value("text"), "text, or json: one JSON object per line (time, level, component, message)")
      ("max-message-bytes", po::value<std::size_t>(&options.max_message_bytes)->default_value(options.max_message_bytes), "largest message a socket accepts")
      ("max-spec-bytes", po::value<std::size_t>(&options.spec_limits.max_spec_bytes)->default_value(options.spec_limits.max_spec_bytes), "largest service spec accepted")
      ("max-instances", po::value<std::uint32_t>(&options.spec_limits.max_instances)->default_value(options.spec_limits.max_instances), "most instances one service may ask for")
      ("max-services", po::value<std::uint32_t>(&options.max_services)->default_value(options.max_services), "most services the network holds")
      ("history", po::value<std::uint32_t>(&options.history)->default_value(options.history), "versions of each service kept for mob-tool history and rollback (1 to 1000)")
      ("log-max-bytes", po::value<std::uint64_t>(&options.log_max_bytes)->default_value(options.log_max_bytes), "size of a service log file before it rotates")
      ("log-keep-files", po::value<std::uint32_t>(&options.log_keep_files)->default_value(options.log_keep_files), "rotated log files kept per instance")
      ("max-log-line-bytes", po::value<std::uint64_t>(&options.max_log_line_bytes)->default_value(options.max_log_line_bytes), "longest line of a bash service's output kept in its log; the rest of a longer line is dropped and ' [mob: line truncated, N bytes dropped]' ends it")
      ("max-pending-requests", po::value<std::size_t>(&options.max_pending_requests)->default_value(options.max_pending_requests), "requests one client (or peer) connection may have in flight; more are refused at once until replies come back")
      ("port-range", po::value<std::string>(&port_range_text)->default_value(port_range_text), "FIRST-LAST: host ports handed out to services' \"ports\" given as 0 (below the kernel's ephemeral range, 32768-60999)")
      ("advertise-host", po::value<std::string>(&options.advertise_host), "address where this agent's services are reached (MOB_HOST, mob-tool endpoints; default the --bind address, 127.0.0.1 for 0.0.0.0)")
      ("key-file", po::value<std::string>(&key_file), "the network's CURVE key pair (made by 'mob-tool keygen'; default $MOB_KEY_FILE): every socket then runs CURVE")
      ("authorized-keys", po::value<std::string>(&authorized_keys_file), "file of operators' public keys allowed besides the network key, one per line; re-read on SIGHUP")
      ("insecure", po::bool_switch(&options.insecure), "allow listening on a non-loopback --bind without a key")
      ("metrics-addr", po::value<std::string>(&options.metrics_address), "serve Prometheus metrics over HTTP at http://HOST:PORT/metrics (':PORT' or 'PORT': on 127.0.0.1; default: none)");
  po::variables_map values;
  try {
    po::store(po::command_line_parser(argc, argv).options(flags).run(), values);
  } catch (const po::error& e) {
    return usage_error(e.what());
  }
  Origins origins;
  const bool config_given = values.count("config") > 0;
  if (config_given) config_path = values["config"].as<std::string>();
  else if (std::error_code absent; std::filesystem::exists(kDefaultConfigFile, absent)) config_path = kDefaultConfigFile;
  if (!config_path.empty() && !values.count("help") && !values.count("version")) {
    if (auto error = read_config_file(config_path, flags, values, origins)) return usage_error(*error);
  }
  try {
    po::notify(values);
  } catch (const po::error& e) {
    return usage_error(e.what());
  }
  if (values.count("help")) {
    std::cout << flags << "\nExample:\n  mob-agent -p 6666 -P bash,docker\n";
    return 0;
  }
  if (values.count("version")) {
    std::cout << "mob-agent " << MOB_VERSION << "\n";
    return 0;
  }
  mob::log::Level level;
  // Each error names the one setting that is wrong (the flag, or FILE:LINE and the key of
  // the config file), its value and what it must be.
  auto where = [&](const std::string& key, const std::string& value = {}) { return origins.of(key, value); };
  if (!mob::log::parse_level(log_level, level))
    return usage_error(where("log-level") + ": expected debug, info, warn, error or off, got \"" + log_level + "\"");
  mob::log::set_level(level);
  mob::log::Format format;
  if (!mob::log::parse_format(log_format, format))
    return usage_error(where("log-format") + ": expected text or json, got \"" + log_format + "\"");
  mob::log::set_format(format);
  mob::log::set_journal_priorities(stderr_is_journal());
  if (options.port < 1 || options.port > 65535)
    return usage_error(where("port") + ": expected 1 to 65535, got " + std::to_string(options.port));
  if (options.pub_port == 0 && options.port == 65535)
    return usage_error(where("port") + ": 65535 leaves no room for the PUB port: give pub-port");
  if (options.pub_port < 0 || options.pub_port > 65535)
    return usage_error(where("pub-port") + ": expected 1 to 65535, got " + std::to_string(options.pub_port));
  options.providers = split(providers_text, ',');
  if (options.providers.empty()) return usage_error(where("providers") + ": name at least one provider, e.g. -P bash");
  for (const auto& provider : options.providers) {
    if (!mob::is_known_provider(provider)) {
      std::string known;
      for (const auto& name : mob::known_providers()) known += (known.empty() ? "" : ", ") + name;
      return usage_error(where("providers") + ": unknown provider \"" + provider + "\"; known providers: " + known);
    }
  }
  for (const auto& tag : tag_texts) {
    auto equals = tag.find('=');
    if (equals == std::string::npos || equals == 0)
      return usage_error(where("tag", tag) + ": expected KEY=VALUE, got \"" + tag + "\"");
    options.tags[tag.substr(0, equals)] = tag.substr(equals + 1);
  }
  if (auto range = mob::parse_port_range(port_range_text); range) options.port_range = *range;
  else return usage_error(where("port-range") + ": " + range.error().message);
  // Peers refuse records whose host has blanks or commas (agent/admission.cpp).
  if (options.advertise_host.size() > 253 ||
      std::any_of(options.advertise_host.begin(), options.advertise_host.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == ',' || c == 0x7f; }))
    return usage_error(where("advertise-host") + ": expected an address or host name (at most 253 bytes, "
                       "no blanks or commas), got \"" + options.advertise_host + "\"");
  for (const auto& text : join_texts)
    for (const auto& seed : split(text, ',')) {
      if (auto endpoint = mob::seed_endpoint(seed); !endpoint)
        return usage_error(where("join", text) + ": " + endpoint.error().message);
      options.seeds.push_back(seed);
    }
  std::string too_small;
  auto at_least = [&](const char* key, auto value, long floor) {
    if (too_small.empty() && std::cmp_less(value, floor))
      too_small = where(key) + " must be at least " + std::to_string(floor) + ", got " + std::to_string(value);
  };
  at_least("probe-interval-ms", probe_interval_ms, 10);
  at_least("probe-timeout-ms", probe_timeout_ms, 1);
  at_least("heartbeat-ms", heartbeat_ms, 10);
  at_least("sync-ms", sync_ms, 10);
  at_least("tombstone-ttl-s", tombstone_ttl_s, 1);
  at_least("reconnect-interval-ms", reconnect_interval_ms, 10);
  at_least("max-log-line-bytes", options.max_log_line_bytes, 1);
  at_least("max-pending-requests", options.max_pending_requests, 1);
  if (!too_small.empty()) return usage_error(too_small);
  if (options.history < 1 || options.history > mob::kMaxHistory)
    return usage_error(where("history") + ": expected a number of versions from 1 to " +
                       std::to_string(mob::kMaxHistory) + ", got " + std::to_string(options.history));
  if (options.spec_limits.max_instances > mob::kMaxInstanceIndex)
    return usage_error(where("max-instances") + ": at most " + std::to_string(mob::kMaxInstanceIndex) + ", got " +
                       std::to_string(options.spec_limits.max_instances));
  if (probe_timeout_ms >= probe_interval_ms)
    return usage_error(where("probe-timeout-ms") + " (" + std::to_string(probe_timeout_ms) +
                       ") must be smaller than " + where("probe-interval-ms") + " (" + std::to_string(probe_interval_ms) + ")");
  options.detector.probe_interval = std::chrono::milliseconds(probe_interval_ms);
  options.detector.probe_timeout = std::chrono::milliseconds(probe_timeout_ms);
  options.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
  options.sync_interval = std::chrono::milliseconds(sync_ms);
  options.tombstone_ttl = std::chrono::seconds(tombstone_ttl_s);
  if (reconnect_timeout_s < tombstone_ttl_s)
    return usage_error(where("reconnect-timeout-s") + " (" + std::to_string(reconnect_timeout_s) +
                       ") must be at least " + where("tombstone-ttl-s") + " (" + std::to_string(tombstone_ttl_s) +
                       "): a member forgotten before its removals are collected could bring them back");
  options.reconnect_interval = std::chrono::milliseconds(reconnect_interval_ms);
  options.reconnect_timeout = std::chrono::seconds(reconnect_timeout_s);
  if (options.name.empty()) options.name = host_name() + ":" + std::to_string(options.port);
  if (!mob::is_valid_agent_name(options.name))
    return usage_error(where("name") + ": " + mob::printable(options.name) +
                       " is not a valid agent name: use 1-253 letters, digits, '.', '_', '-', ':', "
                       "'@', '[' or ']'");
  options.data_dir = data_dir.empty() ? default_data_dir(options.port) : data_dir;
  if (const char* from_env = std::getenv("MOB_KEY_FILE"); key_file.empty() && from_env != nullptr)
    key_file = from_env;
  options.key_file = key_file;
  options.authorized_keys_file = authorized_keys_file;
  if (values.count("print-config")) {
    std::cout << print_config(flags, values);
    return 0;
  }

  // Signals are taken from a signalfd on this thread only; every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  for (int signo : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) sigaddset(&signals, signo);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);

  auto agent = mob::Agent::start(options);
  if (!agent) {
    std::cerr << "mob-agent: " << agent.error().message << "\n";
    return 1;
  }
  // The sockets are bound and the data dir is locked: systemd may start what comes After us.
  if (auto told = mob::notify_service_manager("READY=1\nSTATUS=listening on port " + std::to_string(options.port)); !told)
    mob::log::warn("agent", told.error().message);
  (*agent)->wait_for_stop(signal_fd);
  if (auto told = mob::notify_service_manager("STOPPING=1\nSTATUS=stopping services"); !told)
    mob::log::warn("agent", told.error().message);
  (*agent)->stop(signal_fd);
  close(signal_fd);
  return (*agent)->failed() ? 1 : 0;
}
