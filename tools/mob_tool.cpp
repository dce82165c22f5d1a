// mob-tool: the command line of Mob. Deploys services through an agent and shows what runs
// where. Single-threaded; one function per command, each talking to the agent via mob::Client
// and reading the event stream via mob::EventSubscriber.

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "bus/instance_id.hpp"
#include "tools/client.hpp"
#include "tools/rollout.hpp"

namespace po = boost::program_options;
using mob::Result;
using json = nlohmann::ordered_json;  // keeps the fields in struct order
using std::chrono::milliseconds;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;  // the agent refused, failed or did not answer
constexpr int kExitUsage = 2;   // the command line is wrong

constexpr std::string_view kDefaultAgent = "127.0.0.1:6666";
// How long one wait for an event may last; signals and lost connections end it earlier.
constexpr milliseconds kEventWait{60000};
constexpr milliseconds kLogsPollInterval{200};
constexpr int kLogsPollsPerDiscovery = 10;  // look for new instances every 2 s while following

constexpr auto kParseStyle =
    po::command_line_style::unix_style ^ po::command_line_style::allow_guessing;

// A mistake on the command line: main prints it with a pointer to the help and exits 2.
struct UsageError {
  std::string message;
};

using Args = std::vector<std::string>;

int failed(std::string_view what, const mob::Error& error) {
  std::cerr << "mob-tool: " << what << " failed: " << error.message << "\n";
  return kExitFailed;
}

// The agent a command talks to. Connects on first use, so that help and usage errors never
// wait for a name lookup.
class Agent {
 public:
  Agent(std::string address, std::string source, milliseconds timeout)
      : address_(std::move(address)), source_(std::move(source)), timeout_(timeout) {}

  // HOST:PORT as given, for an EventSubscriber.
  const std::string& address() const { return address_; }
  // "mob-tool -a HOST:PORT", to print a command that reaches the same agent.
  std::string command_line() const { return "mob-tool -a " + address_; }

  // --key-file and --server-key (or $MOB_KEY_FILE, $MOB_SERVER_KEY); read on first use, so
  // that commands that need no agent (keygen, help) never read them.
  void use_keys(std::string key_file, std::string server_key) {
    key_file_ = std::move(key_file);
    server_key_ = std::move(server_key);
  }
  // --busy-timeout: how long to wait on for an agent that is up but slow to answer.
  void use_busy_timeout(milliseconds busy_timeout) { busy_timeout_ = busy_timeout; }
  // What every connection to the agent uses: the timeouts and the keys. A key file that
  // cannot be used is a usage error (thrown).
  mob::ClientOptions options() {
    mob::ClientOptions options{timeout_};
    options.busy_timeout = busy_timeout_;
    if (key_file_.empty()) {
      if (!server_key_.empty())
        throw UsageError{"--server-key needs --key-file (this client's key pair)"};
      return options;
    }
    if (!keys_) {
      auto own = mob::load_key_file(key_file_);
      if (!own) throw UsageError{"--key-file: " + own.error().message};
      // Without --server-key the key file is the network's own pair (an agent's key file).
      auto server = server_key_.empty() ? Result<std::string>(own->public_key)
                                        : mob::load_public_key(server_key_);
      if (!server) throw UsageError{"--server-key: " + server.error().message};
      keys_ = mob::ClientKeys{*own, *server};
    }
    options.curve = keys_;
    return options;
  }

  // The connected client, or nullptr after printing why `doing` cannot reach the agent.
  // A malformed address is a usage error (thrown).
  mob::Client* client(std::string_view doing) {
    if (client_) return &*client_;
    auto connected = mob::Client::connect(address_, options());
    if (!connected && connected.error().code == mob::Errc::invalid_argument)
      throw UsageError{connected.error().message + " (from " + source_ + ")"};
    if (!connected) {
      failed(doing, connected.error());
      return nullptr;
    }
    client_.emplace(std::move(*connected));
    return &*client_;
  }

 private:
  std::string address_;
  std::string source_;  // where the address came from: -a, -p, $MOB_AGENT or the default
  milliseconds timeout_;
  milliseconds busy_timeout_ = mob::ClientOptions{}.busy_timeout;
  std::string key_file_;
  std::string server_key_;
  std::optional<mob::ClientKeys> keys_;
  std::optional<mob::Client> client_;
};

struct CommandInfo;
using CommandFunction = int (*)(const CommandInfo&, Agent&, const Args&);

struct CommandInfo {
  std::string_view name;
  std::string_view alias;      // empty when none
  std::string_view arguments;  // the positional arguments, for the command list
  std::string_view synopsis;   // what follows "mob-tool [GLOBAL OPTIONS] "
  std::string_view summary;    // one line for the command list
  std::string_view details;    // a paragraph for the command's own help
  CommandFunction run;
};

struct Positional {
  const char* key;      // the variables_map key
  const char* display;  // as the synopsis writes it
  bool required;
};

// ---- parsing ---------------------------------------------------------------------------

void print_command_help(const CommandInfo& command, const po::options_description& options) {
  std::cout << "usage: mob-tool [GLOBAL OPTIONS] " << command.synopsis << "\n\n"
            << command.details << "\n";
  if (!command.alias.empty()) std::cout << "\nalias: " << command.alias << "\n";
  std::cout << "\n" << options << "\nGlobal options (-a, -p, --timeout) come before the "
            << "command; see 'mob-tool --help'.\n";
}

// Parses a command's own options and positional arguments. Returns nullopt after printing
// the command's help (-h/--help); throws UsageError for anything it cannot accept.
// `rest_key`, when given, collects the arguments after the positionals (as Args) instead
// of refusing them.
std::optional<po::variables_map> parse_command(const CommandInfo& command, const Args& args,
                                               po::options_description options,
                                               std::span<const Positional> positionals,
                                               const char* rest_key = nullptr) {
  options.add_options()("help,h", "show this help");
  po::options_description hidden;
  po::positional_options_description order;
  for (const auto& positional : positionals) {
    hidden.add_options()(positional.key, po::value<std::string>());
    order.add(positional.key, 1);
  }
  const char* rest = rest_key ? rest_key : "unexpected";
  hidden.add_options()(rest, po::value<Args>());
  order.add(rest, -1);
  po::options_description all;
  all.add(options).add(hidden);

  po::variables_map values;
  try {
    po::store(po::command_line_parser(args).options(all).positional(order).style(kParseStyle).run(),
              values);
    po::notify(values);
  } catch (const po::error& e) {
    throw UsageError{std::string(command.name) + ": " + e.what()};
  }
  if (values.count("help")) {
    print_command_help(command, options);
    return std::nullopt;
  }
  if (values.count("unexpected"))
    throw UsageError{std::string(command.name) + ": unexpected argument '" +
                     values["unexpected"].as<Args>().front() + "' (usage: mob-tool " +
                     std::string(command.synopsis) + ")"};
  for (const auto& positional : positionals)
    if (positional.required && !values.count(positional.key))
      throw UsageError{std::string(command.name) + ": missing " + positional.display +
                       " (usage: mob-tool " + std::string(command.synopsis) + ")"};
  return values;
}

// An optional positional argument, or "" when it is absent.
std::string optional_positional(const po::variables_map& values, const char* key) {
  return values.count(key) ? values[key].as<std::string>() : std::string();
}

long checked_number(const CommandInfo& command, const po::variables_map& values,
                    const char* key, long min, std::string_view unit) {
  long value = values[key].as<long>();
  if (value < min)
    throw UsageError{std::string(command.name) + ": --" + std::string(key) +
                     " must be at least " + std::to_string(min) +
                     (unit.empty() ? "" : " " + std::string(unit)) + ", got " +
                     std::to_string(value)};
  return value;
}

// --write-id: what the agent accepts (letters, digits, '-', '_', at most 64).
std::string checked_write_id(const CommandInfo& command, const po::variables_map& values) {
  auto id = values["write-id"].as<std::string>();
  bool plain = std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
  if (id.empty() || id.size() > 64 || !plain)
    throw UsageError{std::string(command.name) + ": --write-id must be 1-64 letters, digits, '-' or '_', got \"" +
                     id + "\""};
  return id;
}

// ---- output helpers --------------------------------------------------------------------

// Prints rows as columns separated by two spaces; the first row is the header.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    std::cout << line << "\n";
  }
}

std::string or_dash(std::string text) { return text.empty() ? "-" : text; }

// "42s", "3m12s", "2h05m", "3d04h".
std::string human_duration(std::int64_t ms) {
  long long s = std::max<std::int64_t>(ms, 0) / 1000;
  char text[48];
  if (s < 60) std::snprintf(text, sizeof text, "%llds", s);
  else if (s < 3600) std::snprintf(text, sizeof text, "%lldm%02llds", s / 60, s % 60);
  else if (s < 86400) std::snprintf(text, sizeof text, "%lldh%02lldm", s / 3600, s / 60 % 60);
  else std::snprintf(text, sizeof text, "%lldd%02lldh", s / 86400, s / 3600 % 24);
  return text;
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string instance_name(const mob::InstanceStatus& instance) {
  return mob::InstanceId{instance.service, instance.index}.display_name();
}

// The DETAIL column: why an instance is not running, or nothing.
std::string detail(const mob::InstanceStatus& instance) {
  using mob::InstanceState;
  if (instance.state == InstanceState::running || instance.state == InstanceState::starting)
    return {};
  if (!instance.reason.empty()) return instance.reason;
  if (instance.state == InstanceState::exited) {
    if (instance.signal != 0) return "killed by signal " + std::to_string(instance.signal);
    if (instance.exit_code >= 0) return "exit code " + std::to_string(instance.exit_code);
  }
  return {};
}

// The HEALTH column: "-" without checks, "starting", "healthy", "unhealthy: http: HTTP 500 (3 in a row)".
std::string health_column(const mob::InstanceStatus& instance) {
  if (instance.state != mob::InstanceState::running) return "-";
  if (instance.health == mob::Health::unhealthy && instance.reason.starts_with("unhealthy:"))
    return instance.reason;
  return std::string(mob::to_string(instance.health));
}

json to_json(const mob::CheckResult& check) {
  json out = {{"name", check.name}, {"passed", check.passed}, {"at_ms", check.at_ms},
              {"in_a_row", check.in_a_row}, {"output", check.output}};
  if (check.at_ms == 0) out["passed"] = nullptr;  // not run yet
  return out;
}

json to_json(const mob::InstanceStatus& instance) {
  json checks = json::array();
  for (const auto& check : instance.checks) checks.push_back(to_json(check));
  return {{"service", instance.service},   {"index", instance.index},
          {"node", instance.node},         {"state", mob::to_string(instance.state)},
          {"restarts", instance.restarts}, {"pid", instance.pid},
          {"since_ms", instance.since_ms}, {"exit_code", instance.exit_code},
          {"signal", instance.signal},     {"reason", instance.reason},
          {"spec_version", instance.spec_version},
          {"health", instance.health == mob::Health::none ? "none" : mob::to_string(instance.health)},
          {"checks", checks},
          {"host", instance.host},
          {"ports", instance.ports}};
}

json to_json(const mob::ServiceStatus& service) {
  json instances = json::array();
  for (const auto& instance : service.instance_list) instances.push_back(to_json(instance));
  return {{"name", service.name},           {"provider", service.provider},
          {"version", service.version},     {"instances", service.instances},
          {"enabled", service.enabled},     {"spec_json", service.spec_json},
          {"instance_list", instances},
          {"problem", service.problem},
          {"stable_version", service.stable_version},
          {"rollout", service.rollout},
          {"rebalance", service.rebalance}};
}

json to_json(const mob::Member& member) {
  return {{"name", member.name},
          {"address", member.address},
          {"pub_address", member.pub_address},
          {"state", mob::to_string(member.state)},
          {"providers", member.providers},
          {"tags", member.tags.map()},
          {"incarnation", member.incarnation},
          {"load", member.load},
          {"version", member.version},
          {"problem", member.problem.str()},
          {"degraded", member.degraded.str()},
          {"eligible", member.eligible}};
}

// A member that runs (alive, or suspect and not yet failed).
bool is_up(mob::MemberState state) {
  return state == mob::MemberState::alive || state == mob::MemberState::suspect;
}

// What keeps a member from taking part, or works badly there, in words ("" when nothing).
std::string trouble_of(const mob::Member& member) {
  if (member.problem.empty()) return member.degraded.str();
  if (member.degraded.empty()) return member.problem.str();
  return member.problem.str() + "; " + member.degraded.str();
}

// A status table ends with the members that are degraded or have a problem: what the
// services do there may not last (e.g. an agent whose disk refuses writes takes none).
void print_member_trouble(mob::Client& client) {
  auto members = client.members();
  if (!members) return;
  for (const auto& member : members->members) {
    if (auto trouble = trouble_of(member); !trouble.empty())
      std::cout << "agent " << member.name << ": " << trouble << "\n";
    if (!member.eligible && is_up(member.state))
      std::cout << "agent " << member.name << ": ineligible for new instances (mob-tool eligibility "
                << member.name << " on)\n";
  }
}

// Blocks SIGINT and SIGTERM while alive, so that a waiting command takes them as a request
// to stop cleanly (they stay pending during a call to the agent and end the next wait).
class StopSignals {
 public:
  StopSignals() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, &previous_);
    fd_ = signalfd(-1, &signals_, SFD_NONBLOCK | SFD_CLOEXEC);
  }
  ~StopSignals() {
    if (fd_ >= 0) ::close(fd_);
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Readable while a stop signal is pending: for EventSubscriber::wake_on.
  int fd() const { return fd_; }
  // Whether a stop signal is pending (and takes it).
  bool arrived() { return wait(milliseconds(0)); }

  // Waits up to `duration`; true when SIGINT or SIGTERM arrived.
  bool wait(milliseconds duration) {
    auto left = std::max(duration, milliseconds(0));
    timespec timeout{static_cast<time_t>(left.count() / 1000),
                     static_cast<long>(left.count() % 1000 * 1000000)};
    while (true) {
      if (sigtimedwait(&signals_, nullptr, &timeout) > 0) return true;
      if (errno != EINTR) return false;  // EAGAIN: the time is up
    }
  }

 private:
  sigset_t signals_;
  sigset_t previous_;
  int fd_ = -1;
};

