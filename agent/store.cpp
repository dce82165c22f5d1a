#include "agent/store.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "agent/actor.hpp"
#include "agent/durable.hpp"
#include "bus/log.hpp"

namespace mob {
namespace {

constexpr std::string_view kLog = "store";

struct ServiceRecord {
  ServiceSpec spec;
  std::string spec_json;  // normalized
  std::uint64_t version = 0;
  bool enabled = true;
  std::uint64_t restart_generation = 0;
};

class Store {
 public:
  Store(StoreConfig config, zmq::socket_t io, zmq::socket_t supervisor, zmq::socket_t control)
      : config_(std::move(config)),
        io_(std::move(io)),
        supervisor_(std::move(supervisor)),
        control_(std::move(control)) {}

  void run() {
    load();
    for (const auto& [name, record] : services_) assign(record);
    while (!stopping_) {
      zmq::pollitem_t items[] = {{io_.handle(), 0, ZMQ_POLLIN, 0},
                                 {supervisor_.handle(), 0, ZMQ_POLLIN, 0},
                                 {control_.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 3, std::chrono::milliseconds(1000));
      while (auto message = receive_routed(io_)) handle_request(*message);
      while (auto message = receive_routed(supervisor_)) handle_supervisor(*message);
      while (auto message = receive_routed(control_)) {
        if (std::holds_alternative<ShutdownRequest>(message->envelope.body)) {
          stopping_ = true;
          reply_to(control_, *message, ShutdownDone{});
        }
      }
    }
  }

 private:
  std::filesystem::path services_dir() const { return config_.data_dir / "services"; }

  void load() {
    if (auto ok = ensure_private_dir(services_dir()); !ok) {
      log::error(kLog, ok.error().message);
      return;
    }
    for (const auto& entry : std::filesystem::directory_iterator(services_dir())) {
      if (entry.path().extension() != ".json") continue;
      auto loaded = load_record(entry.path());
      if (!loaded) {
        auto aside = entry.path();
        aside += ".corrupt";
        log::error(kLog, "ignoring ", entry.path().string(), ": ", loaded.error().message,
                   " (moved to ", aside.string(), ")");
        std::error_code ignored;
        std::filesystem::rename(entry.path(), aside, ignored);
        continue;
      }
      log::info(kLog, "restored service ", loaded->spec.name, " version ", loaded->version);
      services_[loaded->spec.name] = std::move(*loaded);
    }
  }

  Result<ServiceRecord> load_record(const std::filesystem::path& path) {
    auto text = read_whole_file(path);
    if (!text) return std::unexpected(text.error());
    auto doc = nlohmann::json::parse(*text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("spec"))
      return fail(Errc::malformed, "not a service record");
    auto spec = parse_spec(doc["spec"].dump(), config_.spec_limits);
    if (!spec) return std::unexpected(spec.error());
    ServiceRecord record;
    record.spec = std::move(*spec);
    record.spec_json = to_json(record.spec).dump();
    record.version = doc.value("version", std::uint64_t{1});
    record.enabled = doc.value("enabled", true);
    record.restart_generation = doc.value("restart_generation", std::uint64_t{0});
    return record;
  }

  Result<void> persist(const ServiceRecord& record) {
    nlohmann::json doc = {{"version", record.version},
                          {"enabled", record.enabled},
                          {"restart_generation", record.restart_generation},
                          {"spec", nlohmann::json::parse(record.spec_json)}};
    return write_file_atomically(services_dir() / (record.spec.name + ".json"), doc.dump(2));
  }

  // ---- requests from clients -----------------------------------------------------------

  void handle_request(const Routed& request) {
    std::visit(
        [&](const auto& body) {
          using T = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<T, PingRequest>) {
            reply_to(io_, request, PingReply{config_.self.name, MOB_VERSION, kProtocolVersion});
          } else if constexpr (std::is_same_v<T, DeployRequest>) {
            answer(request, deploy(body));
          } else if constexpr (std::is_same_v<T, StatusRequest>) {
            answer(request, status(body));
          } else if constexpr (std::is_same_v<T, ControlRequest>) {
            answer(request, control(body));
          } else if constexpr (std::is_same_v<T, MembersRequest>) {
            reply_to(io_, request, MembersReply{{config_.self}});
          } else {
            reply_to(io_, request,
                     ErrorReply{Errc::unknown_type, "the store does not answer " +
                                                        std::string(type_name(request.envelope.body))});
          }
        },
        request.envelope.body);
  }

  template <class Reply>
  void answer(const Routed& request, Result<Reply> result) {
    if (result) reply_to(io_, request, std::move(*result));
    else reply_to(io_, request, ErrorReply{result.error().code, result.error().message});
  }

