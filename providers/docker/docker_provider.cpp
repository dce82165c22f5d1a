#include "providers/docker/docker_provider.hpp"

#include <poll.h>

#include <cstdlib>
#include <map>
#include <unordered_map>
#include <utility>

#include "bus/instance_id.hpp"
#include "bus/log.hpp"
#include "providers/docker/docker_client.hpp"
#include "providers/docker/docker_logs.hpp"
#include "providers/docker/docker_params.hpp"
#include "providers/docker/docker_testing.hpp"

namespace mob {
namespace docker {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kComponent = "docker";
constexpr auto kRequestTimeout = 10s;
constexpr auto kCreateTimeout = 30s;
constexpr auto kRemoveTimeout = 30s;
constexpr auto kPullTimeout = 15min;  // a large image over a slow link
constexpr auto kPingTimeout = 2s;
constexpr auto kLogsTimeout = 20s;
constexpr auto kAvailabilityRecheck = 2s;
constexpr auto kStopMargin = 30s;  // beyond the grace period: the engine kills, then answers

// The requests of an instance's life, in order. Each completion carries its step.
enum class Step : std::uint8_t {
  inspect_image, pull, remove_stale, create, start, inspect, wait, stop, remove, signal
};

enum class Phase : std::uint8_t {
  starting,  // the start steps are in flight
  running,   // started; its wait is in flight
  exited,    // the container ended on its own and is kept for its logs
  stopping,  // the stop steps are in flight
};

struct Instance {
  std::uint64_t generation = 0;
  std::string service;
  std::uint32_t index = 0;
  std::string name;
  std::string id;  // once created
  DockerParams params;
  Phase phase = Phase::starting;
  bool stop_requested = false;
  std::chrono::milliseconds grace{0};
  std::optional<std::int64_t> exit_status;  // from the wait, if it ended

  // Requests address the container by id once it has one: a name can be reused.
  const std::string& ref() const { return id.empty() ? name : id; }
};

struct PendingRequest {
  std::string key;
  std::uint64_t generation = 0;
  Step step = Step::inspect_image;
};

// The requests of an exec health check, in order: make the exec, run it to its end (the
// answer streams its output), read its exit code.
enum class ExecStep : std::uint8_t { create, start, inspect };

// An exec health check in flight, by the checker's token.
struct ExecCheckRun {
  ProviderExecCheck check;
  Clock::time_point deadline;
  ExecStep step = ExecStep::create;
  std::string exec_id;
  std::string output;  // demultiplexed stdout and stderr
};

ProviderEvent make_event(const std::string& key, ProviderEventKind kind) {
  ProviderEvent event;
  event.key = key;
  event.kind = kind;
  return event;
}

bool is_2xx(long status) { return status >= 200 && status < 300; }

// Docker reports a container killed by signal N as status 128+N, like a shell.
void set_exit_status(ProviderEvent& event, std::int64_t status) {
  event.exit_code = static_cast<std::int32_t>(status);
  if (status > 128 && status <= 128 + 64) event.signal = static_cast<std::int32_t>(status - 128);
}

// POST /images/create answers 200 and streams progress; a failure is a JSON line with
// "error" (and "errorDetail.message").
std::optional<std::string> pull_error(const HttpResponse& response) {
  if (!is_2xx(response.status)) return engine_message(response);
  std::size_t from = 0;
  while (from < response.body.size()) {
    auto end = response.body.find('\n', from);
    if (end == std::string::npos) end = response.body.size();
    auto line = nlohmann::json::parse(response.body.substr(from, end - from), nullptr, false);
    from = end + 1;
    if (!line.is_object()) continue;
    auto detail = line.find("errorDetail");
    if (detail != line.end() && detail->is_object() && detail->contains("message") &&
        (*detail)["message"].is_string())
      return (*detail)["message"].get<std::string>();
    auto error = line.find("error");
    if (error != line.end() && error->is_string()) return error->get<std::string>();
  }
  return std::nullopt;
}

std::int64_t integer_field(const nlohmann::json& object, const char* name, std::int64_t fallback) {
  if (!object.is_object()) return fallback;
  auto found = object.find(name);
  return found != object.end() && found->is_number_integer() ? found->get<std::int64_t>() : fallback;
}

class DockerProvider final : public Provider {
 public:
  DockerProvider(const ProviderContext& context, std::string_view docker_host)
      : context_(context) {
    auto socket = engine_socket_from_docker_host(docker_host);
    if (!socket) {
      unavailable_message_ = socket.error().message + "; docker services will not run here";
      return;
    }
    endpoint_ = "unix://" + *socket;
    unavailable_message_ =
        "no container engine answers at " + endpoint_ +
        " (set DOCKER_HOST or start one: scripts/container-engine.sh start DIR); docker "
        "services will not run here until it does";
    client_ = std::make_unique<EngineClient>(*socket);
    transport_ = std::make_unique<EngineTransport>(*socket);
  }

