// Every message that travels between mob-tool and agents, and between agents: the wire
// protocol. Messages between the threads of one agent have their own types (control:
// agent/control.hpp; the others: bus/internal_messages.hpp). Plain structs; the codec
// (bus/codec.hpp) puts them in one envelope. Append only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "bus/compact.hpp"
#include "bus/shared_name.hpp"
#include "bus/spec_text.hpp"
#include "bus/wire.hpp"

namespace mob {

// ---- shared records -------------------------------------------------------------------

enum class InstanceState : std::uint8_t {
  pending, starting, running, exited, restarting, failed, stopped, count_
};
std::string_view to_string(InstanceState state);

enum class MemberState : std::uint8_t { alive, suspect, failed, left, count_ };
std::string_view to_string(MemberState state);

// What an instance's health checks say (docs/spec.md, "checks"): `none` when its service has
// no checks, `starting` until every check passed once since the process started.
enum class Health : std::uint8_t { none, starting, healthy, unhealthy, count_ };
std::string_view to_string(Health health);

inline constexpr std::size_t kMaxCheckOutputBytes = 512;  // CheckResult.output keeps the end

// The last result of one health check of an instance.
struct CheckResult {
  std::string name;
  bool passed = false;
  std::int64_t at_ms = 0;      // unix ms of the result
  std::uint32_t in_a_row = 0;  // consecutive results like this one, this included
  std::string output;          // what the check said, in words or its output (truncated)
  MOB_FIELDS(name, passed, at_ms, in_a_row, output)
};

// (Fields in an order that leaves no padding: every agent holds one per instance; the wire's
// order is MOB_FIELDS'.)
struct InstanceStatus {
  std::string service;
  std::uint32_t index = 0;
  // The fixed port found in use on this agent when the instance could not start (0: none):
  // the service's owner places the instance on another agent.
  std::uint32_t busy_port = 0;
  SharedName node;  // (shared: bus/shared_name.hpp, as every agent's and host's name in a record)
  InstanceState state = InstanceState::pending;
  Health health = Health::none;  // of a running instance; none without checks
  std::uint32_t restarts = 0;
  std::int64_t pid = 0;
  std::int64_t since_ms = 0;  // unix ms when `state` was entered
  std::int32_t exit_code = -1;
  std::int32_t signal = 0;
  CompactText reason;  // why pending/failed/exited, in words (compact: empty while it runs)
  std::uint64_t spec_version = 0;
  CompactVector<CheckResult> checks;  // the last result of each check, when health changed
  // Service discovery (docs/spec.md, "Service discovery"): where the instance listens, the
  // agent's advertised host and the host port chosen for each named port of the spec.
  SharedName host;
  CompactMap<std::map<std::string, std::uint32_t>> ports;  // (compact: most services name none)
  MOB_FIELDS(service, index, node, state, restarts, pid, since_ms, exit_code, signal, reason,
             spec_version, health, checks, host, ports, busy_port)
  MOB_REQUIRED_FIELDS(11)  // health and checks came with health checks (issue 17), the rest
                           // with service discovery (issue 19)
};

struct ServiceStatus {
  std::string name;
  std::string provider;
  std::uint64_t version = 0;  // 1 on first deploy, +1 per update
  std::uint32_t instances = 0;
  bool enabled = true;  // false after `mob-tool stop`
  std::string spec_json;
  std::vector<InstanceStatus> instance_list;
  std::string origin;        // the agent that took the last change of this service
  std::uint64_t changed_at = 0;  // that change's hybrid logical clock stamp
  // A broken dependency rule (a cycle, a dependency removed) and what to do about it; writes
  // through different agents at the same time can make one that neither agent refused.
  std::string problem;
  // Rolling updates (docs/spec.md, "update"): the last version that ran healthy everywhere
  // (0: none kept) and how the rollout to `version` stands ("" when there is none, else
  // e.g. "failed: web/3 unhealthy: ..."), as ServiceEntry holds them.
  std::uint64_t stable_version = 0;
  std::string rollout;
  // How a rebalance of the service stands ("" when none was asked): "rebalancing: ..." with
  // the spread and what the next batch waits for, or "done: ..." (ServiceEntry.rebalance).
  std::string rebalance;
  MOB_FIELDS(name, provider, version, instances, enabled, spec_json, instance_list, origin,
             changed_at, problem, stable_version, rollout, rebalance)
  MOB_REQUIRED_FIELDS(10)  // stable_version and rollout came with rolling updates (issue 18),
                           // rebalance with the network-owned rebalance
};

// Which spec a version runs: concurrent deploys through two agents can both make version
// n, with different specs; the one whose write wins the merge is the one that runs.
// FNV-1a of the normalized spec text (DeployReply.spec_identity, ServiceStatus.spec_json).
inline std::uint64_t spec_identity(std::string_view spec_json) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : spec_json) hash = (hash ^ c) * 1099511628211ULL;
  return hash;
}