  Result<DeployReply> deploy(const DeployRequest& request) {
    auto parsed = parse_spec(request.spec_json, config_.spec_limits);
    if (!parsed) return std::unexpected(parsed.error());
    ServiceSpec& spec = *parsed;
    for (const auto& dependency : spec.depends_on) {
      if (!services_.contains(dependency))
        return fail(Errc::invalid_argument,
                    "depends_on: service \"" + dependency +
                        "\" is not deployed; deploy it first, or remove it from depends_on");
    }
    if (auto cycle = find_cycle(spec); !cycle.empty())
      return fail(Errc::invalid_argument, "depends_on: dependency cycle " + cycle);
    auto existing = services_.find(spec.name);
    bool created = existing == services_.end();
    if (created && services_.size() >= config_.max_services)
      return fail(Errc::too_large, "the network already holds " +
                                       std::to_string(services_.size()) +
                                       " services, the limit (--max-services); remove some first");
    ServiceRecord record;
    record.spec_json = to_json(spec).dump();
    record.spec = std::move(spec);
    if (!created) {
      record.version = existing->second.version + 1;
      record.enabled = true;
      record.restart_generation = existing->second.restart_generation;
    } else {
      record.version = 1;
    }
    if (auto saved = persist(record); !saved) return std::unexpected(saved.error());
    const std::string name = record.spec.name;
    log::info(kLog, created ? "deployed " : "updated ", name, " version ", record.version);
    services_[name] = std::move(record);
    trim_instances(services_[name]);
    assign(services_[name]);
    return DeployReply{name, services_[name].version, created};
  }

  // Returns "a -> b -> a" when adding `spec` closes a cycle, else "".
  std::string find_cycle(const ServiceSpec& spec) const {
    auto dependencies_of = [&](const std::string& name) -> const std::vector<std::string>& {
      if (name == spec.name) return spec.depends_on;
      static const std::vector<std::string> none;
      auto found = services_.find(name);
      return found == services_.end() ? none : found->second.spec.depends_on;
    };
    std::vector<std::string> path{spec.name};
    std::set<std::string> done;
    std::function<bool(const std::string&)> visit = [&](const std::string& name) -> bool {
      for (const auto& next : dependencies_of(name)) {
        if (next == spec.name) {
          path.push_back(next);
          return true;
        }
        if (done.contains(next)) continue;
        path.push_back(next);
        if (visit(next)) return true;
        path.pop_back();
        done.insert(next);
      }
      return false;
    };
    if (!visit(spec.name)) return "";
    std::string text;
    for (const auto& name : path) text += (text.empty() ? "" : " -> ") + name;
    return text;
  }

  Result<StatusReply> status(const StatusRequest& request) const {
    StatusReply reply;
    for (const auto& [name, record] : services_) {
      if (!request.service.empty() && name != request.service) continue;
      reply.services.push_back(service_status(record));
    }
    if (!request.service.empty() && reply.services.empty())
      return fail(Errc::not_found, "service \"" + request.service +
                                       "\" is not deployed (mob-tool status lists the services)");
    return reply;
  }

  ServiceStatus service_status(const ServiceRecord& record) const {
    ServiceStatus out{record.spec.name, record.spec.provider, record.version,
                      record.spec.instances, record.enabled, record.spec_json, {}};
    for (std::uint32_t index = 0; index < record.spec.instances; ++index) {
      auto found = instances_.find({record.spec.name, index});
      if (found != instances_.end()) {
        out.instance_list.push_back(found->second);
      } else {
        InstanceStatus pending;
        pending.service = record.spec.name;
        pending.index = index;
        pending.state = InstanceState::pending;
        pending.reason = placement_problem(record.spec);
        pending.spec_version = record.version;
        out.instance_list.push_back(pending);
      }
    }
    return out;
  }

  Result<ControlReply> control(const ControlRequest& request) {
    auto found = services_.find(request.service);
    if (found == services_.end())
      return fail(Errc::not_found, "service \"" + request.service +
                                       "\" is not deployed (mob-tool status lists the services)");
    ServiceRecord& record = found->second;
    switch (request.action) {
      case ControlAction::stop: record.enabled = false; break;
      case ControlAction::start:
        record.enabled = true;
        if (any_instance_given_up(record.spec.name)) ++record.restart_generation;
        break;
      case ControlAction::restart:
        record.enabled = true;
        ++record.restart_generation;
        break;
      case ControlAction::remove: return remove(request.service);
      case ControlAction::count_: break;
    }
    if (auto saved = persist(record); !saved) return std::unexpected(saved.error());
    log::info(kLog, to_string(request.action), " ", request.service);
    assign(record);
    return ControlReply{request.service, record.version};
  }