  ~DockerProvider() override {
    if (!instances_.empty()) stop_all(0ms);
  }

  void reclaim_leftovers() override {
    if (!available()) return;
    const auto removed = remove_labelled_containers();
    if (removed > 0)
      log::info(kComponent, "removed ", removed, " container(s) an earlier life of agent ",
                context_.agent_id, " left");
  }

  void start(const LaunchRequest& request) override {
    if (!available()) return start_failed(request.key, unavailable_message_);
    auto params = parse_docker_params(request.params);
    if (!params) return start_failed(request.key, params.error().message);
    Instance instance;
    instance.generation = next_generation_++;
    instance.service = request.service;
    instance.index = request.index;
    instance.name = container_name(context_.agent_id, request.key);
    instance.params = std::move(*params);
    add_discovery(instance.params, request.env, request.ports);
    auto& stored = instances_[request.key] = std::move(instance);
    switch (stored.params.pull) {
      case PullPolicy::missing: return inspect_image(request.key, stored);
      case PullPolicy::always: return pull(request.key, stored);
      case PullPolicy::never: return remove_stale(request.key, stored);
    }
  }

  void stop(const std::string& key, std::chrono::milliseconds grace) override {
    auto found = instances_.find(key);
    if (found == instances_.end()) {
      // Not ours (any more): make sure no container of that name is left, then report.
      Instance instance;
      instance.generation = next_generation_++;
      instance.name = container_name(context_.agent_id, key);
      instance.phase = Phase::exited;  // nothing in flight
      found = instances_.emplace(key, std::move(instance)).first;
    }
    Instance& instance = found->second;
    if (instance.stop_requested) return;
    instance.stop_requested = true;
    instance.grace = grace;
    // A start step in flight goes on; its completion turns to stopping.
    if (instance.phase != Phase::starting) begin_stop(key, instance);
  }

  void signal(const std::string& key, int signal_number) override {
    auto found = instances_.find(key);
    if (!transport_ || found == instances_.end() || found->second.phase != Phase::running ||
        found->second.stop_requested)
      return;
    submit(key, found->second, Step::signal,
           {Method::post, "/containers/" + found->second.ref() + "/kill?signal=" + std::to_string(signal_number), "",
            kRequestTimeout});
  }

  std::vector<int> watched_fds() override {
    if (!transport_) return {};
    return {transport_->ready_fd()};
  }

  std::optional<Clock::time_point> next_deadline() override {
    if (!events_.empty() || !exec_results_.empty()) return time_.steady_now();
    return std::nullopt;
  }

  void start_exec_check(const ProviderExecCheck& check) override {
    auto found = instances_.find(check.key);
    if (!transport_ || found == instances_.end() || found->second.phase != Phase::running ||
        found->second.stop_requested)
      return finish_exec_check(check, false, "container of " + check.key + " is not running");
    ExecCheckRun run{check, time_.steady_now() + std::chrono::milliseconds(check.timeout_ms),
                     ExecStep::create, "", ""};
    const nlohmann::json body = {{"AttachStdout", true},
                                 {"AttachStderr", true},
                                 {"Cmd", {"/bin/sh", "-c", check.command}}};
    auto& stored = exec_checks_[check.token] = std::move(run);
    submit_exec(stored, {Method::post, "/containers/" + found->second.id + "/exec", body.dump(),
                         time_left(stored)});
  }

  std::vector<ProviderExecCheckResult> take_exec_results() override {
    return std::exchange(exec_results_, {});
  }

  std::vector<ProviderEvent> poll() override {
    drain_completions();
    return std::exchange(events_, {});
  }

