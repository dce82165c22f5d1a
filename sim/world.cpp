#include "sim/world.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <numeric>
#include <set>
#include <stdexcept>

#include "agent/actor.hpp"
#include "agent/service_archive.hpp"
#include "agent/store.hpp"
#include "agent/store_transport.hpp"
#include "agent/time_source.hpp"
#include "bus/codec.hpp"
#include "sim/instance_report.hpp"
#include "tools/rollout.hpp"

namespace mob::sim {
namespace {

constexpr std::string_view kGossipTopic = "gossip";
constexpr Micros kProcessingDelay = 500;                // from a message's arrival to its handling: a loop turn
constexpr Micros kLocalDelay = 100;                     // a client or the supervisor on the same host
constexpr Micros kStartDelay = 1 * kMillisecond;        // ProviderStart -> "starting"
constexpr Micros kRunDelay = 30 * kMillisecond;         // "starting" -> "running"
constexpr Micros kStopDelay = 2 * kMillisecond;         // ProviderStop -> "stopped"
constexpr std::size_t kMaxInbox = 100000;               // messages waiting for one agent
constexpr std::size_t kMemberRecordBound = 1024;        // encoded bytes per member, at most
constexpr std::size_t kInstanceRecordBound = 1024;      // encoded bytes per instance, at most
const auto kSteadyEpoch = std::chrono::hours(24);       // as ManualTime: "now - a period" stays >= 0
constexpr std::uint64_t kWallEpochMs = 1'800'000'000'000ULL;

// One agent's clocks: the world's virtual time; the wall clock off by the agent's skew.
class AgentClock final : public TimeSource {
 public:
  AgentClock(const Micros& now, const std::int64_t& skew_ms) : now_(now), skew_ms_(skew_ms) {}
  SteadyClock::time_point steady_now() const override {
    return SteadyClock::time_point(std::chrono::duration_cast<SteadyClock::duration>(
        kSteadyEpoch + std::chrono::microseconds(now_)));
  }
  std::uint64_t wall_ms() const override {
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(kWallEpochMs) + now_ / kMillisecond + skew_ms_);
  }

 private:
  const Micros& now_;
  const std::int64_t& skew_ms_;
};

// A message's encoded frames, shared by every copy of it in flight: one gossip goes to each of
// its publisher's readers, and at thousands of agents copies per reader were gigabytes.
using Frames = std::shared_ptr<const std::vector<std::string>>;

template <class... Parts>
Frames frames_of(Parts&&... parts) {
  auto frames = std::make_shared<std::vector<std::string>>();
  (frames->emplace_back(std::forward<Parts>(parts)), ...);
  return frames;
}

// One message waiting for an agent's store.
struct Input {
  enum class Kind : std::uint8_t { request, peer_reply, gossip, supervisor, subscription_lost };
  Kind kind = Kind::request;
  std::string route;    // request: who the reply goes to
  std::string address;  // peer_reply: the replier; subscription_lost: the PUB
  Frames frames;        // encoded envelopes (gossip: [topic, envelope]); none: subscription_lost
  const std::vector<std::string>& parts() const {
    static const std::vector<std::string> kNone;
    return frames ? *frames : kNone;
  }
};

// An instance the simulated supervisor "runs": a real process in the invariants' eyes.
struct SimInstance {
  InstanceState state = InstanceState::starting;
  std::uint64_t version = 0;
  std::uint64_t identity = 0;  // spec_identity of the spec it runs
  std::uint64_t restart_generation = 0;
  std::int64_t pid = 0;
};

Micros to_micros(TimeSource::SteadyClock::time_point point) {
  auto since = point.time_since_epoch() - std::chrono::duration_cast<TimeSource::SteadyClock::duration>(kSteadyEpoch);
  return std::chrono::duration_cast<std::chrono::microseconds>(since).count();
}

}  // namespace

struct World::Impl {
  struct Agent;

  WorldConfig config;
  std::mt19937_64 random;
  EventQueue queue;
  Micros now = 0;
  TraceHash trace;
  TrafficCounts traffic;
  Partitions partitions;
  LinkFaults link;
  std::vector<std::unique_ptr<Agent>> agents;
  std::map<std::string, int> by_address;
  std::map<std::string, int> by_pub_address;
  std::map<std::string, int> by_name;
  std::vector<std::set<int>> subscribers;  // by publisher: who reads its PUB
  std::vector<ClientWrite> writes;
  std::optional<Violation> continuous_violation;
  std::uint64_t instance_starts = 0;  // by every simulated supervisor
  std::uint64_t writes_answered = 0;