  // Failed instances, and instances that exited for good, wait for a new generation.
  bool any_instance_given_up(const std::string& name) const {
    for (auto it = instances_.lower_bound({name, 0});
         it != instances_.end() && it->first.first == name; ++it) {
      auto state = it->second.state;
      if (state == InstanceState::failed || state == InstanceState::exited) return true;
    }
    return false;
  }

  Result<ControlReply> remove(const std::string& name) {
    std::string dependents;
    for (const auto& [other, record] : services_) {
      const auto& deps = record.spec.depends_on;
      if (std::find(deps.begin(), deps.end(), name) != deps.end())
        dependents += (dependents.empty() ? "" : ", ") + other;
    }
    if (!dependents.empty())
      return fail(Errc::conflict, "cannot remove \"" + name + "\": " + dependents +
                                      " depend on it; remove those first");
    std::error_code error;
    std::filesystem::remove(services_dir() / (name + ".json"), error);
    if (error)
      return fail(Errc::io, "cannot remove the stored spec of \"" + name + "\": " + error.message());
    std::uint64_t version = services_[name].version;
    services_.erase(name);
    std::erase_if(instances_, [&](const auto& entry) { return entry.first.first == name; });
    deps_ready_sent_.erase(name);
    send_body(supervisor_, ServiceWithdrawn{name});
    log::info(kLog, "removed ", name);
    return ControlReply{name, version};
  }

  // ---- placement (one agent: here, if it runs the provider) ------------------------------

  std::string placement_problem(const ServiceSpec& spec) const {
    const auto& mine = config_.self.providers;
    if (std::find(mine.begin(), mine.end(), spec.provider) == mine.end())
      return "no agent in the network runs provider \"" + spec.provider +
             "\" (start one with -P " + spec.provider + ")";
    for (const auto& [key, value] : spec.constraint_tags) {
      auto tag = config_.self.tags.find(key);
      if (tag == config_.self.tags.end() || tag->second != value)
        return "no agent matches constraint " + key + "=" + value;
    }
    return "";
  }

  bool dependencies_ready(const ServiceSpec& spec) const {
    for (const auto& dependency : spec.depends_on) {
      auto first = instances_.lower_bound({dependency, 0});
      bool running = false;
      for (auto it = first; it != instances_.end() && it->first.first == dependency; ++it)
        running = running || it->second.state == InstanceState::running;
      if (!running) return false;
    }
    return true;
  }

  void assign(const ServiceRecord& record) {
    ServiceAssignment assignment{record.spec.name, record.version, record.spec_json, {},
                                 record.enabled, record.restart_generation,
                                 dependencies_ready(record.spec)};
    if (placement_problem(record.spec).empty()) {
      for (std::uint32_t index = 0; index < record.spec.instances; ++index)
        assignment.instances.push_back(index);
    }
    deps_ready_sent_[record.spec.name] = assignment.dependencies_ready;
    send_body(supervisor_, std::move(assignment));
  }

  void trim_instances(const ServiceRecord& record) {
    std::erase_if(instances_, [&](const auto& entry) {
      return entry.first.first == record.spec.name && entry.first.second >= record.spec.instances;
    });
  }

  // ---- reports from the supervisor -------------------------------------------------------

  void handle_supervisor(const Routed& message) {
    const auto* report = std::get_if<InstanceReport>(&message.envelope.body);
    if (report == nullptr) return;
    const InstanceStatus& status = report->status;
    auto service = services_.find(status.service);
    if (service == services_.end() || status.index >= service->second.spec.instances) return;
    instances_[{status.service, status.index}] = status;
    instances_[{status.service, status.index}].node = config_.self.name;
    for (const auto& [name, record] : services_) {
      const auto& deps = record.spec.depends_on;
      if (std::find(deps.begin(), deps.end(), status.service) == deps.end()) continue;
      if (deps_ready_sent_[name] != dependencies_ready(record.spec)) assign(record);
    }
  }

  StoreConfig config_;
  zmq::socket_t io_;
  zmq::socket_t supervisor_;
  zmq::socket_t control_;
  bool stopping_ = false;
  std::map<std::string, ServiceRecord> services_;
  std::map<std::pair<std::string, std::uint32_t>, InstanceStatus> instances_;
  std::map<std::string, bool> deps_ready_sent_;
};

}  // namespace

void run_store(StoreConfig config, zmq::socket_t io, zmq::socket_t supervisor,
               zmq::socket_t control) {
  Store store(std::move(config), std::move(io), std::move(supervisor), std::move(control));
  store.run();
}

}  // namespace mob