  LogChunk read_logs(const std::string& key, std::uint32_t tail_lines, bool from_offset,
                     std::uint64_t offset) override {
    LogChunk chunk;
    if (auto id = InstanceId::from_key(key)) chunk.instance = id->index;
    chunk.node = context_.agent_name;
    chunk.next_offset = offset;
    if (!client_) return chunk;
    auto found = instances_.find(key);
    const std::string ref =
        found != instances_.end() ? found->second.ref() : container_name(context_.agent_id, key);
    auto selection = read_log_selection(ref, tail_lines, from_offset, offset);
    if (selection && selection->offset_past_end)  // a new container for the key: start over
      selection = read_log_selection(ref, tail_lines, from_offset, 0);
    if (!selection) {
      if (selection.error().code != Errc::not_found)
        log::warn(kComponent, log::about_instance(key), "reading the logs of ", key, ": ", selection.error().message);
      return chunk;
    }
    chunk.data = std::move(selection->data);
    chunk.next_offset = selection->next_offset;
    return chunk;
  }

  bool available() override {
    if (!client_) {
      if (!warned_unavailable_) log::warn(kComponent, unavailable_message_);
      warned_unavailable_ = true;
      return false;
    }
    const auto now = time_.steady_now();
    if (available_.has_value() && now < next_check_) return *available_;
    auto pong = client_->send({Method::get, "/_ping", "", kPingTimeout});
    const bool up = pong && pong->status == 200;
    next_check_ = now + kAvailabilityRecheck;
    if (up && available_ != true) {
      log::info(kComponent, "container engine answers at ", endpoint_);
      warned_unavailable_ = false;
    }
    if (!up && !warned_unavailable_) {
      log::warn(kComponent, unavailable_message_);
      warned_unavailable_ = true;
    }
    available_ = up;
    return up;
  }

  void stop_all(std::chrono::milliseconds grace) override {
    if (!transport_) return;
    for (auto& [key, instance] : instances_) {
      if (instance.stop_requested) continue;
      instance.stop_requested = true;
      instance.grace = grace;
      if (instance.phase != Phase::starting) begin_stop(key, instance);
    }
    const auto deadline = time_.steady_now() + grace + kStopMargin + kRemoveTimeout;
    while (!instances_.empty() && time_.steady_now() < deadline) {
      pollfd ready{transport_->ready_fd(), POLLIN, 0};
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - time_.steady_now());
      ::poll(&ready, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
      drain_completions();
    }
    if (!instances_.empty())
      log::warn(kComponent, instances_.size(),
                " container(s) did not stop in time; removing them by force");
    // Whatever is left, tracked or not, goes: nothing of this agent keeps running.
    if (available()) remove_labelled_containers();
    instances_.clear();
    exec_checks_.clear();
    exec_requests_.clear();
  }

 private:
  // ---- requests ------------------------------------------------------------------------

  void submit(const std::string& key, const Instance& instance, Step step, HttpRequest request) {
    const std::uint64_t token = next_token_++;
    pending_.emplace(token, PendingRequest{key, instance.generation, step});
    transport_->submit(token, std::move(request));
  }

  void inspect_image(const std::string& key, const Instance& instance) {
    submit(key, instance, Step::inspect_image,
           {Method::get, "/images/" + instance.params.image + "/json", "", kRequestTimeout});
  }

  void pull(const std::string& key, const Instance& instance) {
    auto [repo, tag] = split_image_reference(instance.params.image);
    std::string path = "/images/create?fromImage=" + url_encode(repo);
    if (!tag.empty()) path += "&tag=" + url_encode(tag);
    HttpRequest request{Method::post, std::move(path), "", kPullTimeout};
    request.keep_tail = true;
    submit(key, instance, Step::pull, std::move(request));
  }

  void remove_stale(const std::string& key, const Instance& instance) {
    submit(key, instance, Step::remove_stale,
           {Method::del, "/containers/" + instance.name + "?force=1", "", kRemoveTimeout});
  }

  void create(const std::string& key, const Instance& instance) {
    InstanceLabels labels{context_.agent_id, instance.service, instance.index};
    submit(key, instance, Step::create,
           {Method::post, "/containers/create?name=" + url_encode(instance.name),
            container_create_body(instance.params, labels).dump(), kCreateTimeout});
  }

  void begin_stop(const std::string& key, Instance& instance) {
    instance.phase = Phase::stopping;
    const auto seconds = (instance.grace.count() + 999) / 1000;
    submit(key, instance, Step::stop,
           {Method::post, "/containers/" + instance.ref() + "/stop?t=" + std::to_string(seconds),
            "", instance.grace + kStopMargin});
  }

  // ---- exec health checks ---------------------------------------------------------------

  std::chrono::milliseconds time_left(const ExecCheckRun& run) const {
    // At least 1 ms: a timeout of 0 means no limit to the transport.
    return std::max(std::chrono::milliseconds(1),
                    std::chrono::duration_cast<std::chrono::milliseconds>(run.deadline - time_.steady_now()));
  }

