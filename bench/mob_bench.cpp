// mob-bench: the measuring side of scripts/bench.sh. Each subcommand waits on one condition
// across many agents (Mob through mob_client, Serf through its RPC) and prints key=value.
// Single-threaded; owns one client per agent it polls. Times are from CLOCK_REALTIME so that
// a shell's `date +%s%N` before the first start is a valid origin.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench/proc.hpp"
#include "bench/serf_rpc.hpp"
#include "tools/client.hpp"

namespace {

using Millis = std::chrono::milliseconds;

const char* const kUsage =
    "usage: mob-bench COMMAND [--key value ...]\n"
    "  converge --system mob|serf --ports P,... --n N --since-ns T [--timeout-ms MS]\n"
    "      every agent lists N alive members; prints ms since T\n"
    "  detect   --system mob|serf --ports P,... --target NAME\n"
    "           (--since-ns T | --kill-pid PID | --stop-pid PID) [--timeout-ms MS]\n"
    "      every agent lists NAME as failed; prints first/all ms since T, or since it\n"
    "      SIGKILLed PID (and its children's groups) or SIGSTOPped it, once connected to\n"
    "      every agent (a poll of each first: its time is not counted)\n"
    "  watch    --system mob|serf --ports P,... --duration-ms MS [--exclude NAME,...]\n"
    "      live members ever seen suspect or failed by any agent\n"
    "  stamp\n"
    "      copies stdin to stdout, each line prefixed with the ns it arrived at\n"
    "  crash    --pid PID\n"
    "      SIGKILLs PID and the process groups of its children; prints since_ns\n"
    "  restart  --parent PID --kills K --command CMD [--pause-ms MS] [--mob-port P]\n"
    "      SIGKILLs the child of PID running CMD K times; time until a new one runs\n"
    "  place    --port P --services N --prefix NAME [--in-flight K]\n"
    "           [--crash-pid PID --crash-node NAME]\n"
    "      deploys N one-instance services through P, K requests in flight (default 1:\n"
    "      one after another); time until all run (and again\n"
    "      after the crash of one agent, until none runs on it)\n"
    "  spawn-floor --processes N --command CMD\n"
    "      starts N processes of CMD (split at spaces, found on PATH) one after another as\n"
    "      fast as the machine makes them: the floor under N one-instance deploys; prints\n"
    "      the ms until the last had started, then SIGKILLs and reaps them all\n"
    "scripts/bench.sh runs these; see docs/performance.md.\n";

struct Args {
  std::map<std::string, std::string> values;

  bool has(const std::string& key) const { return values.contains(key); }

  std::string text(const std::string& key, std::optional<std::string> fallback = {}) const {
    auto found = values.find(key);
    if (found != values.end()) return found->second;
    if (fallback) return *fallback;
    std::cerr << "mob-bench: missing --" << key << "\n" << kUsage;
    std::exit(2);
  }
  long long number(const std::string& key, std::optional<long long> fallback = {}) const {
    auto found = values.find(key);
    if (found == values.end() && fallback) return *fallback;
    std::string value = text(key);
    char* end = nullptr;
    long long parsed = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0') {
      std::cerr << "mob-bench: --" << key << ": expected a number, got \"" << value << "\"\n";
      std::exit(2);
    }
    return parsed;
  }
};

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::string part;
  for (char c : text) {
    if (c == ',') {
      if (!part.empty()) parts.push_back(part);
      part.clear();
    } else {
      part += c;
    }
  }
  if (!part.empty()) parts.push_back(part);
  return parts;
}

long long now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1'000'000'000LL + ts.tv_nsec;
}

double ms_since(long long since_ns) { return static_cast<double>(now_ns() - since_ns) / 1e6; }

void pause_for(Millis duration) { std::this_thread::sleep_for(duration); }

mob::ClientOptions with_timeout(Millis timeout) {
  mob::ClientOptions options;
  options.timeout = timeout;
  return options;
}

