#include "tests/support/store_harness.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "agent/actor.hpp"
#include "agent/admission.hpp"
#include "agent/metrics.hpp"
#include "agent/service_archive.hpp"
#include "agent/store_transport.hpp"
#include "bus/codec.hpp"
#include "sim/instance_report.hpp"
#include "tests/support/process.hpp"

namespace mob::test {
namespace {

// More deliveries than this in one step means the stores keep answering each other forever.
constexpr std::size_t kMaxDeliveriesPerStep = 200'000;
constexpr std::string_view kGossipTopic = "gossip";
// Routes of requests: "client#N" for a test's own, "peer|FROM|ADDRESS" for a store's request
// to the agent at ADDRESS, so that the replies find their way back.
constexpr std::string_view kClientRoute = "client#";
constexpr std::string_view kPeerRoute = "peer|";

std::string envelope_bytes(const std::string& sender, std::uint64_t request_id, Body body) {
  return encode(Envelope{kProtocolVersion, request_id, sender, std::move(body)});
}

}  // namespace

// ---- FakeSupervisor ------------------------------------------------------------------------

FakeSupervisor::FakeSupervisor(std::string node, const TimeSource& time, std::int64_t& next_pid, Report report)
    : node_(std::move(node)), time_(time), next_pid_(next_pid), report_(std::move(report)) {}

void FakeSupervisor::on_store_message(const InternalBody& body) {
  if (const auto* assignment = std::get_if<ServiceAssignment>(&body)) {
    told_[assignment->name] = *assignment;
    reconcile(assignment->name);
  } else if (const auto* withdrawn = std::get_if<ServiceWithdrawn>(&body)) {
    told_.erase(withdrawn->name);
    reconcile(withdrawn->name);
  }
}

void FakeSupervisor::reconcile(const std::string& service) {
  auto told = told_.find(service);
  std::set<std::uint32_t> wanted;
  if (told != told_.end() && told->second.enabled && told->second.dependencies_ready)
    wanted = {told->second.instances.begin(), told->second.instances.end()};
  auto& copies = copies_[service];
  for (auto it = copies.begin(); it != copies.end();) {
    const auto& [index, copy] = *it;
    bool outdated = wanted.contains(index) &&
                    (copy.version != told->second.version || copy.spec_json != told->second.spec_json ||
                     copy.restart_generation != told->second.restart_generation);
    if (wanted.contains(index) && !outdated) {
      ++it;
      continue;
    }
    stopped_.push_back(service + "/" + std::to_string(index));
    report(service, index, copy, InstanceState::stopped);
    it = copies.erase(it);
  }
  for (auto index : wanted) {
    if (copies.contains(index)) continue;
    Copy copy{told->second.version, told->second.spec_json, told->second.restart_generation, ++next_pid_,
              !hold_starts_};
    report(service, index, copy, copy.running ? InstanceState::running : InstanceState::starting);
    copies.emplace(index, std::move(copy));
  }
}

void FakeSupervisor::release_starts() {
  hold_starts_ = false;
  for (auto& [service, copies] : copies_)
    for (auto& [index, copy] : copies) {
      if (copy.running) continue;
      copy.running = true;
      report(service, index, copy, InstanceState::running);
    }
}

void FakeSupervisor::forget_everything() {
  told_.clear();
  copies_.clear();
}

void FakeSupervisor::report(const std::string& service, std::uint32_t index, const Copy& copy,
                            InstanceState state) {
  report_(simulated_instance_status(service, index, node_, state, copy.pid, copy.version, time_));
}

const std::map<std::uint32_t, FakeSupervisor::Copy>& FakeSupervisor::copies(const std::string& service) const {
  static const std::map<std::uint32_t, Copy> none;
  auto found = copies_.find(service);
  return found == copies_.end() ? none : found->second;
}

const ServiceAssignment* FakeSupervisor::assignment(const std::string& service) const {
  auto found = told_.find(service);
  return found == told_.end() ? nullptr : &found->second;
}

// ---- one agent -----------------------------------------------------------------------------

// What a store sends goes to the harness, which queues it.
class StoreHarness::Link final : public StoreTransport {
 public:
  Link(StoreHarness& harness, Agent& agent) : harness_(harness), agent_(agent) {}
  void reply(const Routed& request, Body body) override { harness_.send_reply(agent_, request, std::move(body)); }
  void request(const std::string& address, Body body, bool) override {
    harness_.send_request(agent_, address, std::move(body));
  }
  void forget_peer(const std::string&) override {}
  void publish(std::string_view topic, const std::string& bytes) override {
    harness_.send_gossip(agent_, topic, bytes);
  }
  void subscribe(const std::string& pub_address) override;
  void unsubscribe(const std::string& pub_address) override;
  void to_supervisor(InternalBody body) override;
  void to_main(ControlBody) override {}