// ---- deploy ----------------------------------------------------------------------------

Result<std::string> read_spec(const std::string& source) {
  std::ostringstream text;
  if (source == "-") {
    text << std::cin.rdbuf();
    if (std::cin.bad()) return mob::fail(mob::Errc::io, "cannot read the spec from stdin");
    return text.str();
  }
  std::ifstream file(source, std::ios::binary);
  if (!file)
    return mob::fail(mob::Errc::io, "cannot read spec file \"" + source +
                                        "\": " + std::strerror(errno) +
                                        " (give a JSON file, or - to read stdin)");
  text << file.rdbuf();
  return text.str();
}

// Reads the service's events until every instance of `deployed.version` runs (exit 0), one
// fails or the wait times out (exit 1). `events` was opened before the deploy was sent; one
// status call then learns the instance count and covers what happened before the
// subscription took effect. Another follows a gap in the stream and the timeout.
int wait_until_running(mob::Client& client, mob::EventSubscriber& events,
                       const mob::DeployReply& deployed, milliseconds wait_timeout,
                       StopSignals& stop) {
  const std::string& name = deployed.service;
  mob::Rollout rollout(deployed, std::chrono::steady_clock::now(), wait_timeout);
  auto print = [](const std::vector<std::string>& lines) {
    for (const auto& line : lines) std::cout << line << std::endl;
  };
  bool read_status = true;
  bool connected = events.connected();
  std::uint64_t dropped = events.dropped();
  while (true) {
    if (read_status) {
      read_status = false;
      auto status = client.status(name);
      if (!status && status.error().code == mob::Errc::not_found) {
        std::cerr << "mob-tool: " << name << " was removed while waiting for it to run\n";
        return kExitFailed;
      }
      if (!status) return failed("waiting for " + name, status.error());
      print(rollout.absorb(*status, std::chrono::steady_clock::now()));
    }
    const auto now = std::chrono::steady_clock::now();
    auto verdict = rollout.verdict(now);
    switch (verdict.outcome) {
      case mob::Rollout::Outcome::running:
        std::cout << verdict.message << std::endl;
        return kExitOk;
      case mob::Rollout::Outcome::failed:
      case mob::Rollout::Outcome::timed_out:
        std::cerr << "mob-tool: " << verdict.message << "\n";
        return kExitFailed;
      case mob::Rollout::Outcome::waiting:
        break;
    }
    if (rollout.wants_final_status(now)) {
      read_status = true;
      continue;
    }
    auto wait = std::min(std::chrono::ceil<milliseconds>(rollout.next_look() - now), kEventWait);
    auto event = events.next(std::max(wait, milliseconds(0)));
    if (stop.arrived()) {
      std::cerr << "mob-tool: stopped waiting; " << name << " version " << deployed.version
                << " keeps deploying" << mob::where_to_look(name) << "\n";
      return kExitFailed;
    }
    if (!event) return failed("waiting for " + name, event.error());
    if (events.connected() != connected) {
      connected = events.connected();
      if (!connected) {
        std::cerr << "mob-tool: lost agent at " << events.endpoint() << "; reconnecting...\n";
      } else {
        std::cerr << "mob-tool: agent at " << events.endpoint() << " is back\n";
        read_status = true;  // what happened meanwhile is not in the stream
      }
    }
    if (events.dropped() != dropped) {
      dropped = events.dropped();
      read_status = true;
    }
    if (*event) print(rollout.absorb(**event, std::chrono::steady_clock::now()));
  }
}

// The service and instance events of a deploy, subscribed before anything is sent so that
// none can be missed, and Ctrl-C/SIGTERM to stop waiting.
struct DeployWatch {
  std::optional<StopSignals> stop;
  std::optional<mob::EventSubscriber> events;

  Result<void> open(Agent& agent) {
    stop.emplace();
    auto opened = mob::EventSubscriber::open(agent.address(), {"service.", "instance."},
                                             agent.options());
    if (!opened) return std::unexpected(opened.error());
    events.emplace(std::move(*opened));
    events->wake_on(stop->fd());
    return {};
  }
};

po::options_description deploy_options() {
  po::options_description options("deploy options");
  options.add_options()
      ("detach", po::bool_switch(), "return once the agent accepted the spec; do not wait")
      ("wait-timeout", po::value<long>()->default_value(60000)->value_name("MS"),
       "give up waiting for the instances to run after MS milliseconds (exit 1)")
      ("write-id", po::value<std::string>()->value_name("ID"),
       "the write's id (one FILE only; default: a new random one): a deploy sent again with "
       "the id a timed-out one printed is the same deploy, not a new version");
  return options;
}

// A write that got no answer may still take effect (the agent may be slow, not gone): it
// is sent once more with the same id, which the agent answers with the first outcome
// instead of writing again. What still gets no answer says so, and how to check.
// A write the agent that took it holds alone: no peer confirmed a copy on its disk within a
// second (the agent is cut off from them, or they are slow). Said on stderr, the write
// stands: it spreads when the peers hear from that agent again, and is lost with it if it
// goes first.
template <class Reply>
void warn_if_held_alone(std::string_view what, const Reply& reply, std::string_view agent) {
  if (!mob::held_alone(reply.copies, reply.peers)) return;
  std::cerr << "warning: " << what << " of " << reply.service << " is held by " << agent
            << " alone: none of its " << reply.peers
            << " peer(s) confirmed a copy within 1 s (is it cut off from them?). It spreads when they hear from "
            << agent << " again; if " << agent
            << " is lost before, so is the change: check with mob-tool status, or send it again through another agent"
            << std::endl;
}

bool no_answer(const Result<mob::DeployReply>& reply) {
  return !reply && reply.error().code == mob::Errc::timeout;
}

std::string service_name_of(const std::string& spec_json) {
  auto doc = json::parse(spec_json, nullptr, false);
  if (doc.is_object() && doc.contains("name") && doc["name"].is_string()) return doc["name"].get<std::string>();
  return "";
}

mob::Error may_still_take_effect(const mob::Error& error, const std::string& what, const std::string& service,
                                 const std::string& write_id, const std::string& again) {
  return mob::Error{error.code, error.message + " (asked twice). The " + what +
                                    " may still take effect: check with: mob-tool status" +
                                    (service.empty() ? "" : " " + service) +
                                    "; to retry it as the same " + what + ": " + again +
                                    " --write-id " + write_id};
}

// Sends `specs` to the agent with up to 64 in flight (it syncs each to its disk before
// answering), then, unless `detach`, follows each accepted service until it runs, one after
// another. `labels[i]` names spec i in errors: "deploy", or "deploy FILE" among several.
// `write_ids[i]` is spec i's write id (a new one when missing); `retry_commands[i]` is the
// command that sends spec i again, printed with its id when it got no answer.
int deploy_specs(Agent& agent, std::vector<std::string> specs, const std::vector<std::string>& labels,
                 bool detach, milliseconds wait_timeout, std::vector<std::string> write_ids,
                 const std::vector<std::string>& retry_commands) {
  mob::Client* client = agent.client("deploy");
  if (client == nullptr) return kExitFailed;
  DeployWatch watch;
  if (!detach)
    if (auto opened = watch.open(agent); !opened) return failed("deploy", opened.error());
  while (write_ids.size() < specs.size()) write_ids.push_back(mob::new_write_id());
  auto replies = client->deploy_many(specs, 64, write_ids);
  std::vector<std::size_t> unanswered;
  for (std::size_t i = 0; i < replies.size(); ++i)
    if (no_answer(replies[i])) unanswered.push_back(i);
  if (!unanswered.empty()) {
    std::vector<std::string> again_specs, again_ids;
    for (auto i : unanswered) {
      again_specs.push_back(specs[i]);
      again_ids.push_back(write_ids[i]);
    }
    auto again = client->deploy_many(std::move(again_specs), 64, std::move(again_ids));
    for (std::size_t k = 0; k < unanswered.size(); ++k) replies[unanswered[k]] = std::move(again[k]);
  }
  int exit_code = kExitOk;
  std::vector<mob::DeployReply> accepted;
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (no_answer(replies[i])) {
      exit_code = failed(labels[i], may_still_take_effect(replies[i].error(), "deploy", service_name_of(specs[i]),
                                                          write_ids[i], retry_commands[i]));
      continue;
    }
    if (!replies[i]) {
      exit_code = failed(labels[i], replies[i].error());
      continue;
    }
    std::cout << "deployed " << replies[i]->service << " version " << replies[i]->version
              << std::endl;
    warn_if_held_alone("the deploy", *replies[i], replies[i]->agent);
    accepted.push_back(*replies[i]);
  }
  if (detach) return exit_code;
  // A later service's status call covers the events read while waiting for earlier ones.
  for (const auto& deployed : accepted)
    if (wait_until_running(*client, *watch.events, deployed, wait_timeout, *watch.stop) != kExitOk)
      exit_code = kExitFailed;
  return exit_code;
}

// Several files: every spec is read first (nothing is sent if one cannot be read).
int deploy_files(Agent& agent, const std::vector<std::string>& files, bool detach,
                 milliseconds wait_timeout) {
  std::vector<std::string> specs;
  std::vector<std::string> labels;
  for (const auto& file : files) {
    if (file == "-")
      return failed("deploy", mob::Error{mob::Errc::invalid_argument,
                                         "- (stdin) can only be deployed alone"});
    auto spec = read_spec(file);
    if (!spec) return failed("deploy", spec.error());
    specs.push_back(std::move(*spec));
    labels.push_back("deploy " + file);
  }
  std::vector<std::string> retry_commands;
  for (const auto& file : files) retry_commands.push_back(agent.command_line() + " deploy " + file);
  return deploy_specs(agent, std::move(specs), labels, detach, wait_timeout, {}, retry_commands);
}

int run_deploy(const CommandInfo& command, Agent& agent, const Args& args) {
  constexpr Positional positionals[] = {{"file", "FILE|-", true}};
  auto values = parse_command(command, args, deploy_options(), positionals, "more-files");
  if (!values) return kExitOk;
  milliseconds wait_timeout(checked_number(command, *values, "wait-timeout", 1, "ms"));
  bool detach = (*values)["detach"].as<bool>();
  std::vector<std::string> write_ids;
  if (values->count("write-id")) write_ids.push_back(checked_write_id(command, *values));
  if (values->count("more-files")) {
    if (!write_ids.empty()) throw UsageError{"--write-id names one write: give one FILE"};
    std::vector<std::string> files{(*values)["file"].as<std::string>()};
    for (const auto& file : (*values)["more-files"].as<Args>()) files.push_back(file);
    return deploy_files(agent, files, detach, wait_timeout);
  }
  const auto file = (*values)["file"].as<std::string>();
  auto spec = read_spec(file);
  if (!spec) return failed("deploy", spec.error());
  const std::string again = file == "-" ? "... | " + agent.command_line() + " deploy -"
                                        : agent.command_line() + " deploy " + file;
  return deploy_specs(agent, {std::move(*spec)}, {"deploy"}, detach, wait_timeout, std::move(write_ids), {again});
}

// ---- status ----------------------------------------------------------------------------

