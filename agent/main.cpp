// mob-agent: the command line of one Mob agent. Parses flags, starts the agent, waits for
// SIGINT/SIGTERM, then stops every service and exits 0; a second signal kills what is left.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <utility>

#include <boost/program_options.hpp>

#include "agent/admission.hpp"
#include "agent/agent.hpp"
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

std::string host_name() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0) return "mob";
  return buffer;
}

}  // namespace

int main(int argc, char** argv) {
  mob::AgentOptions options;
  std::string providers_text;
  std::vector<std::string> tag_texts;
  std::string log_level = "info";
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
  std::string authorized_keys_file;
  po::options_description flags(
      "Usage: mob-agent -p PORT -P PROVIDER[,PROVIDER...] [options]\n\n"
      "Runs one Mob agent: it accepts commands from mob-tool on PORT and supervises the\n"
      "services deployed to it.\n\nOptions");
  flags.add_options()
      ("help,h", "show this help and exit")
      ("version", "show the version and exit")
      ("port,p", po::value<int>(&options.port)->default_value(6666), "port of the request (ROUTER) socket")
      ("pub-port", po::value<int>(&options.pub_port)->default_value(0), "port of the gossip/event (PUB) socket; 0 means PORT+1")
      ("providers,P", po::value<std::string>(&providers_text)->default_value("bash"), "comma-separated providers this agent runs: bash, docker")
      ("join,j", po::value<std::vector<std::string>>(&join_texts)->composing(), "HOST:PORT[,HOST:PORT...] of agents to join through (retried with backoff until one answers)")
      ("probe-interval-ms", po::value<long>(&probe_interval_ms)->default_value(probe_interval_ms), "failure detection: one probe per interval")
      ("probe-timeout-ms", po::value<long>(&probe_timeout_ms)->default_value(probe_timeout_ms), "failure detection: wait for a direct ack before asking others")
      ("indirect-probes", po::value<std::uint32_t>(&options.detector.indirect_probes)->default_value(options.detector.indirect_probes), "failure detection: members asked to probe indirectly (k)")
      ("suspicion-mult", po::value<double>(&options.detector.suspicion_min_mult)->default_value(options.detector.suspicion_min_mult), "failure detection: minimum suspicion = MULT * log10(N) * probe interval")
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
      ("max-message-bytes", po::value<std::size_t>(&options.max_message_bytes)->default_value(options.max_message_bytes), "largest message a socket accepts")
      ("max-spec-bytes", po::value<std::size_t>(&options.spec_limits.max_spec_bytes)->default_value(options.spec_limits.max_spec_bytes), "largest service spec accepted")
      ("max-instances", po::value<std::uint32_t>(&options.spec_limits.max_instances)->default_value(options.spec_limits.max_instances), "most instances one service may ask for")
      ("max-services", po::value<std::uint32_t>(&options.max_services)->default_value(options.max_services), "most services the network holds")
      ("log-max-bytes", po::value<std::uint64_t>(&options.log_max_bytes)->default_value(options.log_max_bytes), "size of a service log file before it rotates")
      ("log-keep-files", po::value<std::uint32_t>(&options.log_keep_files)->default_value(options.log_keep_files), "rotated log files kept per instance")
      ("max-log-line-bytes", po::value<std::uint64_t>(&options.max_log_line_bytes)->default_value(options.max_log_line_bytes), "longest line of a bash service's output kept in its log; the rest of a longer line is dropped and ' [mob: line truncated, N bytes dropped]' ends it")
      ("max-pending-requests", po::value<std::size_t>(&options.max_pending_requests)->default_value(options.max_pending_requests), "requests one client (or peer) connection may have in flight; more are refused at once until replies come back")
      ("key-file", po::value<std::string>(&key_file), "the network's CURVE key pair (made by 'mob-tool keygen'; default $MOB_KEY_FILE): every socket then runs CURVE")
      ("authorized-keys", po::value<std::string>(&authorized_keys_file), "file of operators' public keys allowed besides the network key, one per line; re-read on SIGHUP")
      ("insecure", po::bool_switch(&options.insecure), "allow listening on a non-loopback --bind without a key");
  po::variables_map values;
  try {
    po::store(po::command_line_parser(argc, argv).options(flags).run(), values);
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
  if (!mob::log::parse_level(log_level, level))
    return usage_error("--log-level: expected debug, info, warn, error or off, got \"" + log_level + "\"");
  mob::log::set_level(level);
  if (options.port < 1 || options.port > 65535)
    return usage_error("--port: expected 1 to 65535, got " + std::to_string(options.port));
  if (options.pub_port == 0 && options.port == 65535)
    return usage_error("--port 65535 leaves no room for the PUB port: give --pub-port");
  if (options.pub_port < 0 || options.pub_port > 65535)
    return usage_error("--pub-port: expected 1 to 65535, got " + std::to_string(options.pub_port));
  options.providers = split(providers_text, ',');
  if (options.providers.empty()) return usage_error("--providers: name at least one provider, e.g. -P bash");
  for (const auto& provider : options.providers) {
    if (!mob::is_known_provider(provider)) {
      std::string known;
      for (const auto& name : mob::known_providers()) known += (known.empty() ? "" : ", ") + name;
      return usage_error("--providers: unknown provider \"" + provider + "\"; known providers: " + known);
    }
  }
  for (const auto& tag : tag_texts) {
    auto equals = tag.find('=');
    if (equals == std::string::npos || equals == 0)
      return usage_error("--tag: expected KEY=VALUE, got \"" + tag + "\"");
    options.tags[tag.substr(0, equals)] = tag.substr(equals + 1);
  }
  for (const auto& text : join_texts)
    for (const auto& seed : split(text, ',')) {
      if (auto endpoint = mob::seed_endpoint(seed); !endpoint)
        return usage_error("--join: " + endpoint.error().message);
      options.seeds.push_back(seed);
    }
  // Each error names the one flag that is wrong, its value and what it must be.
  std::string too_small;
  auto at_least = [&](const char* flag, auto value, long floor) {
    if (too_small.empty() && std::cmp_less(value, floor))
      too_small = std::string(flag) + " must be at least " + std::to_string(floor) + ", got " + std::to_string(value);
  };
  at_least("--probe-interval-ms", probe_interval_ms, 10);
  at_least("--probe-timeout-ms", probe_timeout_ms, 1);
  at_least("--heartbeat-ms", heartbeat_ms, 10);
  at_least("--sync-ms", sync_ms, 10);
  at_least("--tombstone-ttl-s", tombstone_ttl_s, 1);
  at_least("--reconnect-interval-ms", reconnect_interval_ms, 10);
  at_least("--max-log-line-bytes", options.max_log_line_bytes, 1);
  at_least("--max-pending-requests", options.max_pending_requests, 1);
  if (!too_small.empty()) return usage_error(too_small);
  if (options.spec_limits.max_instances > mob::kMaxInstanceIndex)
    return usage_error("--max-instances: at most " + std::to_string(mob::kMaxInstanceIndex) + ", got " +
                       std::to_string(options.spec_limits.max_instances));
  if (probe_timeout_ms >= probe_interval_ms)
    return usage_error("--probe-timeout-ms (" + std::to_string(probe_timeout_ms) +
                       ") must be smaller than --probe-interval-ms (" + std::to_string(probe_interval_ms) + ")");
  options.detector.probe_interval = std::chrono::milliseconds(probe_interval_ms);
  options.detector.probe_timeout = std::chrono::milliseconds(probe_timeout_ms);
  options.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
  options.sync_interval = std::chrono::milliseconds(sync_ms);
  options.tombstone_ttl = std::chrono::seconds(tombstone_ttl_s);
  if (reconnect_timeout_s < tombstone_ttl_s)
    return usage_error("--reconnect-timeout-s (" + std::to_string(reconnect_timeout_s) +
                       ") must be at least --tombstone-ttl-s (" + std::to_string(tombstone_ttl_s) +
                       "): a member forgotten before its removals are collected could bring them back");
  options.reconnect_interval = std::chrono::milliseconds(reconnect_interval_ms);
  options.reconnect_timeout = std::chrono::seconds(reconnect_timeout_s);
  if (options.name.empty()) options.name = host_name() + ":" + std::to_string(options.port);
  if (!mob::is_valid_agent_name(options.name))
    return usage_error("--name: " + mob::printable(options.name) +
                       " is not a valid agent name: use 1-253 letters, digits, '.', '_', '-', ':', "
                       "'@', '[' or ']'");
  options.data_dir = data_dir.empty() ? default_data_dir(options.port) : data_dir;
  if (const char* from_env = std::getenv("MOB_KEY_FILE"); key_file.empty() && from_env != nullptr)
    key_file = from_env;
  options.key_file = key_file;
  options.authorized_keys_file = authorized_keys_file;

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
  (*agent)->wait_for_stop(signal_fd);
  (*agent)->stop(signal_fd);
  close(signal_fd);
  return (*agent)->failed() ? 1 : 0;
}
