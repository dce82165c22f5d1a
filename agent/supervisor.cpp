#include "agent/supervisor.hpp"

#include <csignal>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include "agent/actor.hpp"
#include "agent/admission.hpp"
#include "agent/restart_policy.hpp"
#include "agent/spec.hpp"
#include "agent/time_source.hpp"
#include "bus/instance_id.hpp"
#include "bus/log.hpp"
#include "bus/spec_text.hpp"
#include "bus/transport.hpp"

namespace mob {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kSupervisorLog = "supervisor";

struct Service {
  ServiceSpec spec;
  // Held once by a service version and shared by the instances launched from it (what each
  // was launched from, where it settled) instead of copied into each.
  SpecText spec_json;
  SpecText run_spec;  // spec_json without `instances`: what each instance runs
  std::uint64_t version = 0;
  bool enabled = true;
  std::uint64_t restart_generation = 0;
  bool dependencies_ready = true;
  std::string waiting_reason;
  std::map<std::string, std::string> dependency_env;  // the dependencies' addresses, as variables
  std::set<std::uint32_t> assigned;  // the instances of both versions, when a rollout is under way
  // A rolling update under way: the instances that still run the stable version, as a
  // Service of its own (docs/spec.md, "update").
  std::unique_ptr<Service> stable;
  // Instances launched from this version with the same run spec carry on unrestarted (a
  // revert brings the stable spec back as a new version).
  std::uint64_t carried_from = 0;
};

// What instance `index` of `service` runs: its current version, or the stable one.
const Service& target_of(const Service& service, std::uint32_t index) {
  return service.stable && service.stable->assigned.contains(index) ? *service.stable : service;
}

// A version of a service from the spec the store parsed: the supervisor never parses one.
Service service_version(ServiceSpec spec, const std::string& spec_json, std::uint64_t version) {
  Service service;
  service.run_spec = SpecText(run_spec_of(spec).dump());
  service.spec = std::move(spec);
  service.spec_json = SpecText(spec_json);
  service.version = version;
  return service;
}

struct Instance {
  InstanceId id;
  std::string key;  // id.key(): how the workers, the health checker and their messages name it
  std::string provider;
  std::uint32_t stop_timeout_ms = 5000;
  InstanceState state = InstanceState::pending;
  bool process_live = false;     // started and not yet seen to exit
  bool stop_requested = false;
  // What the running process was started from. Concurrent deploys through two agents may
  // hand out one version number for two specs, so the spec itself counts too.
  std::uint64_t launched_version = 0;
  std::uint64_t launched_generation = 0;
  SpecText launched_spec_json;
  SpecText launched_run_spec;  // Service::run_spec
  // What an instance gave up on (failed, or exited for good); a new deploy or
  // `mob-tool restart` changes it and so tries again.
  std::optional<std::tuple<std::uint64_t, std::uint64_t, SpecText>> settled_at;
  std::int64_t pid = 0;
  std::int64_t since_ms = 0;
  std::int32_t exit_code = -1;
  std::int32_t signal = 0;
  std::string reason;
  std::uint32_t restarts = 0;
  std::vector<Clock::time_point> recent_restarts;  // empty: no allocation (thousands of instances)
  std::optional<Clock::time_point> restart_at;
  // Health checks: which start of the process the checker watches (0: none), what it said,
  // and why the instance is being stopped for a restart when its checks failed.
  std::uint64_t launches = 0;
  bool watched = false;
  Health health = Health::none;
  std::vector<CheckResult> checks;
  std::optional<std::string> unhealthy_restart;
  // Service discovery: the host ports it listens on (kept for its next start when still
  // free), the dependencies' addresses it last started or was signalled with, and the fixed
  // port that kept it from starting here.
  std::map<std::string, std::uint32_t> ports;
  std::map<std::string, std::string> launched_dependency_env;
  std::uint32_t busy_port = 0;
};


}  // namespace

class Supervisor {
 public:
  Supervisor(SupervisorConfig config, zmq::socket_t store, zmq::socket_t io,
             zmq::socket_t control, std::map<std::string, zmq::socket_t> workers,
             zmq::socket_t health)
      : config_(std::move(config)),
        store_(std::move(store)),
        io_(std::move(io)),
        control_(std::move(control)),
        workers_(std::move(workers)),
        health_(std::move(health)) {}