  // ---- one agent: its store, its transport, its supervisor -------------------------------
  struct Agent final : StoreTransport {
    Impl& world;
    const int index;
    const std::string name;
    const std::string address;
    const std::string pub_address;
    std::int64_t skew_ms = 0;
    AgentClock clock;
    std::unique_ptr<PeerStore> store;
    StepGuard guard{"store"};
    bool up = false;
    bool is_paused = false;
    std::uint64_t epoch = 0;  // +1 per process started: replies to an older one are lost
    std::deque<Input> inbox;
    bool run_pending = false;
    Micros run_at = 0;
    std::uint64_t run_token = 0;
    std::set<int> subscriptions;  // the publishers whose PUB it reads
    int data_generation = 0;
    std::optional<Body> captured;  // the answer to a query of the invariant checks
    std::map<std::pair<std::string, std::uint32_t>, SimInstance> instances;
    std::int64_t next_pid = 1;
    Micros sent_second = -1;      // the virtual second of its last message sent
    std::uint64_t sent_in_second = 0;  // messages it sent in that second

    Agent(Impl& w, int i)
        : world(w),
          index(i),
          name("a" + std::to_string(i)),
          address(endpoint(i, 7000)),
          pub_address(endpoint(i, 7001)),
          clock(w.now, skew_ms) {}

    static std::string host(int i) {
      return "10." + std::to_string((i >> 16) & 0xff) + "." + std::to_string((i >> 8) & 0xff) + "." +
             std::to_string(i & 0xff);
    }
    static std::string endpoint(int i, int port) { return "tcp://" + host(i) + ":" + std::to_string(port); }

    // ---- StoreTransport ---------------------------------------------------------------------
    void reply(const Routed& request, Body body) override {
      const std::string& route = request.route;
      if (route == "q") {
        captured = std::move(body);
        return;
      }
      auto bytes = encode(Envelope{kProtocolVersion, request.envelope.request_id, {}, std::move(body)});
      if (route.starts_with('c')) {
        world.client_reply(std::stoi(route.substr(1)), std::move(bytes));
        return;
      }
      if (route == "r") {  // a RebalanceRequest's answer: only traced
        world.rebalance_reply(std::move(bytes));
        return;
      }
      // "p<index>.<epoch>": the DEALER of that process of that agent.
      auto dot = route.find('.');
      int to = std::stoi(route.substr(1, dot - 1));
      std::uint64_t to_epoch = std::stoull(route.substr(dot + 1));
      world.send(index, to, Input{Input::Kind::peer_reply, {}, address, frames_of(std::move(bytes))}, false, to_epoch);
    }
    void request(const std::string& to_address, Body body, bool) override {
      auto to = world.by_address.find(to_address);
      if (to == world.by_address.end()) return;  // nobody listens there: the connection never forms
      auto bytes = encode(Envelope{kProtocolVersion, 0, name, std::move(body)});
      world.send(index, to->second,
                 Input{Input::Kind::request, "p" + std::to_string(index) + "." + std::to_string(epoch), {},
                       frames_of(std::move(bytes))},
                 false, std::nullopt);
    }
    void forget_peer(const std::string&) override {}
    void publish(std::string_view topic, const std::string& bytes) override {
      if (topic != kGossipTopic) {  // an event for subscribers outside the mesh
        world.trace.add(topic);
        return;
      }
      const Frames frames = frames_of(std::string(topic), bytes);
      for (int reader : world.subscribers[static_cast<std::size_t>(index)])
        world.send(index, reader, Input{Input::Kind::gossip, {}, {}, frames}, true,
                   std::nullopt);
    }
    void subscribe(const std::string& pub) override {
      auto publisher = world.by_pub_address.find(pub);
      if (publisher == world.by_pub_address.end()) return;
      world.subscribers[static_cast<std::size_t>(publisher->second)].insert(index);
      subscriptions.insert(publisher->second);
    }
    void unsubscribe(const std::string& pub) override {
      auto publisher = world.by_pub_address.find(pub);
      if (publisher == world.by_pub_address.end()) return;
      world.subscribers[static_cast<std::size_t>(publisher->second)].erase(index);
      subscriptions.erase(publisher->second);
    }
    void to_supervisor(InternalBody body) override { supervise(body); }
    void to_main(ControlBody) override {}

    // ---- the simulated supervisor ----------------------------------------------------------
    void supervise(const InternalBody& body) {
      if (const auto* assignment = std::get_if<ServiceAssignment>(&body)) {
        std::set<std::uint32_t> wanted;
        if (assignment->enabled && assignment->dependencies_ready)
          wanted.insert(assignment->instances.begin(), assignment->instances.end());
        stop_instances(assignment->name, wanted);
        const std::uint64_t identity = spec_identity(assignment->spec_json);
        for (std::uint32_t i : wanted) {
          auto found = instances.find({assignment->name, i});
          bool same = found != instances.end() && found->second.version == assignment->version &&
                      found->second.identity == identity &&
                      found->second.restart_generation == assignment->restart_generation;
          if (same) continue;
          start_instance(assignment->name, i, assignment->version, identity, assignment->restart_generation);
        }
      } else if (const auto* withdrawn = std::get_if<ServiceWithdrawn>(&body)) {
        stop_instances(withdrawn->name, {});
      }
    }

    void stop_instances(const std::string& service, const std::set<std::uint32_t>& keep) {
      for (auto it = instances.lower_bound({service, 0}); it != instances.end() && it->first.first == service;) {
        if (keep.contains(it->first.second)) {
          ++it;
          continue;
        }
        report_later(kStopDelay, service, it->first.second, InstanceState::stopped, it->second);
        it = instances.erase(it);
      }
    }

