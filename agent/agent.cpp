#include "agent/agent.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <functional>
#include <random>
#include <thread>
#include <tuple>

#include <zmq.hpp>

#include "agent/actor.hpp"
#include "agent/admission.hpp"
#include "agent/durable.hpp"
#include "agent/freed_memory.hpp"
#include "agent/io.hpp"
#include "agent/metrics_http.hpp"
#include "agent/health.hpp"
#include "agent/provider_worker.hpp"
#include "agent/service_archive.hpp"
#include "agent/store.hpp"
#include "agent/supervisor.hpp"
#include "agent/time_source.hpp"
#include "agent/zap.hpp"
#include "bus/log.hpp"
#include "bus/security.hpp"
#include "bus/transport.hpp"
#include "providers/registry.hpp"

namespace mob {
namespace {
// The longest message the PUB socket takes: subscriptions (a topic prefix and libzmq's
// 1-byte header), and the CURVE handshake, whose INITIATE command is about 300 bytes.
constexpr std::size_t kMaxSubscriptionBytes = 1024;
}  // namespace

struct Agent::State {
  zmq::context_t context{1};
  std::unique_ptr<MetricsServer> metrics;  // null without --metrics-addr; stopped first
  std::unique_ptr<ZapHandler> zap;  // null without a key; stopped after the other threads
  int lock_fd = -1;
  // Main-thread ends of the control pipes, in stop order.
  zmq::socket_t supervisor_control;
  zmq::socket_t store_control;
  zmq::socket_t io_control;
  std::vector<std::unique_ptr<Actor>> actors;  // in start order; joined in stop()
  // Which actors the main thread asks to stop: after a failed start, only those started.
  bool supervisor_started = false;
  bool store_started = false;
  bool io_started = false;
  bool stopped = false;
  // Set by an actor's thread whose loop ended with an exception (a bug: every step is
  // guarded); `died` wakes the main thread, which then stops the agent and exits non-zero.
  std::atomic<bool> io_dead{false};
  std::atomic<bool> store_dead{false};
  std::atomic<bool> supervisor_dead{false};
  std::atomic<bool> worker_dead{false};
  std::atomic<bool> health_dead{false};
  // An actor did not answer in time during stop(), or its thread did not end: the agent
  // exits non-zero without waiting for it.
  std::atomic<bool> unanswered{false};
  int died = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int ended = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);  // written by every thread at its end

  ~State() {
    if (lock_fd >= 0) ::close(lock_fd);
    if (died >= 0) ::close(died);
    if (ended >= 0) ::close(ended);
  }

  bool any_dead() const {
    return io_dead || store_dead || supervisor_dead || worker_dead || health_dead || unanswered;
  }
};