 private:
  StoreHarness& harness_;
  Agent& agent_;
};

struct StoreHarness::Agent {
  Agent(StoreHarness& harness, std::string agent_name, std::size_t number, const AgentOptions& options)
      : name(std::move(agent_name)),
        address("tcp://10.0.0." + std::to_string(number) + ":7000"),
        pub_address("tcp://10.0.0." + std::to_string(number) + ":7001"),
        time(harness.time_, options.clock_offset_ms),
        link(harness, *this),
        supervisor(name, time, harness.next_pid_, [&harness, this](InstanceStatus status) {
          harness.send_to_store(*this, InstanceReport{std::move(status)});
        }) {}

  std::string name;
  std::string address;
  std::string pub_address;
  TempDir dir;
  ShiftedTime time;
  Link link;
  FakeSupervisor supervisor;
  StoreConfig config;  // as first started
  std::set<std::string> subscriptions;  // pub addresses
  std::vector<Event> events;
  std::vector<GossipSent> gossip_sent;
  StepGuard guard{"store"};
  std::unique_ptr<PeerStore> store;  // last: made with `link` and `time`, and goes first
};

void StoreHarness::Link::subscribe(const std::string& pub_address) { agent_.subscriptions.insert(pub_address); }
void StoreHarness::Link::unsubscribe(const std::string& pub_address) { agent_.subscriptions.erase(pub_address); }
void StoreHarness::Link::to_supervisor(InternalBody body) { agent_.supervisor.on_store_message(body); }

// ---- the harness ---------------------------------------------------------------------------

StoreHarness::StoreHarness(std::uint64_t seed) : seed_(seed) {}

StoreHarness::~StoreHarness() {
  for (auto& agent : agents_) agent->store.reset();
}

void StoreHarness::add_agent(const std::string& name, AgentOptions options) {
  auto& agent = *agents_.emplace_back(std::make_unique<Agent>(*this, name, agents_.size() + 1, options));
  StoreConfig config;
  config.self.name = name;
  config.self.address = agent.address;
  config.self.pub_address = agent.pub_address;
  config.self.version = "test";
  config.data_dir = agent.dir.path();
  for (const auto& seed : options.join_through) config.seeds.push_back(this->agent(seed).address.substr(6));
  if (options.runs_bash) config.providers = {"bash"};
  config.reconnect_interval = options.reconnect_interval;
  config.tombstone_ttl = options.tombstone_ttl;
  config.max_services = options.max_services;
  config.time = &agent.time;
  config.seed = seed_ * 1000 + agents_.size();
  agent.config = std::move(config);
  start_store(agent);
}

void StoreHarness::start_store(Agent& agent) {
  auto archive = ServiceArchive::open(state_file(agent.name));
  if (!archive)
    throw std::runtime_error("cannot open " + state_file(agent.name).string() + ": " + archive.error().message);
  agent.store = std::make_unique<PeerStore>(agent.config, std::move(*archive), agent.link);
  agent.store->start();
  for (const auto& provider : agent.config.providers) send_to_store(agent, ProviderAvailability{provider, true});
  after_inputs(agent);
}

void StoreHarness::crash(const std::string& name) {
  Agent& down = agent(name);
  down.store.reset();
  down.subscriptions.clear();
  down.supervisor.forget_everything();
  std::erase_if(queue_, [&](const Delivery& delivery) { return delivery.to == name; });
}

void StoreHarness::restart(const std::string& name) {
  Agent& again = agent(name);
  if (again.store) throw std::logic_error(name + " is running");
  again.config.seeds.clear();
  again.config.seed = *again.config.seed + 1'000'000;
  start_store(again);
}

void StoreHarness::leave(const std::string& name) {
  Agent& leaving = agent(name);
  if (!leaving.store) throw std::logic_error(name + " is not running");
  leaving.store->on_main(AnnounceLeave{});
  after_inputs(leaving);
}

StoreHarness::Agent& StoreHarness::agent(const std::string& name) const {
  for (const auto& agent : agents_)
    if (agent->name == name) return *agent;
  throw std::invalid_argument("no agent named " + name);
}

StoreHarness::Agent* StoreHarness::agent_at(const std::string& address) const {
  for (const auto& agent : agents_)
    if (agent->address == address) return agent.get();
  return nullptr;
}

StoreHarness::Agent* StoreHarness::agent_with_pub(const std::string& pub_address) const {
  for (const auto& agent : agents_)
    if (agent->pub_address == pub_address) return agent.get();
  return nullptr;
}

void StoreHarness::wait_for_answers(const std::vector<std::string>& routes) {
  auto answered = [&] {
    return std::all_of(routes.begin(), routes.end(), [&](const std::string& route) {
      auto found = client_replies_.find(route);
      return found != client_replies_.end() && !found->second.empty();
    });
  };
  if (answered()) return;
  deliver_all();  // a write's copy to a peer, and the peer's answer, in no time
  run_until(answered, kClientPatience);
}

void StoreHarness::step() {
  time_.advance(kTick);
  for (auto& agent : agents_) after_inputs(*agent);
  deliver_all();
}

void StoreHarness::run_for(std::chrono::milliseconds duration) {
  for (auto end = time_.steady_now() + duration; time_.steady_now() < end;) step();
}

bool StoreHarness::run_until(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  for (auto end = time_.steady_now() + limit; !condition();) {
    if (time_.steady_now() >= end) return false;
    step();
  }
  return true;
}

void StoreHarness::after_inputs(Agent& agent) {
  if (agent.store) agent.store->after_inputs(agent.guard);
}

void StoreHarness::deliver_all() {
  for (std::size_t delivered = 0; !queue_.empty(); ++delivered) {
    if (delivered == kMaxDeliveriesPerStep)
      throw std::runtime_error("the stores kept sending for " + std::to_string(kMaxDeliveriesPerStep) +
                               " messages in one step");
    Delivery next = std::move(queue_.front());
    queue_.pop_front();
    deliver(next);
  }
}

void StoreHarness::deliver(const Delivery& delivery) {
  if (delivery.kind != Delivery::Kind::supervisor && blocked(delivery.from, delivery.to)) return;
  Agent& to = agent(delivery.to);
  if (!to.store) return;  // its process is down
  switch (delivery.kind) {
    case Delivery::Kind::request: {
      auto envelope = decode(delivery.frames.back());
      if (!envelope) throw std::runtime_error("a store sent an undecodable request: " + envelope.error().message);
      Routed request{delivery.route, std::move(*envelope)};
      // The door of a real agent (agent/io.cpp): a refused request gets an error, not the store.
      if (auto admitted = admit_request(request.envelope.body); !admitted) {
        ++refused_at_door_;
        send_reply(to, request, ErrorReply{admitted.error().code, admitted.error().message});
      } else {
        to.store->on_request(request);
      }
      break;
    }
    case Delivery::Kind::reply: to.store->on_peer_reply(delivery.from_address, delivery.frames); break;
    case Delivery::Kind::gossip: to.store->on_gossip(delivery.frames); break;
    case Delivery::Kind::supervisor:
      to.store->on_supervisor(delivery.body);
      break;
  }
  after_inputs(to);
}

bool StoreHarness::blocked(const std::string& from, const std::string& to) const {
  return blocked_.contains({from, to});
}

void StoreHarness::send_reply(Agent& from, const Routed& request, Body body) {
  if (request.route.starts_with(kClientRoute)) {
    client_replies_[request.route].push_back(std::move(body));
    return;
  }
  if (!request.route.starts_with(kPeerRoute)) throw std::logic_error("a reply with no route: " + request.route);
  auto rest = request.route.substr(kPeerRoute.size());
  auto bar = rest.find('|');
  queue_.push_back(Delivery{Delivery::Kind::reply, from.name, rest.substr(0, bar), {}, rest.substr(bar + 1),
                            {envelope_bytes(from.name, request.envelope.request_id, std::move(body))}, {}});
}

void StoreHarness::send_request(Agent& from, const std::string& address, Body body) {
  ++requests_sent_[body.index()];
  Agent* to = agent_at(address);
  if (!to) return;  // nobody listens there
  queue_.push_back(Delivery{Delivery::Kind::request, from.name, to->name,
                            std::string(kPeerRoute) + from.name + "|" + address, {},
                            {envelope_bytes(from.name, 0, std::move(body))}, {}});
}

void StoreHarness::send_gossip(Agent& from, std::string_view topic, const std::string& bytes) {
  if (!topic.starts_with(kGossipTopic)) {
    auto envelope = decode(bytes);
    if (envelope)
      if (auto* event = std::get_if<Event>(&envelope->body)) from.events.push_back(std::move(*event));
    return;  // subscribers read only gossip from a peer's PUB
  }
  if (auto envelope = decode(bytes))
    if (auto* gossip = std::get_if<Gossip>(&envelope->body))
      from.gossip_sent.push_back(GossipSent{time_.steady_now(), gossip->delta});
  for (const auto& agent : agents_)
    if (agent.get() != &from && agent->subscriptions.contains(from.pub_address))
      queue_.push_back(Delivery{Delivery::Kind::gossip, from.name, agent->name, {}, {},
                                {std::string(topic), bytes}, {}});
}

const std::vector<GossipSent>& StoreHarness::gossip_of(const std::string& name) const { return agent(name).gossip_sent; }

void StoreHarness::send_to_store(Agent& to, InternalBody body) {
  queue_.push_back(Delivery{Delivery::Kind::supervisor, to.name, to.name, {}, {}, {}, std::move(body)});
}

void StoreHarness::partition(const std::vector<std::string>& side_a, const std::vector<std::string>& side_b) {
  for (const auto& a : side_a)
    for (const auto& b : side_b) {
      blocked_.insert({a, b});
      blocked_.insert({b, a});
    }
}

void StoreHarness::isolate(const std::string& name) {
  std::vector<std::string> others;
  for (const auto& agent : agents_)
    if (agent->name != name) others.push_back(agent->name);
  partition({name}, others);
}

void StoreHarness::cut_one_way(const std::string& from, const std::string& to) { blocked_.insert({from, to}); }

void StoreHarness::heal() { blocked_.clear(); }

void StoreHarness::set_clock_offset(const std::string& name, std::int64_t offset_ms) {
  agent(name).time.set_offset_ms(offset_ms);
}

std::vector<Body> StoreHarness::ask(const std::string& name, Body request) {
  return ask_and_wait(name, std::move(request), std::chrono::milliseconds(0));
}

std::vector<Body> StoreHarness::ask_and_wait(const std::string& name, Body request, std::chrono::milliseconds wait) {
  Agent& to = agent(name);
  if (!to.store) return {};
  Routed routed = client_request(std::move(request));
  if (auto admitted = admit_request(routed.envelope.body); !admitted)
    return {ErrorReply{admitted.error().code, admitted.error().message}};
  to.store->on_request(routed);
  after_inputs(to);
  wait_for_answers({routed.route});
  run_for(wait);
  return std::move(take_replies({routed.route}).front());
}

std::vector<std::vector<Body>> StoreHarness::ask_at_once(std::vector<std::pair<std::string, Body>> requests) {
  std::vector<std::string> routes;
  for (auto& [name, request] : requests) {
    Routed routed = client_request(std::move(request));
    routes.push_back(routed.route);
    Agent& to = agent(name);
    if (!to.store) continue;
    if (auto admitted = admit_request(routed.envelope.body); !admitted) {
      client_replies_[routed.route].push_back(ErrorReply{admitted.error().code, admitted.error().message});
      continue;
    }
    to.store->on_request(routed);
    after_inputs(to);
  }
  wait_for_answers(routes);
  return take_replies(routes);
}

std::vector<std::vector<Body>> StoreHarness::ask_in_one_turn(const std::string& name, std::vector<Body> requests,
                                                             std::size_t* before_turn_end) {
  Agent& to = agent(name);
  std::vector<std::string> routes;
  for (auto& request : requests) {
    Routed routed = client_request(std::move(request));
    routes.push_back(routed.route);
    if (to.store) to.store->on_request(routed);
  }
  if (before_turn_end) {
    *before_turn_end = 0;
    for (const auto& route : routes)
      if (auto found = client_replies_.find(route); found != client_replies_.end()) *before_turn_end += found->second.size();
  }
  if (to.store) after_inputs(to);
  wait_for_answers(routes);
  return take_replies(routes);
}

Routed StoreHarness::client_request(Body request) {
  std::string route = std::string(kClientRoute) + std::to_string(++next_client_);
  auto envelope = decode(encode(Envelope{kProtocolVersion, next_client_, "client", std::move(request)}));
  if (!envelope) throw std::runtime_error("cannot decode a client request: " + envelope.error().message);
  return Routed{std::move(route), std::move(*envelope)};
}

std::vector<std::vector<Body>> StoreHarness::take_replies(const std::vector<std::string>& routes) {
  std::vector<std::vector<Body>> replies;
  for (const auto& route : routes) {
    replies.push_back(std::move(client_replies_[route]));
    client_replies_.erase(route);
  }
  return replies;
}

std::map<std::string, Member> StoreHarness::members_seen_by(const std::string& name) {
  std::map<std::string, Member> members;
  for (auto& reply : ask(name, MembersRequest{}))
    if (auto* list = std::get_if<MembersReply>(&reply))
      for (auto& member : list->members) members.emplace(member.name, std::move(member));
  return members;
}

double StoreHarness::metric_of(const std::string& name, const std::string& metric) const {
  Exposition out;
  agent(name).store->write_metrics(out);
  std::istringstream lines(out.text());
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(metric + " ", 0) == 0) return std::stod(line.substr(metric.size() + 1));
  return -1;
}