    void start_instance(const std::string& service, std::uint32_t index_in_service, std::uint64_t version,
                        std::uint64_t identity, std::uint64_t restart_generation) {
      SimInstance instance{InstanceState::starting, version, identity, restart_generation,
                           static_cast<std::int64_t>(index) * 1'000'000 + next_pid++};
      ++world.instance_starts;
      instances[{service, index_in_service}] = instance;
      report_later(kStartDelay, service, index_in_service, InstanceState::starting, instance);
      const std::uint64_t at_epoch = epoch;
      world.queue.schedule(world.now + kRunDelay, [this, service, index_in_service, pid = instance.pid, at_epoch] {
        auto found = instances.find({service, index_in_service});
        if (at_epoch != epoch || found == instances.end() || found->second.pid != pid) return;
        found->second.state = InstanceState::running;
        world.trace.add("running");
        world.trace.add(static_cast<std::uint64_t>(pid));
        report_now(service, index_in_service, InstanceState::running, found->second);
      });
    }

    void report_later(Micros delay, const std::string& service, std::uint32_t i, InstanceState state,
                      const SimInstance& instance) {
      const std::uint64_t at_epoch = epoch;
      world.queue.schedule(world.now + delay, [this, service, i, state, instance, at_epoch] {
        if (at_epoch == epoch) report_now(service, i, state, instance);
      });
    }

    void report_now(const std::string& service, std::uint32_t i, InstanceState state, const SimInstance& instance) {
      deliver_local(InstanceReport{
          simulated_instance_status(service, i, name, state, instance.pid, instance.version, clock)});
    }

    // A message from this agent's own supervisor: no network between them.
    void deliver_local(InternalBody body) {
      world.deliver(index, Input{Input::Kind::supervisor, {}, {}, frames_of(encode_internal(InternalEnvelope{0, std::move(body)}))},
                    epoch);
    }

    // ---- the loop: the inputs that arrived, then after_inputs, as run_store does -----------
    void run() {
      if (!up || is_paused) return;
      std::deque<Input> batch;
      batch.swap(inbox);
      for (auto& input : batch) dispatch(input);
      guard.run("after inputs", [&] { store->after_inputs(guard); });
      Micros next = std::min(to_micros(store->deadline()), world.now + 3600 * kSecond);
      world.request_run(index, std::max(next, world.now + kMillisecond));
      if (!world.continuous_violation) {
        if (subscriptions.size() > world.config.max_subscriptions)
          world.continuous_violation = Violation{"subscriptions-bounded", world.now,
                                                 name + " reads " + std::to_string(subscriptions.size()) + " PUBs"};
      }
    }

    void dispatch(const Input& input) {
      switch (input.kind) {
        case Input::Kind::request: {
          auto envelope = decode(input.parts().front());
          if (!envelope) return;
          Routed routed{input.route, std::move(*envelope)};
          guard.run("a request", [&] { store->on_request(routed); });
          return;
        }
        case Input::Kind::supervisor: {
          auto envelope = decode_internal(input.parts().front());
          if (!envelope) return;
          guard.run("a supervisor message", [&] { store->on_supervisor(envelope->body); });
          return;
        }
        case Input::Kind::peer_reply:
          guard.run("a peer's reply", [&] { store->on_peer_reply(input.address, input.parts()); });
          return;
        case Input::Kind::gossip:
          guard.run("gossip", [&] { store->on_gossip(input.parts()); });
          return;
        case Input::Kind::subscription_lost:
          guard.run("a lost subscription", [&] { store->on_subscription_lost(input.address); });
          return;
      }
    }

    // A question of the invariant checks, answered by the store at once.
    std::optional<Body> query(Body body) {
      if (!up) return std::nullopt;
      captured.reset();
      Routed request{"q", Envelope{kProtocolVersion, 0, "mob-sim", std::move(body)}};
      guard.run("a query", [&] { store->on_request(request); });
      return std::move(captured);
    }
  };

  explicit Impl(WorldConfig c) : config(std::move(c)), random(config.seed), link(config.link) {
    subscribers.resize(static_cast<std::size_t>(config.agents));
    for (int i = 0; i < config.agents; ++i) {
      agents.push_back(std::make_unique<Agent>(*this, i));
      by_address[agents.back()->address] = i;
      by_pub_address[agents.back()->pub_address] = i;
      by_name[agents.back()->name] = i;
    }
  }

  Agent& agent(int i) { return *agents.at(static_cast<std::size_t>(i)); }
  // What one agent may send in a virtual second, gossip to each reader and requests and
  // replies counted one by one: a join storm of 50 agents reaches about 650, a storm of
  // placements (an agent holding every peer unfit, 2026-12-04) thousands at 6 agents.
  std::uint64_t max_sent_per_second() const { return 500 + 40 * agents.size(); }
  std::vector<MemberState> view_of(int i);