  // One turn of the loop: waits at most `wait` for a message, handles every message waiting,
  // fires the timers due. False once it has answered ShutdownDone.
  bool turn(std::chrono::milliseconds wait) {
    std::vector<zmq::pollitem_t> items = {{store_.handle(), 0, ZMQ_POLLIN, 0},
                                          {io_.handle(), 0, ZMQ_POLLIN, 0},
                                          {control_.handle(), 0, ZMQ_POLLIN, 0},
                                          {health_.handle(), 0, ZMQ_POLLIN, 0}};
    for (auto& [name, worker] : workers_) items.push_back({worker.handle(), 0, ZMQ_POLLIN, 0});
    poll_sockets(items.data(), items.size(), std::min(wait, poll_wait(time_, next_deadline(), kIdleWait)));
    // Each message is one guarded step: an internal error drops that message, not the agent.
    auto step = [&](const InternalMessage& message, auto handler) {
      guard_.run(internal_name(message.envelope.body), [&] { (this->*handler)(message); });
    };
    // Workers and the health checker send control messages too: their ShutdownDone.
    auto step_any = [&](const PipeMessage& message, auto handler, bool& done) {
      if (const auto* internal = std::get_if<InternalMessage>(&message)) step(*internal, handler);
      else if (std::holds_alternative<ShutdownDone>(std::get<ControlBody>(message))) done = true;
    };
    while (auto message = receive_control(control_))
      guard_.run(control_name(*message), [&] { handle_control(*message); });
    while (auto message = receive_internal(store_)) step(*message, &Supervisor::handle_store);
    while (auto message = receive_routed(io_))
      guard_.run(type_name(message->envelope.body), [&] { handle_request(*message); });
    for (auto& [name, worker] : workers_) {
      while (auto message = receive_any(worker)) {
        bool done = false;
        step_any(*message, &Supervisor::handle_worker, done);
        if (done) ++workers_done_;
      }
    }
    while (auto message = receive_any(health_)) step_any(*message, &Supervisor::handle_health, health_done_);
    guard_.run("a round of timers", [&] { fire_timers(); });
    if (shutting_down_) advance_shutdown();
    return !finished_;
  }

  void run() {
    while (turn(kIdleWait)) {
    }
  }

 private:
  Clock::time_point next_deadline() const {
    auto deadline = time_.steady_now() + kIdleWait;
    if (!restarts_due_.empty()) deadline = std::min(deadline, restarts_due_.begin()->first);
    if (shutting_down_) deadline = std::min(deadline, shutdown_deadline_);
    return deadline;
  }

  // ---- from the store ----------------------------------------------------------------

  void handle_store(const InternalMessage& message) {
    if (const auto* assignment = std::get_if<ServiceAssignment>(&message.envelope.body)) {
      apply_assignment(*assignment);
    } else if (const auto* withdrawn = std::get_if<ServiceWithdrawn>(&message.envelope.body)) {
      services_.erase(withdrawn->name);
      reconcile_service(withdrawn->name);
    }
  }

  void apply_assignment(const ServiceAssignment& assignment) {
    if (!assignment.stable_instances.empty() && !assignment.stable_spec) {
      log::error(kSupervisorLog, log::about_service(assignment.name), "the assignment of ", assignment.name,
                 " names instances of its stable version without its spec; ignored");
      return;
    }
    Service& service = services_[assignment.name];
    service = service_version(assignment.spec, assignment.spec_json, assignment.version);
    service.carried_from = assignment.stable_version;
    service.enabled = assignment.enabled;
    service.restart_generation = assignment.restart_generation;
    service.dependencies_ready = assignment.dependencies_ready;
    service.waiting_reason = assignment.waiting_reason;
    service.dependency_env = assignment.dependency_env;
    service.assigned = {assignment.instances.begin(), assignment.instances.end()};
    if (!assignment.stable_instances.empty()) {
      service.stable = std::make_unique<Service>(
          service_version(*assignment.stable_spec, assignment.stable_spec_json, assignment.stable_version));
      service.stable->enabled = service.enabled;
      service.stable->restart_generation = service.restart_generation;
      service.stable->dependencies_ready = service.dependencies_ready;
      service.stable->waiting_reason = service.waiting_reason;
      service.stable->dependency_env = service.dependency_env;
      service.stable->assigned = {assignment.stable_instances.begin(), assignment.stable_instances.end()};
      service.assigned.insert(assignment.stable_instances.begin(), assignment.stable_instances.end());
    }
    for (auto index : service.assigned) {
      InstanceId id{assignment.name, index};
      auto key = id.key();
      if (!instances_.contains(key)) {
        Instance instance;
        instance.id = std::move(id);
        instance.key = key;
        instances_.emplace(key, std::move(instance));
      }
    }
    reconcile_service(assignment.name);
  }