// One version of a service as its history keeps it (docs/spec.md, "History and rollback"):
// when and through which agent it was written, its spec, and how it ended.
inline constexpr std::uint32_t kMaxHistory = 1000;          // --history at most
inline constexpr std::size_t kMaxHistoryBytes = 1u << 20;  // of spec text in one record's history
struct VersionRecord {
  std::uint64_t version = 0;
  std::int64_t time_ms = 0;  // unix ms of the write
  SharedName through;        // the agent that took the write (the owner, for a revert)
  SpecText spec_json;        // normalized; shares the record's spec_json or stable_spec_json when equal
  // "" while it is the current version; then "healthy" (it ran healthy on every instance),
  // "replaced" (a later version came before it did), "reverted: why", "failed: why".
  CompactText outcome;  // (compact: empty while current, and most records hold only the current)
  std::uint64_t rollback_of = 0;  // the earlier version whose spec it runs again (0: none)
  MOB_FIELDS(version, time_ms, through, spec_json, outcome, rollback_of)
};

struct Member {
  std::string name;
  std::string address;      // ROUTER endpoint, tcp://host:port
  std::string pub_address;  // PUB endpoint
  MemberState state = MemberState::alive;
  std::vector<std::string> providers;
  CompactTags tags;  // (compact: empty on most members, and every agent holds every member)
  std::uint64_t incarnation = 0;
  double load = 0.0;
  std::string version;
  // What keeps this agent from taking part fully, in words (empty when nothing does): such
  // a member is no owner and runs nothing, e.g. while its clock is off.
  CompactText problem;
  // What works badly at this agent without keeping it from taking part, in words (empty
  // when nothing does), e.g. while its disk refuses writes: it refuses client writes.
  CompactText degraded;
  // Whether placement may put instances here (mob-tool eligibility, drain): an ineligible
  // member keeps taking part in the network, but its instances move away and no new one
  // comes. Its own word, kept on its disk.
  bool eligible = true;
  MOB_FIELDS(name, address, pub_address, state, providers, tags, incarnation, load, version, problem,
             degraded, eligible)
  MOB_REQUIRED_FIELDS(11)  // eligible came with drain (issue 20)
};

// ---- mob-tool <-> agent ---------------------------------------------------------------

struct PingRequest {
  MOB_FIELDS()
};
struct PingReply {
  std::string agent;
  std::string version;
  std::uint32_t protocol = 0;
  std::string events_address;  // the agent's PUB endpoint, for event subscribers
  MOB_FIELDS(agent, version, protocol, events_address)
};