  // A line of the story of the run, beside the agents' log lines (which carry wall time).
  void narrate(const std::string& what) {
    trace.add(what);
    if (config.narrate)
      std::fprintf(stderr, "[virtual %10.4f s] %s\n", static_cast<double>(now) / kSecond, what.c_str());
  }

  // One message from agent `from` to agent `to`, through the faults; `to_epoch` set: only
  // that process of `to` can take it (a reply on a DEALER that died with its process).
  void send(int from, int to, Input input, bool gossip, std::optional<std::uint64_t> to_epoch) {
    std::size_t bytes = 0;
    for (const auto& frame : input.parts()) bytes += frame.size();
    (gossip ? traffic.gossip_messages : traffic.peer_messages) += 1;
    (gossip ? traffic.gossip_bytes : traffic.peer_bytes) += bytes;
    Agent& sender = agent(from);
    if (now / kSecond != sender.sent_second) {
      sender.sent_second = now / kSecond;
      sender.sent_in_second = 0;
    }
    traffic.busiest_agent_second = std::max(traffic.busiest_agent_second, ++sender.sent_in_second);
    if (sender.sent_in_second > max_sent_per_second() && !continuous_violation)
      continuous_violation = Violation{"traffic-bounded", now, sender.name + " sent more than " +
                                                               std::to_string(max_sent_per_second()) +
                                                               " messages in one second"};
    if (partitions.blocked(from, to)) {
      ++traffic.dropped;
      return;
    }
    auto delays = delivery_delays(link, random);
    if (delays.empty()) ++traffic.dropped;
    for (std::size_t d = 0; d < delays.size(); ++d) {
      auto copy = d + 1 < delays.size() ? input : std::move(input);
      queue.schedule(now + delays[d], [this, to, copy = std::move(copy), to_epoch]() mutable {
        deliver(to, std::move(copy), to_epoch);
      });
    }
  }

  void deliver(int to, Input input, std::optional<std::uint64_t> to_epoch) {
    Agent& target = agent(to);
    if (!target.up || (to_epoch && *to_epoch != target.epoch)) return;
    trace.add(static_cast<std::uint64_t>(now));
    trace.add(static_cast<std::uint64_t>(to));
    trace.add(static_cast<std::uint64_t>(input.kind));
    for (const auto& frame : input.parts()) trace.add(frame);
    target.inbox.push_back(std::move(input));
    if (target.inbox.size() > kMaxInbox && !continuous_violation)
      continuous_violation = Violation{"inbox-bounded", now, target.name + " has " +
                                                                std::to_string(target.inbox.size()) +
                                                                " messages waiting"};
    if (!target.is_paused) request_run(to, now + kProcessingDelay);
  }

  // Agent `i` runs its loop at `at`, or earlier if it already will.
  void request_run(int i, Micros when) {
    Agent& a = agent(i);
    if (a.run_pending && a.run_at <= when) return;
    a.run_pending = true;
    a.run_at = when;
    const std::uint64_t token = ++a.run_token;
    queue.schedule(when, [this, i, token] {
      Agent& target = agent(i);
      if (token != target.run_token) return;
      target.run_pending = false;
      target.run();
    });
  }

  void rebalance_reply(std::string bytes) {
    queue.schedule(now + kLocalDelay, [this, bytes = std::move(bytes)] {
      trace.add(bytes);
      auto envelope = decode(bytes);
      if (!envelope) return;
      if (const auto* error = std::get_if<ErrorReply>(&envelope->body))
        narrate("client: rebalance refused: " + error->message);
      if (const auto* reply = std::get_if<RebalanceReply>(&envelope->body))
        narrate("client: rebalance of " + std::to_string(reply->services.size()) + " service(s) asked, " +
                std::to_string(reply->left) + " move(s) wanted");
    });
  }

  void client_reply(int write, std::string bytes) {
    queue.schedule(now + kLocalDelay, [this, write, bytes = std::move(bytes)] {
      trace.add(bytes);
      auto envelope = decode(bytes);
      if (!envelope) return;
      ClientWrite& w = writes.at(static_cast<std::size_t>(write));
      if (!w.answered && (std::holds_alternative<ErrorReply>(envelope->body) ||
                          std::holds_alternative<DeployReply>(envelope->body))) {
        w.answered = true;
        ++writes_answered;
      }
      if (const auto* error = std::get_if<ErrorReply>(&envelope->body))
        narrate("client: deploy " + std::to_string(write) + " refused: " + error->message);
      if (const auto* reply = std::get_if<DeployReply>(&envelope->body)) {
        w.acked = true;
        w.written_at = reply->written_at;
        w.agent = reply->agent;
        w.identity = reply->spec_identity;
        w.version = reply->version;
        w.copies = reply->copies;
        w.peers = reply->peers;
        for (const auto& agent : agents) {
          const ServiceEntry* held = agent->up ? agent->store->state().service(reply->service) : nullptr;
          if (agent->name == reply->agent ||
              (held && held->stamp.hlc == reply->written_at && held->stamp.origin == reply->agent))
            w.holders.emplace_back(agent->index, agent->data_generation);
        }
        narrate("client: deploy " + std::to_string(write) + " acknowledged: " + reply->service + " version " +
                std::to_string(reply->version) + " by " + reply->agent + " stamp " + std::to_string(reply->written_at) +
                ", " + std::to_string(reply->copies) + " cop" + (reply->copies == 1 ? "y" : "ies"));
      }
    });
  }
};