  void reconcile_service(const std::string& name) {
    // Keys are "<service>.<index>", so a service's instances sit in the range of keys that
    // start with "<service>."; names may hold dots, so the range is filtered by service.
    const std::string prefix = name + ".";
    std::vector<std::string> keys;
    for (auto it = instances_.lower_bound(prefix);
         it != instances_.end() && it->first.starts_with(prefix); ++it)
      if (it->second.id.service == name) keys.push_back(it->first);
    for (const auto& key : keys) reconcile(key);
  }

  // Moves one instance toward what its service wants: running the current version, or not.
  void reconcile(const std::string& key) {
    auto found = instances_.find(key);
    if (found == instances_.end()) return;
    Instance& instance = found->second;
    auto service_it = services_.find(instance.id.service);
    const Service* service =
        service_it == services_.end() ? nullptr : &target_of(service_it->second, instance.id.index);
    bool assigned = service && service->assigned.contains(instance.id.index);
    bool wanted = assigned && service->enabled && !shutting_down_;
    if (wanted && scaled_only(instance, *service)) carry_over(instance, *service);

    if (instance.process_live) {
      bool outdated = wanted && (instance.launched_version != service->version ||
                                 instance.launched_generation != service->restart_generation ||
                                 instance.launched_spec_json != service->spec_json);
      if ((!wanted || outdated) && !instance.stop_requested) request_stop(instance);
      else if (wanted && !instance.stop_requested) follow_dependencies(instance, *service);
      return;
    }
    if (!wanted) {
      cancel_restart(instance);
      if (!assigned) {
        instances_.erase(found);
        return;
      }
      if (instance.state != InstanceState::stopped)
        set_state(instance, InstanceState::stopped, "stopped (mob-tool start runs it again)");
      return;
    }
    auto current = std::make_tuple(service->version, service->restart_generation, service->spec_json);
    if (instance.settled_at) {
      if (*instance.settled_at == current) return;
      instance.settled_at.reset();
      instance.recent_restarts.clear();
    }
    if (instance.state == InstanceState::stopped) instance.recent_restarts.clear();
    if (instance.restart_at) return;
    if (!service->dependencies_ready) {
      std::string reason = service->waiting_reason;
      if (reason.empty()) {
        reason = "waiting for dependencies to run: ";
        for (std::size_t i = 0; i < service->spec.depends_on.size(); ++i)
          reason += (i ? ", " : "") + service->spec.depends_on[i];
      }
      if (instance.state != InstanceState::pending || instance.reason != reason)
        set_state(instance, InstanceState::pending, reason);
      return;
    }
    launch(instance, *service);
  }

  // The service's version differs from the one `instance` was launched from only in
  // `instances` (mob-tool scale, or a deploy that changed nothing else): what the instance
  // runs is the same. A redeploy of the very same spec is not this: it restarts, as before.
  // Nor is a revert: the stable spec again as a new version (carried_from), carried over.
  static bool scaled_only(const Instance& instance, const Service& service) {
    return instance.launches > 0 && instance.launched_version != service.version &&
           instance.launched_generation == service.restart_generation &&
           (instance.launched_spec_json != service.spec_json || instance.launched_version == service.carried_from) &&
           instance.launched_run_spec == service.run_spec;
  }

  // The instance carries on as the new version: never restarted, its state (running,
  // exited, failed, waiting to restart) kept, and reported under the new version.
  void carry_over(Instance& instance, const Service& service) {
    const bool settled = instance.settled_at.has_value();
    instance.launched_version = service.version;
    instance.launched_spec_json = service.spec_json;
    if (settled) instance.settled_at = std::make_tuple(service.version, service.restart_generation, service.spec_json);
    report(instance);
  }