bool StoreHarness::all_see_all_alive() {
  for (const auto& viewer : agents_) {
    auto members = members_seen_by(viewer->name);
    for (const auto& agent : agents_) {
      auto member = members.find(agent->name);
      if (member == members.end() || member->second.state != MemberState::alive) return false;
    }
  }
  return true;
}

std::optional<ServiceStatus> StoreHarness::status_at(const std::string& name, const std::string& service) {
  for (auto& reply : ask(name, StatusRequest{service}))
    if (auto* status = std::get_if<StatusReply>(&reply); status && status->services.size() == 1)
      return std::move(status->services.front());
  return std::nullopt;
}

void StoreHarness::set_provider(const std::string& name, const std::string& provider, bool available) {
  send_to_store(agent(name), ProviderAvailability{provider, available});
}

FakeSupervisor& StoreHarness::supervisor(const std::string& name) { return agent(name).supervisor; }

std::uint64_t StoreHarness::specs_parsed(const std::string& name) const { return agent(name).store->specs_parsed(); }
std::size_t StoreHarness::specs_held(const std::string& name) const { return agent(name).store->specs_held(); }

std::filesystem::path StoreHarness::state_file(const std::string& name) const {
  return agent(name).dir.path() / "state.db";
}

std::map<std::uint32_t, std::vector<std::string>> StoreHarness::running_copies(const std::string& service) const {
  std::map<std::uint32_t, std::vector<std::string>> running;
  for (const auto& agent : agents_)
    for (const auto& [index, copy] : agent->supervisor.copies(service))
      if (copy.running) running[index].push_back(agent->name);
  return running;
}

const std::vector<Event>& StoreHarness::events_of(const std::string& name) const { return agent(name).events; }

}  // namespace mob::test