// One member as either system reports it, reduced to what the bench compares.
struct View {
  std::string name;
  enum class State { alive, suspect, failed, other } state;
};

// One agent of either system, polled for its member list.
class Poller {
 public:
  Poller(std::string system, int port, Millis timeout)
      : system_(std::move(system)), port_(port), timeout_(timeout) {}

  std::optional<std::vector<View>> members() {
    if (system_ == "mob") return mob_members();
    return serf_members();
  }
  int port() const { return port_; }
  // Why the last poll had no member list ("" if it had one or none failed yet).
  const std::string& last_error() const { return last_error_; }

 private:
  std::optional<std::vector<View>> mob_members() {
    if (!mob_) {
      // A poll gives up on a busy agent as on a silent one (the client's default waits up to
      // 60 s for an agent whose connection answers): the next round asks it again, and the
      // other agents' polls are not held up behind it.
      auto options = with_timeout(timeout_);
      options.busy_timeout = timeout_;
      auto client = mob::Client::connect("127.0.0.1:" + std::to_string(port_), options);
      if (!client) {
        last_error_ = client.error().message;
        return std::nullopt;
      }
      mob_.emplace(std::move(*client));
    }
    auto reply = mob_->members();
    if (!reply) {
      last_error_ = reply.error().message;
      return std::nullopt;
    }
    std::vector<View> views;
    for (const auto& member : reply->members) {
      View::State state = View::State::other;
      if (member.state == mob::MemberState::alive) state = View::State::alive;
      else if (member.state == mob::MemberState::suspect) state = View::State::suspect;
      else if (member.state == mob::MemberState::failed) state = View::State::failed;
      views.push_back({member.name, state});
    }
    return views;
  }

  std::optional<std::vector<View>> serf_members() {
    if (!serf_) {
      auto rpc = mob::bench::SerfRpc::connect("127.0.0.1", port_, timeout_);
      if (!rpc) return std::nullopt;
      serf_.emplace(std::move(*rpc));
    }
    auto reply = serf_->members();
    if (!reply) {
      serf_.reset();
      return std::nullopt;
    }
    std::vector<View> views;
    for (const auto& member : *reply) {
      View::State state = View::State::other;
      if (member.status == "alive") state = View::State::alive;
      else if (member.status == "failed") state = View::State::failed;
      views.push_back({member.name, state});
    }
    return views;
  }

  std::string system_;
  int port_;
  Millis timeout_;
  std::optional<mob::Client> mob_;
  std::optional<mob::bench::SerfRpc> serf_;
  std::string last_error_;
};

std::vector<Poller> pollers(const Args& args, Millis timeout) {
  std::string system = args.text("system");
  if (system != "mob" && system != "serf") {
    std::cerr << "mob-bench: --system: expected mob or serf, got \"" << system << "\"\n";
    std::exit(2);
  }
  std::vector<Poller> result;
  for (const auto& port : split(args.text("ports"))) result.emplace_back(system, std::stoi(port), timeout);
  return result;
}

// "alive 49/50; not alive: x49 (failed)" for a message.
std::string describe(const std::vector<View>& views) {
  static constexpr const char* kNames[] = {"alive", "suspect", "failed", "other"};
  std::size_t alive = 0;
  std::string others;
  for (const auto& view : views) {
    if (view.state == View::State::alive) {
      ++alive;
      continue;
    }
    if (others.size() < 200)
      others += (others.empty() ? "" : ", ") + view.name + " (" +
                kNames[static_cast<int>(view.state)] + ")";
  }
  return "alive " + std::to_string(alive) + "/" + std::to_string(views.size()) +
         (others.empty() ? "" : "; not alive: " + others);
}