  // The dependencies' endpoints changed since the instance started (or was last signalled):
  // it restarts, is signalled or carries on, as its spec's on_dependency_change says. While
  // a dependency has no instance that serves it carries on with the addresses it has.
  void follow_dependencies(Instance& instance, const Service& service) {
    if (!service.dependencies_ready || service.dependency_env == instance.launched_dependency_env) return;
    const OnDependencyChange& change = service.spec.on_dependency_change;
    switch (change.action) {
      case DependencyChange::restart:
        log::info(kSupervisorLog, log::about_instance(instance.id.service, instance.key), instance.key, " restarting: the endpoints of its dependencies changed");
        request_stop(instance);
        return;
      case DependencyChange::signal:
        if (auto worker = workers_.find(instance.provider); worker != workers_.end()) {
          log::info(kSupervisorLog, log::about_instance(instance.id.service, instance.key), instance.key, " signalled (", change.signal, "): the endpoints of its dependencies changed");
          send_internal(worker->second, ProviderSignal{instance.key, change.signal});
        }
        break;
      case DependencyChange::none:
      case DependencyChange::count_: break;
    }
    instance.launched_dependency_env = service.dependency_env;
  }

  // The host ports of `instance` for `spec`'s named ports; none taken by another instance here.
  Result<PortChoice> choose_instance_ports(const Instance& instance, const ServiceSpec& spec) {
    std::set<std::uint32_t> taken;
    for (const auto& [key, other] : instances_)
      if (key != instance.key)
        for (const auto& [name, port] : other.ports) taken.insert(port);
    std::function<bool(std::uint32_t)> is_free = config_.port_is_free;
    if (!is_free) is_free = [this](std::uint32_t port) { return tcp_port_is_free(config_.host, port); };
    // Agents of one machine start their search at different places (the agent's name).
    return choose_ports(config_.node_name + "/" + instance.key, spec.ports, instance.ports, taken,
                        config_.port_range, is_free);
  }

  void launch(Instance& instance, const Service& service) {
    auto worker = workers_.find(service.spec.provider);
    instance.provider = service.spec.provider;
    instance.stop_timeout_ms = service.spec.stop_timeout_ms;
    instance.launched_version = service.version;
    instance.launched_generation = service.restart_generation;
    instance.launched_spec_json = service.spec_json;
    instance.launched_run_spec = service.run_spec;
    if (worker == workers_.end()) {
      instance.settled_at = std::make_tuple(service.version, service.restart_generation, service.spec_json);
      set_state(instance, InstanceState::failed,
                "this agent does not run provider \"" + service.spec.provider + "\"");
      return;
    }
    auto chosen = choose_instance_ports(instance, service.spec);
    instance.busy_port = chosen && chosen->busy_port != 0 ? chosen->busy_port : 0;
    if (!chosen || chosen->busy_port != 0) {
      instance.settled_at = std::make_tuple(service.version, service.restart_generation, service.spec_json);
      set_state(instance, InstanceState::failed,
                chosen ? "port " + std::to_string(chosen->busy_port) + " is in use on " + config_.node_name
                       : chosen.error().message);
      return;
    }
    instance.ports = chosen->ports;
    instance.launched_dependency_env = service.dependency_env;
    auto env = instance_env(config_.host, instance.ports);
    env.insert(service.dependency_env.begin(), service.dependency_env.end());
    std::vector<PortBinding> bindings;
    for (const auto& [name, port] : instance.ports) {
      std::uint32_t inside = service.spec.ports.at(name).container_port;
      bindings.push_back(PortBinding{name, port, inside == 0 ? port : inside});
    }
    instance.process_live = true;
    ++instance.launches;
    instance.unhealthy_restart.reset();
    instance.pid = 0;
    instance.exit_code = -1;  // a new process: the last one's exit no longer describes it
    instance.signal = 0;
    set_state(instance, InstanceState::starting, "");
    send_internal(worker->second,
                  ProviderStart{instance.key, instance.id.service, instance.id.index, service.spec.params,
                                std::move(env), std::move(bindings)});
  }