// A write request's `write_id` (random, chosen by the client; empty: none) makes its retry
// the same write: an agent that already took that write answers with its outcome again.
struct DeployRequest {
  std::string spec_json;
  std::string write_id;
  MOB_FIELDS(spec_json, write_id)
};
// A write's answer says how many agents held it on disk when it left (`copies`, this agent
// counted): the agent waits for one peer's copy, up to a second (WriteCopy). One copy while
// `peers` is not 0 means only this agent holds it: lost if this agent is lost before it
// spreads. 0 from an agent before copies (issue 15) or for the retry of a write taken before.
struct DeployReply {
  std::string service;
  std::uint64_t version = 0;
  bool created = false;
  std::uint64_t spec_identity = 0;  // of the normalized spec this version holds
  std::string agent;                // the agent that took the deploy
  std::uint64_t written_at = 0;     // the write's hybrid logical clock stamp (Event.version)
  std::uint32_t copies = 0;         // agents holding the write on disk, this one counted
  std::uint32_t peers = 0;          // the other members this agent knows (not left)
  MOB_FIELDS(service, version, created, spec_identity, agent, written_at, copies, peers)
  MOB_REQUIRED_FIELDS(6)  // copies and peers came with write copies (issue 15)
};

// Whether an answered write (DeployReply, ControlReply) was held by the agent that took it
// alone: one copy while it knew peers (none confirmed one in time). Lost if that agent is
// lost before its peers hear from it; 0 copies is an answer from the release before.
inline bool held_alone(std::uint32_t copies, std::uint32_t peers) { return copies == 1 && peers > 0; }

struct StatusRequest {
  std::string service;  // empty: every service
  MOB_FIELDS(service)
};
struct StatusReply {
  std::vector<ServiceStatus> services;
  MOB_FIELDS(services)
};

// force_remove: remove even while other services depend on it (they wait until it is
// deployed again), the way out of a dependency cycle made by concurrent deploys.
// scale: a new version of the spec with `instances` changed, nothing else (running instances
// carry on as the new version, never restarted).
enum class ControlAction : std::uint8_t { stop, start, restart, remove, force_remove, scale, count_ };
std::string_view to_string(ControlAction action);

struct ControlRequest {
  std::string service;
  ControlAction action = ControlAction::stop;
  std::string write_id;  // as DeployRequest.write_id
  std::uint32_t instances = 0;  // for scale: the new count
  MOB_FIELDS(service, action, write_id, instances)
  MOB_REQUIRED_FIELDS(3)  // instances came with scale (issue 18)
};
struct ControlReply {
  std::string service;
  std::uint64_t version = 0;
  std::uint32_t copies = 0;  // as DeployReply's
  std::uint32_t peers = 0;
  MOB_FIELDS(service, version, copies, peers)
  MOB_REQUIRED_FIELDS(2)  // copies and peers came with write copies (issue 15)
};

inline constexpr std::uint32_t kMaxTailLines = 1'000'000;  // the most lines one LogsRequest may ask for

struct LogsRequest {
  std::string service;
  std::int32_t instance = -1;     // -1: every instance
  std::uint32_t tail_lines = 0;   // 0 with from_offset=false: the whole retained log
  bool from_offset = false;       // follow mode: read from `offset` onwards
  std::uint64_t offset = 0;
  MOB_FIELDS(service, instance, tail_lines, from_offset, offset)
};
struct LogChunk {
  std::uint32_t instance = 0;
  std::string node;
  std::string data;
  std::uint64_t next_offset = 0;  // pass back as `offset` to follow
  MOB_FIELDS(instance, node, data, next_offset)
};
struct LogsReply {
  std::string service;
  std::vector<LogChunk> chunks;
  MOB_FIELDS(service, chunks)
};

struct MembersRequest {
  MOB_FIELDS()
};
struct MembersReply {
  std::vector<Member> members;
  MOB_FIELDS(members)
};

struct ErrorReply {
  Errc code = Errc::internal;
  std::string message;
  MOB_FIELDS(code, message)
};