  void submit_exec(const ExecCheckRun& run, HttpRequest request) {
    const std::uint64_t token = next_token_++;
    exec_requests_.emplace(token, run.check.token);
    transport_->submit(token, std::move(request));
  }

  void finish_exec_check(const ProviderExecCheck& check, bool passed, std::string output) {
    exec_results_.push_back(ProviderExecCheckResult{check.token, check.key, passed, std::move(output)});
    exec_checks_.erase(check.token);
  }

  void on_exec_completion(ExecCheckRun& run, const Result<HttpResponse>& response) {
    const ProviderExecCheck check = run.check;
    if (!response) {
      if (response.error().code == Errc::timeout)
        return finish_exec_check(check, false, tail_of(run.output) + (run.output.empty() ? "" : " ") +
                                                   "(timed out after " + std::to_string(check.timeout_ms) + " ms)");
      return finish_exec_check(check, false, "the container engine: " + response.error().message);
    }
    switch (run.step) {
      case ExecStep::create: {
        auto created = nlohmann::json::parse(response->body, nullptr, false);
        if (response->status != 201 || !created.is_object() || !created.contains("Id") ||
            !created["Id"].is_string())
          return finish_exec_check(check, false, "could not run in the container: " + engine_message(*response));
        run.exec_id = created["Id"].get<std::string>();
        run.step = ExecStep::start;
        return submit_exec(run, {Method::post, "/exec/" + run.exec_id + "/start",
                                 nlohmann::json{{"Detach", false}, {"Tty", false}}.dump(), time_left(run)});
      }
      case ExecStep::start: {
        if (!is_2xx(response->status))
          return finish_exec_check(check, false, "could not run in the container: " + engine_message(*response));
        LogDemuxer demuxer;
        demuxer.feed(response->body, [&](std::string_view payload) { run.output.append(payload); });
        run.step = ExecStep::inspect;
        return submit_exec(run, {Method::get, "/exec/" + run.exec_id + "/json", "", time_left(run)});
      }
      case ExecStep::inspect: {
        auto inspected = nlohmann::json::parse(response->body, nullptr, false);
        const std::int64_t exit_code = response->status == 200 ? integer_field(inspected, "ExitCode", -1) : -1;
        std::string output = tail_of(run.output);
        if (exit_code == 0) return finish_exec_check(check, true, std::move(output));
        const std::string how = exit_code < 0 ? "no exit code from the engine: " + engine_message(*response)
                                              : "exit code " + std::to_string(exit_code);
        return finish_exec_check(check, false, output.empty() ? how : output + " (" + how + ")");
      }
    }
  }

  // The end of a check's output that fits its result, without trailing blank lines.
  static std::string tail_of(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
    const std::size_t limit = kMaxCheckOutputBytes - 64;
    if (text.size() > limit) text = "..." + text.substr(text.size() - limit + 3);
    return text;
  }

  // ---- completions ---------------------------------------------------------------------

  void drain_completions() {
    if (!transport_) return;
    for (auto& completion : transport_->take_completions()) {
      if (auto exec = exec_requests_.find(completion.token); exec != exec_requests_.end()) {
        const std::uint64_t check_token = exec->second;
        exec_requests_.erase(exec);
        if (auto run = exec_checks_.find(check_token); run != exec_checks_.end())
          on_exec_completion(run->second, completion.response);
        continue;
      }
      auto pending = pending_.find(completion.token);
      if (pending == pending_.end()) continue;
      PendingRequest request = std::move(pending->second);
      pending_.erase(pending);
      auto found = instances_.find(request.key);
      if (found == instances_.end() || found->second.generation != request.generation)
        continue;  // an answer for an instance since replaced or forgotten
      if (!completion.response && completion.response.error().code == Errc::unavailable)
        next_check_ = time_.steady_now();  // re-check availability on the next call
      on_completion(request.key, found->second, request.step, completion.response);
    }
  }

  void on_completion(const std::string& key, Instance& instance, Step step,
                     const Result<HttpResponse>& response) {
    switch (step) {
      case Step::inspect_image:
      case Step::pull:
      case Step::remove_stale:
      case Step::create:
      case Step::start:
      case Step::inspect:
        return on_start_step(key, instance, step, response);
      case Step::wait:
        return on_wait(key, instance, response);
      case Step::stop:
        if (!response || (!is_2xx(response->status) && response->status != 304 &&
                          response->status != 404))
          log::warn(kComponent, "stopping ", instance.name, ": ", describe(response));
        return submit(key, instance, Step::remove,
                      {Method::del, "/containers/" + instance.ref() + "?force=1", "",
                       kRemoveTimeout});
      case Step::remove:
        return on_removed(key, instance, response);
      case Step::signal:
        if (!response || !is_2xx(response->status))
          log::warn(kComponent, "signalling ", instance.name, ": ", describe(response));
        return;
    }
  }