// Polls every agent until `done` holds for each; an agent that satisfied it once is checked
// again only in a final confirming round. Returns the ms (since `since_ns`) at which the
// last agent first satisfied it, or nothing on timeout.
// The agents are polled concurrently, by up to kPollThreads threads each owning a share of
// them: polled one after the other, a round of 200 agents (each answer a 200-member list,
// the first over a new connection) took seconds on 2 cores, and a crash the agents' logs
// showed failed everywhere within 4 s was reported after 12 (docs/performance.md, "200
// agents on one machine"). `done` is called under a lock: it may keep state of its own.
// On timeout, `partial` (if given) says how many agents got there and when the last of those
// did, e.g. "49/50 by 1162.0 ms".
constexpr std::size_t kPollThreads = 32;

std::optional<double> wait_everywhere(std::vector<Poller>& agents, long long since_ns,
                                      Millis timeout,
                                      const std::function<bool(const std::vector<View>&)>& done,
                                      std::vector<double>* per_agent = nullptr,
                                      std::string* partial = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::optional<double>> reached(agents.size());
  std::vector<std::string> last_seen(agents.size(), "no answer");
  std::mutex done_lock;
  auto satisfied = [&](const std::vector<View>& views) {
    std::lock_guard lock(done_lock);
    return done(views);
  };
  // Thread t polls agents t, t + threads, ...: each index is one thread's alone.
  auto poll_share = [&](std::size_t first, std::size_t step) {
    while (std::chrono::steady_clock::now() < deadline) {
      bool all = true;
      for (std::size_t i = first; i < agents.size(); i += step) {
        if (reached[i]) continue;
        auto views = agents[i].members();
        if (views && satisfied(*views)) {
          reached[i] = ms_since(since_ns);
        } else {
          all = false;
          if (views) last_seen[i] = describe(*views);
          else if (!agents[i].last_error().empty()) last_seen[i] = "no answer (" + agents[i].last_error() + ")";
        }
      }
      if (all) return;
      pause_for(Millis(2));
    }
  };
  while (std::chrono::steady_clock::now() < deadline) {
    const std::size_t threads = std::min(kPollThreads, std::max<std::size_t>(agents.size(), 1));
    std::vector<std::thread> shares;
    for (std::size_t t = 0; t < threads; ++t) shares.emplace_back(poll_share, t, threads);
    for (auto& share : shares) share.join();
    if (!std::all_of(reached.begin(), reached.end(), [](const auto& at) { return at.has_value(); })) break;
    bool confirmed = true;
    for (std::size_t i = 0; i < agents.size(); ++i) {
      auto views = agents[i].members();
      if (!views || !satisfied(*views)) {
        reached[i].reset();
        confirmed = false;
      }
    }
    if (confirmed) {
      double last = 0;
      for (const auto& at : reached) last = std::max(last, *at);
      if (per_agent)
        for (const auto& at : reached) per_agent->push_back(*at);
      return last;
    }
  }
  if (partial) {
    std::size_t count = 0;
    double last = 0;
    for (const auto& at : reached)
      if (at) {
        ++count;
        last = std::max(last, *at);
      }
    char text[96];
    std::snprintf(text, sizeof text, "%zu/%zu_by_%.1f_ms", count, agents.size(), last);
    *partial = text;
  }
  for (std::size_t i = 0; i < agents.size(); ++i)
    if (!reached[i])
      std::cerr << "mob-bench: agent on port " << agents[i].port() << " never got there; last seen: "
                << last_seen[i] << "\n";
  return std::nullopt;
}

int run_converge(const Args& args) {
  auto agents = pollers(args, Millis(300));
  const auto n = static_cast<std::size_t>(args.number("n"));
  std::string partial;
  auto at = wait_everywhere(
      agents, args.number("since-ns"), Millis(args.number("timeout-ms", 60000)),
      [&](const std::vector<View>& views) {
        return std::count_if(views.begin(), views.end(), [](const View& v) {
                 return v.state == View::State::alive;
               }) == static_cast<long>(n);
      },
      nullptr, &partial);
  if (!at) {
    std::printf("ms=timeout reached=%s\n", partial.c_str());
    return 1;
  }
  std::printf("ms=%.1f\n", *at);
  return 0;
}