// mob-tool eligibility / tag / drain: a change of one agent's own settings, sent to that
// agent (another refuses it, naming where to send it). The agent keeps its settings on its
// disk and advertises them in its member record; runtime tags override its --tag flags
// until cleared (docs/operations.md, "Drain, eligibility and runtime tags").
enum class Eligibility : std::uint8_t { unchanged, eligible, ineligible, count_ };
inline constexpr std::size_t kMaxTags = 64;            // a member's tags, flags and runtime ones
inline constexpr std::size_t kMaxTagKeyBytes = 255;
inline constexpr std::size_t kMaxTagValueBytes = 1024;
struct NodeSettingsRequest {
  std::string node;  // the agent asked: the change is refused anywhere else
  Eligibility eligibility = Eligibility::unchanged;
  std::map<std::string, std::string> set_tags;  // runtime tags to set (override the flags)
  std::vector<std::string> remove_tags;         // tags to remove (flag tags too)
  bool reset_tags = false;  // first forget every runtime tag change: the flags apply again
  MOB_FIELDS(node, eligibility, set_tags, remove_tags, reset_tags)
};
struct NodeSettingsReply {
  Member member;  // the agent's member record as it advertises it now
  // Its instances that run or are being started there now (its records in starting, running
  // or restarting), handovers included: 0 once a drained agent runs none.
  std::uint32_t running_instances = 0;
  MOB_FIELDS(member, running_instances)
};

// mob-tool metrics, and the agent's HTTP endpoint (--metrics-addr): the agent's counters and
// gauges in the Prometheus text exposition format (docs/operations.md, "Metrics").
struct MetricsRequest {
  MOB_FIELDS()
};
struct MetricsReply {
  std::string text;
  MOB_FIELDS(text)
};

// mob-tool history / rollback / promote / rebalance (docs/spec.md, "History and rollback",
// "Canaries", "Rebalance").
struct HistoryRequest {
  std::string service;
  MOB_FIELDS(service)
};
struct HistoryReply {
  std::string service;
  bool removed = false;                // the service was removed; its tombstone still holds this
  std::vector<VersionRecord> versions;  // newest first; the current one's outcome says how it runs
  MOB_FIELDS(service, removed, versions)
};
// A new version of `service` with the spec of an earlier `version` (0: the one before the
// current one), deployed under the same rules as a deploy; answered like one.
struct RollbackRequest {
  std::string service;
  std::uint64_t version = 0;
  std::string write_id;  // as DeployRequest.write_id
  MOB_FIELDS(service, version, write_id)
};
// The canaries of `service` ran healthy: move the other instances (answered by ControlReply).
struct PromoteRequest {
  std::string service;
  std::string write_id;
  MOB_FIELDS(service, write_id)
};
// Moves instances of `service` (empty: of every service) from the busiest agents to the
// least busy ones that can run them, each running on where it was until its new copy runs.
// The agent records the wish in each service's record (ServiceEntry.rebalance) and the
// service's owner carries it out; agents before that moved one batch per request.
struct RebalanceRequest {
  std::string service;
  MOB_FIELDS(service)
};
struct InstanceMove {
  std::string service;
  std::uint32_t index = 0;
  std::string from_node;
  std::string to_node;
  MOB_FIELDS(service, index, from_node, to_node)
};
struct RebalanceReply {
  std::vector<InstanceMove> moves;  // written now by an agent of the release before; more may follow
  std::uint32_t left = 0;           // moves still wanted after these
  // The services whose rebalance the network now owns (their owners move them and record
  // the end): follow them by service.rebalance events or status. Empty from older agents,
  // which answer with `moves` and are asked again.
  std::vector<std::string> services;
  MOB_FIELDS(moves, left, services)
  MOB_REQUIRED_FIELDS(2)  // services came with the network-owned rebalance (issue 18)
};

// ---- the mesh: replicated state, gossip, probes, sync --------------------------------

// Orders updates of one record across agents: a hybrid logical clock, then the origin name.
struct Stamp {
  std::uint64_t hlc = 0;
  SharedName origin;
  MOB_FIELDS(hlc, origin)
};