int run_status(const CommandInfo& command, Agent& agent, const Args& args) {
  po::options_description options("status options");
  options.add_options()("json", po::bool_switch(), "print a JSON array of the services instead");
  constexpr Positional positionals[] = {{"service", "SERVICE", false}};
  auto values = parse_command(command, args, options, positionals);
  if (!values) return kExitOk;
  mob::Client* client = agent.client("status");
  if (client == nullptr) return kExitFailed;
  auto status = client->status(optional_positional(*values, "service"));
  if (!status) return failed("status", status.error());

  if ((*values)["json"].as<bool>()) {
    json services = json::array();
    for (const auto& service : status->services) services.push_back(to_json(service));
    std::cout << services.dump(2) << "\n";
    return kExitOk;
  }
  if (status->services.empty()) {
    std::cout << "no services deployed (deploy one with: mob-tool deploy SPEC.json)\n";
    print_member_trouble(*client);
    return kExitOk;
  }
  const std::int64_t now = wall_ms();
  std::vector<std::vector<std::string>> rows = {
      {"SERVICE", "VERSION", "INSTANCE", "STATE", "NODE", "RESTARTS", "UPTIME", "PID", "HEALTH", "DETAIL"}};
  for (const auto& service : status->services) {
    if (service.instance_list.empty()) {
      rows.push_back({service.name, std::to_string(service.version), "-", "-", "-", "-", "-",
                      "-", "-", service.enabled ? "no instances" : "stopped"});
      continue;
    }
    if (!service.problem.empty())
      rows.push_back({service.name, std::to_string(service.version), "-", "-", "-", "-", "-", "-",
                      "-", service.problem});
    if (!service.rollout.empty())  // a rolling update under way, or how the last one ended
      rows.push_back({service.name, std::to_string(service.version), "-", "-", "-", "-", "-", "-",
                      "-", service.rollout});
    if (service.rebalance.starts_with("rebalancing: "))  // the owner moves its instances
      rows.push_back({service.name, std::to_string(service.version), "-", "-", "-", "-", "-", "-",
                      "-", service.rebalance});
    for (const auto& instance : service.instance_list) {
      bool running = instance.state == mob::InstanceState::running;
      bool has_process = running || instance.state == mob::InstanceState::starting;
      auto version = instance.spec_version != 0 ? instance.spec_version : service.version;
      rows.push_back({service.name, std::to_string(version), instance_name(instance),
                      std::string(mob::to_string(instance.state)), or_dash(instance.node),
                      std::to_string(instance.restarts),
                      running ? human_duration(now - instance.since_ms) : "-",
                      has_process && instance.pid > 0 ? std::to_string(instance.pid) : "-",
                      health_column(instance), detail(instance)});
    }
  }
  print_table(rows);
  print_member_trouble(*client);
  return kExitOk;
}

// ---- stop, start, restart, remove ------------------------------------------------------

int control(const CommandInfo& command, Agent& agent, const Args& args,
            mob::ControlAction action, std::string_view done) {
  constexpr Positional positionals[] = {{"service", "SERVICE", true}};
  po::options_description options("options");
  options.add_options()("write-id", po::value<std::string>()->value_name("ID"),
                        "the write's id (default: a new random one): the same command sent again "
                        "with the id a timed-out one printed is the same write");
  if (action == mob::ControlAction::remove)
    options.add_options()("force", po::bool_switch(),
                          "remove it even while other services depend on it (they wait until it is "
                          "deployed again); breaks a dependency cycle");
  auto values = parse_command(command, args, options, positionals);
  if (!values) return kExitOk;
  mob::Client* client = agent.client(command.name);
  if (client == nullptr) return kExitFailed;
  auto service = (*values)["service"].as<std::string>();
  if (action == mob::ControlAction::remove && (*values)["force"].as<bool>())
    action = mob::ControlAction::force_remove;
  auto write_id = values->count("write-id") ? checked_write_id(command, *values) : mob::new_write_id();
  auto reply = client->control(service, action, write_id);
  if (!reply && reply.error().code == mob::Errc::timeout)
    reply = client->control(service, action, write_id);  // the same write (deploy_specs)
  if (!reply && reply.error().code == mob::Errc::timeout) {
    std::string again = agent.command_line() + " " + std::string(command.name) +
                        (action == mob::ControlAction::force_remove ? " --force " : " ") + service;
    return failed(command.name,
                  may_still_take_effect(reply.error(), std::string(command.name), service, write_id, again));
  }
  if (!reply) return failed(command.name, reply.error());
  std::cout << done << " " << service << "\n";
  warn_if_held_alone(std::string("the ") + std::string(command.name), *reply, "the agent");
  return kExitOk;
}

int run_stop(const CommandInfo& command, Agent& agent, const Args& args) {
  return control(command, agent, args, mob::ControlAction::stop, "stopped");
}
int run_start(const CommandInfo& command, Agent& agent, const Args& args) {
  return control(command, agent, args, mob::ControlAction::start, "started");
}
int run_restart(const CommandInfo& command, Agent& agent, const Args& args) {
  return control(command, agent, args, mob::ControlAction::restart, "restarted");
}
int run_remove(const CommandInfo& command, Agent& agent, const Args& args) {
  return control(command, agent, args, mob::ControlAction::remove, "removed");
}

// ---- scale -------------------------------------------------------------------------------

po::options_description scale_options() {
  po::options_description options("scale options");
  options.add_options()
      ("detach", po::bool_switch(), "return once the agent accepted the new count; do not wait")
      ("wait-timeout", po::value<long>()->default_value(60000)->value_name("MS"),
       "give up waiting for the instances to run after MS milliseconds (exit 1)")
      ("write-id", po::value<std::string>()->value_name("ID"),
       "the write's id (default: a new random one): a scale sent again with the id a timed-out "
       "one printed is the same scale, not a new version");
  return options;
}

int run_scale(const CommandInfo& command, Agent& agent, const Args& args) {
  constexpr Positional positionals[] = {{"service", "SERVICE", true}, {"instances", "N", true}};
  auto values = parse_command(command, args, scale_options(), positionals);
  if (!values) return kExitOk;
  const auto service = (*values)["service"].as<std::string>();
  const auto count_text = (*values)["instances"].as<std::string>();
  std::uint32_t count = 0;
  auto [end, error] = std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
  if (error != std::errc{} || end != count_text.data() + count_text.size())
    throw UsageError{"scale: N must be a whole number of instances (0 or more), got \"" + count_text + "\""};
  milliseconds wait_timeout(checked_number(command, *values, "wait-timeout", 1, "ms"));
  const bool detach = (*values)["detach"].as<bool>();
  mob::Client* client = agent.client("scale");
  if (client == nullptr) return kExitFailed;
  DeployWatch watch;
  if (!detach)
    if (auto opened = watch.open(agent); !opened) return failed("scale", opened.error());
  auto write_id = values->count("write-id") ? checked_write_id(command, *values) : mob::new_write_id();
  auto reply = client->control(service, mob::ControlAction::scale, write_id, count);
  if (!reply && reply.error().code == mob::Errc::timeout)
    reply = client->control(service, mob::ControlAction::scale, write_id, count);  // the same write
  if (!reply && reply.error().code == mob::Errc::timeout)
    return failed("scale", may_still_take_effect(reply.error(), "scale", service, write_id,
                                                 agent.command_line() + " scale " + service + " " + count_text));
  if (!reply) return failed("scale", reply.error());
  std::cout << "scaled " << service << " to " << count << " instance" << (count == 1 ? "" : "s") << " (version "
            << reply->version << ")" << std::endl;
  warn_if_held_alone("the scale", *reply, "the agent");
  if (detach) return kExitOk;
  // Follow it like a deploy of that version: the running instances carry on, the new ones start.
  auto status = client->status(service);
  if (!status) return failed("scale", status.error());
  mob::DeployReply scaled{service, reply->version, false, 0, "", 0};
  for (const auto& found : status->services)
    if (found.name == service && found.version == reply->version)
      scaled = mob::DeployReply{service, reply->version, false, mob::spec_identity(found.spec_json), found.origin,
                                found.changed_at};
  return wait_until_running(*client, *watch.events, scaled, wait_timeout, *watch.stop);
}

// ---- history, rollback, promote, rebalance -----------------------------------------------

// A refusal whose message already names the command ("rollback web 99: no version 99 ...").
int refused(const mob::Error& error) {
  std::cerr << "mob-tool: " << error.message << "\n";
  return kExitFailed;
}

std::string format_ms(std::int64_t unix_ms, const char* format, bool utc);

int run_history(const CommandInfo& command, Agent& agent, const Args& args) {
  constexpr Positional positionals[] = {{"service", "SERVICE", true}};
  po::options_description options("history options");
  options.add_options()("json", po::bool_switch(), "one JSON object per version, newest first, specs included");
  auto values = parse_command(command, args, options, positionals);
  if (!values) return kExitOk;
  const auto service = (*values)["service"].as<std::string>();
  mob::Client* client = agent.client("history");
  if (client == nullptr) return kExitFailed;
  auto reply = client->history(service);
  if (!reply) return reply.error().code == mob::Errc::not_found ? refused(reply.error()) : failed("history", reply.error());
  if ((*values)["json"].as<bool>()) {
    for (const auto& version : reply->versions)
      std::cout << json{{"service", reply->service},
                        {"version", version.version},
                        {"time_ms", version.time_ms},
                        {"through", version.through},
                        {"outcome", version.outcome},
                        {"rollback_of", version.rollback_of},
                        {"removed", reply->removed},
                        {"spec", json::parse(version.spec_json.str(), nullptr, false)}}
                       .dump(-1, ' ', false, json::error_handler_t::replace)
                << "\n";
    return kExitOk;
  }
  if (reply->removed)
    std::cout << service << " was removed; its history stays until its tombstone is collected "
              << "(mob-agent --tombstone-ttl-s)\n";
  std::vector<std::vector<std::string>> rows = {{"VERSION", "WRITTEN", "THROUGH", "OUTCOME"}};
  for (const auto& version : reply->versions)
    rows.push_back({std::to_string(version.version), format_ms(version.time_ms, "%Y-%m-%d %H:%M:%S", false),
                    version.through,
                    version.outcome + (version.rollback_of ? " (the spec of version " +
                                                                 std::to_string(version.rollback_of) + ")"
                                                           : "")});
  print_table(rows);
  return kExitOk;
}

po::options_description wait_options(const char* what) {
  po::options_description options(std::string(what) + " options");
  options.add_options()
      ("detach", po::bool_switch(), "return once the agent took the write; do not wait")
      ("wait-timeout", po::value<long>()->default_value(60000)->value_name("MS"),
       "give up waiting for the instances to run after MS milliseconds (exit 1)")
      ("write-id", po::value<std::string>()->value_name("ID"),
       "the write's id (default: a new random one): the same command sent again with the id a "
       "timed-out one printed is the same write");
  return options;
}

int run_rollback(const CommandInfo& command, Agent& agent, const Args& args) {
  constexpr Positional positionals[] = {{"service", "SERVICE", true}, {"version", "VERSION", false}};
  auto values = parse_command(command, args, wait_options("rollback"), positionals);
  if (!values) return kExitOk;
  const auto service = (*values)["service"].as<std::string>();
  std::uint64_t version = 0;
  if (values->count("version")) {
    const auto text = (*values)["version"].as<std::string>();
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), version);
    if (error != std::errc{} || end != text.data() + text.size() || version == 0)
      throw UsageError{"rollback: VERSION must be a version number (1 or more), got \"" + text + "\""};
  }
  milliseconds wait_timeout(checked_number(command, *values, "wait-timeout", 1, "ms"));
  const bool detach = (*values)["detach"].as<bool>();
  mob::Client* client = agent.client("rollback");
  if (client == nullptr) return kExitFailed;
  DeployWatch watch;
  if (!detach)
    if (auto opened = watch.open(agent); !opened) return failed("rollback", opened.error());
  auto write_id = values->count("write-id") ? checked_write_id(command, *values) : mob::new_write_id();
  auto reply = client->rollback(service, version, write_id);
  if (!reply && reply.error().code == mob::Errc::timeout) reply = client->rollback(service, version, write_id);
  if (!reply && reply.error().code == mob::Errc::timeout)
    return failed("rollback", may_still_take_effect(reply.error(), "rollback", service, write_id,
                                                    agent.command_line() + " rollback " + service +
                                                        (version ? " " + std::to_string(version) : "")));
  if (!reply) return refused(reply.error());
  std::cout << "rolled " << service << " back: version " << reply->version << " runs the spec of version "
            << (version ? std::to_string(version) : "before") << std::endl;
  warn_if_held_alone("the rollback", *reply, reply->agent);
  if (detach) return kExitOk;
  return wait_until_running(*client, *watch.events, *reply, wait_timeout, *watch.stop);
}