// Polls every agent once, concurrently, so that each poller holds its connection: a
// detection timed from a fault the bench makes itself then counts no connection set up
// after it (at 200 agents, connecting to each after a SIGKILL added about 5 s to what the
// agents' logs showed: docs/performance.md, "200 agents on one machine").
void connect_all(std::vector<Poller>& agents) {
  const std::size_t threads = std::min(kPollThreads, std::max<std::size_t>(agents.size(), 1));
  std::vector<std::thread> shares;
  for (std::size_t t = 0; t < threads; ++t)
    shares.emplace_back([&agents, t, threads] {
      for (std::size_t i = t; i < agents.size(); i += threads) agents[i].members();
    });
  for (auto& share : shares) share.join();
}

// The fault detect times, when it makes it: SIGKILL (with its children's groups) or SIGSTOP.
// Returns when it was sent (ns), or the --since-ns given.
long long fault_or_since(const Args& args, std::vector<Poller>& agents) {
  const bool kill = args.has("kill-pid"), stop = args.has("stop-pid");
  if (kill && stop) {
    std::cerr << "mob-bench detect: give --kill-pid or --stop-pid, not both\n";
    std::exit(2);
  }
  if (!kill && !stop) return args.number("since-ns");
  connect_all(agents);
  const auto pid = static_cast<pid_t>(args.number(kill ? "kill-pid" : "stop-pid"));
  const long long at = now_ns();
  if (kill) {
    mob::bench::crash(pid);
  } else if (::kill(pid, SIGSTOP) != 0) {
    std::cerr << "mob-bench detect: cannot SIGSTOP " << pid << ": " << std::strerror(errno) << "\n";
    std::exit(2);
  }
  return at;
}

int run_detect(const Args& args) {
  auto agents = pollers(args, Millis(300));
  const std::string target = args.text("target");
  const long long since_ns = fault_or_since(args, agents);
  std::vector<double> per_agent;
  std::optional<double> first_suspect;  // Serf's members never show suspect, only Mob's
  auto at = wait_everywhere(
      agents, since_ns, Millis(args.number("timeout-ms", 60000)),
      [&](const std::vector<View>& views) {
        for (const auto& view : views) {
          if (view.name != target) continue;
          if (view.state == View::State::suspect && !first_suspect) first_suspect = ms_since(since_ns);
          return view.state == View::State::failed;
        }
        return true;  // forgotten already: it was declared failed and collected
      },
      &per_agent);
  if (!at) return 1;
  std::sort(per_agent.begin(), per_agent.end());
  std::printf("since_ns=%lld first_ms=%.1f median_ms=%.1f all_ms=%.1f", since_ns, per_agent.front(),
              per_agent[per_agent.size() / 2], *at);
  if (first_suspect) std::printf(" first_suspect_ms=%.1f", *first_suspect);
  std::printf("\n");
  return 0;
}

int run_watch(const Args& args) {
  auto agents = pollers(args, Millis(2000));
  std::set<std::string> excluded;
  for (const auto& name : split(args.text("exclude", ""))) excluded.insert(name);
  const auto deadline = std::chrono::steady_clock::now() + Millis(args.number("duration-ms"));
  const Millis interval(args.number("interval-ms", 100));
  std::map<std::string, std::set<std::string>> accused;  // name -> states seen
  long polls = 0, unanswered = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto round = std::chrono::steady_clock::now();
    for (auto& agent : agents) {
      auto views = agent.members();
      ++polls;
      if (!views) {
        ++unanswered;
        continue;
      }
      for (const auto& view : *views) {
        if (excluded.contains(view.name)) continue;
        if (view.state == View::State::suspect) accused[view.name].insert("suspect");
        if (view.state == View::State::failed) accused[view.name].insert("failed");
      }
    }
    auto spent = std::chrono::steady_clock::now() - round;
    if (spent < interval) pause_for(std::chrono::duration_cast<Millis>(interval - spent));
  }
  std::string names;
  for (const auto& [name, states] : accused) {
    names += (names.empty() ? "" : ",") + name + ":";
    std::string joined;
    for (const auto& state : states) joined += (joined.empty() ? "" : "+") + state;
    names += joined;
  }
  std::printf("false_positives=%zu polls=%ld unanswered=%ld names=%s\n", accused.size(), polls,
              unanswered, names.empty() ? "-" : names.c_str());
  return 0;
}

