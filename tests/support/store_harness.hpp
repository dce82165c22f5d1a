// Test support: a few PeerStores in one process on one virtual clock, joined by an in-memory
// network the test drives by hand. What a store sends is queued and delivered in order, unless
// the test cut the link; a fake supervisor per agent "runs" what its store assigns. No
// sockets, no threads, no sleeps: a test runs in milliseconds of real time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/store.hpp"
#include "agent/time_source.hpp"
#include "bus/internal_messages.hpp"
#include "bus/messages.hpp"

namespace mob::test {

// One agent's clocks: the shared virtual time, its wall clock shifted by `offset_ms` (a
// skewed machine; set_offset_ms() steps it).
class ShiftedTime final : public TimeSource {
 public:
  ShiftedTime(const ManualTime& base, std::int64_t offset_ms) : base_(base), offset_ms_(offset_ms) {}
  SteadyClock::time_point steady_now() const override { return base_.steady_now(); }
  std::uint64_t wall_ms() const override {
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(base_.wall_ms()) + offset_ms_.load());
  }
  void set_offset_ms(std::int64_t offset_ms) { offset_ms_ = offset_ms; }

 private:
  const ManualTime& base_;
  std::atomic<std::int64_t> offset_ms_;
};

// The supervisor of one agent as its store sees it: it "runs" each instance it is assigned
// at once (or, while starts are held, reports it starting and runs it on release_starts()),
// and stops what is no longer assigned, reporting each change back like the real one.
class FakeSupervisor {
 public:
  struct Copy {  // one "process"
    std::uint64_t version = 0;
    std::string spec_json;
    std::uint64_t restart_generation = 0;
    std::int64_t pid = 0;
    bool running = false;  // false: starting, held
  };
  using Report = std::function<void(InstanceStatus)>;

  FakeSupervisor(std::string node, const TimeSource& time, std::int64_t& next_pid, Report report);

  // A ServiceAssignment or ServiceWithdrawn from the store.
  void on_store_message(const InternalBody& body);
  // While held, new copies report `starting` and wait for release_starts().
  void hold_starts(bool held) { hold_starts_ = held; }
  void release_starts();
  // The agent died: every copy died with it, and what it was told is forgotten.
  void forget_everything();

  // The copies of `service` that exist here (running or starting), by instance index.
  const std::map<std::uint32_t, Copy>& copies(const std::string& service) const;
  // What the store last told it about `service` (null: nothing, or withdrawn).
  const ServiceAssignment* assignment(const std::string& service) const;
  // Every instance it ever stopped, as "service/index", in order.
  const std::vector<std::string>& stopped() const { return stopped_; }

 private:
  void reconcile(const std::string& service);
  void report(const std::string& service, std::uint32_t index, const Copy& copy, InstanceState state);

  std::string node_;
  const TimeSource& time_;
  std::int64_t& next_pid_;
  Report report_;
  bool hold_starts_ = false;
  std::map<std::string, ServiceAssignment> told_;
  std::map<std::string, std::map<std::uint32_t, Copy>> copies_;
  std::vector<std::string> stopped_;
};

// One gossip message an agent published: when, and the records it carried.
struct GossipSent {
  std::chrono::steady_clock::time_point at;
  StateDelta delta;
};

struct AgentOptions {
  std::vector<std::string> join_through;  // names of agents added before: its seeds
  std::int64_t clock_offset_ms = 0;       // its wall clock against everyone else's
  bool runs_bash = true;                  // its supervisor reports provider "bash" at start
  std::chrono::milliseconds reconnect_interval{1000};
  std::chrono::seconds tombstone_ttl{3600};
  std::uint32_t max_services = 10000;     // --max-services
};

class StoreHarness {
 public:
  // One step of virtual time.
  static constexpr std::chrono::milliseconds kTick{10};

  explicit StoreHarness(std::uint64_t seed = 1);
  ~StoreHarness();
  StoreHarness(const StoreHarness&) = delete;
  StoreHarness& operator=(const StoreHarness&) = delete;

  // Makes agent `name` (its own data dir, address tcp://10.0.0.N:7000) and starts its store.
  void add_agent(const std::string& name, AgentOptions options = {});
  // The agent's process dies: its store stops without a word, what it ran stops, what was
  // on its way to it is lost. Its data dir stays.
  void crash(const std::string& name);
  // Starts a crashed agent again on its data dir, with no seeds given (it joins through the
  // peers it remembers).
  void restart(const std::string& name);
  // The agent is stopped as Agent::stop() begins: its store announces that it leaves.
  void leave(const std::string& name);

  // Advances virtual time by kTick, runs every store's timers, then delivers every queued
  // message, and what those make, in order (each store's after_inputs runs after each).
  void step();
  void run_for(std::chrono::milliseconds duration);
  // Steps until `condition` holds, for at most `limit` of virtual time; whether it held.
  bool run_until(const std::function<bool()>& condition, std::chrono::milliseconds limit);
  ManualTime& time() { return time_; }

  // Faults. Requests, replies and gossip between agents on different sides are lost, both
  // ways, from the moment of the call until heal(); messages already queued included.
  void partition(const std::vector<std::string>& side_a, const std::vector<std::string>& side_b);
  void isolate(const std::string& name);
  // Loses what `from` sends to `to` (requests, replies, gossip), not the other way.
  void cut_one_way(const std::string& from, const std::string& to);
  void heal();
  // Steps `name`'s wall clock to `offset_ms` from everyone else's.
  void set_clock_offset(const std::string& name, std::int64_t offset_ms);

