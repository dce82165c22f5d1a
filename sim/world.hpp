// mob-sim's world: N agents' real PeerStore in one process on one virtual clock, a
// simulated network (agent/store_transport.hpp) and a simulated supervisor per agent that
// "runs" instances, a client that deploys, the faults a scenario injects, and the
// invariants checked on the result. Single-threaded and driven by one seed.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bus/messages.hpp"
#include "sim/network_model.hpp"

namespace mob::sim {

struct WorldConfig {
  int agents = 5;
  std::uint64_t seed = 1;
  std::filesystem::path data_root;  // each agent's data dirs go under it
  LinkFaults link;
  std::uint32_t max_subscriptions = 8;
  // Each agent's --heartbeat-ms; unset, the store's default. Seeds kept because they once
  // found a bug pin the period they ran with, so that they replay what they found.
  std::optional<std::chrono::milliseconds> heartbeat_interval;
  bool narrate = false;  // each fault, start, deploy and answer on stderr, with its virtual time
};

// What the network carried, for the figures.
struct TrafficCounts {
  std::uint64_t gossip_messages = 0;  // gossip frames delivered from a PUB to a SUB
  std::uint64_t gossip_bytes = 0;
  std::uint64_t peer_messages = 0;    // requests and replies between agents' ROUTER/DEALER
  std::uint64_t peer_bytes = 0;
  std::uint64_t dropped = 0;          // lost or cut by a partition
  // The most messages (gossip and peer) one agent sent in one virtual second [k s, k+1 s).
  std::uint64_t busiest_agent_second = 0;
};

// A failed invariant: which, when, and what was seen.
struct Violation {
  std::string invariant;
  Micros at = 0;
  std::string detail;
};

// A deploy the simulated client sent, and what it was told.
struct ClientWrite {
  std::string service;
  std::string spec_json;
  int through = 0;
  Micros sent_at = 0;
  bool acked = false;
  bool answered = false;         // acknowledged or refused
  std::uint64_t written_at = 0;  // DeployReply.written_at: the write's stamp
  std::string agent;             // DeployReply.agent
  std::uint64_t identity = 0;    // DeployReply.spec_identity
  std::uint64_t version = 0;     // DeployReply.version
  std::uint32_t copies = 0;      // DeployReply.copies: agents that held it when it was answered
  std::uint32_t peers = 0;       // DeployReply.peers
  // The agents whose state held the write when its answer reached the client (and the agent
  // that took it, which kept it on disk before answering, even if it is down by then), each
  // with the data dir it had then (its data_generation): an agent that came back with an
  // empty one, or never came back, holds it no more.
  std::vector<std::pair<int, int>> holders;
  // The writer was told that only the agent that took it held it (one copy, peers known):
  // it is lost with that agent, and the writer knows.
  bool told_held_alone() const { return held_alone(copies, peers); }
};

class World {
 public:
  explicit World(WorldConfig config);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  int agents() const;
  Micros now() const;
  std::mt19937_64& random();
  TraceHash& trace();
  const TrafficCounts& traffic() const;

  // ---- scheduling: `action` runs at virtual time `at` -------------------------------------
  void at(Micros when, std::function<void()> action);
  // Runs every event up to `until` (virtual time then equals `until`).
  void run_until(Micros until);

  // ---- agents -----------------------------------------------------------------------------
  // Starts agent `i` joining through `seeds` (indexes; empty: none given, it uses the peers it
  // remembers). `fresh` gives it a new, empty data dir.
  void start(int i, const std::vector<int>& seeds, bool fresh = false);
  void crash(int i);  // SIGKILL: its store and its instances are gone; its data dir stays
  void pause(int i);  // SIGSTOP: it processes nothing; its instances keep running
  void resume(int i);
  void set_skew_ms(int i, std::int64_t skew_ms);  // its wall clock, off by skew_ms
  bool up(int i) const;
  bool paused(int i) const;
  bool live(int i) const { return up(i) && !paused(i); }
  std::string name(int i) const;

  // ---- network ----------------------------------------------------------------------------
  void set_link(const LinkFaults& link);
  const LinkFaults& link() const;
  void cut(const std::vector<int>& from, const std::vector<int>& to, bool both_ways);
  void heal();

  // ---- the client ---------------------------------------------------------------------------
  // A DeployRequest of `service` (its spec is `spec_json`) through agent `through`, as
  // mob-tool sends it.
  void deploy(int through, const std::string& service, const std::string& spec_json);
  const std::vector<ClientWrite>& writes() const;
  // A RebalanceRequest of `service` through agent `through`; its answer is only traced.
  void rebalance(int through, const std::string& service);

  // ---- invariants -------------------------------------------------------------------------
  // The cheap ones, after every event: bounded inboxes and subscriptions.
  std::optional<Violation> check_continuous() const;
  // The ones that hold once the network is whole and quiet: one membership view, exactly
  // `instances` copies of one spec, no acknowledged write lost, nothing assigned to a dead
  // agent, bounded state. The first one that fails.
  std::optional<Violation> check_converged();
  // How many live agents list every live agent as alive and every dead one as not alive.
  int agents_with_full_view();
  // How many live agents (other than `target`) list agent `target` in `state`.
  int agents_listing(int target, MemberState state);
  // How many live agents of `side` list every agent of `others` as failed.
  int agents_listing_all_failed(const std::vector<int>& side, const std::vector<int>& others);
  // The same three as yes-or-no questions, for polling: each asks first the agent that
  // answered no at the last call and stops at the first no, so a poll while a view is still
  // growing costs one agent's view, not every agent's (the figures of a run of thousands
  // are polled every 100 ms).
  bool all_have_full_view();
  bool all_list(int target, MemberState state);
  bool all_list_all_failed(const std::vector<int>& side, const std::vector<int>& others);
  // The agent whose supervisor runs an instance of `service`, or -1.
  int agent_running(const std::string& service) const;
  // Processes the simulated supervisors started since the world began (every agent's).
  std::uint64_t instance_starts() const;
  // Instances the simulated supervisors of live agents run now (state running).
  std::uint64_t running_instances() const;
  // Deploys of the client answered so far (acknowledged or refused).
  std::uint64_t writes_answered() const;
  // The instances every service wants, summed, as the first live agent's status says.
  std::uint64_t wanted_instances();

 private:
  // One agent's answers to the questions above.
  bool has_full_view(int i);
  bool lists(int i, int target, MemberState state);
  bool lists_all_failed(int i, const std::vector<int>& others);
  // Whether `holds` is true of every live agent of `among`, from the position of the last
  // no; remembers where it found a no.
  bool every_live(const std::vector<int>& among, const std::function<bool(int)>& holds);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::size_t first_no_ = 0;  // every_live()
};

}  // namespace mob::sim