int run_promote(const CommandInfo& command, Agent& agent, const Args& args) {
  constexpr Positional positionals[] = {{"service", "SERVICE", true}};
  auto values = parse_command(command, args, wait_options("promote"), positionals);
  if (!values) return kExitOk;
  const auto service = (*values)["service"].as<std::string>();
  milliseconds wait_timeout(checked_number(command, *values, "wait-timeout", 1, "ms"));
  const bool detach = (*values)["detach"].as<bool>();
  mob::Client* client = agent.client("promote");
  if (client == nullptr) return kExitFailed;
  DeployWatch watch;
  if (!detach)
    if (auto opened = watch.open(agent); !opened) return failed("promote", opened.error());
  auto write_id = values->count("write-id") ? checked_write_id(command, *values) : mob::new_write_id();
  auto reply = client->promote(service, write_id);
  if (!reply && reply.error().code == mob::Errc::timeout) reply = client->promote(service, write_id);
  if (!reply && reply.error().code == mob::Errc::timeout)
    return failed("promote", may_still_take_effect(reply.error(), "promote", service, write_id,
                                                   agent.command_line() + " promote " + service));
  if (!reply) return refused(reply.error());
  std::cout << "promoted " << service << " version " << reply->version << ": the other instances move to it"
            << std::endl;
  warn_if_held_alone("the promote", *reply, "the agent");
  if (detach) return kExitOk;
  // Followed like a deploy of that version: done when every instance runs it.
  auto status = client->status(service);
  if (!status) return failed("promote", status.error());
  mob::DeployReply promoted{service, reply->version, false, 0, "", 0};
  for (const auto& found : status->services)
    if (found.name == service && found.version == reply->version)
      promoted = mob::DeployReply{service, reply->version, false, mob::spec_identity(found.spec_json), found.origin,
                                  found.changed_at};
  return wait_until_running(*client, *watch.events, promoted, wait_timeout, *watch.stop);
}

// The rebalance as an agent of the release before runs it: one batch per request, asked
// again until nothing is left.
int rebalance_batch_by_batch(mob::Client& client, DeployWatch& watch, const std::string& service,
                             mob::RebalanceReply reply, std::chrono::steady_clock::time_point deadline) {
  std::uint32_t moved = 0;
  while (true) {
    for (const auto& move : reply.moves) {
      std::cout << move.service << "/" << move.index << "  moving from " << move.from_node << " to " << move.to_node
                << std::endl;
      ++moved;
    }
    if (reply.moves.empty() && reply.left == 0) {
      std::cout << "rebalance" << (service.empty() ? "" : " " + service) << ": done, " << moved << " instance"
                << (moved == 1 ? "" : "s") << " moved" << std::endl;
      return kExitOk;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      std::cerr << "mob-tool: rebalance: the deadline passed with " << reply.left + reply.moves.size()
                << " move(s) left (mob-tool status shows why the last ones do not run)\n";
      return kExitFailed;
    }
    auto event = watch.events->next(std::min(std::chrono::ceil<milliseconds>(deadline - now), milliseconds(500)));
    if (watch.stop->arrived()) {
      std::cerr << "mob-tool: stopped; the moves already made go on\n";
      return kExitFailed;
    }
    if (!event) return failed("rebalance", event.error());
    auto again = client.rebalance(service);
    if (!again) return failed("rebalance", again.error());
    reply = std::move(*again);
  }
}

int run_rebalance(const CommandInfo& command, Agent& agent, const Args& args) {
  constexpr Positional positionals[] = {{"service", "SERVICE", false}};
  po::options_description options("rebalance options");
  options.add_options()("deadline", po::value<long>()->default_value(300)->value_name("S"),
                        "stop waiting after S seconds (exit 1, saying what the rebalance waits for); it goes on");
  auto values = parse_command(command, args, options, positionals);
  if (!values) return kExitOk;
  const auto service = values->count("service") ? (*values)["service"].as<std::string>() : std::string();
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::seconds(checked_number(command, *values, "deadline", 1, "s"));
  DeployWatch watch;  // opened before the request: no event of the rebalance is missed
  if (auto opened = watch.open(agent); !opened) return failed("rebalance", opened.error());
  mob::Client* client = agent.client("rebalance");
  if (client == nullptr) return kExitFailed;
  auto reply = client->rebalance(service);
  if (!reply) return reply.error().code == mob::Errc::not_found ? refused(reply.error()) : failed("rebalance", reply.error());
  if (reply->services.empty() && (!reply->moves.empty() || reply->left > 0))
    return rebalance_batch_by_batch(*client, watch, service, std::move(*reply), deadline);
  if (reply->services.empty()) {
    std::cout << "rebalance" << (service.empty() ? "" : " " + service) << ": done, 0 instances moved (even already)"
              << std::endl;
    return kExitOk;
  }
  // The network owns it now: the services' owners move a batch at a time and record the end.
  // Events say how it goes; a status read now and then catches an end whose event was lost.
  std::map<std::string, std::uint32_t> moved;  // by service still under way
  for (const auto& name : reply->services) moved[name] = 0;
  std::cout << "rebalance" << (service.empty() ? "" : " " + service) << ": " << reply->left << " move(s) wanted; "
            << "the network carries it out (it goes on if mob-tool stops)" << std::endl;
  auto finish = [&](const std::string& name, const std::string& done) {
    const auto count = moved[name];
    std::cout << "rebalance " << name << ": done, " << count << " instance" << (count == 1 ? "" : "s") << " moved ("
              << done.substr(done.find(": ") + 2) << ")" << std::endl;
    moved.erase(name);
  };
  constexpr milliseconds kStatusEvery{1000};
  auto next_status = std::chrono::steady_clock::now() + kStatusEvery;
  while (!moved.empty()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= next_status || now >= deadline) {
      next_status = now + kStatusEvery;
      auto status = client->status(service);
      if (!status && status.error().code != mob::Errc::not_found) return failed("rebalance", status.error());
      std::map<std::string, const mob::ServiceStatus*> found;
      if (status)
        for (const auto& one : status->services) found[one.name] = &one;
      std::string waiting;
      for (auto it = moved.begin(); it != moved.end();) {
        const std::string name = it->first;
        auto one = found.find(name);
        ++it;
        if (one == found.end()) {
          std::cerr << "mob-tool: rebalance: " << name << " was removed while it was rebalanced\n";
          return kExitFailed;
        }
        const std::string& said = one->second->rebalance;
        if (said.starts_with("done: ")) {
          finish(name, said);
        } else if (said.empty()) {
          std::cerr << "mob-tool: rebalance: the rebalance of " << name << " was undone by a concurrent write "
                    << "through agent " << one->second->origin << "; ask again: mob-tool rebalance " << name << "\n";
          return kExitFailed;
        } else {
          waiting += (waiting.empty() ? "" : "; ") + name + " " + said;
        }
      }
      if (moved.empty()) break;
      if (now >= deadline) {
        std::cerr << "mob-tool: rebalance: the deadline passed; " << waiting
                  << " (it goes on in the network; mob-tool status shows it)\n";
        return kExitFailed;
      }
    }
    auto wait = std::min({std::chrono::ceil<milliseconds>(deadline - now), std::chrono::ceil<milliseconds>(next_status - now)});
    auto event = watch.events->next(std::max(wait, milliseconds(1)));
    if (watch.stop->arrived()) {
      std::cerr << "mob-tool: stopped watching; the rebalance goes on in the network (mob-tool status shows it)\n";
      return kExitFailed;
    }
    if (!event) return failed("rebalance", event.error());
    if (!*event || (*event)->topic != "service.rebalance" || !moved.contains((*event)->service)) continue;
    const mob::Event& said = **event;
    if (said.state == "batch") {
      ++moved[said.service];
      std::cout << said.service << "/" << said.instance << "  moving from " << said.from_node << " to " << said.node
                << " (" << said.reason << ")" << std::endl;
    } else if (said.state == "done") {
      finish(said.service, said.reason);
    }
  }
  return kExitOk;
}

// ---- logs ------------------------------------------------------------------------------

// Writes instance output to stdout. With several instances each line gets "[index] ", and
// a line is held back until it is complete so that instances never interleave mid-line.
class LogPrinter {
 public:
  void print(const mob::LogChunk& chunk, bool prefixed) {
    if (!prefixed) {
      std::cout << chunk.data;
      return;
    }
    std::string& pending = partial_[chunk.instance];
    pending += chunk.data;
    std::size_t start = 0;
    for (auto end = pending.find('\n'); end != std::string::npos;
         end = pending.find('\n', start)) {
      std::cout << "[" << chunk.instance << "] "
                << std::string_view(pending).substr(start, end + 1 - start);
      start = end + 1;
    }
    pending.erase(0, start);
  }

  // Prints what is held back, ending each line; for the end of the output.
  void finish() {
    for (auto& [instance, pending] : partial_)
      if (!pending.empty()) std::cout << "[" << instance << "] " << pending << "\n";
    partial_.clear();
    std::cout.flush();
  }

 private:
  std::map<std::uint32_t, std::string> partial_;
};

// Follows every instance in `offsets` (instance -> next offset) until SIGINT or SIGTERM.
int follow_logs(mob::Client& client, const std::string& service, bool one_instance,
                std::map<std::uint32_t, std::uint64_t> offsets, LogPrinter& printer) {
  StopSignals stop;
  for (int poll = 1;; ++poll) {
    std::cout.flush();
    if (stop.wait(kLogsPollInterval)) break;
    if (!one_instance && poll % kLogsPollsPerDiscovery == 0) {
      // A redeploy may add instances; follow them from the start of their output.
      auto status = client.status(service);
      if (!status) return failed("logs", status.error());
      for (const auto& listed : status->services)
        for (const auto& instance : listed.instance_list) offsets.try_emplace(instance.index, 0);
    }
    for (auto it = offsets.begin(); it != offsets.end();) {
      mob::LogsRequest request{service, static_cast<std::int32_t>(it->first), 0, true, it->second};
      auto reply = client.logs(request);
      if (!reply && reply.error().code == mob::Errc::invalid_argument && !one_instance) {
        it = offsets.erase(it);  // the service was scaled down
        continue;
      }
      if (!reply) return failed("logs", reply.error());
      for (const auto& chunk : reply->chunks) {
        if (chunk.instance != it->first) continue;
        printer.print(chunk, offsets.size() > 1);
        it->second = chunk.next_offset;
      }
      ++it;
    }
  }
  printer.finish();
  return kExitOk;
}

int run_logs(const CommandInfo& command, Agent& agent, const Args& args) {
  po::options_description options("logs options");
  options.add_options()
      ("follow,f", po::bool_switch(), "keep printing new output until Ctrl-C")
      ("tail", po::value<long>()->value_name("N"),
       "start with the last N lines of each instance (0: none); default: all that is kept")
      ("instance", po::value<long>()->value_name("I"), "only instance I (numbered from 0)");
  constexpr Positional positionals[] = {{"service", "SERVICE", true}};
  auto values = parse_command(command, args, options, positionals);
  if (!values) return kExitOk;
  const auto service = (*values)["service"].as<std::string>();
  const bool follow = (*values)["follow"].as<bool>();
  const bool one_instance = values->count("instance") > 0;
  mob::LogsRequest request{service, -1, 0, false, 0};
  if (one_instance) request.instance = static_cast<std::int32_t>(
      std::min<long>(checked_number(command, *values, "instance", 0, ""), INT32_MAX));
  // The agent reads tail 0 as "everything", so no history is asked as one line, then dropped.
  std::optional<long> tail;
  if (values->count("tail")) tail = checked_number(command, *values, "tail", 0, "lines");
  // Agents refuse more than mob::kMaxTailLines lines at once (docs/security.md).
  if (tail) request.tail_lines = static_cast<std::uint32_t>(std::clamp<long>(*tail, 1, mob::kMaxTailLines));
  const bool show_history = !tail || *tail > 0;

  mob::Client* client = agent.client("logs");
  if (client == nullptr) return kExitFailed;
  auto reply = client->logs(request);
  if (!reply) return failed("logs", reply.error());
  LogPrinter printer;
  std::map<std::uint32_t, std::uint64_t> offsets;
  for (const auto& chunk : reply->chunks) offsets[chunk.instance] = chunk.next_offset;
  if (show_history)
    for (const auto& chunk : reply->chunks) printer.print(chunk, offsets.size() > 1);
  if (!follow) {
    printer.finish();
    return kExitOk;
  }
  return follow_logs(*client, service, one_instance, std::move(offsets), printer);
}

// ---- events ----------------------------------------------------------------------------

// `format` (strftime) of `unix_ms` in UTC or local time, then ".mmm".
std::string format_ms(std::int64_t unix_ms, const char* format, bool utc) {
  unix_ms = std::max<std::int64_t>(unix_ms, 0);
  const time_t seconds = static_cast<time_t>(unix_ms / 1000);
  tm parts{};
  if (utc) gmtime_r(&seconds, &parts);
  else localtime_r(&seconds, &parts);
  char text[64];
  std::size_t length = std::strftime(text, sizeof text, format, &parts);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03d", static_cast<int>(unix_ms % 1000));
  return std::string(text, length) + millis;
}

// "2024-05-01T12:01:02.345Z".
std::string iso_time(std::int64_t unix_ms) {
  return format_ms(unix_ms, "%Y-%m-%dT%H:%M:%S", /*utc=*/true) + "Z";
}

// "12:01:02.345", local time.
std::string clock_time(std::int64_t unix_ms) {
  return format_ms(unix_ms, "%H:%M:%S", /*utc=*/false);
}

// Whether exit_code and signal belong to the event: an instance's status keeps them from its
// previous process while it starts again.
bool tells_how_it_ended(const mob::Event& event) {
  return event.topic == "instance.exited" || event.topic == "instance.failed" ||
         event.topic == "instance.restarting" || event.topic == "instance.stopped";
}