namespace {

constexpr std::string_view kAgentLog = "agent";
// How long stop() waits for the store and the I/O actor to answer (they only close sockets
// and announce the leave), and for every thread to end once all have answered.
constexpr std::chrono::seconds kControlAnswerLimit{10};
constexpr std::chrono::seconds kThreadEndLimit{10};
// The supervisor stops every instance first, each within its stop timeout (at most 3600 s,
// docs/spec.md), then the workers stop what is left (docker: up to a minute more).
constexpr std::chrono::seconds kSupervisorStopLimit{3600 + 120};

// Starts `body(startup, args...)` as an Actor and waits until it is ready. An exception that
// escapes it later is logged in one line (by Actor), marks the actor dead and wakes the main
// thread: the agent then stops cleanly.
template <class Run, class... Args>
Result<void> start_actor(Agent::State& state, std::string name, std::atomic<bool>& dead, Run body,
                         Args&&... args) {
  auto actor = Actor::start(
      std::move(name),
      [body, arguments = std::make_tuple(std::forward<Args>(args)...)](ActorStartup& startup) mutable {
        std::apply([&](auto&&... held) { body(startup, std::forward<decltype(held)>(held)...); },
                   std::move(arguments));
      },
      [&state, &dead](bool crashed) {
        std::uint64_t one = 1;
        if (crashed) {
          log::error(kAgentLog, "stopping the agent after that internal error");
          dead = true;
          [[maybe_unused]] auto died = ::write(state.died, &one, sizeof one);
        }
        [[maybe_unused]] auto written = ::write(state.ended, &one, sizeof one);
      });
  if (!actor) return std::unexpected(actor.error());
  state.actors.push_back(std::move(*actor));
  return {};
}

// A worker or the health checker started before the supervisor failed to: the main thread
// still holds their pipes, so it stops them itself (their destructors then join them).
void stop_without_supervisor(Agent::State& state, const std::vector<std::pair<zmq::socket_t*, std::string>>& started) {
  for (const auto& [pipe, name] : started)
    static_cast<void>(ask_actor<ShutdownDone>(*pipe, name, ShutdownRequest{true},
                                              AskLimits{kControlAnswerLimit, nullptr, -1, {}}));
  state.actors.clear();
}

Result<int> lock_data_dir(const std::filesystem::path& dir) {
  auto path = dir / "lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return fail(Errc::io, "cannot open " + path.string() + ": " + std::strerror(errno) +
                              (errno == EROFS ? " (the data dir is on a read-only file system: remount it "
                                                "read-write or give another --data-dir)"
                                              : " (check the permissions of the data dir, --data-dir)"));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return fail(Errc::conflict, "data dir " + dir.string() +
                                    " is in use by another mob-agent; give each agent its own "
                                    "--data-dir");
  }
  auto pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) [[maybe_unused]] auto n = ::write(fd, pid.data(), pid.size());
  return fd;
}

// A random id kept in the data dir: it marks the processes and containers this agent
// starts, so a later life of the same agent finds and reclaims them.
Result<std::string> load_agent_id(const std::filesystem::path& dir) {
  auto path = dir / "agent-id";
  if (auto existing = read_whole_file(path); existing && existing->size() >= 16)
    return existing->substr(0, 16);
  std::random_device random;
  std::string id;
  const char* hex = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) id += hex[random() % 16];
  if (auto saved = write_file_atomically(path, id); !saved) return std::unexpected(saved.error());
  return id;
}

Result<void> bind_socket(zmq::socket_t& socket, const std::string& endpoint, const char* what) {
  try {
    socket.bind(endpoint);
  } catch (const zmq::error_t& e) {
    std::string hint = e.num() == EADDRINUSE
                           ? " (another program, perhaps another mob-agent, uses it: choose "
                             "another port with -p / --pub-port)"
                           : " (check --bind: it must be an address of this machine)";
    return fail(Errc::unavailable,
                std::string("cannot listen for ") + what + " on " + endpoint + ": " + e.what() + hint);
  }
  return {};
}

// Opens the state kept in `file`. A damaged one is never taken for an empty state: with a
// network to take the state from (-j, or the peers it remembers, when those can still be
// read), it is moved aside and the agent starts empty, joining through those peers; alone
// the agent refuses to start.
Result<ServiceArchive> open_archive(const std::filesystem::path& file, AgentOptions& options) {
  auto archive = ServiceArchive::open(file);
  if (archive || archive.error().code != Errc::malformed) return archive;
  std::vector<std::string> network = options.seeds;
  for (const auto& peer : ServiceArchive::salvage_peers(file))
    if (peer.name != options.name && check_endpoint(peer.address)) network.push_back(peer.address);
  if (network.empty())
    return fail(Errc::malformed, archive.error().message +
                                     ". This agent knows no peer to take the state from, so it does not start");
  log::error(kAgentLog, archive.error().message);
  auto aside = ServiceArchive::move_aside(file);
  if (!aside) return std::unexpected(aside.error());
  log::warn(kAgentLog, "moved the damaged ", file.string(), " aside to ", aside->string(),
            "; starting empty and taking the state from the network through ", network.size(),
            " peer(s)");
  options.seeds = std::move(network);
  options.state_from_network = true;
  return ServiceArchive::open(file);
}

}  // namespace