  void request_stop(Instance& instance) {
    auto worker = workers_.find(instance.provider);
    if (worker == workers_.end()) return;
    instance.stop_requested = true;
    send_internal(worker->second, ProviderStop{instance.key, instance.stop_timeout_ms});
  }

  // ---- from the provider workers -----------------------------------------------------

  void handle_worker(const InternalMessage& message) {
    if (const auto* event = std::get_if<ProviderEvent>(&message.envelope.body)) {
      handle_event(*event);
    } else if (const auto* logs = std::get_if<ProviderLogsReply>(&message.envelope.body)) {
      LogsReply reply;
      for (std::size_t i = 0; i < logs->chunks.size(); ++i) {
        LogChunk chunk = logs->chunks[i];
        chunk.node = config_.node_name;
        reply.chunks.push_back(std::move(chunk));
        if (reply.service.empty() && i < logs->keys.size())
          if (auto id = InstanceId::from_key(logs->keys[i])) reply.service = id->service;
      }
      send_body(io_, std::move(reply), message.route, message.envelope.request_id);
    } else if (const auto* availability = std::get_if<ProviderAvailability>(&message.envelope.body)) {
      send_internal(store_, *availability);
    } else if (const auto* result = std::get_if<ProviderExecCheckResult>(&message.envelope.body)) {
      send_internal(health_, *result);
    }
  }

  void handle_event(const ProviderEvent& event) {
    auto found = instances_.find(event.key);
    if (found == instances_.end()) return;
    Instance& instance = found->second;
    switch (event.kind) {
      case ProviderEventKind::started:
        instance.pid = event.pid;
        if (instance.stop_requested) return;  // a stop is on its way; stay quiet
        watch_health(instance);
        set_state(instance, InstanceState::running, "");
        log::info(kSupervisorLog, log::about_instance(instance.id.service, instance.key), instance.key, " running, pid ", event.pid);
        reconcile(instance.key);  // a newer version may have arrived while starting
        return;
      case ProviderEventKind::stopped:
        unwatch_health(instance);
        if (instance.unhealthy_restart) return handle_exit(instance, event);
        instance.process_live = false;
        instance.stop_requested = false;
        instance.pid = 0;
        instance.exit_code = event.exit_code;
        instance.signal = event.signal;
        set_state(instance, InstanceState::stopped, "stopped");
        reconcile(instance.key);
        return;
      case ProviderEventKind::exited:
      case ProviderEventKind::start_failed:
        handle_exit(instance, event);
        return;
      case ProviderEventKind::count_: return;
    }
  }

  void handle_exit(Instance& instance, const ProviderEvent& event) {
    unwatch_health(instance);
    instance.process_live = false;
    instance.pid = 0;
    instance.exit_code = event.exit_code;
    instance.signal = event.signal;
    bool start_failed = event.kind == ProviderEventKind::start_failed;
    // Stopped because its checks failed: a failure, under the restart policy like an exit.
    std::optional<std::string> unhealthy = std::exchange(instance.unhealthy_restart, std::nullopt);
    if (unhealthy) instance.stop_requested = false;
    if (instance.stop_requested) {
      instance.stop_requested = false;
      set_state(instance, InstanceState::stopped, "stopped");
      reconcile(instance.key);
      return;
    }
    std::string how = unhealthy      ? *unhealthy
                      : start_failed ? "could not start: " + event.message
                      : event.signal != 0
                          ? "killed by signal " + std::to_string(event.signal)
                          : "exited with code " + std::to_string(event.exit_code);
    log::info(kSupervisorLog, log::about_instance(instance.id.service, instance.key), instance.key, " ", how);
    auto service_it = services_.find(instance.id.service);
    if (service_it == services_.end() || shutting_down_) {
      set_state(instance, InstanceState::exited, how);
      reconcile(instance.key);
      return;
    }
    const Service& service = target_of(service_it->second, instance.id.index);
    auto settle = [&] {
      instance.settled_at = std::make_tuple(instance.launched_version, instance.launched_generation,
                                            instance.launched_spec_json);
    };
    const RestartSpec& restart = service.spec.restart;
    ExitOutcome outcome{event.exit_code, event.signal, start_failed};
    if (unhealthy) outcome = ExitOutcome{-1, SIGKILL, false};  // never a success
    if (!wants_restart(restart.policy, outcome)) {
      settle();
      set_state(instance, start_failed ? InstanceState::failed : InstanceState::exited,
                how + "; restart policy " + std::string(to_string(restart.policy)) +
                    " does not restart it");
      return;
    }
    set_state(instance, InstanceState::exited, how);
    auto now = time_.steady_now();
    auto delay = next_restart_delay(restart, instance.recent_restarts, now);
    if (!delay) {
      settle();
      set_state(instance, InstanceState::failed,
                how + "; gave up after " + std::to_string(restart.max_restarts) +
                    " restarts within " + std::to_string(restart.window_s) +
                    " s (restart.max_restarts); fix it, then mob-tool restart " + instance.id.service);
      return;
    }
    instance.recent_restarts.push_back(now);
    ++instance.restarts;
    schedule_restart(instance, now + *delay);
    set_state(instance, InstanceState::restarting,
              how + "; restarting in " + std::to_string(delay->count()) + " ms");
    if (delay->count() == 0) fire_timers();
  }