// One JSON object per event: the fields every event has, then those it sets.
json to_json(const mob::Event& event) {
  json line = {{"topic", event.topic},         {"time", iso_time(event.time_ms)},
               {"time_ms", event.time_ms},     {"agent", event.agent},
               {"publisher", event.publisher}, {"seq", event.seq},
               {"version", event.version}};
  if (!event.service.empty()) line["service"] = event.service;
  if (event.instance >= 0) line["instance"] = event.instance;
  if (!event.member.empty()) line["member"] = event.member;
  if (!event.node.empty()) line["node"] = event.node;
  if (!event.from_node.empty()) line["from_node"] = event.from_node;
  if (!event.state.empty()) line["state"] = event.state;
  if (tells_how_it_ended(event) && event.exit_code >= 0) line["exit_code"] = event.exit_code;
  if (tells_how_it_ended(event) && event.signal != 0) line["signal"] = event.signal;
  if (event.generation != 0) line["generation"] = event.generation;
  if (!event.reason.empty()) line["reason"] = event.reason;
  if (!event.check.empty()) line["check"] = event.check;
  if (!event.check.empty()) line["output"] = event.output;
  if (!event.host.empty()) line["host"] = event.host;
  if (!event.ports.empty()) line["ports"] = event.ports;
  return line;
}

// What an event says, after its time and topic: "echoes/0 on agent-a", "echoes version 2".
std::string describe(const mob::Event& event) {
  const std::string& topic = event.topic;
  if (topic.starts_with("member.")) {
    std::string text = event.member + " (incarnation " + std::to_string(event.generation) + ")";
    if (event.agent != event.member) text += " reported by " + event.agent;
    return text;
  }
  if (topic == "service.rebalance" && event.state == "batch")
    return event.service + "/" + std::to_string(event.instance) + " from " + event.from_node + " to " + event.node +
           " (" + event.reason + ") by " + event.agent;
  if (topic.starts_with("service.")) {
    std::string text = event.service;
    if (topic != "service.removed") text += " version " + std::to_string(event.generation);
    if (!event.reason.empty()) text += " (" + event.reason + ")";
    return text + " through " + event.agent;
  }
  std::string text = event.service + "/" + std::to_string(event.instance);
  if (topic == "instance.moved") return text + " from " + event.from_node + " to " + event.node;
  if (topic == "instance.assigned") return text + " to " + event.node;
  text += " on " + event.node;
  if (event.generation != 0) text += " (version " + std::to_string(event.generation) + ")";
  if (!event.reason.empty()) return text + ": " + event.reason;
  if (topic == "instance.running" && !event.ports.empty()) {
    text += ", listening on";
    for (const auto& [name, port] : event.ports) text += " " + name + "=" + event.host + ":" + std::to_string(port);
  }
  if (topic == "instance.exited" && event.signal != 0)
    return text + ": killed by signal " + std::to_string(event.signal);
  if (topic == "instance.exited" && event.exit_code >= 0)
    return text + ": exit code " + std::to_string(event.exit_code);
  return text;
}

void print_event(const mob::Event& event, bool as_json) {
  if (as_json) {
    std::cout << to_json(event).dump() << std::endl;
    return;
  }
  constexpr std::size_t kTopicWidth = sizeof("instance.restarting");
  std::string topic = event.topic;
  topic.resize(std::max(kTopicWidth, topic.size() + 1), ' ');
  std::cout << clock_time(event.time_ms) << " " << topic << " " << describe(event) << std::endl;
}

int run_events(const CommandInfo& command, Agent& agent, const Args& args) {
  po::options_description options("events options");
  options.add_options()
      ("topic", po::value<std::vector<std::string>>()->composing()->value_name("PREFIX"),
       "only topics that start with PREFIX (e.g. instance. or member.failed); repeatable; "
       "default: every event")
      ("service", po::value<std::string>()->value_name("NAME"), "only the events of service NAME")
      ("json", po::bool_switch(), "print one JSON object per line instead");
  auto values = parse_command(command, args, options, {});
  if (!values) return kExitOk;
  std::vector<std::string> topics;
  if (values->count("topic")) topics = (*values)["topic"].as<std::vector<std::string>>();
  const std::string service = values->count("service") ? (*values)["service"].as<std::string>() : "";
  const bool as_json = (*values)["json"].as<bool>();
  if (agent.client("events") == nullptr) return kExitFailed;  // a malformed address is a usage error

  StopSignals stop;
  auto opened = mob::EventSubscriber::open(agent.address(), topics, agent.options());
  if (!opened && opened.error().code == mob::Errc::invalid_argument)
    throw UsageError{"events: " + opened.error().message};
  if (!opened) return failed("events", opened.error());
  mob::EventSubscriber& events = *opened;
  events.wake_on(stop.fd());
  std::cerr << "mob-tool: watching the events of agent at " << events.endpoint() << " ("
            << events.events_address() << "); Ctrl-C stops" << std::endl;
  bool connected = events.connected();
  std::uint64_t dropped = events.dropped();
  while (true) {
    auto event = events.next(kEventWait);
    if (stop.arrived()) return kExitOk;
    if (!event) return failed("events", event.error());
    if (events.connected() != connected) {
      connected = events.connected();
      if (!connected)
        std::cerr << "mob-tool: lost agent at " << events.endpoint() << "; reconnecting...\n";
      else
        std::cerr << "mob-tool: agent at " << events.endpoint()
                  << " is back; what happened meanwhile is not shown (see: mob-tool status)\n";
    }
    if (events.dropped() != dropped) {
      std::cerr << "mob-tool: missed " << events.dropped() - dropped
                << " event(s): this reader fell behind the agent or lost the connection\n";
      dropped = events.dropped();
    }
    if (*event && (service.empty() || (*event)->service == service)) print_event(**event, as_json);
  }
}

// ---- endpoints -------------------------------------------------------------------------

// Where a service's instances listen (docs/spec.md, "Service discovery").
struct EndpointQuery {
  std::string service;
  std::string port;  // only this named port ("": every one)
  bool all = false;  // also the instances that do not serve
};

// Running (and healthy, when its service has checks) on an agent that is alive or suspect.
bool serves_on_live_agent(const mob::InstanceStatus& instance, const std::set<std::string>& live_agents) {
  bool healthy = instance.health == mob::Health::none || instance.health == mob::Health::healthy;
  return instance.state == mob::InstanceState::running && healthy && live_agents.contains(instance.node);
}

struct Endpoint {
  const mob::InstanceStatus* instance;
  std::string port_name;
  std::uint32_t port;
  bool serves;
};

// The service's endpoints now, as text (one line each) or as one JSON array; an error when
// the agent does not answer or the service or port is unknown.
mob::Result<std::string> endpoints_now(mob::Client& client, const EndpointQuery& query, bool as_json, bool one_line) {
  auto status = client.status(query.service);
  if (!status) return std::unexpected(status.error());
  auto members = client.members();
  if (!members) return std::unexpected(members.error());
  std::set<std::string> live_agents;
  for (const auto& member : members->members)
    if (member.state == mob::MemberState::alive || member.state == mob::MemberState::suspect)
      live_agents.insert(member.name);
  if (status->services.empty())
    return mob::fail(mob::Errc::not_found, "service \"" + query.service +
                                               "\" is not deployed (mob-tool status lists the services)");
  const mob::ServiceStatus& service = status->services.front();
  std::set<std::string> port_names;
  if (auto spec = json::parse(service.spec_json, nullptr, false); spec.is_object() && spec.contains("ports") &&
                                                                  spec["ports"].is_object())
    for (const auto& [name, value] : spec["ports"].items()) port_names.insert(name);
  if (!query.port.empty() && !port_names.contains(query.port)) {
    std::string known;
    for (const auto& name : port_names) known += (known.empty() ? "" : ", ") + name;
    return mob::fail(mob::Errc::invalid_argument, "service " + query.service + " has no port named \"" + query.port +
                                               "\"" + (known.empty() ? std::string(" (its spec names no ports)")
                                                                      : "; its ports: " + known));
  }
  std::vector<Endpoint> endpoints;
  for (const auto& instance : service.instance_list) {
    bool serving = serves_on_live_agent(instance, live_agents);
    if (!serving && !query.all) continue;
    for (const auto& [name, port] : instance.ports)
      if (query.port.empty() || name == query.port) endpoints.push_back({&instance, name, port, serving});
  }
  auto state_word = [](const mob::InstanceStatus& instance) {
    if (instance.state == mob::InstanceState::running && instance.health != mob::Health::none)
      return std::string(mob::to_string(instance.health));
    return std::string(mob::to_string(instance.state));
  };
  if (as_json) {
    json out = json::array();
    for (const auto& endpoint : endpoints)
      out.push_back({{"instance", instance_name(*endpoint.instance)}, {"service", endpoint.instance->service},
                     {"index", endpoint.instance->index}, {"node", endpoint.instance->node},
                     {"port_name", endpoint.port_name}, {"host", endpoint.instance->host},
                     {"port", endpoint.port},
                     {"address", endpoint.instance->host + ":" + std::to_string(endpoint.port)},
                     {"state", mob::to_string(endpoint.instance->state)},
                     {"health", endpoint.instance->health == mob::Health::none ? "none"
                                                                                : mob::to_string(endpoint.instance->health)},
                     {"serves", endpoint.serves}});
    return one_line ? out.dump() + "\n" : out.dump(2) + "\n";
  }
  std::vector<std::vector<std::string>> rows;
  const bool name_ports = query.port.empty() && port_names.size() > 1;
  for (const auto& endpoint : endpoints) {
    std::vector<std::string> row = {instance_name(*endpoint.instance)};
    if (name_ports) row.push_back(endpoint.port_name);
    row.push_back(endpoint.instance->host + ":" + std::to_string(endpoint.port));
    row.push_back(state_word(*endpoint.instance));
    rows.push_back(std::move(row));
  }
  std::ostringstream text;
  std::vector<std::size_t> widths;
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], row[i].size());
    }
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      text << row[i];
      if (i + 1 < row.size()) text << std::string(widths[i] - row[i].size() + 2, ' ');
    }
    text << "\n";
  }
  return text.str();
}

int run_endpoints(const CommandInfo& command, Agent& agent, const Args& args) {
  po::options_description options("endpoints options");
  options.add_options()
      ("port", po::value<std::string>()->value_name("NAME"), "only the port named NAME")
      ("all", po::bool_switch(), "also the instances that do not serve (not running, or not healthy)")
      ("json", po::bool_switch(), "print a JSON array instead (with --watch: one array per line)")
      ("watch", po::bool_switch(), "print the set again whenever it changes, until Ctrl-C or SIGTERM");
  constexpr Positional positionals[] = {{"service", "SERVICE", true}};
  auto values = parse_command(command, args, options, positionals);
  if (!values) return kExitOk;
  EndpointQuery query{(*values)["service"].as<std::string>(),
                      values->count("port") ? (*values)["port"].as<std::string>() : "", (*values)["all"].as<bool>()};
  const bool as_json = (*values)["json"].as<bool>();
  const bool watch = (*values)["watch"].as<bool>();
  mob::Client* client = agent.client("endpoints");
  if (client == nullptr) return kExitFailed;
  if (!watch) {
    auto text = endpoints_now(*client, query, as_json, false);
    if (!text) return failed("endpoints", text.error());
    std::cout << *text << std::flush;
    return kExitOk;
  }
  // Subscribed before the first look, so that no change between the two is missed.
  StopSignals stop;
  auto opened = mob::EventSubscriber::open(agent.address(), {"instance.", "member.", "service."}, agent.options());
  if (!opened) return failed("endpoints", opened.error());
  mob::EventSubscriber& events = *opened;
  events.wake_on(stop.fd());
  std::string shown;
  bool first = true;
  while (true) {
    auto text = endpoints_now(*client, query, as_json, true);
    // A service not deployed (yet, or any more) has no endpoints: the set is empty.
    if (!text && text.error().code == mob::Errc::not_found) text = std::string(as_json ? "[]\n" : "");
    if (!text) return failed("endpoints", text.error());
    if (first || *text != shown) {
      // Text sets end with an empty line, so a reader can tell one set from the next.
      std::cout << *text << (as_json ? "" : "\n") << std::flush;
      shown = *text;
      first = false;
    }
    // The next change of an instance of the service or of a member, or every few seconds
    // (a missed event, a reconnection).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (true) {
      auto left = std::chrono::ceil<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      auto event = events.next(left);
      if (stop.arrived()) return kExitOk;
      if (!event) return failed("endpoints", event.error());
      if (*event && ((*event)->service == query.service || (*event)->topic.starts_with("member."))) break;
    }
  }
}

// ---- members, version, help ------------------------------------------------------------