// A member as gossiped. Newer is: higher incarnation; then state left > failed > suspect >
// alive; then a later heartbeat (which carries only soft fields such as load).
struct MemberEntry {
  Member member;
  std::uint64_t heartbeat = 0;
  std::string reported_by;  // who declared this state (for suspicion confirmations)
  MOB_FIELDS(member, heartbeat, reported_by)
};
// A service spec, last writer wins; `removed` is a tombstone.
struct ServiceEntry {
  std::string name;
  SpecText spec_json;
  std::uint64_t generation = 0;  // the user-visible version: 1, 2, ...
  std::uint64_t restart_generation = 0;
  Stamp stamp;
  std::string write_id;  // of the client request that made this version (empty: none)
  // Rolling updates (docs/spec.md, "update"): the last version that ran healthy on every
  // instance and its spec (0 and "": none kept; instances then all run `generation`), and
  // how the rollout to `generation` ended when it did not complete ("failed: ...").
  std::uint64_t stable_generation = 0;
  SpecText stable_spec_json;
  CompactText rollout;  // (compact, as rebalance: empty on almost every service)
  // The last versions, oldest first, the current one last (at most --history of the agent
  // that wrote the record); kept in the tombstone of a removed service.
  std::vector<VersionRecord> history;
  // Canaries (update.canary): instances `instances` to `instances + canaries - 1` run the new
  // version beside the stable ones while the rollout waits for `mob-tool promote`; once
  // `promoted`, the others move a batch at a time and the canaries go when it is done.
  std::uint32_t canaries = 0;
  bool promoted = false;
  bool enabled = true;
  bool removed = false;  // (the three bools beside `canaries`: no padding)
  // Rebalance (docs/spec.md, "Rebalance"): "" when none was asked; "wanted" while the
  // service's owner moves its instances towards an even spread, a batch at a time; "done: ..."
  // (the spread it left) once nothing was left to move (agent/rebalance.hpp).
  CompactText rebalance;
  MOB_FIELDS(name, spec_json, generation, enabled, restart_generation, removed, stamp, write_id,
             stable_generation, stable_spec_json, rollout, history, canaries, promoted, rebalance)
  MOB_REQUIRED_FIELDS(8)  // the stable_* fields and rollout came with rolling updates, history
                          // and the canary fields with rollback and canaries, rebalance with the
                          // network-owned rebalance (issue 18)
};
// Where an instance should run, decided by the service's owner; last writer wins.
struct AssignmentEntry {
  std::string service;
  std::uint32_t index = 0;
  SharedName node;
  bool removed = false;
  Stamp stamp;
  // The service version this instance runs: 0 means the service's current one (as every
  // assignment did before rolling updates), else its stable_generation until the owner
  // moves it to the new version (docs/spec.md, "update").
  std::uint64_t generation = 0;
  // Agents where the instance could not start because a fixed port of its spec was in use:
  // placement passes them over while another agent can run it (service discovery, issue 19).
  CompactVector<std::string> avoid;
  MOB_FIELDS(service, index, node, removed, stamp, generation, avoid)
  MOB_REQUIRED_FIELDS(5)  // generation came with rolling updates (issue 18), avoid with
                          // service discovery (issue 19)
};
// How an instance is doing on one node, written by that node (or tombstoned by an owner).
struct InstanceEntry {
  InstanceStatus status;
  bool removed = false;
  Stamp stamp;
  MOB_FIELDS(status, removed, stamp)
};
struct StateDelta {
  std::vector<MemberEntry> members;
  std::vector<ServiceEntry> services;
  std::vector<AssignmentEntry> assignments;
  std::vector<InstanceEntry> instances;
  MOB_FIELDS(members, services, assignments, instances)
};

// On PUB, topic "gossip": what the sender changed or learned, numbered per sender.
struct Gossip {
  std::string sender;
  std::uint64_t seq = 0;
  StateDelta delta;
  MOB_FIELDS(sender, seq, delta)
};