Agent::Agent(std::unique_ptr<State> state) : state_(std::move(state)) {}

Agent::~Agent() { stop(); }

Result<std::unique_ptr<Agent>> Agent::start(AgentOptions options) {
  if (options.pub_port == 0) options.pub_port = options.port + 1;
  if (options.key_file.empty() && !options.insecure && !is_loopback_host(options.bind))
    return fail(Errc::invalid_argument,
                "refusing to listen on " + options.bind +
                    " without a key: anyone who can reach that address could deploy services, "
                    "that is run commands as this user. Give --key-file (make one with "
                    "'mob-tool keygen', see docs/security.md), bind to 127.0.0.1, or pass "
                    "--insecure to accept the risk");
  if (options.key_file.empty() && !options.authorized_keys_file.empty())
    return fail(Errc::invalid_argument, "--authorized-keys needs --key-file (the network key)");
  std::optional<MetricsAddress> metrics_address;
  if (!options.metrics_address.empty()) {
    auto parsed = parse_metrics_address(options.metrics_address);
    if (!parsed) return std::unexpected(parsed.error());
    metrics_address = std::move(*parsed);
  }
  std::optional<KeyPair> network_key;
  if (!options.key_file.empty()) {
    auto loaded = load_key_file(options.key_file);
    if (!loaded) return std::unexpected(loaded.error());
    network_key = std::move(*loaded);
  }
  auto state = std::make_unique<State>();
  // The HTTP endpoint (first: a bad address or a port in use fails before anything is made)
  // serves from its own thread, which reaches the store only through this pipe; a scrape
  // before the store runs waits for it.
  zmq::socket_t store_metrics;
  if (metrics_address) {
    auto pipe = make_pipe(state->context, "metrics-store");
    auto server = MetricsServer::start(*metrics_address, std::move(pipe.first));
    if (!server) return std::unexpected(server.error());
    state->metrics = std::move(*server);
    store_metrics = std::move(pipe.second);
  }
  if (auto ok = ensure_private_dir(options.data_dir); !ok) return std::unexpected(ok.error());
  auto lock = lock_data_dir(options.data_dir);
  if (!lock) return std::unexpected(lock.error());
  state->lock_fd = *lock;
  auto archive = open_archive(options.data_dir / "state.db", options);
  if (!archive) return std::unexpected(archive.error());
  auto agent_id = load_agent_id(options.data_dir);
  if (!agent_id) return std::unexpected(agent_id.error());
  // Holds the agent stopped after a failed start; declared before the sockets below so that
  // they are closed before its ZeroMQ context is.
  std::unique_ptr<Agent> stopped_after_failure;

  const std::string router_endpoint = "tcp://" + options.bind + ":" + std::to_string(options.port);
  const std::string pub_endpoint = "tcp://" + options.bind + ":" + std::to_string(options.pub_port);
  zmq::socket_t router(state->context, zmq::socket_type::router);
  zmq::socket_t pub(state->context, zmq::socket_type::pub);
  harden_socket(router, options.max_message_bytes);
  harden_socket(pub, options.max_message_bytes);
  // All a PUB socket ever receives is subscriptions, which libzmq keeps in a trie of one
  // node per byte: a 4 MiB one cost 380 MiB. Ours are "gossip" and event topic prefixes.
  pub.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(kMaxSubscriptionBytes));
  router.set(zmq::sockopt::router_mandatory, true);
  if (network_key) {
    make_curve_server(router, *network_key);
    make_curve_server(pub, *network_key);
    // Bound before the sockets it guards: without a handler libzmq admits every client.
    auto zap = ZapHandler::start(state->context,
                                 ZapConfig{network_key->public_key, options.authorized_keys_file},
                                 {{&router, "requests"}, {&pub, "gossip and events"}});
    if (!zap) return std::unexpected(zap.error());
    state->zap = std::move(*zap);
  }
  if (auto ok = bind_socket(router, router_endpoint, "requests"); !ok)
    return std::unexpected(ok.error());
  if (auto ok = bind_socket(pub, pub_endpoint, "gossip and events"); !ok)
    return std::unexpected(ok.error());

  ProviderContext provider_context{options.name, *agent_id, options.data_dir,
                                   options.log_max_bytes, options.log_keep_files,
                                   options.max_log_line_bytes};
  std::vector<std::unique_ptr<Provider>> providers;
  for (const auto& name : options.providers) {
    auto provider = make_provider(name, provider_context);
    if (!provider) return std::unexpected(provider.error());
    providers.push_back(std::move(*provider));
  }

  auto io_store = make_pipe(state->context, "io-store");
  auto io_supervisor = make_pipe(state->context, "io-supervisor");
  auto store_supervisor = make_pipe(state->context, "store-supervisor");
  auto io_control = make_pipe(state->context, "io-control");
  auto store_control = make_pipe(state->context, "store-control");
  auto supervisor_control = make_pipe(state->context, "supervisor-control");
  state->io_control = std::move(io_control.first);
  state->store_control = std::move(store_control.first);
  state->supervisor_control = std::move(supervisor_control.first);

  std::map<std::string, zmq::socket_t> worker_pipes;
  auto supervisor_health = make_pipe(state->context, "supervisor-health");
  // Until the supervisor runs, the main thread holds the pipes of the actors it stops.
  std::vector<std::pair<zmq::socket_t*, std::string>> started_before_supervisor;
  auto failed_before_supervisor = [&](Error error) -> Result<std::unique_ptr<Agent>> {
    stop_without_supervisor(*state, started_before_supervisor);
    return std::unexpected(std::move(error));
  };
  for (std::size_t i = 0; i < providers.size(); ++i) {
    auto pipe = make_pipe(state->context, "worker-" + options.providers[i]);
    auto& held = worker_pipes.emplace(options.providers[i], std::move(pipe.first)).first->second;
    const std::string name = "worker " + options.providers[i];
    if (auto started = start_actor(*state, name, state->worker_dead, run_provider_worker,
                                   options.providers[i], std::move(providers[i]),
                                   std::move(pipe.second), static_cast<const TimeSource*>(nullptr));
        !started)
      return failed_before_supervisor(started.error());
    started_before_supervisor.emplace_back(&held, name);
  }

  if (auto started = start_actor(*state, "health", state->health_dead, run_health_checker,
                                 HealthConfig{check_host_of_endpoint(router_endpoint), *agent_id, nullptr},
                                 std::move(supervisor_health.second));
      !started)
    return failed_before_supervisor(started.error());
  started_before_supervisor.emplace_back(&supervisor_health.first, "health");

  Member self;
  self.name = options.name;
  self.address = router_endpoint;
  self.pub_address = pub_endpoint;
  // Providers are advertised as their workers report them available.
  self.tags = options.tags;
  self.version = MOB_VERSION;
  StoreConfig store_config;
  store_config.self = self;
  store_config.data_dir = options.data_dir;
  store_config.spec_limits = options.spec_limits;
  store_config.max_services = options.max_services;
  store_config.history = options.history;
  store_config.max_message_bytes = options.max_message_bytes;
  store_config.seeds = options.seeds;
  store_config.state_from_network = options.state_from_network;
  store_config.providers = options.providers;
  store_config.detector = options.detector;
  store_config.heartbeat_interval = options.heartbeat_interval;
  store_config.sync_interval = options.sync_interval;
  store_config.max_subscriptions = options.max_subscriptions;
  store_config.tombstone_ttl = options.tombstone_ttl;
  store_config.reconnect_interval = options.reconnect_interval;
  store_config.reconnect_timeout = options.reconnect_timeout;
  if (network_key) store_config.curve = ClientKeys{*network_key, network_key->public_key};

  if (auto started = start_actor(*state, "supervisor", state->supervisor_dead, run_supervisor,
                                 SupervisorConfig{options.name, nullptr,
                                                  options.advertise_host.empty() ? check_host_of_endpoint(router_endpoint)
                                                                                 : options.advertise_host,
                                                  options.port_range, nullptr},
                                 std::move(store_supervisor.second),
                                 std::move(io_supervisor.second), std::move(supervisor_control.second),
                                 std::move(worker_pipes), std::move(supervisor_health.first));
      !started) {
    // Its set-up only takes its pipes, so this is out of memory or out of threads. The pipes
    // of the workers and the health checker went with it: nothing can tell them to stop and
    // no instance runs yet, so they (and the context their sockets hold) are left to the
    // process's end.
    for (auto& actor : state->actors) actor->detach();
    static_cast<void>(state.release());
    return std::unexpected(started.error());
  }
  state->supervisor_started = true;
  // From here a failed start stops what runs the way stop() always does.
  auto failed_after_supervisor = [&](Error error) -> Result<std::unique_ptr<Agent>> {
    stopped_after_failure.reset(new Agent(std::move(state)));
    stopped_after_failure->stop();
    return std::unexpected(std::move(error));
  };
  if (auto started = start_actor(*state, "store", state->store_dead, run_store, std::move(store_config),
                                 std::move(*archive), std::ref(state->context), std::move(io_store.second),
                                 std::move(store_supervisor.first), std::move(store_control.second),
                                 std::move(pub), std::move(store_metrics));
      !started)
    return failed_after_supervisor(started.error());
  state->store_started = true;
  if (auto started = start_actor(*state, "io", state->io_dead, run_io,
                                 IoConfig{options.name, options.max_message_bytes, options.max_pending_requests},
                                 std::move(router), std::move(io_store.first),
                                 std::move(io_supervisor.first), std::move(io_control.second));
      !started)
    return failed_after_supervisor(started.error());
  state->io_started = true;
  log::info(kAgentLog, "agent ", options.name, " listening on ", router_endpoint, " (events on ",
            pub_endpoint, "), data in ", options.data_dir.string());
  return std::unique_ptr<Agent>(new Agent(std::move(state)));
}