int run_members(const CommandInfo& command, Agent& agent, const Args& args) {
  po::options_description options("members options");
  options.add_options()("json", po::bool_switch(), "print a JSON array of the members instead");
  auto values = parse_command(command, args, options, {});
  if (!values) return kExitOk;
  mob::Client* client = agent.client("members");
  if (client == nullptr) return kExitFailed;
  auto reply = client->members();
  if (!reply) return failed("members", reply.error());
  if ((*values)["json"].as<bool>()) {
    json members = json::array();
    for (const auto& member : reply->members) members.push_back(to_json(member));
    std::cout << members.dump(2) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "ADDRESS", "STATE", "ELIGIBLE", "PROVIDERS", "TAGS", "LOAD", "VERSION"}};
  bool problems = std::any_of(reply->members.begin(), reply->members.end(),
                              [](const mob::Member& member) { return !trouble_of(member).empty(); });
  if (problems) rows[0].push_back("PROBLEM");
  for (const auto& member : reply->members) {
    std::string providers, tags;
    for (const auto& provider : member.providers)
      providers += (providers.empty() ? "" : ",") + provider;
    for (const auto& [key, value] : member.tags)
      tags += (tags.empty() ? "" : ",") + key + "=" + value;
    char load[32];
    std::snprintf(load, sizeof load, "%.2f", member.load);
    rows.push_back({member.name, or_dash(member.address),
                    std::string(mob::to_string(member.state)), member.eligible ? "yes" : "no", or_dash(providers),
                    or_dash(tags), load, or_dash(member.version)});
    if (problems) rows.back().push_back(or_dash(trouble_of(member)));
  }
  print_table(rows);
  return kExitOk;
}

// ---- eligibility, tag, drain: an agent's own settings ------------------------------------

// The member named `node`, as the agent knows it; an error naming the known members.
Result<mob::Member> find_member(mob::Client& client, const std::string& node) {
  auto members = client.members();
  if (!members) return std::unexpected(members.error());
  std::string known;
  for (const auto& member : members->members) {
    if (member.name == node) {
      if (!is_up(member.state))
        return std::unexpected(mob::Error{mob::Errc::unavailable,
                                          "node " + node + " is " + std::string(mob::to_string(member.state)) +
                                              ": its settings change only while it runs (start it again)"});
      return member;
    }
    known += (known.empty() ? "" : ", ") + member.name;
  }
  return std::unexpected(mob::Error{mob::Errc::not_found, "unknown node \"" + node + "\" (the agent knows: " +
                                                              (known.empty() ? "none" : known) +
                                                              "; mob-tool members lists them)"});
}

// The agent `node` itself, at the address the members list of the agent the command talks
// to gives: an agent changes only its own settings, keeps them on its disk and advertises them.
Result<mob::Client> connect_to_node(Agent& agent, std::string_view doing, const std::string& node) {
  mob::Client* client = agent.client(doing);
  if (client == nullptr) return std::unexpected(mob::Error{mob::Errc::unavailable, "no agent"});
  auto member = find_member(*client, node);
  if (!member) return std::unexpected(member.error());
  return mob::Client::connect(member->address, agent.options());
}

Result<mob::NodeSettingsReply> ask_node(mob::Client& node, mob::NodeSettingsRequest request) {
  const std::string name = request.node;
  auto reply = node.node_settings(std::move(request));
  if (!reply && reply.error().code == mob::Errc::timeout)
    return std::unexpected(mob::Error{mob::Errc::timeout, "node " + name + " at " + node.endpoint() +
                                                              " did not answer: " + reply.error().message});
  return reply;
}

Result<mob::NodeSettingsReply> change_node_settings(Agent& agent, std::string_view doing,
                                                    mob::NodeSettingsRequest request) {
  auto node = connect_to_node(agent, doing, request.node);
  if (!node) return std::unexpected(node.error());
  return ask_node(*node, std::move(request));
}

std::string tags_text(const std::map<std::string, std::string>& tags) {
  std::string text;
  for (const auto& [key, value] : tags) text += (text.empty() ? "" : ",") + key + "=" + value;
  return text;
}

int run_eligibility(const CommandInfo& command, Agent& agent, const Args& args) {
  constexpr Positional positionals[] = {{"node", "NODE", true}, {"setting", "on|off", true}};
  auto values = parse_command(command, args, po::options_description("options"), positionals);
  if (!values) return kExitOk;
  const auto node = (*values)["node"].as<std::string>();
  const auto setting = (*values)["setting"].as<std::string>();
  if (setting != "on" && setting != "off")
    throw UsageError{"eligibility: expected on or off, got \"" + setting + "\" (usage: mob-tool " +
                     std::string(command.synopsis) + ")"};
  auto eligibility = setting == "on" ? mob::Eligibility::eligible : mob::Eligibility::ineligible;
  auto reply = change_node_settings(agent, "eligibility", mob::NodeSettingsRequest{node, eligibility, {}, {}, false});
  if (!reply) return failed("eligibility", reply.error());
  if (reply->member.eligible) std::cout << node << " is eligible for instances\n";
  else
    std::cout << node << " is ineligible for new instances; the ones it runs move to other agents ("
              << "mob-tool drain " << node << " waits for that)\n";
  return kExitOk;
}

int run_tag(const CommandInfo& command, Agent& agent, const Args& args) {
  constexpr Positional positionals[] = {{"node", "NODE", true}};
  po::options_description options("tag options");
  options.add_options()
      ("remove", po::value<std::vector<std::string>>()->value_name("KEY"),
       "remove the tag KEY (a --tag flag's too); repeatable")
      ("reset", po::bool_switch(), "forget every runtime tag change first: the agent's --tag flags apply again");
  auto values = parse_command(command, args, options, positionals, "tags");
  if (!values) return kExitOk;
  mob::NodeSettingsRequest request{(*values)["node"].as<std::string>(), mob::Eligibility::unchanged, {}, {},
                                   (*values)["reset"].as<bool>()};
  if (values->count("remove")) request.remove_tags = (*values)["remove"].as<std::vector<std::string>>();
  if (values->count("tags"))
    for (const auto& text : (*values)["tags"].as<Args>()) {
      auto equals = text.find('=');
      if (equals == std::string::npos || equals == 0)
        throw UsageError{"tag: expected KEY=VALUE, got \"" + text + "\" (usage: mob-tool " +
                         std::string(command.synopsis) + ")"};
      request.set_tags[text.substr(0, equals)] = text.substr(equals + 1);
    }
  if (request.set_tags.empty() && request.remove_tags.empty() && !request.reset_tags)
    throw UsageError{"tag: name KEY=VALUE to set, --remove KEY or --reset (usage: mob-tool " +
                     std::string(command.synopsis) + ")"};
  auto reply = change_node_settings(agent, "tag", std::move(request));
  if (!reply) return failed("tag", reply.error());
  std::cout << reply->member.name << " tags: " << or_dash(tags_text(reply->member.tags)) << "\n";
  return kExitOk;
}

// How far a drain is: the instances still assigned to the node, and those it still runs
// (they run on there until their new copies run elsewhere), as the node itself counts them.
struct DrainProgress {
  std::vector<const mob::InstanceStatus*> assigned;
  std::uint32_t running_there = 0;
  std::string line(const std::string& node) const {
    return "drain " + node + ": " + std::to_string(assigned.size()) + " instance(s) assigned there, " +
           std::to_string(running_there) + " running there";
  }
  bool done() const { return assigned.empty() && running_there == 0; }
};

int run_drain(const CommandInfo& command, Agent& agent, const Args& args) {
  constexpr Positional positionals[] = {{"node", "NODE", true}};
  po::options_description options("drain options");
  options.add_options()("deadline", po::value<long>()->default_value(300)->value_name("S"),
                        "give up after S seconds (exit 1, saying what is left and why)");
  auto values = parse_command(command, args, options, positionals);
  if (!values) return kExitOk;
  const auto node = (*values)["node"].as<std::string>();
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::seconds(checked_number(command, *values, "deadline", 1, "s"));
  DeployWatch watch;  // instance events wake the wait; Ctrl-C stops it
  if (auto opened = watch.open(agent); !opened) return failed("drain", opened.error());
  auto there = connect_to_node(agent, "drain", node);
  if (!there) return failed("drain", there.error());
  // Asked again each round (nothing changes then): the node answers how many it still runs.
  const mob::NodeSettingsRequest drained{node, mob::Eligibility::ineligible, {}, {}, false};
  auto changed = ask_node(*there, drained);
  if (!changed) return failed("drain", changed.error());
  std::cout << node << " is ineligible for new instances; moving its instances away (each runs on there "
            << "until its new copy runs elsewhere)" << std::endl;
  mob::Client* client = agent.client("drain");
  std::string last_line;
  while (true) {
    auto status = client->status();
    if (!status) return failed("drain", status.error());
    auto asked = ask_node(*there, drained);
    if (!asked) return failed("drain", asked.error());
    DrainProgress progress;
    for (const auto& service : status->services)
      for (const auto& instance : service.instance_list)
        if (instance.node == node) progress.assigned.push_back(&instance);
    progress.running_there = asked->running_instances;
    if (progress.done()) {
      std::cout << "drain " << node << ": done: it runs no instances" << std::endl;
      return kExitOk;
    }
    if (auto line = progress.line(node); line != last_line) {
      std::cout << line << std::endl;
      last_line = line;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      std::cerr << "mob-tool: drain " << node << ": the deadline passed: " << progress.line(node) << "\n";
      for (const auto* instance : progress.assigned)
        std::cerr << "  " << instance_name(*instance) << ": "
                  << (instance->reason.empty() ? "still assigned there" : instance->reason) << "\n";
      if (progress.assigned.empty())
        std::cerr << "  the new copies of the ones it runs do not run yet (mob-tool status shows why)\n";
      return kExitFailed;
    }
    auto wait = std::min(std::chrono::ceil<milliseconds>(deadline - now), milliseconds(500));
    auto event = watch.events->next(wait);
    if (watch.stop->arrived()) {
      std::cerr << "mob-tool: stopped waiting; " << node << " stays ineligible and its instances keep moving\n";
      return kExitFailed;
    }
    if (!event) return failed("drain", event.error());
  }
}

int run_metrics(const CommandInfo& command, Agent& agent, const Args& args) {
  auto values = parse_command(command, args, po::options_description("options"), {});
  if (!values) return kExitOk;
  mob::Client* client = agent.client("metrics");
  if (client == nullptr) return kExitFailed;
  auto reply = client->metrics();
  if (!reply) return failed("metrics", reply.error());
  std::cout << reply->text;
  return kExitOk;
}

int join_through(Agent& agent, const std::string& seeds_text) {
  std::vector<std::string> seeds;
  std::string seed;
  for (char c : seeds_text + ",") {
    if (c != ',') {
      seed += c;
      continue;
    }
    if (seed.empty()) continue;
    if (seed.rfind(':') == std::string::npos || seed.back() == ':')
      throw UsageError{"join: expected HOST:PORT, got '" + seed + "'"};
    seeds.push_back(seed);
    seed.clear();
  }
  if (seeds.empty()) throw UsageError{"join: name at least one HOST:PORT"};
  mob::Client* client = agent.client("join");
  if (client == nullptr) return kExitFailed;
  auto reply = client->join(seeds);
  if (!reply) return failed("join", reply.error());
  std::cout << "joined: the network has " << reply->members << " live member(s)\n";
  return kExitOk;
}

int run_join(const CommandInfo& command, Agent& agent, const Args& args) {
  constexpr Positional positionals[] = {{"seeds", "HOST:PORT[,HOST:PORT...]", true}};
  auto values = parse_command(command, args, po::options_description("options"), positionals);
  if (!values) return kExitOk;
  return join_through(agent, (*values)["seeds"].as<std::string>());
}

int run_leave(const CommandInfo& command, Agent& agent, const Args& args) {
  auto values = parse_command(command, args, po::options_description("options"), {});
  if (!values) return kExitOk;
  mob::Client* client = agent.client("leave");
  if (client == nullptr) return kExitFailed;
  auto reply = client->leave();
  if (!reply) return failed("leave", reply.error());
  std::cout << "the agent announced that it leaves; it stops its services and exits\n";
  return kExitOk;
}

int run_version(const CommandInfo& command, Agent& agent, const Args& args) {
  auto values = parse_command(command, args, po::options_description("options"), {});
  if (!values) return kExitOk;
  std::cout << "mob-tool " << MOB_VERSION << std::endl;
  mob::Client* client = agent.client("asking the agent for its version");
  if (client == nullptr) return kExitFailed;
  auto pong = client->ping();
  if (!pong) return failed("asking the agent for its version", pong.error());
  std::cout << "agent " << pong->agent << " " << pong->version << " (protocol "
            << pong->protocol << ")\n";
  return kExitOk;
}

int run_keygen(const CommandInfo& command, Agent&, const Args& args) {
  po::options_description options("options");
  options.add_options()("out", po::value<std::string>()->default_value(".")->value_name("DIR"),
                        "where to write mob.key and mob.pub (created if missing)");
  auto values = parse_command(command, args, options, {});
  if (!values) return kExitOk;
  const std::filesystem::path dir = (*values)["out"].as<std::string>();
  auto keys = mob::generate_key_pair();
  if (!keys) return failed("keygen", keys.error());
  if (auto written = mob::write_key_files(dir, *keys); !written)
    return failed("keygen", written.error());
  std::cout << "wrote " << (dir / "mob.key").string() << " (the key pair: keep it secret)\n"
            << "  and " << (dir / "mob.pub").string() << " (the public key: " << keys->public_key
            << ")\n";
  return kExitOk;
}