// SWIM probes over ROUTER/DEALER. A probe names its target so a restarted process on the
// same address does not answer for a different agent.
struct ProbeRequest {
  std::uint64_t seq = 0;
  std::string from;
  std::string target;
  std::uint64_t suspected_at = 0;  // >0: the prober suspects the target at this incarnation+1
  std::uint64_t wall_ms = 0;       // the prober's wall clock: targets measure clock skew
  MOB_FIELDS(seq, from, target, suspected_at, wall_ms)
};
struct ProbeAck {
  std::uint64_t seq = 0;
  std::string from;
  std::uint64_t incarnation = 0;
  std::uint64_t wall_ms = 0;  // the acking agent's wall clock: probers measure clock skew
  MOB_FIELDS(seq, from, incarnation, wall_ms)
};
struct IndirectProbeRequest {
  std::uint64_t seq = 0;
  std::string from;
  std::string target;
  std::string target_address;
  // Answer with a ProbeNack if the target does not ack within the helper's ack wait
  // (Lifeguard): a nack tells the prober that its own links work.
  bool wants_nack = false;
  MOB_FIELDS(seq, from, target, target_address, wants_nack)
  MOB_REQUIRED_FIELDS(4)  // wants_nack came with nacks (a release before sends none)
};
// A helper's answer to an IndirectProbeRequest that asked for it: the target did not ack
// in time. It says nothing of the target (the prober suspects it anyway); it says the
// helper heard the prober and could answer, so the probe's failure is not the prober's.
struct ProbeNack {
  std::uint64_t seq = 0;  // the prober's seq, from the request
  std::string from;       // the helper
  MOB_FIELDS(seq, from)
};

struct JoinRequest {
  MemberEntry joiner;
  MOB_FIELDS(joiner)
};
struct JoinReply {
  StateDelta state;
  MOB_FIELDS(state)
};

// Anti-entropy: one entry per record key with the record's order.
struct DigestEntry {
  std::string key;
  std::uint64_t major = 0;
  std::uint64_t minor = 0;
  std::string tiebreak;
  MOB_FIELDS(key, major, minor, tiebreak)
};
// Anti-entropy in up to two rounds (docs/protocol.md, "Anti-entropy"). Round one carries
// only `summary`, the sum of the asker's record hashes, and a `bucket_count`. The responder
// answers an empty SyncReply when its own sum is equal, else the summaries of its records in
// `bucket_count` buckets (`buckets`). Round two carries the `digest` of the asker's records
// in the buckets whose summaries differ (`scope`), in as many requests as it takes to stay
// under the message size, each answered with what is newer. `bucket_count` 0 is the
// single-round form of earlier agents: `summary` is a hash of the whole `digest`, which
// covers every record.
inline constexpr std::uint32_t kMaxSyncBuckets = 256;
struct SyncRequest {
  std::string from;
  std::uint64_t summary = 0;  // bucket_count 0: hash of the whole digest; else the sum of record hashes
  std::vector<DigestEntry> digest;
  std::uint32_t bucket_count = 0;    // a power of two, 1 to 256; 0: the single-round form
  std::vector<std::uint32_t> scope;  // round two: the buckets `digest` covers
  MOB_FIELDS(from, summary, digest, bucket_count, scope)
  MOB_REQUIRED_FIELDS(3)  // the rest came with summary-first anti-entropy (issue 16)
};
struct SyncReply {
  StateDelta newer;                      // what the responder has newer or the asker lacks
  std::vector<std::string> wanted_keys;  // what the asker has newer: push those back
  std::uint32_t bucket_count = 0;        // of the round-one request answered
  std::vector<std::uint64_t> buckets;    // round one: the responder's bucket summaries
  MOB_FIELDS(newer, wanted_keys, bucket_count, buckets)
  MOB_REQUIRED_FIELDS(2)
};
struct SyncPush {
  StateDelta delta;
  MOB_FIELDS(delta)
};