World::World(WorldConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
World::~World() = default;

int World::agents() const { return impl_->config.agents; }
Micros World::now() const { return impl_->now; }
std::mt19937_64& World::random() { return impl_->random; }
TraceHash& World::trace() { return impl_->trace; }
const TrafficCounts& World::traffic() const { return impl_->traffic; }

void World::at(Micros when, std::function<void()> action) { impl_->queue.schedule(when, std::move(action)); }

void World::run_until(Micros until) {
  auto& q = impl_->queue;
  while (!q.empty() && q.next_time() <= until) {
    auto [when, action] = q.pop();
    impl_->now = when;
    action();
  }
  impl_->now = until;
}

void World::start(int i, const std::vector<int>& seeds, bool fresh) {
  auto& a = impl_->agent(i);
  if (a.up) return;
  if (fresh || a.data_generation == 0) ++a.data_generation;
  auto dir = impl_->config.data_root / a.name / std::to_string(a.data_generation);
  std::filesystem::create_directories(dir);
  auto archive = ServiceArchive::open(dir / "state.db");
  if (!archive) throw std::runtime_error("mob-sim: cannot open " + dir.string() + ": " + archive.error().message);
  StoreConfig config;
  config.self.name = a.name;
  config.self.address = a.address;
  config.self.pub_address = a.pub_address;
  config.self.version = "sim";
  config.data_dir = dir;
  for (int s : seeds)
    if (s != i) config.seeds.push_back(Impl::Agent::host(s) + ":7000");
  config.providers = {"bash"};
  config.max_subscriptions = impl_->config.max_subscriptions;
  if (impl_->config.heartbeat_interval) config.heartbeat_interval = *impl_->config.heartbeat_interval;
  config.time = &a.clock;
  ++a.epoch;
  config.seed = derive_seed(impl_->config.seed, static_cast<std::uint64_t>(i) * 100000 + a.epoch);
  a.up = true;
  a.is_paused = false;
  a.store = std::make_unique<PeerStore>(std::move(config), std::move(*archive), a);
  impl_->narrate("start " + a.name + (seeds.empty() ? " (no -j)" : " joining through a" + std::to_string(seeds.front())) +
                 (fresh ? " with an empty data dir" : ""));
  a.guard.run("starting", [&] { a.store->start(); });
  // The provider worker's first word: bash runs here.
  const std::uint64_t at_epoch = a.epoch;
  at(now() + kStartDelay, [&a, at_epoch] {
    if (at_epoch == a.epoch) a.deliver_local(ProviderAvailability{"bash", true});
  });
  impl_->request_run(i, now() + kProcessingDelay);
}

void World::crash(int i) {
  auto& a = impl_->agent(i);
  if (!a.up) return;
  impl_->narrate("crash " + a.name);
  a.store.reset();
  a.up = false;
  a.is_paused = false;
  a.inbox.clear();
  a.run_pending = false;
  ++a.run_token;
  a.instances.clear();  // bash instances die with their agent (PR_SET_PDEATHSIG)
  for (int publisher : a.subscriptions) impl_->subscribers[static_cast<std::size_t>(publisher)].erase(i);
  a.subscriptions.clear();
  // The kernel closes the dead process's connections: its readers notice (through a
  // partition, nothing arrives).
  for (int reader : impl_->subscribers[static_cast<std::size_t>(i)]) {
    if (!impl_->agent(reader).up || impl_->partitions.blocked(i, reader)) continue;
    impl_->deliver(reader, Input{Input::Kind::subscription_lost, {}, a.pub_address, {}}, std::nullopt);
  }
}

void World::pause(int i) {
  auto& a = impl_->agent(i);
  if (!a.up) return;
  impl_->narrate("pause " + a.name);
  a.is_paused = true;
}

void World::resume(int i) {
  auto& a = impl_->agent(i);
  if (!a.up || !a.is_paused) return;
  impl_->narrate("resume " + a.name);
  a.is_paused = false;
  impl_->request_run(i, now() + kProcessingDelay);
}

void World::set_skew_ms(int i, std::int64_t skew_ms) {
  if (impl_->agent(i).skew_ms == skew_ms) return;
  impl_->narrate("skew " + name(i) + "'s wall clock by " + std::to_string(skew_ms) + " ms");
  impl_->agent(i).skew_ms = skew_ms;
}

bool World::up(int i) const { return impl_->agent(i).up; }
bool World::paused(int i) const { return impl_->agent(i).is_paused; }
std::string World::name(int i) const { return impl_->agent(i).name; }

void World::set_link(const LinkFaults& link) {
  impl_->narrate("link: loss " + std::to_string(link.loss) + ", duplication " + std::to_string(link.duplicate) +
                 ", reordering " + std::to_string(link.reorder));
  impl_->link = link;
}
const LinkFaults& World::link() const { return impl_->link; }
void World::cut(const std::vector<int>& from, const std::vector<int>& to, bool both_ways) {
  impl_->narrate("cut " + std::to_string(from.size()) + " agents (a" + std::to_string(from.front()) + "..) " +
                 (both_ways ? "from and to " : "to ") + std::to_string(to.size()) + " agents (a" +
                 std::to_string(to.front()) + "..)");
  impl_->partitions.cut(from, to, both_ways);
}
void World::heal() {
  if (impl_->partitions.whole()) return;
  impl_->narrate("heal the network");
  impl_->partitions.heal();
}

void World::deploy(int through, const std::string& service, const std::string& spec_json) {
  auto& writes = impl_->writes;
  const int write = static_cast<int>(writes.size());
  ClientWrite w;
  w.service = service;
  w.spec_json = spec_json;
  w.through = through;
  w.sent_at = now();
  writes.push_back(w);
  impl_->narrate("deploy " + service + " through " + name(through) + ": " + spec_json);
  auto bytes = encode(Envelope{kProtocolVersion, static_cast<std::uint64_t>(write) + 1, "mob-tool",
                               Body{DeployRequest{spec_json, "w" + std::to_string(write)}}});
  at(now() + kLocalDelay, [this, through, write, bytes = std::move(bytes)] {
    impl_->deliver(through, Input{Input::Kind::request, "c" + std::to_string(write), {}, frames_of(bytes)}, std::nullopt);
  });
}

void World::rebalance(int through, const std::string& service) {
  impl_->narrate("rebalance " + service + " through " + name(through));
  auto bytes = encode(Envelope{kProtocolVersion, 0, "mob-tool", Body{RebalanceRequest{service}}});
  at(now() + kLocalDelay, [this, through, bytes = std::move(bytes)] {
    impl_->deliver(through, Input{Input::Kind::request, "r", {}, frames_of(bytes)}, std::nullopt);
  });
}

const std::vector<ClientWrite>& World::writes() const { return impl_->writes; }

std::optional<Violation> World::check_continuous() const { return impl_->continuous_violation; }

namespace {
const char* state_name(MemberState state) { return to_string(state).data(); }
}  // namespace

// Agent i's view of the network, by agent index (MemberState::count_: not listed); empty
// when it does not answer. Indexed, not a map by name: the scale measurement asks every
// agent of thousands many times.
std::vector<MemberState> World::Impl::view_of(int i) {
  std::vector<MemberState> view;
  // The members as `mob-tool members` lists them (member_list: every record of the state),
  // read in place: a MembersRequest would copy every record, N^2 copies a poll at thousands
  // of agents for a check the run itself does not see.
  const Agent& a = agent(i);
  if (!a.up) return view;
  view.assign(agents.size(), MemberState::count_);
  for (const auto& [key, entry] : a.store->state().members())
    if (auto j = by_name.find(entry.member.name); j != by_name.end())
      view[static_cast<std::size_t>(j->second)] = entry.member.state;
  return view;
}

bool World::has_full_view(int i) {
  auto view = impl_->view_of(i);
  if (view.empty()) return false;
  for (int j = 0; j < agents(); ++j) {
    if (j == i || paused(j)) continue;
    bool alive = view[static_cast<std::size_t>(j)] == MemberState::alive;
    if (up(j) != alive) return false;
  }
  return true;
}

bool World::lists(int i, int target, MemberState state) {
  auto view = impl_->view_of(i);
  return !view.empty() && view[static_cast<std::size_t>(target)] == state;
}

bool World::lists_all_failed(int i, const std::vector<int>& others) {
  auto view = impl_->view_of(i);
  if (view.empty()) return false;
  for (int j : others)
    if (view[static_cast<std::size_t>(j)] != MemberState::failed) return false;
  return true;
}

int World::agents_with_full_view() {
  int full = 0;
  for (int i = 0; i < agents(); ++i)
    if (live(i) && has_full_view(i)) ++full;
  return full;
}

int World::agents_listing(int target, MemberState state) {
  int seeing = 0;
  for (int i = 0; i < agents(); ++i)
    if (live(i) && i != target && lists(i, target, state)) ++seeing;
  return seeing;
}

int World::agents_listing_all_failed(const std::vector<int>& side, const std::vector<int>& others) {
  int seeing = 0;
  for (int i : side)
    if (live(i) && lists_all_failed(i, others)) ++seeing;
  return seeing;
}

bool World::every_live(const std::vector<int>& among, const std::function<bool(int)>& holds) {
  if (among.empty()) return true;
  const std::size_t start = std::min(first_no_, among.size() - 1);
  for (std::size_t k = 0; k < among.size(); ++k) {
    const std::size_t at = (start + k) % among.size();
    const int i = among[at];
    if (!live(i) || holds(i)) continue;
    first_no_ = at;
    return false;
  }
  return true;
}

bool World::all_have_full_view() {
  std::vector<int> everyone(static_cast<std::size_t>(agents()));
  std::iota(everyone.begin(), everyone.end(), 0);
  return every_live(everyone, [&](int i) { return has_full_view(i); });
}

bool World::all_list(int target, MemberState state) {
  std::vector<int> others;
  for (int i = 0; i < agents(); ++i)
    if (i != target) others.push_back(i);
  return every_live(others, [&](int i) { return lists(i, target, state); });
}

bool World::all_list_all_failed(const std::vector<int>& side, const std::vector<int>& others) {
  return every_live(side, [&](int i) { return lists_all_failed(i, others); });
}

int World::agent_running(const std::string& service) const {
  for (const auto& a : impl_->agents) {
    if (!a->up) continue;
    auto it = a->instances.lower_bound({service, 0});
    if (it != a->instances.end() && it->first.first == service) return a->index;
  }
  return -1;
}

std::uint64_t World::instance_starts() const { return impl_->instance_starts; }

std::uint64_t World::running_instances() const {
  std::uint64_t running = 0;
  for (const auto& agent : impl_->agents) {
    if (!agent->up) continue;
    for (const auto& [key, instance] : agent->instances) running += instance.state == InstanceState::running ? 1 : 0;
  }
  return running;
}

std::uint64_t World::writes_answered() const { return impl_->writes_answered; }

std::uint64_t World::wanted_instances() {
  for (int i = 0; i < agents(); ++i) {
    if (!live(i)) continue;
    auto reply = impl_->agent(i).query(StatusRequest{});
    const auto* status = reply ? std::get_if<StatusReply>(&*reply) : nullptr;
    if (!status) return 0;
    std::uint64_t wanted = 0;
    for (const auto& service : status->services) wanted += service.enabled ? service.instances : 0;
    return wanted;
  }
  return 0;
}

std::optional<Violation> World::check_converged() {
  auto fail = [&](std::string invariant, std::string detail) {
    return Violation{std::move(invariant), now(), std::move(detail)};
  };
  std::vector<int> live_agents;
  for (int i = 0; i < agents(); ++i)
    if (live(i)) live_agents.push_back(i);
  if (live_agents.empty()) return std::nullopt;

  // Membership: one view, every live agent alive, every dead one not.
  for (int i : live_agents) {
    auto reply = impl_->agent(i).query(MembersRequest{});
    const auto* members = reply ? std::get_if<MembersReply>(&*reply) : nullptr;
    if (!members) return fail("membership-converges", name(i) + " does not answer MembersRequest");
    if (encode_message(*members).size() > kMemberRecordBound * static_cast<std::size_t>(agents() + 1))
      return fail("state-bounded", name(i) + "'s member list takes more than 1 KiB per agent");
    std::map<std::string, MemberState> view;
    for (const auto& m : members->members) view[m.name] = m.state;
    if (view.size() > static_cast<std::size_t>(agents()))
      return fail("state-bounded", name(i) + " lists " + std::to_string(view.size()) + " members of " +
                                       std::to_string(agents()));
    for (int j = 0; j < agents(); ++j) {
      if (j == i || paused(j)) continue;
      auto seen = view.find(name(j));
      std::string state = seen == view.end() ? "unknown" : state_name(seen->second);
      bool alive = seen != view.end() && seen->second == MemberState::alive;
      if (up(j) && !alive) return fail("membership-converges", name(i) + " sees live " + name(j) + " as " + state);
      if (!up(j) && alive) return fail("membership-converges", name(i) + " sees dead " + name(j) + " as alive");
    }
  }

  // The services as each live agent sees them.
  std::map<std::string, std::map<int, ServiceStatus>> services;  // name -> agent -> status
  for (int i : live_agents) {
    auto reply = impl_->agent(i).query(StatusRequest{});
    const auto* status = reply ? std::get_if<StatusReply>(&*reply) : nullptr;
    if (!status) return fail("one-spec", name(i) + " does not answer StatusRequest");
    for (const auto& service : status->services) {
      std::size_t bound = kInstanceRecordBound * (service.instance_list.size() + 8) + 2 * service.spec_json.size();
      if (encode_message(StatusReply{{service}}).size() > bound)
        return fail("state-bounded", name(i) + "'s status of " + service.name + " is larger than its bound");
      services[service.name][i] = service;
    }
  }
  for (const auto& [service, views] : services) {
    const ServiceStatus& first = views.begin()->second;
    if (views.size() != live_agents.size())
      return fail("one-spec", service + " is known to " + std::to_string(views.size()) + " of " +
                                  std::to_string(live_agents.size()) + " live agents");
    for (const auto& [i, view] : views)
      if (view.version != first.version || spec_identity(view.spec_json) != spec_identity(first.spec_json) ||
          view.enabled != first.enabled)
        return fail("one-spec", service + ": " + name(views.begin()->first) + " has version " +
                                    std::to_string(first.version) + ", " + name(i) + " has version " +
                                    std::to_string(view.version) + " or another spec");
    // A rebalance asked for ends: its owner, whoever it is now, records it done.
    for (const auto& [i, view] : views)
      if (view.rebalance.starts_with("rebalancing"))
        return fail("rebalance-ends", service + " on " + name(i) + ": " + view.rebalance);
    // Nothing assigned to a dead agent.
    for (const auto& instance : first.instance_list) {
      auto node = impl_->by_name.find(instance.node);
      if (node == impl_->by_name.end()) continue;
      if (!up(node->second) && instance.state != InstanceState::stopped)
        return fail("nothing-on-dead-agents", service + "." + std::to_string(instance.index) + " is " +
                                                  std::string(to_string(instance.state)) + " on dead " + instance.node);
    }
    // Exactly `instances` real processes, all on the one spec.
    const std::uint64_t identity = spec_identity(first.spec_json);
    std::uint32_t wanted = first.enabled ? first.instances : 0;
    std::map<std::uint32_t, int> copies;
    for (const auto& a : impl_->agents) {
      if (!a->up) continue;
      for (auto it = a->instances.lower_bound({service, 0}); it != a->instances.end() && it->first.first == service; ++it) {
        if (it->second.state != InstanceState::running) continue;
        if (it->second.identity != identity)
          return fail("exactly-instances", service + "." + std::to_string(it->first.second) + " on " + a->name +
                                               " runs another spec than version " + std::to_string(first.version));
        ++copies[it->first.second];
      }
    }
    for (std::uint32_t index = 0; index < wanted; ++index)
      if (copies[index] != 1)
        return fail("exactly-instances", service + "." + std::to_string(index) + " runs " +
                                             std::to_string(copies[index]) + " times");
    for (const auto& [index, count] : copies)
      if (index >= wanted && count > 0)
        return fail("exactly-instances", service + "." + std::to_string(index) + " runs but the service has " +
                                             std::to_string(wanted) + " instances");
  }
  // No acknowledged write lost: the state holds the newest acked write, or a later one. A
  // write whose answer said that the agent that took it held it alone may be lost with that
  // agent: its writer was told. One that every agent holding it lost (each came back with an
  // empty data dir or not at all) is lost beyond what any number of copies could keep
  // (seed 737117 of 3 agents: two copies, one agent restarted empty, the other dead).
  for (const auto& w : impl_->writes) {
    if (!w.acked || w.told_held_alone()) continue;
    const bool a_holder_kept_it = std::any_of(w.holders.begin(), w.holders.end(), [&](const auto& holder) {
      const auto& agent = impl_->agent(holder.first);
      return agent.up && agent.data_generation == holder.second;
    });
    if (!a_holder_kept_it) continue;
    const std::string& service = w.service;
    auto views = services.find(service);
    if (views == services.end())
      return fail("acked-write-lost", "the acknowledged deploy of " + service + " through " + name(w.through) +
                                          " is in no live agent's state");
    const ServiceStatus& kept = views->second.begin()->second;
    bool later = kept.changed_at > w.written_at || (kept.changed_at == w.written_at && kept.origin > w.agent);
    bool same = kept.changed_at == w.written_at && kept.origin == w.agent && spec_identity(kept.spec_json) == w.identity;
    if (!later && !same)
      return fail("acked-write-lost", "the acknowledged deploy of " + service + " through " + name(w.through) +
                                          " (stamp " + std::to_string(w.written_at) + ") was replaced by an older write (stamp " +
                                          std::to_string(kept.changed_at) + " from " + kept.origin + ")");
    // A write a later one replaced (another version, or its version with another spec) is
    // lost to its writer unless the writer is told: mob-tool deploy follows the write with
    // the same rollout rules (tools/rollout.hpp), which must end in a failure naming the
    // change that won, never in "running".
    const bool replaced = !same && (kept.version != w.version || spec_identity(kept.spec_json) != w.identity);
    if (replaced) {
      const Rollout::Time at{};
      Rollout follow(DeployReply{service, w.version, false, w.identity, w.agent, w.written_at}, at, std::chrono::hours(1));
      follow.absorb(StatusReply{{kept}}, at);
      auto verdict = follow.verdict(at + std::chrono::minutes(1));
      if (verdict.outcome != Rollout::Outcome::failed)
        return fail("writer-told", "the acknowledged deploy of " + service + " version " + std::to_string(w.version) +
                                       " through " + name(w.through) + " was replaced (the network holds version " +
                                       std::to_string(kept.version) + " from " + kept.origin +
                                       "), but mob-tool deploy would not say so: " +
                                       (verdict.message.empty() ? "it waits" : verdict.message));
    }
  }
  // Processes of services nobody knows.
  for (const auto& a : impl_->agents)
    if (a->up)
      for (const auto& [key, instance] : a->instances)
        if (instance.state == InstanceState::running && !services.contains(key.first))
          return fail("exactly-instances", key.first + "." + std::to_string(key.second) + " runs on " + a->name +
                                               " but no agent knows the service");
  return std::nullopt;
}

}  // namespace mob::sim