  void fire_timers() {
    auto now = time_.steady_now();
    std::vector<std::string> due;
    while (!restarts_due_.empty() && restarts_due_.begin()->first <= now) {
      auto entry = restarts_due_.extract(restarts_due_.begin());
      if (auto found = instances_.find(entry.value().second); found != instances_.end())
        found->second.restart_at.reset();
      due.push_back(std::move(entry.value().second));
    }
    for (const auto& key : due) reconcile(key);
  }

  // An instance's restart_at and its entry in restarts_due_ change together, here only.
  void schedule_restart(Instance& instance, Clock::time_point at) {
    cancel_restart(instance);
    instance.restart_at = at;
    restarts_due_.emplace(at, instance.key);
  }

  void cancel_restart(Instance& instance) {
    if (!instance.restart_at) return;
    restarts_due_.erase({*instance.restart_at, instance.key});
    instance.restart_at.reset();
  }

  void set_state(Instance& instance, InstanceState state, std::string reason) {
    instance.state = state;
    instance.reason = std::move(reason);
    instance.since_ms = static_cast<std::int64_t>(time_.wall_ms());
    report(instance);
  }

  // Sends the store the instance as it is now.
  void report(const Instance& instance) {
    InstanceStatus status;
    status.service = instance.id.service;
    status.index = instance.id.index;
    status.node = config_.node_name;
    status.state = instance.state;
    status.restarts = instance.restarts;
    status.pid = instance.pid;
    status.since_ms = instance.since_ms;
    status.exit_code = instance.exit_code;
    status.signal = instance.signal;
    status.reason = instance.reason;
    status.spec_version = instance.launched_version;
    status.health = instance.health;
    status.checks = instance.checks;
    if (!instance.ports.empty()) status.host = config_.host;
    status.ports = instance.ports;
    status.busy_port = instance.busy_port;
    send_internal(store_, InstanceReport{std::move(status)});
  }

  // ---- health checks (agent/health.hpp) -------------------------------------------------

  // A process just started: the checker checks it from now on, if its service has checks.
  void watch_health(Instance& instance) {
    auto service = services_.find(instance.id.service);
    instance.checks.clear();
    instance.health = Health::none;
    if (service == services_.end()) return;
    const ServiceSpec& spec = target_of(service->second, instance.id.index).spec;
    if (spec.checks.empty()) return;
    HealthWatch watch{instance.key, instance.launches, instance.id.service, instance.id.index, spec.checks, {}, ""};
    // A check of a named port connects to the port this instance got, at its agent's address.
    for (std::size_t i = 0; i < spec.check_ports.size() && i < watch.checks.size(); ++i) {
      auto port = instance.ports.find(spec.check_ports[i]);
      if (spec.check_ports[i].empty() || port == instance.ports.end()) continue;
      watch.checks[i].port = port->second;
      if (watch.checks[i].host.empty()) watch.checks[i].host = config_.host;
    }
    watch.exec_in_provider = spec.provider != "bash";
    if (spec.provider == "bash") {
      if (auto env = spec.params.find("env"); env != spec.params.end() && env->is_object())
        for (const auto& [name, value] : env->items())
          if (value.is_string()) watch.env[name] = value.get<std::string>();
      if (auto cwd = spec.params.find("cwd"); cwd != spec.params.end() && cwd->is_string())
        watch.cwd = cwd->get<std::string>();
    }
    instance.health = Health::starting;
    for (const auto& check : spec.checks) instance.checks.push_back(CheckResult{check.name, false, 0, 0, ""});
    instance.watched = true;
    send_internal(health_, std::move(watch));
  }