  void on_start_step(const std::string& key, Instance& instance, Step step,
                     const Result<HttpResponse>& response) {
    if (step == Step::create && response && response->status == 201) {
      auto created = nlohmann::json::parse(response->body, nullptr, false);
      if (created.is_object() && created.contains("Id") && created["Id"].is_string())
        instance.id = created["Id"].get<std::string>();
    }
    if (instance.stop_requested) return begin_stop(key, instance);
    if (!response) return start_failed(key, response.error().message);
    const auto& image = instance.params.image;
    const long status = response->status;
    switch (step) {
      case Step::inspect_image:
        if (status == 200) return remove_stale(key, instance);
        if (status == 404) return pull(key, instance);
        return start_failed(key, "checking image \"" + image + "\": " + engine_message(*response));
      case Step::pull:
        if (auto error = pull_error(*response)) {
          const std::string prefix = instance.params.pull == PullPolicy::missing
                                         ? "image \"" + image + "\" not found: "
                                         : "pulling image \"" + image + "\" failed: ";
          return start_failed(key, prefix + *error);
        }
        return remove_stale(key, instance);
      case Step::remove_stale:
        if (is_2xx(status) || status == 404) return create(key, instance);
        return start_failed(key, "removing the old container " + instance.name + ": " +
                                     engine_message(*response));
      case Step::create:
        if (status == 404)
          return start_failed(key, "image \"" + image + "\" not found: " + engine_message(*response));
        if (status != 201 || instance.id.empty())
          return start_failed(key, "creating container " + instance.name + ": " +
                                       engine_message(*response));
        return submit(key, instance, Step::start,
                      {Method::post, "/containers/" + instance.id + "/start", "", kCreateTimeout});
      case Step::start:
        if (!is_2xx(status) && status != 304) {
          const auto message = engine_message(*response);
          transport_->submit(next_token_++, {Method::del, "/containers/" + instance.id + "?force=1",
                                             "", kRemoveTimeout});
          return start_failed(key, "starting container " + instance.name + ": " + message);
        }
        return submit(key, instance, Step::inspect,
                      {Method::get, "/containers/" + instance.id + "/json", "", kRequestTimeout});
      case Step::inspect: {
        auto started = make_event(key, ProviderEventKind::started);
        if (status == 200) {
          auto inspected = nlohmann::json::parse(response->body, nullptr, false);
          started.pid = integer_field(inspected.is_object() ? inspected["State"] : nullptr,
                                      "Pid", 0);
        }
        events_.push_back(std::move(started));
        instance.phase = Phase::running;
        log::debug(kComponent, "started ", instance.name, " (", instance.params.image, ")");
        return submit(key, instance, Step::wait,
                      {Method::post, "/containers/" + instance.id + "/wait", "", 0ms});
      }
      default:
        return;
    }
  }

  void on_wait(const std::string& key, Instance& instance, const Result<HttpResponse>& response) {
    std::optional<std::int64_t> status;
    std::string problem;
    if (response && response->status == 200) {
      auto body = nlohmann::json::parse(response->body, nullptr, false);
      if (body.is_object() && body.contains("StatusCode") && body["StatusCode"].is_number_integer())
        status = body["StatusCode"].get<std::int64_t>();
      else
        problem = "the engine's wait answer has no StatusCode: " + response->body;
    } else {
      problem = describe(response);
    }
    if (instance.stop_requested) {
      instance.exit_status = status;
      return;
    }
    auto exited = make_event(key, ProviderEventKind::exited);
    if (status) {
      set_exit_status(exited, *status);
    } else {
      exited.message = "lost track of container " + instance.name + ": " + problem;
      log::warn(kComponent, exited.message);
    }
    instance.exit_status = status;
    instance.phase = Phase::exited;
    events_.push_back(std::move(exited));
  }