  // A client's request to agent `name`, handled at once (through the same door as a real
  // agent's); the replies it got, in order.
  std::vector<Body> ask(const std::string& name, Body request);
  // The same, with every reply that comes within `wait` of virtual time (an indirect probe
  // is answered when the target acks, or with a nack when it does not).
  std::vector<Body> ask_and_wait(const std::string& name, Body request, std::chrono::milliseconds wait);
  // Client requests to several agents at the same moment, each taken by its agent before
  // anything any agent sent is delivered (concurrent writes); the replies each got.
  std::vector<std::vector<Body>> ask_at_once(std::vector<std::pair<std::string, Body>> requests);
  // Client requests that reach agent `name` in one turn of its loop (one read of its socket),
  // each from its own client; the replies each got, in order. `before_turn_end`: how many
  // replies had been sent when the last request was handled, before the turn's after_inputs.
  std::vector<std::vector<Body>> ask_in_one_turn(const std::string& name, std::vector<Body> requests,
                                                 std::size_t* before_turn_end = nullptr);
  // The members `name` knows, by name (through a MembersRequest).
  std::map<std::string, Member> members_seen_by(const std::string& name);
  // The value of the counter or gauge `metric` (no labels) in the store's metrics; -1 when absent.
  double metric_of(const std::string& name, const std::string& metric) const;
  // Every agent sees every agent (itself included) alive.
  bool all_see_all_alive();
  // The status of `service` at `name`; nullopt when it does not know it.
  std::optional<ServiceStatus> status_at(const std::string& name, const std::string& service);
  // Tells `name`'s store, as its supervisor would, whether `provider` runs there.
  void set_provider(const std::string& name, const std::string& provider, bool available);

  FakeSupervisor& supervisor(const std::string& name);
  // How many spec texts `name`'s store parsed (PeerStore::specs_parsed).
  std::uint64_t specs_parsed(const std::string& name) const;
  // How many services' parsed specs `name`'s store holds (PeerStore::specs_held).
  std::size_t specs_held(const std::string& name) const;
  std::filesystem::path state_file(const std::string& name) const;
  // The running copies of `service` on every agent: index -> agents that run it.
  std::map<std::uint32_t, std::vector<std::string>> running_copies(const std::string& service) const;
  // How many requests stores sent to peers were refused at the peer's door (admit_request).
  std::size_t refused_at_door() const { return refused_at_door_; }
  // How many requests of type `Message` (e.g. JoinRequest) stores sent to peers.
  template <class Message>
  std::size_t requests_sent() const {
    auto found = requests_sent_.find(Body{Message{}}.index());
    return found == requests_sent_.end() ? 0 : found->second;
  }
  // The gossip messages `name` published, in order.
  const std::vector<GossipSent>& gossip_of(const std::string& name) const;
  // The events (not gossip) `name` published, in order.
  const std::vector<Event>& events_of(const std::string& name) const;

 private:
  struct Agent;
  class Link;
  struct Delivery {
    enum class Kind { request, reply, gossip, supervisor };
    Kind kind;
    std::string from;  // agent name
    std::string to;    // agent name
    std::string route;  // request: where its replies go back to
    std::string from_address;  // reply: the address the request went to
    std::vector<std::string> frames;
    InternalBody body;  // supervisor
  };

  // A client waits for its answers: a write is answered once a peer holds a copy of it (or
  // a second after its copies were sent). What the stores queued is delivered at once, then
  // time runs until every route has an answer, for at most kClientPatience.
  static constexpr std::chrono::milliseconds kClientPatience{3000};
  void wait_for_answers(const std::vector<std::string>& routes);
  // A client's request as the I/O actor hands it to a store, on a route of its own.
  Routed client_request(Body request);
  // The replies each route got (in order), taken out.
  std::vector<std::vector<Body>> take_replies(const std::vector<std::string>& routes);
  void start_store(Agent& agent);
  Agent& agent(const std::string& name) const;
  Agent* agent_at(const std::string& address) const;
  Agent* agent_with_pub(const std::string& pub_address) const;
  bool blocked(const std::string& from, const std::string& to) const;
  void deliver_all();
  void deliver(const Delivery& delivery);
  void after_inputs(Agent& agent);

  // Called by an agent's Link (its StoreTransport).
  void send_reply(Agent& from, const Routed& request, Body body);
  void send_request(Agent& from, const std::string& address, Body body);
  void send_gossip(Agent& from, std::string_view topic, const std::string& bytes);
  void send_to_store(Agent& to, InternalBody body);

  ManualTime time_;
  std::uint64_t seed_;
  std::vector<std::unique_ptr<Agent>> agents_;
  std::deque<Delivery> queue_;
  std::set<std::pair<std::string, std::string>> blocked_;  // (from, to) agent names
  std::map<std::string, std::vector<Body>> client_replies_;  // by route
  std::map<std::size_t, std::size_t> requests_sent_;  // by Body index
  std::size_t refused_at_door_ = 0;
  std::uint64_t next_client_ = 0;
  std::int64_t next_pid_ = 1000;
};

}  // namespace mob::test