  void unwatch_health(Instance& instance) {
    if (instance.watched) send_internal(health_, HealthUnwatch{instance.key});
    instance.watched = false;
    instance.health = Health::none;
    instance.checks.clear();
  }

  void handle_health(const InternalMessage& message) {
    if (const auto* exec = std::get_if<ProviderExecCheck>(&message.envelope.body)) {
      forward_exec_check(*exec);
      return;
    }
    const auto* change = std::get_if<HealthChange>(&message.envelope.body);
    if (!change) return;
    auto found = instances_.find(change->key);
    if (found == instances_.end()) return;
    Instance& instance = found->second;
    // A change about an earlier process, or one on its way out, is stale.
    if (!instance.watched || change->launch != instance.launches || instance.stop_requested) return;
    instance.health = change->health;
    instance.checks = change->checks;
    std::string words;
    for (const auto& result : change->checks)
      if (result.name == change->decided_by) words = describe_check(result);
    if (change->health == Health::unhealthy) log::warn(kSupervisorLog, log::about_instance(instance.id.service, instance.key), instance.key, " unhealthy: ", words);
    if (instance.state == InstanceState::running) {
      instance.reason = change->health == Health::unhealthy ? "unhealthy: " + words : "";
      report(instance);  // the state and its start stay: uptime counts from the start
    }
    if (change->restart && instance.process_live) {
      instance.unhealthy_restart = "unhealthy: " + words;
      request_stop(instance);
    }
  }

  // An exec check to run inside the instance goes to the worker of its provider, if the
  // instance still runs; otherwise the checker hears at once that it failed.
  void forward_exec_check(const ProviderExecCheck& check) {
    auto found = instances_.find(check.key);
    if (found != instances_.end() && found->second.process_live && !found->second.stop_requested) {
      if (auto worker = workers_.find(found->second.provider); worker != workers_.end()) {
        send_internal(worker->second, check);
        return;
      }
    }
    send_internal(health_, ProviderExecCheckResult{check.token, check.key, false, "the instance is not running"});
  }

  // "http: connection refused (3 in a row)"
  static std::string describe_check(const CheckResult& result) {
    std::string text = result.name + ": " + (result.output.empty() ? (result.passed ? "passed" : "failed") : result.output);
    if (result.in_a_row > 1) text += " (" + std::to_string(result.in_a_row) + " in a row)";
    return text;
  }

  // ---- requests: logs ------------------------------------------------------------------

  void handle_request(const Routed& request) {
    const auto* logs = std::get_if<LogsRequest>(&request.envelope.body);
    if (logs == nullptr) {
      reply_to(io_, request, ErrorReply{Errc::unknown_type, "the supervisor answers logs only"});
      return;
    }
    auto service = services_.find(logs->service);
    if (service == services_.end()) {
      reply_to(io_, request,
               ErrorReply{Errc::not_found, "service \"" + logs->service +
                                               "\" does not run here (mob-tool status lists the services)"});
      return;
    }
    const ServiceSpec& spec = service->second.spec;
    if (logs->instance >= 0 && static_cast<std::uint32_t>(logs->instance) >= spec.instances) {
      reply_to(io_, request,
               ErrorReply{Errc::invalid_argument,
                          "instance " + std::to_string(logs->instance) + " does not exist; " +
                              logs->service + " has " + std::to_string(spec.instances) +
                              " instance(s), numbered from 0"});
      return;
    }
    auto worker = workers_.find(spec.provider);
    if (worker == workers_.end()) {
      reply_to(io_, request, LogsReply{logs->service, {}});
      return;
    }
    ProviderLogsRequest forward{{}, logs->tail_lines, logs->from_offset, logs->offset};
    for (std::uint32_t index = 0; index < spec.instances; ++index)
      if (logs->instance < 0 || static_cast<std::uint32_t>(logs->instance) == index)
        forward.keys.push_back(InstanceId{logs->service, index}.key());
    send_internal(worker->second, std::move(forward), request.route, request.envelope.request_id);
  }