int run_help(const CommandInfo& command, Agent& agent, const Args& args);
int run_completion(const CommandInfo& command, Agent& agent, const Args& args);

constexpr CommandInfo kCommands[] = {
    {"deploy", "", "FILE|- [FILE...]", "deploy FILE|- [FILE...] [--detach] [--wait-timeout MS]",
     "deploy or update services from JSON specs, then wait until they run",
     "Sends the JSON spec in FILE (or stdin for -) to the agent, which checks it and deploys\n"
     "it as a new version of the service. Then follows the service's events, printing a\n"
     "line whenever an instance changes, until every instance of the new version runs\n"
     "(exit 0), one fails (exit 1), or --wait-timeout passes (exit 1).\n"
     "With several FILEs every spec is read first, all are sent at once (the agent saves\n"
     "them together), each is answered on its own line, and then each accepted service is\n"
     "followed until it runs; exit 1 if any was refused or failed.",
     run_deploy},
    {"status", "list", "[SERVICE]", "status [SERVICE] [--json]",
     "show the services, their instances and where they run",
     "Prints one row per instance of every service (or of SERVICE): its version, state, node,\n"
     "restarts, uptime, pid and, when it does not run, why. --json prints every field.",
     run_status},
    {"stop", "", "SERVICE", "stop SERVICE", "stop every instance of a service; it stays deployed",
     "Stops every instance of SERVICE. The service stays deployed; 'start' runs it again.",
     run_stop},
    {"start", "", "SERVICE", "start SERVICE", "run a stopped service again",
     "Runs the instances of SERVICE again after 'stop'.", run_start},
    {"restart", "", "SERVICE", "restart SERVICE", "stop and start every instance of a service",
     "Restarts every instance of SERVICE; a failed instance gets a fresh set of restarts.",
     run_restart},
    {"scale", "", "SERVICE N", "scale SERVICE N [--detach] [--wait-timeout MS]",
     "change how many instances of a service run, restarting none",
     "Makes N the service's instance count, as a new version that changes nothing else: the\n"
     "running instances keep running (same pids), new ones start, and with fewer the highest\n"
     "numbers stop. Then waits like deploy until every instance runs (--detach: does not wait).",
     run_scale},
    {"history", "", "SERVICE", "history SERVICE [--json]", "list the last versions of a service and how each ended",
     "Prints the versions of SERVICE the network keeps (mob-agent --history, 10 by default),\n"
     "newest first: when each was written, through which agent, and how it ended: healthy,\n"
     "replaced (by a later version before it ran healthy), reverted: why, failed: why,\n"
     "removed; the current one says how it runs now. A removed service's history answers\n"
     "until its tombstone is collected. --json prints one object per version, spec included.",
     run_history},
    {"rollback", "", "SERVICE [VERSION]", "rollback SERVICE [VERSION] [--detach] [--wait-timeout MS]",
     "deploy an earlier version's spec again, as a new version",
     "Deploys the spec of VERSION (default: the version before the current one) as a new\n"
     "version of SERVICE, under the same rules as a deploy of that spec (an update block\n"
     "rolls it out a batch at a time), then waits like deploy until it runs.",
     run_rollback},
    {"promote", "", "SERVICE", "promote SERVICE [--detach] [--wait-timeout MS]",
     "let a rollout paused on its canaries go on",
     "The canaries of SERVICE's new version (update.canary) ran healthy beside the old\n"
     "instances and the rollout waits: promote moves the other instances to the new version\n"
     "a batch at a time, then the canaries stop. Waits like deploy until it is done.",
     run_promote},
    {"rebalance", "", "[SERVICE]", "rebalance [SERVICE] [--deadline S]",
     "spread instances evenly over the agents that can run them",
     "Moves instances of SERVICE (default: of every service) from the agents that run the\n"
     "most of it to those that run the fewest, a batch at a time (update.max_parallel, else\n"
     "1): each runs on where it was until its new copy runs, and the next batch waits for\n"
     "that. The network owns the rebalance once asked: each service's owner carries it out,\n"
     "and it goes on if mob-tool stops or the owner fails. Prints each move; exits 0 when\n"
     "the spread is even, 1 at the deadline (default 300 s) saying what it waits for.",
     run_rebalance},
    {"remove", "rm", "SERVICE", "remove SERVICE", "stop a service and forget it",
     "Stops every instance of SERVICE and removes the service from the agent.", run_remove},
    {"logs", "", "SERVICE", "logs SERVICE [-f|--follow] [--tail N] [--instance I]",
     "print what a service's instances wrote",
     "Prints the output the agent keeps for each instance of SERVICE. With more than one\n"
     "instance, each line starts with [INDEX]. -f keeps printing new output (polling every\n"
     "200 ms) until Ctrl-C or SIGTERM, then exits 0.",
     run_logs},
    {"events", "", "", "events [--topic PREFIX]... [--service NAME] [--json]",
     "print what happens in the network as it happens",
     "Subscribes to the agent's event stream, which shows the whole network: members that\n"
     "join, fail or leave, services deployed, updated or removed, instances assigned, moved,\n"
     "starting, running, exiting... One line per event (--json: one JSON object per line)\n"
     "until Ctrl-C or SIGTERM, then exits 0. A lost agent is reported on stderr and the\n"
     "stream resumes when it is back. See docs/events.md.",
     run_events},
    {"endpoints", "", "SERVICE", "endpoints SERVICE [--port NAME] [--all] [--json] [--watch]",
     "list where a service's instances listen",
     "Prints one line per instance and named port of SERVICE: INSTANCE [PORT-NAME] HOST:PORT\n"
     "STATE (the port name only when the spec names more than one port and --port is not\n"
     "given). Only the instances that serve are listed: running, healthy when the service has\n"
     "checks, on an agent that is alive; --all lists every instance with ports. Any agent\n"
     "answers: endpoints are replicated state. --watch prints the set again whenever it\n"
     "changes (followed from the event stream; a text set ends with an empty line, a --json\n"
     "set is one line) until Ctrl-C or SIGTERM. See docs/spec.md, \"Service discovery\".",
     run_endpoints},
    {"members", "", "", "members [--json]", "list the agents of the mesh",
     "Prints the agents this agent knows: name, address, state, whether placement may put\n"
     "instances there (eligible), providers, tags, load and version. --json prints every field.",
     run_members},
    {"eligibility", "", "NODE on|off", "eligibility NODE on|off",
     "let placement put instances on an agent, or not",
     "'off' makes NODE ineligible: no new instance goes there and the ones it runs move to\n"
     "other agents that can run them (each runs on until its new copy runs). 'on' makes it\n"
     "eligible again. NODE keeps the setting on its disk across restarts; the command goes to\n"
     "NODE itself, at the address 'mob-tool members' shows.",
     run_eligibility},
    {"drain", "", "NODE", "drain NODE [--deadline S]",
     "make an agent ineligible and wait until it runs no instances",
     "Makes NODE ineligible (as 'eligibility NODE off') and reports how many instances are left\n"
     "there until none is: each moves to another agent that can run it and runs on at NODE\n"
     "until its new copy runs (at most 30 s). Exits 0 when NODE runs none, 1 at the deadline\n"
     "(default 300 s) with what is left and why (e.g. no other eligible agent can run it).\n"
     "'eligibility NODE on' lets placement use NODE again.",
     run_drain},
    {"tag", "", "NODE [KEY=VALUE...]", "tag NODE [KEY=VALUE...] [--remove KEY]... [--reset]",
     "set or remove an agent's tags at runtime",
     "Sets (KEY=VALUE) or removes (--remove KEY) tags of NODE. Runtime changes are kept on\n"
     "NODE's disk and win over its --tag flags, across restarts, until --reset forgets them.\n"
     "Instances whose constraints NODE no longer matches move to agents that match; services\n"
     "waiting for such an agent are placed on NODE when it matches.",
     run_tag},
    {"metrics", "", "", "metrics", "print the agent's metrics (Prometheus text format)",
     "Prints the agent's counters and gauges in the Prometheus text exposition format, the\n"
     "same text its HTTP endpoint serves (mob-agent --metrics-addr): members by state,\n"
     "services, its instances by state, probes, suspicions, gossip and anti-entropy traffic,\n"
     "events, request handling times. docs/operations.md explains each metric.",
     run_metrics},
    {"join", "", "HOST:PORT", "join HOST:PORT[,HOST:PORT...]", "make the agent join a network",
     "Makes the agent join the network that the agent at HOST:PORT belongs to; it learns\n"
     "every member and spec from it. The original form 'mob-tool -p PORT -j HOST:PORT' works too.",
     run_join},
    {"leave", "", "", "leave", "make the agent leave the network and exit",
     "The agent announces that it leaves (peers mark it 'left' and move its services at once),\n"
     "stops its services and exits.",
     run_leave},
    {"version", "", "", "version", "print the versions of mob-tool and of the agent",
     "Prints mob-tool's version, then asks the agent for its name, version and protocol.\n"
     "Exits 1 (after printing mob-tool's version) when the agent does not answer.",
     run_version},
    {"keygen", "", "", "keygen [--out DIR]", "make a CURVE key pair: DIR/mob.key and DIR/mob.pub",
     "Writes a new key pair in Z85: DIR/mob.key (public=... and secret=... lines) and\n"
     "DIR/mob.pub (the public key alone), both mode 0600; never overwrites a file. Give the\n"
     "network's mob.key to every agent (--key-file) and list an operator's mob.pub in the\n"
     "agents' --authorized-keys file; see docs/security.md.",
     run_keygen},
    {"completion", "", "bash|services|nodes", "completion bash|services|nodes",
     "print the bash completion script, or the agent's service or node names",
     "'completion bash' prints the bash completion of mob-tool: its commands, their flags\n"
     "(read from 'mob-tool COMMAND --help' as you type) and the names of the services of the\n"
     "agent the command line names. Load it with: source <(mob-tool completion bash)\n"
     "(the Debian package installs it). 'completion services' prints the names of the\n"
     "agent's services, one per line, and 'completion nodes' the names of the running\n"
     "members (for drain, eligibility, tag): what the completion asks the agent.",
     run_completion},
    {"help", "", "[COMMAND]", "help [COMMAND]", "show this help, or a command's help",
     "Shows the list of commands, or the options of COMMAND.", run_help},
};

const CommandInfo* find_command(std::string_view name) {
  for (const auto& command : kCommands)
    if (command.name == name || (!command.alias.empty() && command.alias == name)) return &command;
  return nullptr;
}

po::options_description global_options() {
  po::options_description options("global options");
  options.add_options()
      ("agent,a", po::value<std::string>()->value_name("HOST:PORT"),
       "the agent to talk to (default: $MOB_AGENT, else 127.0.0.1:6666)")
      ("port,p", po::value<long>()->value_name("PORT"), "the agent at 127.0.0.1:PORT")
      ("timeout", po::value<long>()->default_value(3000)->value_name("MS"),
       "how long to wait for each answer from the agent")
      ("busy-timeout", po::value<long>()->default_value(60000)->value_name("MS"),
       "how long to wait on for an agent that is up (its connection answers) but busy")
      ("deploy,d", po::value<std::string>()->value_name("SPEC_JSON"),
       "deploy this spec text, like 'deploy' (the original mobcli form)")
      ("join,j", po::value<std::string>()->value_name("HOST:PORT"),
       "make the agent join through HOST:PORT, like 'join' (the original mobcli form)")
      ("key-file", po::value<std::string>()->value_name("FILE"),
       "this client's CURVE key pair, for agents that run with keys (default: $MOB_KEY_FILE)")
      ("server-key", po::value<std::string>()->value_name("KEY|FILE"),
       "the network's public key, or a mob.pub file holding it (default: $MOB_SERVER_KEY, "
       "else the public key of --key-file)")
      ("help,h", "show this help")
      ("version", "print mob-tool's version");
  return options;
}

void print_help() {
  std::cout << "mob-tool: deploy services on a Mob agent and see what runs where.\n\n"
               "usage: mob-tool [-a HOST:PORT | -p PORT] [--timeout MS] COMMAND [ARGS...]\n"
               "       mob-tool [-a HOST:PORT | -p PORT] -d SPEC_JSON [--detach]\n\n"
               "commands:\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& command : kCommands) {
    std::string summary(command.summary);
    if (!command.alias.empty()) summary += " (alias: " + std::string(command.alias) + ")";
    rows.push_back({"  " + std::string(command.name) + " " + std::string(command.arguments),
                    summary});
  }
  print_table(rows);
  std::cout << "\n" << global_options()
            << "\n'mob-tool COMMAND --help' shows a command's options.\n"
               "Exit status: 0 success, 1 the operation failed (the agent refused or did not\n"
               "answer), 2 the command line is wrong.\n";
}