  void on_removed(const std::string& key, Instance& instance,
                  const Result<HttpResponse>& response) {
    auto stopped = make_event(key, ProviderEventKind::stopped);
    if (instance.exit_status) set_exit_status(stopped, *instance.exit_status);
    if (!response || (!is_2xx(response->status) && response->status != 404)) {
      stopped.message = "removing container " + instance.name + ": " + describe(response);
      log::warn(kComponent, stopped.message);
    }
    events_.push_back(std::move(stopped));
    instances_.erase(key);
  }

  void start_failed(const std::string& key, std::string message) {
    log::warn(kComponent, log::about_instance(key), "starting ", key, " failed: ", message);
    auto failed = make_event(key, ProviderEventKind::start_failed);
    failed.message = std::move(message);
    events_.push_back(std::move(failed));
    instances_.erase(key);
  }

  static std::string describe(const Result<HttpResponse>& response) {
    if (!response) return response.error().message;
    return engine_message(*response);
  }

  // ---- synchronous helpers (bounded) ---------------------------------------------------

  Result<LogSelector::Selection> read_log_selection(const std::string& ref, std::uint32_t tail_lines,
                                                    bool from_offset, std::uint64_t offset) {
    LogDemuxer demuxer;
    LogSelector selector(tail_lines, from_offset, offset);
    bool wanted = true;
    auto answer = client_->stream(
        {Method::get, "/containers/" + ref + "/logs?stdout=1&stderr=1", "", kLogsTimeout},
        [&](std::string_view bytes) {
          demuxer.feed(bytes, [&](std::string_view payload) {
            if (wanted) wanted = selector.consume(payload);
          });
          return wanted;
        });
    if (!answer) return std::unexpected(answer.error());
    if (answer->status == 404) return fail(Errc::not_found, engine_message(*answer));
    if (!is_2xx(answer->status)) return fail(Errc::io, engine_message(*answer));
    return std::move(selector).finish();
  }

  // Force-removes every container labelled with this agent's id; returns how many went.
  std::size_t remove_labelled_containers() {
    const std::string filters =
        nlohmann::json{{"label", {"mob.agent=" + context_.agent_id}}}.dump();
    auto listed = client_->send({Method::get, "/containers/json?all=1&filters=" + url_encode(filters),
                                 "", kRequestTimeout});
    if (!listed || listed->status != 200) {
      log::warn(kComponent, "listing the containers of agent ", context_.agent_id, ": ",
                describe(listed));
      return 0;
    }
    auto containers = nlohmann::json::parse(listed->body, nullptr, false);
    if (!containers.is_array()) return 0;
    std::size_t removed = 0;
    for (const auto& container : containers) {
      if (!container.is_object() || !container.contains("Id") || !container["Id"].is_string())
        continue;
      const auto id = container["Id"].get<std::string>();
      auto answer = client_->send({Method::del, "/containers/" + id + "?force=1", "", kRemoveTimeout});
      if (answer && (is_2xx(answer->status) || answer->status == 404)) {
        ++removed;
      } else {
        log::warn(kComponent, "removing container ", id, ": ", describe(answer));
      }
    }
    return removed;
  }

  ProviderContext context_;
  const TimeSource& time_ = context_.time ? *context_.time : system_time();
  std::string endpoint_;  // "unix:///path", for messages
  std::string unavailable_message_;
  std::unique_ptr<EngineClient> client_;        // null when DOCKER_HOST is unusable
  std::unique_ptr<EngineTransport> transport_;  // likewise
  std::map<std::string, Instance> instances_;   // by key
  std::unordered_map<std::uint64_t, PendingRequest> pending_;  // by request token
  std::uint64_t next_token_ = 1;
  std::uint64_t next_generation_ = 1;
  std::vector<ProviderEvent> events_;  // to hand out from the next poll()
  std::map<std::uint64_t, ExecCheckRun> exec_checks_;  // by the checker's token
  std::unordered_map<std::uint64_t, std::uint64_t> exec_requests_;  // request token -> check token
  std::vector<ProviderExecCheckResult> exec_results_;  // to hand out from take_exec_results()
  std::optional<bool> available_;      // unknown until the first check
  Clock::time_point next_check_{};
  bool warned_unavailable_ = false;
};

}  // namespace

std::unique_ptr<Provider> make_docker_provider_for(const ProviderContext& context,
                                                   std::string_view docker_host) {
  return std::make_unique<DockerProvider>(context, docker_host);
}

}  // namespace docker

std::unique_ptr<Provider> make_docker_provider(const ProviderContext& context) {
  const char* docker_host = std::getenv("DOCKER_HOST");
  return docker::make_docker_provider_for(context, docker_host != nullptr ? docker_host : "");
}

}  // namespace mob
