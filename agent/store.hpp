// The peer store: this agent's replica of the cluster state (members, specs, assignments,
// instance states) and the mesh protocols that keep it: join, SWIM failure detection,
// gossip over PUB/SUB, anti-entropy, placement. Runs on its own thread; keeps the specs in
// a ServiceArchive.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "agent/actor.hpp"
#include "agent/cluster_state.hpp"
#include "agent/failure_detector.hpp"
#include "agent/service_archive.hpp"
#include "agent/spec.hpp"
#include "agent/time_source.hpp"
#include "bus/internal_messages.hpp"
#include "bus/messages.hpp"
#include "bus/security.hpp"

namespace mob {

struct StoreConfig {
  Member self;  // this agent as the network sees it
  std::filesystem::path data_dir;
  SpecLimits spec_limits;
  std::uint32_t max_services = 10000;
  std::uint32_t history = 10;  // versions kept per service (--history, 1 to kMaxHistory)
  std::size_t max_message_bytes = 4 * 1024 * 1024;
  std::vector<std::string> seeds;  // host:port of agents to join through at start-up
  bool state_from_network = false;  // the damaged state.db was moved aside: the join brings the state
  // The providers configured (-P). The join waits until each has said whether it runs here
  // (at most kAdvertiseWait), so that peers never see this agent alive and able to run nothing.
  std::vector<std::string> providers;
  DetectorConfig detector;
  // A member's own record stamped again (--heartbeat-ms): its load and a clock sample. Failure
  // detection rests on probes, and a member's changes go out at once, so heartbeats are rare.
  std::chrono::milliseconds heartbeat_interval{5000};
  std::chrono::milliseconds sync_interval{1000};
  std::uint32_t max_subscriptions = 8;  // peers whose PUB we read; relaying covers the rest
  std::chrono::seconds tombstone_ttl{3600};
  // Failed (not left) members are probed again, one at random about every
  // `reconnect_interval`, until `reconnect_timeout` after they failed: a healed partition
  // or a restarted agent is found without anyone running `mob-tool join`.
  std::chrono::milliseconds reconnect_interval{1000};
  std::chrono::seconds reconnect_timeout{24 * 3600};
  std::optional<ClientKeys> curve = std::nullopt;  // set: every DEALER and the SUB connect as CURVE clients
  const TimeSource* time = nullptr;             // the clocks it reads; null: the machine's
  std::optional<std::uint64_t> seed = std::nullopt;  // its random choices; unset: from the machine
};

class Exposition;
class StoreTransport;
class StepGuard;
class Store;

// The store's protocol logic without a socket: what it sends goes through `net`; what it
// receives comes in through the on_* methods, one message each. A real agent drives it
// from run_store() (ZeroMQ); a unit test or mob-sim drives it on a fake network and time
// (config.time, config.seed). Not thread-safe: one thread drives it.
class PeerStore {
 public:
  PeerStore(StoreConfig config, ServiceArchive archive, StoreTransport& net);
  ~PeerStore();
  PeerStore(const PeerStore&) = delete;
  PeerStore& operator=(const PeerStore&) = delete;

  // Before the first message: the state on disk, this agent's record, the join.
  void start();
  void on_request(const Routed& request);      // from a client or a peer, on the ROUTER
  void on_supervisor(const InternalBody& message);  // an instance report, a provider's availability
  void on_main(const ControlBody& message);    // ShutdownRequest, AnnounceLeave
  void on_gossip(const std::vector<std::string>& frames);  // [topic, envelope] from a PUB
  void on_subscription_lost(const std::string& pub_address);
  void on_peer_reply(const std::string& address, const std::vector<std::string>& frames);
  // After each round of inputs: due timers, saving, placement. Errors inside one part are
  // caught by `guard` (logged, that part dropped).
  void after_inputs(StepGuard& guard);
  // When after_inputs() next has something to do, at the latest.
  std::chrono::steady_clock::time_point deadline() const;
  bool stopping() const;
  // How many spec texts it parsed (mob_specs_parsed_total): a deploy's spec is parsed once
  // by the agent that takes it (from the request) and once by each other agent, and again
  // where it is read after 10-20 s unread (SpecCache::sweep).
  std::uint64_t specs_parsed() const;
  // How many services' parsed specs it holds (mob_specs_held): those read in the last 10-20 s.
  std::size_t specs_held() const;
  // The replicated state as this store holds it, read only: what mob-sim's checks look at
  // without sending the store a request (a request is an input: it would change the run).
  const ClusterState& state() const;
  // What is unsaved goes to disk, queued gossip out: the last call.
  void finish();
  // How long a request to a peer may take to be answered.
  std::chrono::steady_clock::duration reply_wait() const;
  // Its metrics (docs/operations.md, "Metrics"): gauges of the state and its counters.
  void write_metrics(Exposition& out) const;

 private:
  std::unique_ptr<Store> store_;
};

// The body of the store's Actor: ready once its sockets are set up and it has started (the
// state on disk, the join sent), then runs the store's loop until ShutdownRequest arrives on `control`. `io` brings client and
// peer requests (and takes the replies); `supervisor` takes assignments and brings
// instance reports; `pub` is the agent's PUB socket; `archive` keeps the specs across
// restarts. AnnounceLeave on `control` makes the agent announce that it leaves; the store sends
// LeaveAsked there when a client asked it to leave. `metrics` (a PAIR, or none: a socket
// without a handle) brings MetricsRequest from the HTTP endpoint's thread and takes the
// replies (agent/metrics_http.hpp).
void run_store(ActorStartup& startup, StoreConfig config, ServiceArchive archive,
               zmq::context_t& context, zmq::socket_t io, zmq::socket_t supervisor,
               zmq::socket_t control, zmq::socket_t pub, zmq::socket_t metrics);

}  // namespace mob