int run_help(const CommandInfo& command, Agent& agent, const Args& args) {
  constexpr Positional positionals[] = {{"command", "COMMAND", false}};
  auto values = parse_command(command, args, po::options_description("options"), positionals);
  if (!values) return kExitOk;
  if (!values->count("command")) {
    print_help();
    return kExitOk;
  }
  auto name = (*values)["command"].as<std::string>();
  const CommandInfo* asked = find_command(name);
  if (asked == nullptr) throw UsageError{"help: unknown command '" + name + "'"};
  return asked->run(*asked, agent, {"--help"});
}

// ---- completion --------------------------------------------------------------------------

// The bash completion of mob-tool. The commands and the global options come from the same
// tables as --help; a command's own flags are read from 'mob-tool COMMAND --help' as the
// user types, so the completion and the help never disagree.
std::string bash_completion() {
  std::string commands, global_flags, global_with_value, agent_flags;
  for (const auto& command : kCommands) {
    commands += std::string(commands.empty() ? "" : " ") + std::string(command.name);
    if (!command.alias.empty()) commands += " " + std::string(command.alias);
  }
  const po::options_description global = global_options();
  for (const auto& option : global.options()) {
    std::string names = "--" + option->long_name();
    std::string short_name = option->canonical_display_name(po::command_line_style::allow_dash_for_short);
    global_flags += (global_flags.empty() ? "" : " ") + names;
    std::string both = names + (short_name.size() == 2 && short_name[0] == '-' ? "|" + short_name : "");
    if (option->semantic()->max_tokens() > 0) global_with_value += (global_with_value.empty() ? "" : "|") + both;
    const auto& name = option->long_name();
    if (name == "agent" || name == "port" || name == "key-file" || name == "server-key")
      agent_flags += (agent_flags.empty() ? "" : "|") + both;
  }
  std::string script = R"SCRIPT(# bash completion of mob-tool (mob-tool completion bash): commands, their flags, and the
# names of the services of the agent named on the command line (-a, -p, $MOB_AGENT).
_mob_tool() {
  local line=${COMP_LINE:0:COMP_POINT}
  local -a words
  read -ra words <<< "$line"
  local cur=
  [[ $line == *[[:space:]] ]] || { cur=${words[-1]}; unset 'words[-1]'; }
  local -a agent=()
  local command= word i=1 expect_value=
  for (( ; i < ${#words[@]}; i++ )); do
    word=${words[i]}
    if [[ -n $expect_value ]]; then
      [[ $expect_value == agent ]] && agent+=("$word")
      expect_value=
      continue
    fi
    [[ -n $command ]] && break
    case $word in
      @AGENT_FLAGS@) agent+=("$word"); expect_value=agent ;;
      @GLOBAL_WITH_VALUE@) expect_value=other ;;
      --agent=*|--port=*|--key-file=*|--server-key=*) agent+=("$word") ;;
      -*) ;;
      *) command=$word ;;
    esac
  done
  local prev=${words[-1]}
  COMPREPLY=()
  if [[ -z $command ]]; then
    if [[ -n $expect_value ]]; then
      [[ $expect_value == agent && ( $prev == --key-file || $prev == --server-key ) ]] && COMPREPLY=($(compgen -f -- "$cur"))
      return
    fi
    if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "@GLOBAL_FLAGS@" -- "$cur"))
    else COMPREPLY=($(compgen -W "@COMMANDS@" -- "$cur")); fi
    return
  fi
  if [[ $cur == -* ]]; then
    local flags= help_line
    while IFS= read -r help_line; do
      [[ $help_line =~ ^\ \ (-[[:alnum:]]\ \[\ )?(--[[:alnum:]-]+) ]] && flags+=" ${BASH_REMATCH[2]}"
    done < <("${words[0]}" "$command" --help 2>/dev/null)
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return
  fi
  case $prev in
    --service) COMPREPLY=($(compgen -W "$("${words[0]}" "${agent[@]}" --timeout 1000 --busy-timeout 0 completion services 2>/dev/null)" -- "$cur")); return ;;
    --out) compopt -o filenames; COMPREPLY=($(compgen -d -- "$cur")); return ;;
    -*) [[ $command == logs && ( $prev == --tail || $prev == --instance ) ]] && return
        [[ $command == deploy && ( $prev == --wait-timeout || $prev == --write-id ) ]] && return
        [[ $command == events && $prev == --topic ]] && return ;;
  esac
  case $command in
    deploy) compopt -o filenames; COMPREPLY=($(compgen -f -- "$cur")) ;;
    status|list|stop|start|restart|remove|rm|logs)
      COMPREPLY=($(compgen -W "$("${words[0]}" "${agent[@]}" --timeout 1000 --busy-timeout 0 completion services 2>/dev/null)" -- "$cur")) ;;
    history|rollback|promote|rebalance)
      [[ $prev == "$command" ]] &&
        COMPREPLY=($(compgen -W "$("${words[0]}" "${agent[@]}" --timeout 1000 --busy-timeout 0 completion services 2>/dev/null)" -- "$cur")) ;;
    drain|eligibility|tag)
      if [[ $prev == "$command" ]]; then
        COMPREPLY=($(compgen -W "$("${words[0]}" "${agent[@]}" --timeout 1000 --busy-timeout 0 completion nodes 2>/dev/null)" -- "$cur"))
      elif [[ $command == eligibility ]]; then COMPREPLY=($(compgen -W "on off" -- "$cur")); fi ;;
    help) COMPREPLY=($(compgen -W "@COMMANDS@" -- "$cur")) ;;
    completion) COMPREPLY=($(compgen -W "bash services nodes" -- "$cur")) ;;
  esac
}
complete -F _mob_tool mob-tool
)SCRIPT";
  auto replace_all = [&](const std::string& name, const std::string& value) {
    for (auto at = script.find(name); at != std::string::npos; at = script.find(name, at + value.size()))
      script.replace(at, name.size(), value);
  };
  replace_all("@COMMANDS@", commands);
  replace_all("@GLOBAL_FLAGS@", global_flags);
  replace_all("@GLOBAL_WITH_VALUE@", global_with_value);
  replace_all("@AGENT_FLAGS@", agent_flags);
  return script;
}

int run_completion(const CommandInfo& command, Agent& agent, const Args& args) {
  constexpr Positional positionals[] = {{"what", "bash|services|nodes", true}};
  auto values = parse_command(command, args, po::options_description("options"), positionals);
  if (!values) return kExitOk;
  const auto what = (*values)["what"].as<std::string>();
  if (what == "bash") {
    std::cout << bash_completion();
    return kExitOk;
  }
  if (what == "nodes") {
    mob::Client* client = agent.client("completion nodes");
    if (client == nullptr) return kExitFailed;
    auto members = client->members();
    if (!members) return failed("completion nodes", members.error());
    for (const auto& member : members->members)
      if (is_up(member.state)) std::cout << member.name << "\n";
    return kExitOk;
  }
  if (what != "services")
    throw UsageError{"completion: expected bash, services or nodes, got '" + what + "'"};
  mob::Client* client = agent.client("completion services");
  if (client == nullptr) return kExitFailed;
  auto status = client->status();
  if (!status) return failed("completion services", status.error());
  for (const auto& service : status->services) std::cout << service.name << "\n";
  return kExitOk;
}

// ---- main ------------------------------------------------------------------------------

// The global options are the leading arguments that name a global option (with its value);
// the command and its own arguments follow.
std::size_t count_global_arguments(const Args& args, const po::options_description& global) {
  std::size_t i = 0;
  while (i < args.size()) {
    const std::string& token = args[i];
    if (token.size() < 2 || token[0] != '-' || token == "--") break;
    std::string name;
    bool value_inside = false;
    if (token.starts_with("--")) {
      auto equals = token.find('=');
      name = token.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
      value_inside = equals != std::string::npos;
    } else {
      name = token.substr(0, 2);
      value_inside = token.size() > 2;
    }
    const po::option_description* option = global.find_nothrow(name, /*approx=*/false);
    if (option == nullptr) break;
    bool takes_value = option->semantic()->max_tokens() > 0;
    i += (takes_value && !value_inside) ? 2 : 1;
  }
  return std::min(i, args.size());
}

// -a, else -p, else $MOB_AGENT, else 127.0.0.1:6666.
Agent choose_agent(const po::variables_map& values, milliseconds timeout) {
  if (values.count("agent") && values.count("port"))
    throw UsageError{"give either -a HOST:PORT or -p PORT, not both"};
  if (values.count("agent")) return Agent(values["agent"].as<std::string>(), "-a", timeout);
  if (values.count("port")) {
    long port = values["port"].as<long>();
    if (port < 1 || port > 65535)
      throw UsageError{"-p must be a port from 1 to 65535, got " + std::to_string(port)};
    return Agent("127.0.0.1:" + std::to_string(port), "-p", timeout);
  }
  if (const char* from_env = std::getenv("MOB_AGENT"); from_env != nullptr && *from_env != '\0')
    return Agent(from_env, "$MOB_AGENT", timeout);
  return Agent(std::string(kDefaultAgent), "the default", timeout);
}

std::string option_or_env(const po::variables_map& values, const char* option, const char* env) {
  if (values.count(option)) return values[option].as<std::string>();
  const char* from_env = std::getenv(env);
  return from_env != nullptr ? from_env : "";
}

int run(const Args& args) {
  const po::options_description global = global_options();
  const std::size_t global_count = count_global_arguments(args, global);
  const Args global_args(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(global_count));
  Args rest(args.begin() + static_cast<std::ptrdiff_t>(global_count), args.end());

  po::variables_map values;
  try {
    po::store(po::command_line_parser(global_args).options(global).style(kParseStyle).run(),
              values);
    po::notify(values);
  } catch (const po::error& e) {
    throw UsageError{e.what()};
  }
  if (values.count("help")) {
    print_help();
    return kExitOk;
  }
  if (values.count("version")) {
    std::cout << "mob-tool " << MOB_VERSION << "\n";
    return kExitOk;
  }

  const CommandInfo* command = nullptr;
  if (values.count("join")) {
    long join_timeout_ms = values["timeout"].as<long>();
    Agent joiner = choose_agent(values, milliseconds(std::max(join_timeout_ms, 6000L)));
    joiner.use_keys(option_or_env(values, "key-file", "MOB_KEY_FILE"),
                    option_or_env(values, "server-key", "MOB_SERVER_KEY"));
    return join_through(joiner, values["join"].as<std::string>());
  }
  if (!values.count("deploy")) {
    if (rest.empty()) throw UsageError{"missing COMMAND"};
    if (rest.front().starts_with("-") && rest.front() != "-")
      throw UsageError{"unknown option '" + rest.front() + "'"};
    command = find_command(rest.front());
    if (command == nullptr) throw UsageError{"unknown command '" + rest.front() + "'"};
    rest.erase(rest.begin());
  }

  long timeout_ms = values["timeout"].as<long>();
  if (timeout_ms < 1)
    throw UsageError{"--timeout must be a positive number of milliseconds, got " +
                     std::to_string(timeout_ms)};
  long busy_timeout_ms = values["busy-timeout"].as<long>();
  if (busy_timeout_ms < 0)
    throw UsageError{"--busy-timeout must be 0 or a number of milliseconds, got " +
                     std::to_string(busy_timeout_ms)};
  Agent agent = choose_agent(values, milliseconds(timeout_ms));
  agent.use_busy_timeout(milliseconds(busy_timeout_ms));
  agent.use_keys(option_or_env(values, "key-file", "MOB_KEY_FILE"),
                 option_or_env(values, "server-key", "MOB_SERVER_KEY"));
  if (command != nullptr) return command->run(*command, agent, rest);

  // The original form: mob-tool -p 6666 -d '<json>' [--detach] [--wait-timeout MS]
  static constexpr CommandInfo inline_deploy{
      "-d", "", "SPEC_JSON", "-d SPEC_JSON [--detach] [--wait-timeout MS]", "", "", nullptr};
  auto deploy_values = parse_command(inline_deploy, rest, deploy_options(), {});
  if (!deploy_values) return kExitOk;
  milliseconds wait_timeout(checked_number(inline_deploy, *deploy_values, "wait-timeout", 1, "ms"));
  std::vector<std::string> write_ids;
  if (deploy_values->count("write-id")) write_ids.push_back(checked_write_id(inline_deploy, *deploy_values));
  const auto spec = values["deploy"].as<std::string>();
  return deploy_specs(agent, {spec}, {"deploy"}, (*deploy_values)["detach"].as<bool>(), wait_timeout,
                      std::move(write_ids), {agent.command_line() + " -d '" + spec + "'"});
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(Args(argv + 1, argv + argc));
  } catch (const UsageError& e) {
    std::cerr << "mob-tool: " << e.message << "\ntry 'mob-tool --help'\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "mob-tool: unexpected error: " << e.what() << "\n";
    return kExitFailed;
  }
}