// A client write's copy, from the agent that took it to one or two live peers: the writer
// answers its client once a peer says the write is on its disk (WriteCopied), or after a
// second without (docs/architecture.md, "Write copies").
struct WriteCopy {
  std::uint64_t id = 0;  // the writer's, echoed in the answer
  std::string from;      // the writer
  StateDelta delta;      // the written service records, nothing else
  MOB_FIELDS(id, from, delta)
};
struct WriteCopied {
  std::uint64_t id = 0;
  std::string from;          // the peer
  std::uint32_t held = 0;    // how many of the copy's records it holds on disk (that write or a later one)
  MOB_FIELDS(id, from, held)
};

// mob-tool join / leave.
struct JoinCommand {
  std::vector<std::string> seeds;  // host:port of agents to join through
  MOB_FIELDS(seeds)
};
struct JoinCommandReply {
  std::uint32_t members = 0;
  MOB_FIELDS(members)
};
struct LeaveCommand {
  MOB_FIELDS()
};
struct LeaveReply {
  MOB_FIELDS()
};

// On PUB, topic = `topic` (e.g. "instance.running"): one thing that happened in the network,
// published by every agent whose store learns it, once per agent.
// Event.reason of a service.updated whose spec changed without a new version number: two
// deploys through two agents made the same version, and this one won the merge.
inline constexpr std::string_view kConcurrentDeploy = "a concurrent deploy of the same version won";

struct Event {
  std::string topic;
  std::int64_t time_ms = 0;  // unix ms when the publishing agent learned it
  std::string agent;         // the agent where it happened (the record's origin)
  std::string publisher;     // the agent that published this copy
  std::uint64_t seq = 0;     // per publisher, +1 per event: a gap means events were dropped
  std::uint64_t version = 0; // the record's version (hybrid logical clock)
  std::string service;
  std::int32_t instance = -1;
  std::string member;
  std::string node;          // instance.*: where it runs; instance.moved: where it goes
  std::string from_node;     // instance.moved: where it was
  std::string state;
  std::int32_t exit_code = -1;
  std::int32_t signal = 0;
  std::uint64_t generation = 0;  // service.*: the service version
  std::string reason;
  std::int64_t pid = 0;      // instance.running: the process (or container) id
  std::string check;         // instance.healthy / unhealthy: the check that decided it
  std::string output;        // instance.healthy / unhealthy: that check's last output
  std::string host;          // instance.*: where the instance listens (service discovery)
  std::map<std::string, std::uint32_t> ports;  // instance.*: its named ports on `host`
  MOB_FIELDS(topic, time_ms, agent, publisher, seq, version, service, instance, member, node,
             from_node, state, exit_code, signal, generation, reason, pid, check, output, host, ports)
  MOB_REQUIRED_FIELDS(17)  // check and output came with health checks (issue 17), host and
                           // ports with service discovery (issue 19)
};

// Each alternative's wire type code is in bus/codec.cpp (kWireTypes): append only, never
// reorder; a code retired from the wire (now a control or an internal message's) is never
// reused.
using Body = std::variant<PingRequest, PingReply, DeployRequest, DeployReply, StatusRequest,
                          StatusReply, ControlRequest, ControlReply, LogsRequest, LogsReply,
                          MembersRequest, MembersReply, ErrorReply, Gossip, ProbeRequest, ProbeAck,
                          IndirectProbeRequest, JoinRequest, JoinReply, SyncRequest, SyncReply,
                          SyncPush, JoinCommand, JoinCommandReply, LeaveCommand, LeaveReply, Event,
                          NodeSettingsRequest, NodeSettingsReply, MetricsRequest, MetricsReply,
                          HistoryRequest, HistoryReply, RollbackRequest, PromoteRequest,
                          RebalanceRequest, RebalanceReply, ProbeNack, WriteCopy, WriteCopied>;

}  // namespace mob