  // ---- shutdown ------------------------------------------------------------------------

  void handle_control(const ControlBody& message) {
    const auto* shutdown = std::get_if<ShutdownRequest>(&message);
    if (!shutdown) return;
    if (shutdown->now && !workers_told_) {
      // A second signal: the workers kill what is left with SIGKILL (stop_all, no grace).
      log::warn(kSupervisorLog, "killing every instance left at once");
      for (auto& [name, worker] : workers_) send_control(worker, ShutdownRequest{true});
      send_control(health_, ShutdownRequest{true});
      workers_told_ = true;
    }
    if (shutting_down_) return;
    shutting_down_ = true;
    std::uint32_t longest = 0;
    for (auto& [key, instance] : instances_) {
      cancel_restart(instance);
      if (instance.process_live) {
        longest = std::max(longest, instance.stop_timeout_ms);
        if (!instance.stop_requested) request_stop(instance);
      }
    }
    shutdown_deadline_ = time_.steady_now() + std::chrono::milliseconds(longest) + std::chrono::seconds(3);
    log::info(kSupervisorLog, "stopping every instance before exit");
  }

 public:
  // The supervisor's loop failed: the workers stop every instance themselves (each worker
  // ends after its ShutdownRequest), so no service outlives the agent.
  void stop_workers_now() noexcept {
    for (auto& [name, worker] : workers_) send_control(worker, ShutdownRequest{});
    send_control(health_, ShutdownRequest{});
  }

 private:
  void advance_shutdown() {
    bool any_live = std::any_of(instances_.begin(), instances_.end(),
                                [](const auto& entry) { return entry.second.process_live; });
    if (!workers_told_ && (!any_live || time_.steady_now() >= shutdown_deadline_)) {
      if (any_live) log::warn(kSupervisorLog, "instances still stopping at the deadline; forcing them");
      for (auto& [name, worker] : workers_) send_control(worker, ShutdownRequest{});
      send_control(health_, ShutdownRequest{});
      workers_told_ = true;
    }
    if (workers_told_ && workers_done_ >= workers_.size() && health_done_) {
      send_control(control_, ShutdownDone{});
      finished_ = true;
    }
  }

  SupervisorConfig config_;
  const TimeSource& time_ = config_.time ? *config_.time : system_time();
  StepGuard guard_{"supervisor"};
  zmq::socket_t store_;
  zmq::socket_t io_;
  zmq::socket_t control_;
  std::map<std::string, zmq::socket_t> workers_;
  zmq::socket_t health_;
  bool health_done_ = false;
  std::map<std::string, Service> services_;
  std::map<std::string, Instance> instances_;
  // When the instances waiting out a restart backoff are due, earliest first.
  std::set<std::pair<Clock::time_point, std::string>> restarts_due_;
  bool shutting_down_ = false;
  bool workers_told_ = false;
  std::size_t workers_done_ = 0;
  bool finished_ = false;
  Clock::time_point shutdown_deadline_;
};

SupervisorLoop::SupervisorLoop(SupervisorConfig config, zmq::socket_t store, zmq::socket_t io,
                               zmq::socket_t control, std::map<std::string, zmq::socket_t> workers,
                               zmq::socket_t health)
    : supervisor_(std::make_unique<Supervisor>(std::move(config), std::move(store), std::move(io),
                                               std::move(control), std::move(workers), std::move(health))) {}

SupervisorLoop::~SupervisorLoop() = default;

bool SupervisorLoop::turn(std::chrono::milliseconds wait) { return supervisor_->turn(wait); }

void run_supervisor(ActorStartup& startup, SupervisorConfig config, zmq::socket_t store, zmq::socket_t io,
                    zmq::socket_t control, std::map<std::string, zmq::socket_t> workers,
                    zmq::socket_t health) {
  Supervisor supervisor(std::move(config), std::move(store), std::move(io), std::move(control),
                        std::move(workers), std::move(health));
  startup.ready();
  try {
    supervisor.run();
  } catch (...) {
    supervisor.stop_workers_now();
    throw;
  }
}

}  // namespace mob