void Agent::wait_for_stop(int signal_fd) {
  // Every 30 s the heap the agent freed goes back to the system when more than 1 MiB of it is
  // free (a burst of deploys leaves its peak behind in the allocator otherwise).
  constexpr auto kGiveBackEvery = std::chrono::seconds(30);
  constexpr std::size_t kGiveBackOver = std::size_t{1} << 20;
  auto give_back_at = system_time().steady_now() + kGiveBackEvery;
  while (true) {
    zmq::pollitem_t items[] = {{nullptr, signal_fd, ZMQ_POLLIN, 0},
                               {state_->store_control.handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, state_->died, ZMQ_POLLIN, 0}};
    poll_sockets(items, 3, poll_wait(system_time(), give_back_at, kGiveBackEvery));
    if (state_->any_dead()) return;
    if (const auto now = system_time().steady_now(); now >= give_back_at) {
      if (give_back_freed_memory(kGiveBackOver))
        log::debug(kAgentLog, "gave the heap's free pages back in ",
                   std::chrono::duration_cast<std::chrono::microseconds>(system_time().steady_now() - now).count(),
                   " us");
      give_back_at = now + kGiveBackEvery;
    }
    if (items[0].revents & ZMQ_POLLIN) {
      signalfd_siginfo info{};
      if (::read(signal_fd, &info, sizeof info) == sizeof info &&
          (info.ssi_signo == SIGINT || info.ssi_signo == SIGTERM)) {
        log::info(kAgentLog, "signal ", info.ssi_signo, ": leaving the network, stopping services");
        return;
      }
      if (info.ssi_signo == SIGHUP) {
        if (state_->zap) state_->zap->reload();
        else log::info(kAgentLog, "SIGHUP: nothing to reload (no --key-file)");
      }
    }
    while (auto message = receive_control(state_->store_control)) {
      if (std::holds_alternative<LeaveAsked>(*message)) {
        log::info(kAgentLog, "asked to leave the network: stopping services, then exiting");
        return;
      }
    }
  }
}