// Copies stdin to stdout, each line prefixed with the CLOCK_REALTIME ns it was read at.
int run_stamp() {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::printf("%lld %s\n", now_ns(), line.c_str());
    std::fflush(stdout);
  }
  return 0;
}

int run_crash(const Args& args) {
  const auto pid = static_cast<pid_t>(args.number("pid"));
  long long at = now_ns();
  int groups = mob::bench::crash(pid);
  std::printf("since_ns=%lld groups=%d\n", at, groups);
  return 0;
}

// The child of `parent` whose command line is `command`, other than `old`.
std::optional<pid_t> find_child(pid_t parent, const std::string& command, pid_t old) {
  for (pid_t child : mob::bench::children_of(parent))
    if (child != old && mob::bench::command_line(child) == command) return child;
  return std::nullopt;
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  // Nearest rank: the smallest value with at least p of the samples at or below it.
  auto rank = static_cast<std::size_t>(std::max(1.0, std::ceil(p * static_cast<double>(values.size()))));
  return values[std::min(rank, values.size()) - 1];
}

int run_restart(const Args& args) {
  const auto parent = static_cast<pid_t>(args.number("parent"));
  const auto kills = args.number("kills");
  const std::string command = args.text("command");
  const Millis pause(args.number("pause-ms", 200));
  const Millis timeout(args.number("timeout-ms", 10000));
  const long long mob_port = args.number("mob-port", 0);
  std::optional<mob::Client> client;
  if (mob_port) {
    auto connected = mob::Client::connect("127.0.0.1:" + std::to_string(mob_port), with_timeout(Millis(2000)));
    if (!connected) {
      std::cerr << "mob-bench: " << connected.error().message << "\n";
      return 1;
    }
    client.emplace(std::move(*connected));
  }
  std::vector<double> process_ms, status_ms;
  auto current = find_child(parent, command, 0);
  for (auto start = std::chrono::steady_clock::now(); !current;
       current = find_child(parent, command, 0)) {
    if (std::chrono::steady_clock::now() - start > timeout) {
      std::cerr << "mob-bench: no child of " << parent << " runs \"" << command << "\"\n";
      return 1;
    }
    pause_for(Millis(10));
  }
  for (long long k = 0; k < kills; ++k) {
    const pid_t old = *current;
    const auto killed_at = std::chrono::steady_clock::now();
    kill(old, SIGKILL);
    std::optional<pid_t> next;
    while (!(next = find_child(parent, command, old))) {
      if (std::chrono::steady_clock::now() - killed_at > timeout) {
        std::cerr << "mob-bench: no new \"" << command << "\" within " << timeout.count() << " ms\n";
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    const auto ran_at = std::chrono::steady_clock::now();
    process_ms.push_back(std::chrono::duration<double, std::milli>(ran_at - killed_at).count());
    if (client) {
      // The agent's own view: `status` shows the new pid running.
      while (true) {
        auto status = client->status();
        bool seen = false;
        if (status)
          for (const auto& service : status->services)
            for (const auto& instance : service.instance_list)
              seen |= instance.pid == *next && instance.state == mob::InstanceState::running;
        if (seen) break;
        if (std::chrono::steady_clock::now() - killed_at > timeout) {
          std::cerr << "mob-bench: status never showed pid " << *next << " running\n";
          return 1;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
      status_ms.push_back(std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - killed_at)
                              .count());
    }
    current = next;
    pause_for(pause);
  }
  std::printf("p50_ms=%.2f p99_ms=%.2f max_ms=%.2f", percentile(process_ms, 0.5),
              percentile(process_ms, 0.99), percentile(process_ms, 1.0));
  if (!status_ms.empty())
    std::printf(" status_p50_ms=%.2f status_p99_ms=%.2f", percentile(status_ms, 0.5),
                percentile(status_ms, 0.99));
  std::printf("\n");
  return 0;
}

struct Census {
  std::size_t services = 0, assigned = 0, running = 0, on_node = 0;
};

std::optional<Census> census(mob::Client& client, const std::string& prefix, const std::string& node) {
  auto status = client.status();
  if (!status) return std::nullopt;
  Census counted;
  for (const auto& service : status->services) {
    if (!service.name.starts_with(prefix)) continue;
    ++counted.services;
    for (const auto& instance : service.instance_list) {
      if (!instance.node.empty()) ++counted.assigned;
      if (instance.state == mob::InstanceState::running) {
        if (!node.empty() && instance.node == node) ++counted.on_node;
        else ++counted.running;
      }
    }
  }
  return counted;
}

int run_place(const Args& args) {
  const auto services = static_cast<std::size_t>(args.number("services"));
  const std::string prefix = args.text("prefix");
  const Millis timeout(args.number("timeout-ms", 120000));
  auto connected = mob::Client::connect("127.0.0.1:" + args.text("port"), with_timeout(Millis(10000)));
  if (!connected) {
    std::cerr << "mob-bench: " << connected.error().message << "\n";
    return 1;
  }
  mob::Client& client = *connected;
  const long long started = now_ns();
  // Deploy latency early and late in the run: a rising cost shows work that grows with the
  // number of services already deployed.
  const std::size_t window = std::max<std::size_t>(1, services / 10);
  double first_window_ms = 0, last_window_ms = 0;
  const auto in_flight = static_cast<std::size_t>(args.number("in-flight", 1));
  auto spec_of = [&](std::size_t i) {
    char name[64];
    std::snprintf(name, sizeof name, "%s%04zu", prefix.c_str(), i);
    return std::string(R"({"name":")") + name +
           R"(","provider":"bash","instances":1,"params":{"command":"exec sleep 1000"}})";
  };
  if (in_flight > 1) {
    std::vector<std::string> specs;
    for (std::size_t i = 0; i < services; ++i) specs.push_back(spec_of(i));
    auto replies = client.deploy_many(std::move(specs), in_flight);
    for (std::size_t i = 0; i < replies.size(); ++i)
      if (!replies[i]) {
        std::cerr << "mob-bench: deploy " << spec_of(i) << ": " << replies[i].error().message << "\n";
        return 1;
      }
    first_window_ms = last_window_ms = 0;
  }
  for (std::size_t i = 0; in_flight <= 1 && i < services; ++i) {
    if (i == window) first_window_ms = ms_since(started);
    if (i == services - window) last_window_ms = ms_since(started);
    auto reply = client.deploy(spec_of(i));
    if (!reply) {
      std::cerr << "mob-bench: deploy " << spec_of(i) << ": " << reply.error().message << "\n";
      return 1;
    }
  }
  const double deployed_ms = ms_since(started);
  std::optional<double> assigned_ms, running_ms;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Census last;
  while (!running_ms && std::chrono::steady_clock::now() < deadline) {
    auto counted = census(client, prefix, "");
    if (counted) {
      last = *counted;
      if (!assigned_ms && counted->assigned >= services) assigned_ms = ms_since(started);
      if (counted->running >= services) running_ms = ms_since(started);
    }
    if (!running_ms) pause_for(Millis(20));
  }
  if (in_flight <= 1) last_window_ms = deployed_ms - last_window_ms;
  std::printf("deploy_ms=%.1f deploys_per_s=%.0f first_tenth_per_deploy_ms=%.2f "
              "last_tenth_per_deploy_ms=%.2f assigned_ms=%.1f running_ms=%.1f",
              deployed_ms, static_cast<double>(services) / (deployed_ms / 1000.0),
              first_window_ms / static_cast<double>(window),
              last_window_ms / static_cast<double>(window),
              assigned_ms.value_or(-1), running_ms.value_or(-1));
  if (!running_ms) {
    std::printf(" running=%zu assigned=%zu services=%zu\n", last.running, last.assigned, last.services);
    return 1;
  }
  const long long crash_pid = args.number("crash-pid", 0);
  if (crash_pid) {
    const std::string node = args.text("crash-node");
    auto before = census(client, prefix, node);
    const long long crashed = now_ns();
    mob::bench::crash(static_cast<pid_t>(crash_pid));
    std::optional<double> moved_ms;
    const auto crash_deadline = std::chrono::steady_clock::now() + timeout;
    while (!moved_ms && std::chrono::steady_clock::now() < crash_deadline) {
      auto counted = census(client, prefix, node);
      if (counted) {
        last = *counted;
        if (counted->running >= services && counted->on_node == 0) moved_ms = ms_since(crashed);
      }
      if (!moved_ms) pause_for(Millis(20));
    }
    std::printf(" crashed_node_instances=%zu moved_ms=%.1f", before ? before->on_node : 0,
                moved_ms.value_or(-1));
    if (!moved_ms) {
      std::printf(" running_elsewhere=%zu still_on_node=%zu\n", last.running, last.on_node);
      return 1;
    }
  }
  std::printf("\n");
  return 0;
}

// The machine's own floor under a deploy of N one-instance services: the same N processes
// started with nothing else to do (no agent, no records, no logs). On a VM where every page
// fault is dear, starting 10,000 `sleep` processes alone takes seconds (docs/performance.md).
// They share one process group, made by the first, so that one kill ends them all.
int run_spawn_floor(const Args& args) {
  const long long processes = args.number("processes");
  if (processes < 1) {
    std::cerr << "mob-bench: --processes: expected at least 1, got " << processes << "\n";
    return 2;
  }
  std::vector<std::string> words;
  std::istringstream command(args.text("command"));
  for (std::string word; command >> word;) words.push_back(word);
  if (words.empty()) {
    std::cerr << "mob-bench: --command: expected a program and its arguments\n";
    return 2;
  }
  std::vector<char*> argv;
  for (auto& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);

  std::vector<pid_t> started;
  started.reserve(static_cast<std::size_t>(processes));
  pid_t group = 0;  // the first child's pid: every later child joins its group
  int failure = 0;
  const long long began = now_ns();
  for (long long i = 0; i < processes; ++i) {
    posix_spawnattr_setpgroup(&attributes, group);
    pid_t child = 0;
    failure = posix_spawnp(&child, argv[0], &actions, &attributes, argv.data(), environ);
    if (failure != 0) break;
    if (group == 0) group = child;
    started.push_back(child);
  }
  const double spawned_ms = ms_since(began);
  if (group != 0) ::kill(-group, SIGKILL);
  for (pid_t child : started) ::waitpid(child, nullptr, 0);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (failure != 0) {
    std::fprintf(stderr, "mob-bench: cannot start %s (process %zu): %s\n", argv[0], started.size() + 1,
                 std::strerror(failure));
    return 1;
  }
  std::printf("processes=%lld spawned_ms=%.1f\n", processes, spawned_ms);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  Args args;
  for (int i = 2; i < argc; ++i) {
    std::string key = argv[i];
    if (!key.starts_with("--") || i + 1 >= argc) {
      std::cerr << "mob-bench: expected --key value, got \"" << key << "\"\n" << kUsage;
      return 2;
    }
    args.values[key.substr(2)] = argv[++i];
  }
  const std::string command = argv[1];
  if (command == "converge") return run_converge(args);
  if (command == "detect") return run_detect(args);
  if (command == "watch") return run_watch(args);
  if (command == "crash") return run_crash(args);
  if (command == "stamp") return run_stamp();
  if (command == "restart") return run_restart(args);
  if (command == "place") return run_place(args);
  if (command == "spawn-floor") return run_spawn_floor(args);
  std::cerr << "mob-bench: unknown command \"" << command << "\"\n" << kUsage;
  return 2;
}