bool Agent::failed() const { return abandoned_threads_ || (state_ && state_->any_dead()); }

void Agent::stop(int signal_fd) {
  if (!state_ || state_->stopped) return;
  state_->stopped = true;
  State& state = *state_;
  state.metrics.reset();  // no scrape waits on a store that stops
  auto answered = [&](Result<void> result) {
    if (!result && result.error().code == Errc::timeout) state.unanswered = true;
  };
  if (state.store_started)
    answered(ask_actor<LeaveAnnounced>(state.store_control, "store", AnnounceLeave{},
                                   AskLimits{kControlAnswerLimit, &state.store_dead, -1, {}}));
  // Services first (the supervisor waits for them), then the store, then the network. A
  // second signal meanwhile means now: what is left is killed at once.
  bool urged = false;
  auto on_signal = [&] {
    signalfd_siginfo info{};
    if (::read(signal_fd, &info, sizeof info) != sizeof info ||
        (info.ssi_signo != SIGINT && info.ssi_signo != SIGTERM) || urged)
      return;
    urged = true;
    log::warn(kAgentLog, "second signal: killing every service left at once (SIGKILL)");
    send_control(state.supervisor_control, ShutdownRequest{true});
  };
  if (state.supervisor_started)
    answered(ask_actor<ShutdownDone>(state.supervisor_control, "supervisor", ShutdownRequest{},
                                     AskLimits{kSupervisorStopLimit, &state.supervisor_dead, signal_fd, on_signal}));
  if (state.store_started)
    answered(ask_actor<ShutdownDone>(state.store_control, "store", ShutdownRequest{},
                                     AskLimits{kControlAnswerLimit, &state.store_dead, -1, {}}));
  if (state.io_started)
    answered(ask_actor<ShutdownDone>(state.io_control, "io", ShutdownRequest{},
                                     AskLimits{kControlAnswerLimit, &state.io_dead, -1, {}}));
  if (!join_threads_within(kThreadEndLimit)) {
    // Joining a thread that never ends would hang the exit, and closing the ZeroMQ context
    // would wait for its sockets: both are left to the process's end.
    state.unanswered = true;
    for (auto& actor : state.actors) actor->detach();
    log::error(kAgentLog, "stopped, leaving the threads above behind (exit status 1)");
    abandoned_threads_ = true;
    static_cast<void>(state_.release());
    return;
  }
  state.zap.reset();
  log::info(kAgentLog, "stopped");
}

bool Agent::join_threads_within(std::chrono::milliseconds limit) {
  State& state = *state_;
  const auto deadline = system_time().steady_now() + limit;
  auto all_ended = [&] {
    return std::all_of(state.actors.begin(), state.actors.end(),
                       [](const auto& actor) { return actor->ended(); });
  };
  while (!all_ended() && system_time().steady_now() < deadline) {
    zmq::pollitem_t item{nullptr, state.ended, ZMQ_POLLIN, 0};
    poll_sockets(&item, 1, poll_wait(system_time(), deadline));
    std::uint64_t count = 0;
    [[maybe_unused]] auto got = ::read(state.ended, &count, sizeof count);
  }
  bool every = true;
  for (auto& actor : state.actors) {
    if (actor->ended()) {
      actor->join();
    } else {
      log::error(kAgentLog, "the ", actor->name(), " thread did not end within ", limit.count(), " ms");
      every = false;
    }
  }
  if (every) state.actors.clear();
  return every;
}

}  // namespace mob
