#include "agent/store.hpp"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "agent/actor.hpp"
#include "agent/admission.hpp"
#include "agent/change_events.hpp"
#include "agent/client_commands.hpp"
#include "agent/clock_judge.hpp"
#include "agent/cluster_state.hpp"
#include "agent/dependencies.hpp"
#include "agent/hashing.hpp"
#include "agent/durable.hpp"
#include "agent/hlc.hpp"
#include "agent/key_order.hpp"
#include "agent/lax_timer.hpp"
#include "agent/local_assignments.hpp"
#include "agent/membership.hpp"
#include "agent/metrics.hpp"
#include "agent/node_settings.hpp"
#include "agent/subscriptions.hpp"
#include "agent/placement.hpp"
#include "agent/rollout_plan.hpp"
#include "agent/rebalance.hpp"
#include "agent/scheduling.hpp"
#include "agent/service_archive.hpp"
#include "agent/service_record.hpp"
#include "agent/spec_cache.hpp"
#include "agent/store_transport.hpp"
#include "agent/time_source.hpp"
#include "agent/write_copies.hpp"
#include "bus/log.hpp"
#include "bus/transport.hpp"

namespace mob {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kStoreLog = "store";
constexpr std::string_view kGossipTopic = "gossip";
// How long a started agent with seeds (given or remembered) waits for its network before it
// places and claims instances on its own view.
constexpr auto kNetworkWait = std::chrono::seconds(5);
// How long a starting agent waits for its providers to say whether they run before it joins.
constexpr auto kAdvertiseWait = std::chrono::seconds(2);
// Membership changes reach the disk (keep_peers) at most this late, in one write: while 50
// agents join, each agent's view changes many times a second.
constexpr auto kPeersSaveDelay = std::chrono::seconds(1);
// The last contact with the network is written at least this often while peers answer.
constexpr auto kContactRefresh = std::chrono::seconds(60);
constexpr std::size_t kMaxEntriesPerGossip = 400;
// Membership gossip goes out at once after a quiet spell, then at most once per this: in a
// storm (a partition in halves, a join storm) the changes of many inputs share a message
// instead of each taking one of its own. Writes (services, assignments, instances) are
// never held back: a client's acknowledged write leaves as soon as it is on disk.
constexpr auto kMembershipGossipSpacing = std::chrono::milliseconds(50);
// How many instances' worth of services one turn of the loop places at most (one service
// at least): a network of many large services is placed over several turns, and requests
// and probes are answered in between.
constexpr std::size_t kPlacementBudget = 2000;
// At most this many deploys share one commit (queue_deploy): the first is answered no later
// than this many decisions after it arrived.
constexpr std::size_t kDeployBatch = 256;
constexpr const char* kDiskAdvice =
    "; nothing was changed (make room there, or make it writable again; this agent takes writes again as soon as its "
    "disk does)";
// Who reads whom (RelayCoverage) is worked out at most this often.
constexpr auto kCoveragePeriod = std::chrono::seconds(1);
// Up to this many live members, a turn's planning finds each dirty service's owner to tell
// whether it must parse the service's spec (Store::turn_work).
constexpr std::size_t kOwnerCheckMembers = 64;
// Specs learned from peers reach the disk in batches at most this late; a deploy or control
// request is answered only once its change is on disk.
constexpr auto kSaveDelay = std::chrono::milliseconds(50);
// While the disk refuses writes, a write is tried again this often (and each client write
// tries at once): the agent takes writes again as soon as the disk does.
constexpr auto kDiskRetry = std::chrono::seconds(1);
// Client write ids remembered with their outcome: a retry within this time (or this many
// later writes) gets the first answer again. The record of a service also carries the id
// of its last write, so any agent recognises a retry of that one.
constexpr std::size_t kRecentWrites = 4096;
constexpr auto kRecentWriteLife = std::chrono::minutes(10);
// A client write is answered once a peer holds it on disk too (WriteCopy, WriteCopied), or
// after this long without: the answer then says one copy. A loopback or LAN peer answers
// in about a millisecond; mob-tool waits 3 s for an answer.
constexpr auto kWriteCopyWait = std::chrono::seconds(1);
// Live peers asked for each copy at once: one cut off or slow does not hold the answer.
constexpr std::size_t kWriteCopyPeers = 2;
// How long a peer's DEALER is polled after a request (PeerLink), at least: ten default probe
// timeouts. Never less than two probe intervals, so that no ack the detector waits for is missed.
constexpr auto kMinReplyWait = std::chrono::seconds(1);
// A stamp further ahead of this agent's wall clock is refused: its entry would win every
// merge, and move every clock it reaches, until real time caught up (a stamp near 2^64
// never would). Clocks of a network are expected to agree far better (NTP).
constexpr std::uint64_t kMaxClockAheadMs = 5 * 60 * 1000;
// An agent whose clock differs from most of its peers' by more than the same bound is
// "skewed": it says so, refuses client writes and runs nothing (check_clock). Offsets are
// measured on probe acks and trusted for this long.
constexpr auto kClockSampleLife = std::chrono::seconds(30);
// A member whose own entries are refused for being stamped ahead is probed to measure its
// clock (an agent far behind learns of its peers only that way): at most once per this
// period per member, at most kMaxClockChecks probes in flight, each waited for this long.
constexpr auto kClockCheckPeriod = std::chrono::seconds(5);
// A wall clock that moves this much against the steady clock between two turns stepped.
constexpr std::int64_t kWallClockStepMs = 2000;
constexpr std::size_t kClockStepChecks = 3;  // peers asked at once after a step
// An agent whose clock is put right refused its peers' records while it was off, so the
// assignments it holds may be stale (moved away meanwhile). It runs nothing until one
// anti-entropy exchange with a peer is complete, or for at most this long.
constexpr auto kCatchUpLimit = std::chrono::seconds(3);
constexpr std::size_t kMaxClockChecks = 64;
constexpr auto kClockCheckWait = std::chrono::seconds(2);
// Bounds on what peers can make this agent hold (docs/security.md): DEALER sockets (one per
// peer address; the least recently used one is closed past the bound), indirect probes
// relayed for others at once, and members known.
constexpr std::size_t kMaxPeerLinks = 512;  // libzmq allows 1023 sockets per context in all
constexpr std::size_t kMaxRelays = 1024;
constexpr std::size_t kMaxMembers = 10000;

std::size_t entry_count(const StateDelta& delta) {
  return delta.members.size() + delta.services.size() + delta.assignments.size() +
         delta.instances.size();
}

// Moves `from`'s records to the end of `into`'s (a member record's copy is half a dozen
// allocations: a heal relays thousands).
void append(StateDelta& into, StateDelta&& from) {
  auto move_to = [](auto& to, auto& records) {
    to.insert(to.end(), std::make_move_iterator(records.begin()), std::make_move_iterator(records.end()));
  };
  move_to(into.members, from.members);
  move_to(into.services, from.services);
  move_to(into.assignments, from.assignments);
  move_to(into.instances, from.instances);
}

// Probes and pings: answered as soon as they are read, ahead of the requests read before them
// (the driver's read_requests), and without committing a run of queued deploys first. What
// they answer depends on nothing a queued request would change.
bool answered_ahead(const Body& body) {
  return std::holds_alternative<ProbeRequest>(body) || std::holds_alternative<IndirectProbeRequest>(body) ||
         std::holds_alternative<PingRequest>(body);
}

// Splits a delta into pieces of at most `limit` entries and at most `byte_limit` bytes
// packed, so that each message stays under the receiver's --max-message-bytes however large
// the state or its records grow (a service record keeps up to a dozen specs). The receiver's
// limit is taken to be ours. An entry larger than `byte_limit` on its own goes alone.
std::vector<StateDelta> split(StateDelta delta, std::size_t limit, std::size_t byte_limit) {
  std::vector<StateDelta> pieces(1);
  std::size_t piece_bytes = 0;
  auto room = [&](const auto& entry) -> StateDelta& {
    const std::size_t bytes = wire::packed_size(entry);
    const std::size_t count = entry_count(pieces.back());
    if (count >= limit || (count > 0 && piece_bytes + bytes > byte_limit)) {
      pieces.emplace_back();
      piece_bytes = 0;
    }
    piece_bytes += bytes;
    return pieces.back();
  };
  for (auto& e : delta.members) room(e).members.push_back(std::move(e));
  for (auto& e : delta.services) room(e).services.push_back(std::move(e));
  for (auto& e : delta.assignments) room(e).assignments.push_back(std::move(e));
  for (auto& e : delta.instances) room(e).instances.push_back(std::move(e));
  return pieces;
}

}  // namespace

class Store {
 public:
  Store(StoreConfig config, ServiceArchive archive, StoreTransport& net)
      : config_(std::move(config)),
        archive_(std::move(archive)),
        net_(net),
        detector_(config_.detector, config_.seed ? *config_.seed : std::random_device{}()),
        random_(config_.seed ? *config_.seed + 1 : std::random_device{}()) {
    started_ = time_.steady_now();
  }

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // What happens before the first message: the state on disk, this agent's record, the join.
  void start() {
    std::vector<std::string> seeds = config_.seeds;
    if (seeds.empty()) seeds = remembered_seeds();
    awaiting_network_ = !seeds.empty();
    // Joining peers, its clock is compared with theirs before it takes a write (it may have
    // been set wrong while the agent was down, where no step is seen).
    clock_uncompared_ = awaiting_network_;
    read_last_contact();
    load(/*hold_specs=*/awaiting_network_ && away_longer_than_ttl());
    load_node_settings();
    announce_self();
    unreported_providers_ = {config_.providers.begin(), config_.providers.end()};
    seeds_to_join_ = std::move(seeds);
    join_when_advertised();
    after_change();
  }

  // The inputs, one message each: a request from a client or a peer, a report from the
  // supervisor, a command from main, gossip from a subscription, a subscription that
  // dropped, a reply on the link to a peer's ROUTER.
  // A run of deploys shares one commit (queue_deploy); anything else commits the run first.
  void on_request(const Routed& request) {
    // A step since the last turn is seen before a write is taken on the clock that stepped.
    watch_wall_clock();
    const Body& body = request.envelope.body;
    if (const auto* deploy = std::get_if<DeployRequest>(&body)) {
      queue_deploy(request, *deploy);
      return;
    }
    if (!answered_ahead(body)) commit_deploys();  // a probe or a ping: the run goes on past it
    handle_request(request);
  }
  void on_supervisor(const InternalBody& message) {
    commit_deploys();
    handle_supervisor(message);
  }
  void on_main(const ControlBody& message) {
    commit_deploys();
    handle_control(message);
  }
  void on_gossip(const std::vector<std::string>& frames) {
    commit_deploys();
    handle_gossip(frames);
  }
  void on_subscription_lost(const std::string& pub_address) { on_subscription_dropped(pub_address); }
  void on_peer_reply(const std::string& address, const std::vector<std::string>& frames) {
    commit_deploys();
    handle_peer_reply(address, frames);
  }

  // After each round of inputs: the timers that are due, what waits for the disk, and what
  // the changes mean for placement and this agent's assignments.
  void after_inputs(StepGuard& guard) {
    guard.run("committing deploys", [&] { commit_deploys(); });
    guard.run("a round of timers", [&] { run_timers(); });
    if ((!unsaved_.empty() || !uncollected_.empty()) && time_.steady_now() >= save_at_)
      guard.run("saving to disk", [&] { save(); });
    if (!disk_problem_.empty() && time_.steady_now() >= next_disk_check_)
      guard.run("checking the disk", [&] { check_disk(); });
    guard.run("placement", [&] { after_change(); });
  }

  // When after_inputs() has something to do next, at the latest.
  Clock::time_point deadline() const { return next_deadline(); }
  bool stopping() const { return stopping_; }
  std::uint64_t specs_parsed() const { return specs_.parses(); }
  std::size_t specs_held() const { return specs_.held(); }
  const ClusterState& state() const { return state_; }
  // The last words before the thread ends: what is unsaved goes to disk, queued gossip out.
  void finish() {
    commit_deploys();
    save();
    for (auto& held : copies_.drain()) answer_held(std::move(held));
    flush();
  }

  // How long a request to a peer may take to be answered (the transport polls its link
  // that long after each request): two probe intervals as the detector stretches them now
  // (latency, health), 1 s at least.
  Clock::duration reply_wait() const {
    return std::max<Clock::duration>(kMinReplyWait, detector_.probe_interval() * 2 * (1 + detector_.health_penalty()));
  }

 private:
  // ---- durable specs -------------------------------------------------------------------

  // Restores the specs kept on disk. With `hold_specs` (this agent was away from its
  // network longer than the tombstone TTL) they are kept aside until the network answers
  // or does not (release_held_specs).
  void load(bool hold_specs) {
    import_legacy_files();
    auto records = archive_.load();
    if (!records) {
      log::error(kStoreLog, records.error().message);
      return;
    }
    for (const auto& [name, record] : *records) {
      auto entry = parse_service_record(record);
      if (!entry) {
        log::error(kStoreLog, "ignoring the saved record of ", name, ": ", entry.error().message);
        continue;
      }
      clock_.observe(entry->stamp.hlc);
      if (hold_specs) {
        held_specs_.push_back(std::move(*entry));
        continue;
      }
      if (!entry->removed)
        log::info(kStoreLog, log::about_service(entry->name), "restored service ", entry->name, " version ", entry->generation);
      state_.merge(*entry);
    }
    for (const auto& [key, entry] : state_.services()) index_dependencies(entry);
  }

  // This agent's settings kept on disk (mob-tool eligibility, tag): they win over the flags.
  void load_node_settings() {
    flag_tags_ = config_.self.tags;
    auto kept = archive_.load_node_settings();
    if (!kept) {
      log::error(kStoreLog, "cannot read this agent's eligibility and runtime tags: ", kept.error().message,
                 "; it starts eligible, with its --tag flags");
      return;
    }
    node_settings_ = std::move(*kept);
    config_.self.eligible = node_settings_.eligible;
    config_.self.tags = effective_tags(flag_tags_, node_settings_);
    if (!node_settings_.eligible)
      log::info(kStoreLog, "this agent is ineligible for instances (mob-tool eligibility ", config_.self.name, " on)");
    if (!node_settings_.tag_overrides.empty())
      log::info(kStoreLog, "runtime tag changes kept on disk override the --tag flags (mob-tool tag ", config_.self.name,
                " --reset forgets them)");
  }

  // mob-tool eligibility / tag / drain: this agent's own settings change, on disk first, then
  // in its member record under a new incarnation, so that every peer's placement sees it.
  Result<NodeSettingsReply> change_node_settings(const NodeSettingsRequest& request) {
    if (request.node != config_.self.name)
      return fail(Errc::invalid_argument, "this agent is " + config_.self.name + ", not " + request.node +
                                              ": an agent's settings are changed at that agent (mob-tool "
                                              "finds its address with mob-tool members)");
    auto changed = apply_settings_request(node_settings_, request, flag_tags_);
    if (!changed) return std::unexpected(changed.error());
    if (*changed != node_settings_) {
      if (auto kept = archive_.keep_node_settings(*changed); !kept) {
        disk_refuses(kept.error().message);
        return fail(Errc::io, "cannot keep the change on disk: " + kept.error().message);
      }
      node_settings_ = std::move(*changed);
      config_.self.eligible = node_settings_.eligible;
      config_.self.tags = effective_tags(flag_tags_, node_settings_);
      log::info(kStoreLog, "this agent is now ", node_settings_.eligible ? "eligible" : "ineligible",
                " for instances; its tags: ", tags_text(config_.self.tags));
      next_incarnation();
      announce_self();
    }
    Member advertised = config_.self;
    advertised.incarnation = incarnation_;
    return NodeSettingsReply{std::move(advertised), running_here()};
  }

  // This agent's instance records of processes it runs or starts (a stopped copy's record
  // says so only once its process ended).
  std::uint32_t running_here() const {
    std::uint32_t running = 0;
    for (const auto& [key, entry] : state_.instances()) {
      const auto state = entry.status.state;
      if (!entry.removed && entry.status.node == config_.self.name &&
          (state == InstanceState::starting || state == InstanceState::running || state == InstanceState::restarting))
        ++running;
    }
    return running;
  }

  static std::string tags_text(const std::map<std::string, std::string>& tags) {
    std::string text;
    for (const auto& [key, value] : tags) text += (text.empty() ? "" : ",") + key + "=" + value;
    return text.empty() ? "none" : text;
  }

 public:
  // ---- metrics (docs/operations.md, "Metrics") --------------------------------------------

  // What the replicated state says (members, services, this agent's instances) and what this
  // store counted; the driver adds what its sockets carried.
  void write_metrics(Exposition& out) const {
    std::map<std::string, std::size_t> members;
    for (auto state = MemberState::alive; state != MemberState::count_;
         state = static_cast<MemberState>(static_cast<int>(state) + 1))
      members[std::string(to_string(state))] = 0;
    for (const auto& [key, entry] : state_.members()) ++members[std::string(to_string(entry.member.state))];
    out.family("mob_members", Exposition::Type::gauge, "Members of the network this agent knows, by state.");
    for (const auto& [state, count] : members) out.sample("mob_members", {{"state", state}}, static_cast<double>(count));
    out.family("mob_services", Exposition::Type::gauge, "Services deployed in the network (not removed).");
    out.sample("mob_services", static_cast<double>(deployed_count(state_)));
    std::map<std::string, std::size_t> instances;
    for (auto state = InstanceState::pending; state != InstanceState::count_;
         state = static_cast<InstanceState>(static_cast<int>(state) + 1))
      instances[std::string(to_string(state))] = 0;
    double restarts = 0;
    for (const auto& [key, entry] : state_.instances()) {
      if (entry.removed || entry.status.node != config_.self.name) continue;
      ++instances[std::string(to_string(entry.status.state))];
      restarts += entry.status.restarts;
    }
    out.family("mob_instances", Exposition::Type::gauge, "Instances on this agent, by state (their records in the replicated state).");
    for (const auto& [state, count] : instances)
      out.sample("mob_instances", {{"state", state}}, static_cast<double>(count));
    out.family("mob_instance_restarts", Exposition::Type::gauge,
               "Restarts of the instances on this agent, summed over their records (a removed instance's go with it).");
    out.sample("mob_instance_restarts", restarts);
    out.family("mob_eligible", Exposition::Type::gauge, "1 when placement may put instances on this agent, 0 when it is ineligible (drained).");
    out.sample("mob_eligible", config_.self.eligible ? 1 : 0);
    out.family("mob_local_health_penalty", Exposition::Type::gauge,
               "Lifeguard's local health penalty, 0 (healthy) to 8: this agent's probe interval and waits are stretched 1 + this times.");
    out.sample("mob_local_health_penalty", detector_.health_penalty());
    auto counter = [&](std::string_view name, std::string_view help, std::uint64_t value) {
      out.family(name, Exposition::Type::counter, help);
      out.sample(name, static_cast<double>(value));
    };
    counter("mob_probes_sent_total", "Direct SWIM probes this agent sent.", counters_.probes_sent);
    counter("mob_probes_failed_total", "Direct probes that got no ack in time (the target was then probed indirectly).",
            counters_.probes_failed);
    counter("mob_probe_nacks_sent_total",
            "Indirect probes this agent made for another whose target did not ack in time (answered with a nack).",
            counters_.nacks_sent);
    counter("mob_probe_nacks_received_total",
            "Nacks from helpers for this agent's failed probes: the failure did not count against its local health.",
            counters_.nacks_received);
    counter("mob_suspicions_total", "Times this agent declared a member suspect (or confirmed a suspicion).",
            counters_.suspicions);
    counter("mob_members_declared_failed_total", "Times this agent declared a suspect member failed.",
            counters_.declared_failed);
    counter("mob_events_published_total", "Events this agent published on its PUB socket.", counters_.events_published);
    counter("mob_write_copies_sent_total",
            "Copies of client writes this agent sent its peers before answering (one per batch of writes).",
            counters_.write_copies_sent);
    counter("mob_write_copies_taken_total", "Copies of peers' client writes this agent kept on its disk.",
            counters_.write_copies_taken);
    counter("mob_gossip_relays_left_out_total",
            "Service, assignment and instance records learned from gossip and not relayed: every reader of this agent "
            "reads their sender too.",
            counters_.relays_left_out);
    counter("mob_writes_with_one_copy_total",
            "Client writes this agent answered while no peer had confirmed a copy: lost if this agent is lost before "
            "they spread.",
            counters_.writes_with_one_copy);
    counter("mob_peer_list_writes_total", "Times this agent wrote its list of peers to disk (when it changed, and once a minute).",
            counters_.peer_list_writes);
    counter("mob_specs_parsed_total",
            "Spec texts this agent's store parsed (again when asked for after 10 to 20 s unused).", specs_.parses());
    out.family("mob_specs_held", Exposition::Type::gauge,
               "Services whose parsed spec this agent holds (those asked for in the last 10 to 20 s).");
    out.sample("mob_specs_held", static_cast<double>(specs_.held()));
    out.family("mob_sync_received_messages_total", Exposition::Type::counter,
               "Anti-entropy replies and pushes (SyncReply, SyncPush, JoinReply) this agent received on its links to peers.");
    out.sample("mob_sync_received_messages_total", static_cast<double>(counters_.sync_messages_received));
    out.family("mob_sync_received_bytes_total", Exposition::Type::counter, "Bytes of those messages.");
    out.sample("mob_sync_received_bytes_total", static_cast<double>(counters_.sync_bytes_received));
  }

 private:

  // The peers kept on disk, when no -j was given: a restarted network finds itself.
  std::vector<std::string> remembered_seeds() {
    auto peers = archive_.load_peers();
    if (!peers) {
      log::error(kStoreLog, "cannot read the peers this agent knew: ", peers.error().message);
      return {};
    }
    std::vector<std::string> seeds;
    for (const auto& peer : *peers)
      if (peer.name != config_.self.name && peer.address != config_.self.address && check_endpoint(peer.address))
        seeds.push_back(peer.address);
    if (!seeds.empty())
      log::info(kStoreLog, "no -j given: joining through the ", seeds.size(), " peer(s) remembered in ",
                config_.data_dir.string());
    return seeds;
  }

  void read_last_contact() {
    auto last = archive_.last_contact_ms();
    if (!last) log::error(kStoreLog, "cannot read when this agent last heard from its network: ", last.error().message);
    else if (*last) last_contact_ms_ = **last;
  }

  bool away_longer_than_ttl() const {
    if (last_contact_ms_ == 0) return false;  // it never had a network
    const std::uint64_t now = time_.wall_ms();
    const auto ttl = static_cast<std::uint64_t>(std::chrono::milliseconds(config_.tombstone_ttl).count());
    if (now <= last_contact_ms_ + ttl) return false;
    log::warn(kStoreLog, "this agent last heard from its network ", (now - last_contact_ms_) / 1000,
              " s ago, longer than --tombstone-ttl-s (", ttl / 1000,
              " s): it takes the network's state instead of the specs it kept, unless no peer answers");
    return true;
  }

  // The specs kept aside at start-up. When the network answered, its state replaces them:
  // a spec it no longer has was removed while this agent was away (its tombstone is
  // collected), so it is forgotten here too instead of coming back. When no peer answered,
  // this agent is all there is of the network and keeps them.
  void release_held_specs(bool network_answered) {
    if (held_specs_.empty()) return;
    auto held = std::move(held_specs_);
    held_specs_.clear();
    if (!network_answered) {
      log::info(kStoreLog, "no peer answered: keeping the ", held.size(), " service(s) kept on disk");
      StateDelta delta;
      delta.services = std::move(held);
      absorb(delta);
      return;
    }
    std::string forgotten;
    for (const auto& entry : held) {
      if (state_.service(entry.name)) continue;  // the network's record replaced it on disk
      uncollected_.push_back(entry.name);
      if (!entry.removed) forgotten += (forgotten.empty() ? "" : ", ") + entry.name;
    }
    if (!forgotten.empty())
      log::info(kStoreLog, "forgot service(s) the network no longer has (removed while this agent was away): ",
                forgotten);
    save();
  }

  // Writes the list of peers (name and address of every member but this agent and those that
  // left) and the last contact to disk (when one of them is live in this agent's view, that
  // it was heard from now), when the list changed or the contact is due for a refresh. A
  // member turning suspect and alive again does not change the list: under a storm of
  // suspicions, 200 agents each syncing their disk once a second only added load.
  void keep_peers() {
    const auto now = time_.steady_now();
    const bool contact_due = now >= next_contact_save_;
    peers_unsaved_ = false;
    // The list is compared by a hash of its names and addresses, not kept in memory: a copy
    // per agent of every member's name and address (about 100 bytes per member).
    std::uint64_t fingerprint = kFnvOffsetBasis;  // an empty list's
    auto feed = [&](std::string_view text) { fingerprint = fnv1a(std::string_view("", 1), fnv1a(text, fingerprint)); };
    bool heard = false;
    auto kept = [&](const Member& member) { return member.name != config_.self.name && member.state != MemberState::left; };
    for (const auto& [key, entry] : state_.members()) {
      const Member& member = entry.member;
      if (!kept(member)) continue;
      feed(member.name);
      feed(member.address);
      heard = heard || is_live_member(member.state);
    }
    if (heard) last_contact_ms_ = time_.wall_ms();
    if (!contact_due && fingerprint == kept_peers_fingerprint_) return;
    next_contact_save_ = now + std::min<Clock::duration>(kContactRefresh, config_.tombstone_ttl / 4);
    std::vector<ServiceArchive::Peer> peers;
    for (const auto& [key, entry] : state_.members())
      if (kept(entry.member)) peers.push_back({entry.member.name, entry.member.address});
    ++counters_.peer_list_writes;
    if (auto written = archive_.keep_peers(peers, last_contact_ms_); !written)
      log::error(kStoreLog, "cannot keep the network's members on disk: ", written.error().message);
    else kept_peers_fingerprint_ = fingerprint;
  }

  // Agents before 0.2 kept one JSON file per service in data-dir/services; they move into
  // the database once.
  void import_legacy_files() {
    std::error_code error;
    auto dir = config_.data_dir / "services";
    if (!std::filesystem::is_directory(dir, error)) return;
    std::vector<ServiceArchive::Record> records;
    std::vector<std::filesystem::path> files;
    for (const auto& file : std::filesystem::directory_iterator(dir, error)) {
      if (file.path().extension() != ".json") continue;
      auto text = read_whole_file(file.path());
      if (!text || !parse_service_record(*text)) {
        log::error(kStoreLog, "ignoring ", file.path().string(), ": not a service record");
        continue;
      }
      records.emplace_back(file.path().stem().string(), *text);
      files.push_back(file.path());
    }
    if (auto saved = archive_.commit(records, {}); !saved) {
      log::error(kStoreLog, "cannot import ", dir.string(), ": ", saved.error().message);
      return;
    }
    for (const auto& file : files) std::filesystem::remove(file, error);
    std::filesystem::remove(dir, error);  // only if nothing else is left in it
    if (!records.empty()) log::info(kStoreLog, "imported ", records.size(), " service(s) from ", dir.string());
  }

  // Queues the entry for the next batch written to disk.
  void persist(const ServiceEntry& entry) {
    if (unsaved_.empty()) save_at_ = time_.steady_now() + kSaveDelay;
    unsaved_.insert(entry.name);
  }

  // Writes every queued entry (and forgets collected ones) in one transaction. When the
  // disk refuses, they stay queued and are tried again (kDiskRetry).
  void save() {
    if (unsaved_.empty() && uncollected_.empty()) return;
    std::vector<ServiceArchive::Record> records;
    for (const auto& name : unsaved_)
      if (const ServiceEntry* entry = state_.service(name)) records.emplace_back(name, service_record_text(*entry));
    const bool disk_was_fine = disk_problem_.empty();
    if (auto saved = commit_queued(std::move(records)); !saved) {
      if (disk_was_fine)
        log::error(kStoreLog, "cannot keep ", unsaved_.size(), " service(s) on disk: ", saved.error().message);
      save_at_ = time_.steady_now() + kDiskRetry;
    }
  }

  // Writes the queued entries and `records` in one transaction; on success the queue is empty.
  Result<void> commit_queued(std::vector<ServiceArchive::Record> records) {
    auto saved = archive_.commit(records, uncollected_);
    if (!saved) {
      disk_refuses(saved.error().message);
      return saved;
    }
    unsaved_.clear();
    uncollected_.clear();
    disk_works();
    return {};
  }

  // A client's write reaches the disk before anything of it is applied, gossiped or
  // answered (with whatever else waits to be saved, in the same transaction). When the disk
  // refuses, nothing of it happened.
  Result<void> keep_before_applying(const ServiceEntry& entry) {
    std::vector<ServiceArchive::Record> records;
    for (const auto& name : unsaved_)
      if (const ServiceEntry* queued = state_.service(name); queued && name != entry.name)
        records.emplace_back(name, service_record_text(*queued));
    records.emplace_back(entry.name, service_record_text(entry));
    if (auto saved = commit_queued(std::move(records)); !saved)
      return fail(Errc::io, "cannot save the spec: " + saved.error().message + kDiskAdvice);
    return {};
  }

  // Applies a client's write kept by keep_before_applying().
  void apply_kept(const ServiceEntry& entry) {
    record(entry);
    unsaved_.erase(entry.name);  // it is on disk already
  }

  // The disk refused a write: this agent is degraded (members, status) until one succeeds.
  // `why` starts with what the disk is ("disk full in DIR"); the details that follow in
  // parentheses are logged, not gossiped, so that the member changes only when that does.
  void disk_refuses(const std::string& why) {
    next_disk_check_ = time_.steady_now() + kDiskRetry;
    const std::string trouble = why.substr(0, why.find(" ("));
    if (disk_problem_ == trouble) return;
    if (disk_problem_.empty())
      log::error(kStoreLog, "the disk refuses writes (", why,
                 "): this agent refuses client writes until it works again; trying every ",
                 std::chrono::duration_cast<std::chrono::milliseconds>(kDiskRetry).count(), " ms");
    disk_problem_ = trouble;
    config_.self.degraded = "its disk refuses writes: " + trouble;
    next_incarnation();
    announce_self();
  }

  void disk_works() {
    if (disk_problem_.empty()) return;
    log::info(kStoreLog, "the disk takes writes again: this agent takes client writes again");
    disk_problem_.clear();
    config_.self.degraded.clear();
    next_incarnation();
    announce_self();
  }

  void check_disk() {
    if (!unsaved_.empty() || !uncollected_.empty()) return save();
    if (auto written = archive_.check_writable(); !written) disk_refuses(written.error().message);
    else disk_works();
  }

  // ---- local changes -------------------------------------------------------------------

  Stamp stamp() { return Stamp{clock_.now(time_.wall_ms()), config_.self.name}; }

  void announce_self() {
    MemberEntry entry{config_.self, self_stamp(), config_.self.name};
    entry.member.state = MemberState::alive;
    entry.member.incarnation = incarnation_;
    record(entry);
  }

  // Merges a change made here and queues it for gossip.
  template <class Entry>
  void record(const Entry& entry) {
    StateDelta delta;
    if constexpr (std::is_same_v<Entry, MemberEntry>) delta.members.push_back(entry);
    else if constexpr (std::is_same_v<Entry, ServiceEntry>) delta.services.push_back(entry);
    else if constexpr (std::is_same_v<Entry, AssignmentEntry>) delta.assignments.push_back(entry);
    else delta.instances.push_back(entry);
    absorb(delta, Origin::here);
  }

  // Where a delta comes from: this agent's own changes are stamped by its own clock, which
  // may run a millisecond past the bound on stamps ahead (its counter overflowing after it
  // observed a stamp at the bound); they are never refused for it.
  enum class Origin { peers, here };

  // What of the changes a delta makes is relayed: service, assignment and instance records
  // that every reader of this agent got from their sender already are not (RelayCoverage).
  enum class Relay { everything, members_only };

  // Merges a delta (from here or a peer); what changed is persisted, gossiped on and acted on.
  void absorb(const StateDelta& delta, Origin origin = Origin::peers, Relay what = Relay::everything) {
    StateDelta changed;
    for (const auto& entry : delta.members) {
      if (origin == Origin::peers && stamped_too_far_ahead(entry.heartbeat, entry.reported_by)) {
        check_clock_of(entry);
        note_stamps_ahead(entry);
        continue;
      }
      if (auto allowed = check_incarnation(entry); !allowed) {
        refuse_change("incarnation " + std::to_string(entry.member.incarnation) + " of member " +
                          entry.member.name,
                      entry.reported_by, allowed.error().message);
        continue;
      }
      const MemberEntry* before = state_.member(entry.member.name);
      if (origin == Origin::peers && entry.member.name == config_.self.name && !leaving_ &&
          overrides_my_record(entry, before)) {
        // Only this agent speaks for itself: a record of it that others made and that would
        // win (another address, providers or state, or a later incarnation) is answered with
        // a newer incarnation of the true one, never merged.
        if (incarnation_ + 1 < kMaxIncarnation) {
          refute(std::min(std::max(entry.member.incarnation, incarnation_), kMaxIncarnation - 2));
        } else {
          refuse_change("a record of this agent at its last incarnation", entry.reported_by,
                        "it cannot be refuted; only this agent speaks for itself");
        }
        continue;
      }
      if (!before && state_.members().size() >= kMaxMembers) {
        refuse_change("a new member " + entry.member.name, entry.reported_by,
                      "this agent knows " + std::to_string(kMaxMembers) + " members, its limit");
        continue;
      }
      // A heartbeat: the same member, state and reporter, only a later stamp (and load).
      // A suspicion from another reporter is not soft: it is a confirmation, until the one
      // held has all the confirmations that shorten its timeout. Another reporter's word
      // that a member is failed, at the incarnation held failed, is soft too: both are
      // merged (the later record wins, as anti-entropy compares them) but not relayed, or
      // a partition in halves would carry every agent's own suspicion and declaration of
      // every member of the other half to every agent (docs/architecture.md, "Failure
      // detection").
      bool soft = before && before->member.incarnation == entry.member.incarnation &&
                  before->member.state == entry.member.state &&
                  (before->reported_by == entry.reported_by || redundant_report(entry));
      // update_peers() also looks at where a member listens, which a heartbeat could change.
      bool moved = before && (before->member.address != entry.member.address ||
                              before->member.pub_address != entry.member.pub_address);
      MemberState old_state = before ? before->member.state : MemberState::left;
      bool existed = before != nullptr;
      clock_.observe(entry.heartbeat);
      if (!state_.merge(entry)) {
        // A suspicion that lost the merge still confirms the one we hold (Lifeguard).
        const MemberEntry* held = state_.member(entry.member.name);
        if (entry.member.state == MemberState::suspect && held &&
            held->member.state == MemberState::suspect &&
            held->member.incarnation == entry.member.incarnation &&
            entry.member.name != config_.self.name)
          detector_.on_suspected(entry.member.name, entry.reported_by, time_.steady_now());
        continue;
      }
      if (!soft || moved) members_changed_.insert(entry.member.name);
      if (!soft || entry.member.name == config_.self.name) changed.members.push_back(entry);
      if (!soft) member_changed(entry, existed ? std::optional(old_state) : std::nullopt);
      if (!soft) publish_change(entry, existed ? std::optional(old_state) : std::nullopt);
    }
    for (const auto& entry : delta.services) {
      if (origin == Origin::peers && stamped_too_far_ahead(entry.stamp.hlc, entry.stamp.origin)) continue;
      clock_.observe(entry.stamp.hlc);
      std::optional<ServiceEntry> before;
      if (const auto* held = state_.service(entry.name)) before = *held;
      if (!state_.merge(entry)) continue;
      publish_change(entry, before);
      changed.services.push_back(entry);
      mark_dirty_with_dependents(entry.name);
      specs_.changed(entry);
      index_dependencies(entry);
      persist(entry);
    }
    for (const auto& entry : delta.assignments) {
      if (origin == Origin::peers && stamped_too_far_ahead(entry.stamp.hlc, entry.stamp.origin)) continue;
      clock_.observe(entry.stamp.hlc);
      std::optional<AssignmentEntry> before;
      if (const auto* held = state_.assignment(entry.service, entry.index)) before = *held;
      if (!state_.merge(entry)) continue;
      publish_change(entry, before);
      if (before && !before->removed && !entry.removed && before->generation != entry.generation)
        publish_rollout_move(entry);
      if (before && !before->removed && !entry.removed && before->node != entry.node)
        publish_rebalance_move(entry, before->node);
      changed.assignments.push_back(entry);
      dirty_services_.insert(entry.service);
    }
    std::vector<InstanceStatus> reassert;
    for (const auto& entry : delta.instances) {
      if (origin == Origin::peers && stamped_too_far_ahead(entry.stamp.hlc, entry.stamp.origin)) continue;
      clock_.observe(entry.stamp.hlc);
      const auto& status = entry.status;
      std::optional<InstanceBefore> before;
      if (const auto* held = state_.instance(status.service, status.index, status.node); held && !held->removed)
        before = InstanceBefore{held->status.state, held->status.health, held->status.spec_version};
      if (!state_.merge(entry)) continue;
      publish_change(entry, before);
      changed.instances.push_back(entry);
      mark_dirty_with_dependents(status.service);
      if (auto mine = contradicted_report(entry)) reassert.push_back(*mine);
    }
    for (const auto& status : reassert) record(InstanceEntry{status, false, stamp()});
    if (what == Relay::members_only) {
      const std::size_t left_out = changed.services.size() + changed.assignments.size() + changed.instances.size();
      counters_.relays_left_out += left_out;
      changed.services.clear();
      changed.assignments.clear();
      changed.instances.clear();
    }
    if (entry_count(changed) == 0) return;
    drop_superseded_from_outbox(changed.members);
    append(outbox_, std::move(changed));
  }

  // A member record still in the outbox that a newer one replaces in state or incarnation
  // (a suspicion its failure follows, a failure its refutation) need not go: receivers would
  // merge it only to replace it. Records in the same state stay (confirmations count apart).
  void drop_superseded_from_outbox(const std::vector<MemberEntry>& newer) {
    if (outbox_.members.empty() || newer.empty()) return;
    std::map<std::string_view, const MemberEntry*> latest;
    for (const auto& entry : newer) latest[entry.member.name] = &entry;
    std::erase_if(outbox_.members, [&](const MemberEntry& queued) {
      auto found = latest.find(queued.member.name);
      if (found == latest.end()) return false;
      const Member& next = found->second->member;
      return std::pair(queued.member.incarnation, member_state_rank(queued.member.state)) <
             std::pair(next.incarnation, member_state_rank(next.state));
    });
  }

  // What a peer's reply carries into the state passes the same door as its requests.
  static Result<void> admit_reply(const Body& body) {
    if (const auto* join = std::get_if<JoinReply>(&body)) return admit_delta(join->state, "state");
    if (const auto* push = std::get_if<SyncPush>(&body)) return admit_delta(push->delta, "delta");
    if (const auto* reply = std::get_if<SyncReply>(&body)) return admit_sync_reply(*reply);
    if (const auto* ack = std::get_if<ProbeAck>(&body); ack && !is_valid_agent_name(ack->from))
      return fail(Errc::invalid_argument, "from: not an agent name");
    if (const auto* nack = std::get_if<ProbeNack>(&body); nack && !is_valid_agent_name(nack->from))
      return fail(Errc::invalid_argument, "from: not an agent name");
    if (const auto* copied = std::get_if<WriteCopied>(&body); copied && !is_valid_agent_name(copied->from))
      return fail(Errc::invalid_argument, "from: not an agent name");
    return {};
  }

  // Another agent wrote over the record of an instance this agent runs (an owner tombstones
  // the instances of an agent it holds failed): once this agent refutes, the record says
  // again what runs here, so status never shows a running process as pending.
  std::optional<InstanceStatus> contradicted_report(const InstanceEntry& entry) const {
    const auto& status = entry.status;
    if (status.node != config_.self.name || entry.stamp.origin == config_.self.name) return std::nullopt;
    auto mine = my_instances_.find(instance_key(status.service, status.index, status.node));
    if (mine == my_instances_.end()) return std::nullopt;
    const InstanceStatus& reported = mine->second;
    bool live = reported.state == InstanceState::running || reported.state == InstanceState::starting;
    if (!live || (!entry.removed && status.state == reported.state && status.pid == reported.pid))
      return std::nullopt;
    return reported;
  }

  bool stamped_too_far_ahead(std::uint64_t stamp, const std::string& origin) {
    const std::uint64_t now_ms = time_.wall_ms();
    if (HybridClock::wall_ms_of(stamp) <= now_ms + kMaxClockAheadMs) return false;
    refuse_change("a change stamped " + std::to_string((HybridClock::wall_ms_of(stamp) - now_ms) / 1000) +
                      " s ahead of this agent's clock",
                  origin,
                  "at most " + std::to_string(kMaxClockAheadMs / 1000) +
                      " s are accepted; check the clocks of both machines (NTP)");
    return true;
  }

  // Logs a refused change at most once a minute, with the count of the ones not logged.
  void refuse_change(const std::string& what, const std::string& origin, const std::string& rule) {
    ++refused_changes_;
    auto now = time_.steady_now();
    if (now - last_refusal_log_ < std::chrono::minutes(1)) return;
    log::warn(kStoreLog, "refused ", refused_changes_, " change(s), the last from agent ", origin, ": ",
              what, " (", rule, ")");
    last_refusal_log_ = now;
    refused_changes_ = 0;
  }

  void mark_dirty_with_dependents(const std::string& service) {
    dirty_services_.insert(service);
    auto dependents = dependents_.find(service);
    if (dependents != dependents_.end())
      dirty_services_.insert(dependents->second.begin(), dependents->second.end());
  }

  // Records that `entry`'s service waits for its dependencies (dependents_), from disk at
  // start-up and from every merge after. A spec text that names no dependency is not parsed
  // for this (may_name_dependencies): every agent merges every service, and the parsed spec
  // would be held for nothing but this, about 0.6 KiB a service.
  void index_dependencies(const ServiceEntry& entry) {
    if (entry.removed || !may_name_dependencies(entry.spec_json.view())) return;
    if (const ServiceSpec* spec = spec_of(entry))
      for (const auto& dependency : spec->depends_on) dependents_[dependency].insert(entry.name);
  }

  // Whether `entry`, a record of this agent that came from elsewhere, would replace `held`
  // (what this agent recorded of itself) with something this agent did not say.
  bool overrides_my_record(const MemberEntry& entry, const MemberEntry* held) const {
    if (held && !is_newer(entry, *held)) return false;
    const Member& said = entry.member;
    const Member& me = config_.self;
    bool as_i_said = said.state == MemberState::alive && said.incarnation <= incarnation_ &&
                     said.address == me.address && said.pub_address == me.pub_address &&
                     said.providers == me.providers && said.tags == me.tags &&
                     said.version == me.version && said.problem == me.problem && said.eligible == me.eligible;
    return !as_i_said;
  }

  // A member's state, incarnation or advertised facts changed (a heartbeat alone does not
  // come here: it changes nothing placement or probing depends on).
  void member_changed(const MemberEntry& entry, std::optional<MemberState> old_state) {
    const auto& member = entry.member;
    members_dirty_ = true;
    if (member.name == config_.self.name) {
      bool about_me_wrong = member.state != MemberState::alive || member.incarnation > incarnation_;
      if (about_me_wrong && !leaving_) refute(member.incarnation);
      return;
    }
    if (!old_state || *old_state != member.state)
      log::info(kStoreLog, log::about_member(member.name), "member ", member.name, " is ", to_string(member.state),
                " (incarnation ", member.incarnation, ")");
    // Back from failed: a probe through a link that backed off while it was down could wait
    // most of a second and suspect it again just after it returned (tests/faults/restart_seed.sh).
    if (old_state == MemberState::failed && is_live_member(member.state)) net_.renew_peer(member.address);
    if (member.state == MemberState::suspect) {
      detector_.on_suspected(member.name, entry.reported_by, time_.steady_now());
      // Its readers (about 8: those that read its PUB) probe it as soon as they hear it
      // suspected, not at their turn a second or more away: if it is gone, their
      // confirmations bring the suspicion timeout to its minimum; if it is alive, 8 acks.
      if (entry.reported_by != config_.self.name && subscriptions_.subscribed(member.pub_address))
        detector_.probe_soon(member.name, time_.steady_now());
    } else {
      detector_.on_cleared(member.name);
    }
  }

  // Another reporter's record of a member in the state and incarnation held that adds
  // nothing: a failure already declared, or a suspicion whose reporter is counted already or
  // that has all the confirmations that shorten its timeout here.
  bool redundant_report(const MemberEntry& entry) const {
    if (entry.member.name == config_.self.name) return false;
    if (entry.member.state == MemberState::failed) return true;
    return entry.member.state == MemberState::suspect &&
           (detector_.suspicion_fully_confirmed(entry.member.name) ||
            detector_.suspicion_confirmed_by(entry.member.name, entry.reported_by));
  }

  // The incarnation of a change this agent makes to its own record. Once at the last one
  // (kMaxIncarnation - 1: a claim can push it there, see refute) it stays: the change then
  // wins by its later heartbeat, and no peer's door refuses the record.
  std::uint64_t next_incarnation() {
    if (incarnation_ + 1 < kMaxIncarnation) ++incarnation_;
    return incarnation_;
  }

  // Someone says this agent is suspect, failed or left, or knows a newer incarnation of it
  // (a previous life): announce a newer incarnation, alive.
  void refute(std::uint64_t their_incarnation) {
    incarnation_ = std::min(std::max(incarnation_, their_incarnation) + 1, kMaxIncarnation - 1);
    detector_.on_refuted_self();
    log::info(kStoreLog, "refuting a stale view of this agent: incarnation now ", incarnation_);
    announce_self();
  }

  // ---- events: every change this store learns, published once on PUB ------------------------

  void publish(Event event) {
    ++counters_.events_published;
    event.seq = ++event_seq_;
    std::string topic = event.topic;
    auto bytes = encode(Envelope{kProtocolVersion, 0, config_.self.name, Body{std::move(event)}});
    net_.publish(topic, bytes);  // a PUB drops at its high-water mark, never blocks
  }

  // Publishes the events a merged change makes (agent/change_events.hpp).
  template <class Entry, class Before>
  void publish_change(const Entry& entry, const Before& before) {
    for (auto& event : change_events(entry, before, EventSource{config_.self.name, time_.wall_ms()}))
      publish(std::move(event));
  }

  // service.rollout (batch): an instance moved to the new version of a rolling update.
  void publish_rollout_move(const AssignmentEntry& entry) {
    const ServiceEntry* service = state_.service(entry.service);
    const ServiceSpec* spec = service ? spec_of(*service) : nullptr;
    if (!spec || entry.generation != service->generation) return;
    publish(rollout_batch_event(entry, to_string(rollout_progress(state_, *service, *spec)),
                                EventSource{config_.self.name, time_.wall_ms()}));
  }

  // A rebalance's move (docs/events.md, service.rebalance batch): the service's rebalance is
  // wanted and the instance left an agent that can still run it (a failure or a drain moves
  // an instance too, but not for balance).
  void publish_rebalance_move(const AssignmentEntry& entry, const std::string& from_node) {
    const ServiceEntry* service = state_.service(entry.service);
    const ServiceSpec* spec = service && rebalance_wanted(*service) ? spec_of(*service) : nullptr;
    if (!spec) return;
    auto alive = fit_members(/*include_suspect=*/false);
    auto from = std::find_if(alive.begin(), alive.end(), [&](const Member& member) { return member.name == from_node; });
    if (from == alive.end() || !can_run(*spec, *from)) return;
    publish(rebalance_batch_event(entry, from_node, rebalance_spread(state_, *service, alive, spec_lookup_),
                                  EventSource{config_.self.name, time_.wall_ms()}));
  }

  // ---- requests from clients and peers -----------------------------------------------------

  void handle_request(const Routed& request) {
    std::visit(
        [&](const auto& body) {
          using T = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<T, PingRequest>) {
            net_.reply(request, PingReply{config_.self.name, MOB_VERSION, kProtocolVersion,
                                             config_.self.pub_address});
          } else if constexpr (std::is_same_v<T, DeployRequest>) {
            queue_deploy(request, body);
            commit_deploys();
          } else if constexpr (std::is_same_v<T, StatusRequest>) {
            answer(request, status(body));
          } else if constexpr (std::is_same_v<T, ControlRequest>) {
            if (auto again = recent_writes_.answer_to(body.write_id, time_.steady_now())) net_.reply(request, std::move(*again));
            else answer_write(request, body.write_id, control(body));
          } else if constexpr (std::is_same_v<T, MembersRequest>) {
            net_.reply(request, member_list(state_));
          } else if constexpr (std::is_same_v<T, ProbeRequest>) {
            handle_probe(request, body);
          } else if constexpr (std::is_same_v<T, IndirectProbeRequest>) {
            handle_indirect_probe(request, body);
          } else if constexpr (std::is_same_v<T, JoinRequest>) {
            absorb(StateDelta{{body.joiner}, {}, {}, {}});
            reply_everything(request);
          } else if constexpr (std::is_same_v<T, SyncRequest>) {
            handle_sync(request, body);
          } else if constexpr (std::is_same_v<T, SyncPush>) {
            absorb(body.delta);
          } else if constexpr (std::is_same_v<T, WriteCopy>) {
            take_copy(request, body);
          } else if constexpr (std::is_same_v<T, JoinCommand>) {
            if (body.seeds.empty()) {
              net_.reply(request, ErrorReply{Errc::invalid_argument, "join: name at least one HOST:PORT"});
              return;
            }
            join_.wait(request);
            begin_join(body.seeds);
          } else if constexpr (std::is_same_v<T, HistoryRequest>) {
            answer(request, service_history(read_view(), body));
          } else if constexpr (std::is_same_v<T, RollbackRequest>) {
            if (auto again = recent_writes_.answer_to(body.write_id, time_.steady_now())) net_.reply(request, std::move(*again));
            else answer_write(request, body.write_id, rollback(body));
          } else if constexpr (std::is_same_v<T, PromoteRequest>) {
            if (auto again = recent_writes_.answer_to(body.write_id, time_.steady_now())) net_.reply(request, std::move(*again));
            else answer_write(request, body.write_id, promote(body));
          } else if constexpr (std::is_same_v<T, RebalanceRequest>) {
            answer(request, rebalance(body));
          } else if constexpr (std::is_same_v<T, NodeSettingsRequest>) {
            answer(request, change_node_settings(body));
          } else if constexpr (std::is_same_v<T, MetricsRequest>) {
            Exposition out;
            write_metrics(out);
            net_.reply(request, MetricsReply{out.text()});
          } else if constexpr (std::is_same_v<T, LeaveCommand>) {
            net_.reply(request, LeaveReply{});
            net_.to_main(LeaveAsked{});  // main stops the agent, which announces it
          } else {
            net_.reply(request,
                     ErrorReply{Errc::unknown_type, "the store does not answer " +
                                                        std::string(type_name(request.envelope.body))});
          }
        },
        request.envelope.body);
  }

  template <class Reply>
  void answer(const Routed& request, Result<Reply> result) {
    if (result) net_.reply(request, std::move(*result));
    else net_.reply(request, ErrorReply{result.error().code, result.error().message});
  }

  const ServiceSpec* spec_of(const ServiceEntry& entry) { return specs_.current(entry); }

  // The view the client commands (agent/client_commands.hpp) decide from; `refusal` (from
  // write_refusal()) must outlive it.
  CommandView command_view(const std::string& refusal) {
    return CommandView{state_, spec_lookup_, config_.self.name, config_.spec_limits, config_.max_services, refusal,
                       config_.history};
  }
  // A temporary refusal would leave the view pointing at freed memory.
  CommandView command_view(std::string&&) = delete;
  // The view for reads, which no clock problem refuses.
  CommandView read_view() {
    // Never destroyed: a thread may still read through it while the process exits.
    static const auto* no_refusal = new const std::string();
    return command_view(*no_refusal);
  }

  // Client writes go through an agent whose clock the network can trust, or nowhere.
  std::string write_refusal() const {
    if (clock_problem_.empty() && !clock_step_unconfirmed() && clock_jump_unconfirmed())
      return "this agent's wall clock jumped " + std::to_string(clock_judge_.last_step_ms() / 1000) +
             " s and no peer has answered how it compares to theirs since: it takes no changes until one does; send the command through another agent";
    if (clock_problem_.empty() && clock_tie_unsettled())
      return "this agent's wall clock is more than " + std::to_string(kMaxClockAheadMs / 1000) +
             " s from the one peer that answered how it compares, and it was not compared since it started or stepped: it takes no changes until another peer answers; send the command through another agent";
    if (clock_problem_.empty() && !clock_step_unconfirmed() && clock_unheard_since_start())
      return "this agent's wall clock is not compared with its peers' yet (it just started and is joining them): it takes no changes until one has answered (at most " +
             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kNetworkWait).count()) +
             " s); send the command through another agent";
    if (clock_problem_.empty() && clock_step_unconfirmed())
      return (clock_judge_.last_step_ms() != 0
                  ? "this agent's wall clock just stepped by " + std::to_string(clock_judge_.last_step_ms() / 1000) + " s"
                  : std::string("this agent's wall clock is not compared with its peers' yet (it just joined them)")) +
             ": it takes no changes until its peers have answered how it compares to theirs (within " +
             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kClockCheckWait).count()) +
             " s); send the command through another agent";
    if (clock_problem_.empty()) return "";
    return "this agent's " + clock_problem_ +
           (clock_problem_judged_ ? ": it takes no changes until its clock is fixed (NTP)"
                                  : ": it takes no changes until then") +
           "; send the command through another agent";
  }

  // A client write taken: its answer, and the service it wrote (empty when it wrote nothing:
  // the retry of a write the state holds already).
  template <class Reply>
  struct Taken {
    Reply reply;
    std::string written;
  };

  // Keeps a decided client write on disk and applies it.
  template <class Reply>
  Result<Taken<Reply>> take_write(Result<ClientWrite<Reply>> write) {
    if (!write) return std::unexpected(write.error());
    if (!write->entry) return Taken<Reply>{std::move(write->reply), {}};
    if (auto kept = keep_before_applying(*write->entry); !kept) return std::unexpected(kept.error());
    std::string written = write->entry->name;
    apply_kept_with_spec(*write->entry, std::move(write->spec));
    return Taken<Reply>{std::move(write->reply), std::move(written)};
  }

  // Answers a client write: at once when it wrote nothing or failed, else once a peer holds
  // a copy (answer_with_copies); the answer is remembered for retries under `write_id`.
  template <class Reply>
  void answer_write(const Routed& request, const std::string& write_id, Result<Taken<Reply>> taken) {
    if (!taken) {
      net_.reply(request, ErrorReply{taken.error().code, taken.error().message});
    } else if (taken->written.empty()) {
      net_.reply(request, std::move(taken->reply));
    } else {
      std::vector<WriteCopies::Held> held;
      held.push_back(WriteCopies::Held{request, std::move(taken->reply), write_id});
      answer_with_copies(std::move(held), {taken->written});
    }
  }

  // Applies a kept client write with the spec it parsed, if any, so that it is not parsed again.
  void apply_kept_with_spec(const ServiceEntry& entry, std::optional<ServiceSpec> spec) {
    // The spec the write parsed is the one it writes: kept before the merge reads it.
    if (spec) specs_.remember(entry, std::move(*spec));
    apply_kept(entry);
    // A newer record that won the merge names another spec: the one handed in goes.
    if (const ServiceEntry* held = state_.service(entry.name); held && held->spec_json != entry.spec_json)
      specs_.changed(*held);
  }

  // ---- deploys: one synchronous commit for a run of them ---------------------------------

  // A deploy is decided at once against the state and kept in deploys_ until the run of
  // deploys it arrived in ends (any other input, or after_inputs): then one transaction keeps
  // them all (each fdatasync costs milliseconds: one per deploy held the store that long per
  // deploy, and probes waited behind), and each is applied and answered. A deploy that could
  // be decided otherwise with the queued ones applied commits them first: the same service
  // again, a spec with depends_on, or a refusal (its dependency or the --max-services room may
  // be in the queue). Nothing of a deploy is applied, gossiped or answered before it is on disk.
  void queue_deploy(const Routed& request, const DeployRequest& body) {
    if (auto again = recent_writes_.answer_to(body.write_id, time_.steady_now())) {
      net_.reply(request, std::move(*again));
      return;
    }
    auto decided = decide_queued_deploy(body);
    auto depends = [](const ClientWrite<DeployReply>& write) { return write.spec && !write.spec->depends_on.empty(); };
    if (!deploys_.empty() && (!decided || (decided->entry && (deploys_.contains(decided->entry->name) || depends(*decided))))) {
      commit_deploys();
      decided = decide_queued_deploy(body);
    }
    if (!decided) {
      net_.reply(request, ErrorReply{decided.error().code, decided.error().message});
      return;
    }
    if (!decided->entry) {
      net_.reply(request, std::move(decided->reply));
      return;
    }
    const std::string name = decided->entry->name;
    if (decided->reply.created) ++queued_creations_;
    const bool alone = depends(*decided);
    deploys_.emplace(name, QueuedDeploy{request, std::move(*decided->entry), std::move(decided->reply), body.write_id,
                                        std::move(decided->spec)});
    if (alone || deploys_.size() >= kDeployBatch) commit_deploys();
  }

  Result<ClientWrite<DeployReply>> decide_queued_deploy(const DeployRequest& body) {
    const std::string refusal = write_refusal();
    CommandView view = command_view(refusal);
    // The queued creations take their room under --max-services already.
    view.max_services = view.max_services > queued_creations_ ? view.max_services - static_cast<std::uint32_t>(queued_creations_) : 0;
    return decide_deploy(view, body, [this] { return stamp(); });
  }

  void commit_deploys() {
    if (deploys_.empty()) return;
    auto batch = std::move(deploys_);
    deploys_.clear();
    queued_creations_ = 0;
    std::vector<ServiceArchive::Record> records;
    for (const auto& name : unsaved_)
      if (const ServiceEntry* queued = state_.service(name); queued && !batch.contains(name))
        records.emplace_back(name, service_record_text(*queued));
    for (const auto& [name, deploy] : batch) records.emplace_back(name, service_record_text(deploy.entry));
    auto saved = commit_queued(std::move(records));
    std::vector<WriteCopies::Held> held;
    std::vector<std::string> written;
    for (auto& [name, deploy] : batch) {
      if (!saved) {
        net_.reply(deploy.request, ErrorReply{Errc::io, "cannot save the spec: " + saved.error().message + kDiskAdvice});
        continue;
      }
      apply_kept_with_spec(deploy.entry, std::move(deploy.spec));
      const DeployReply& reply = deploy.reply;
      log::info(kStoreLog, log::about_service(name), reply.created ? "deployed " : "updated ", name, " version ", reply.version);
      held.push_back(WriteCopies::Held{std::move(deploy.request), std::move(deploy.reply), std::move(deploy.write_id)});
      written.push_back(name);
    }
    answer_with_copies(std::move(held), written);
  }

  // ---- write copies: a client write is answered once a peer holds it too -----------------

  // Sends the records of `written` (the services the writes of `held` wrote) to up to
  // kWriteCopyPeers live peers and holds the answers until one says they are on its disk,
  // or kWriteCopyWait: each answer then says how many copies there were. With no live peer
  // to ask, the answers go at once, with one copy.
  void answer_with_copies(std::vector<WriteCopies::Held> held, const std::vector<std::string>& written) {
    if (held.empty()) return;
    const std::uint32_t peers = known_peers();
    const std::vector<std::string> targets = copy_targets();
    std::vector<bool> sent(held.size(), false);
    if (!targets.empty()) {
      StateDelta delta;
      for (const auto& name : written)
        if (const ServiceEntry* entry = state_.service(name)) delta.services.push_back(*entry);
      const auto deadline = time_.steady_now() + kWriteCopyWait;
      for (auto& piece : split(std::move(delta), kMaxEntriesPerGossip, piece_bytes())) {
        std::set<std::string_view> names;
        for (const auto& entry : piece.services) names.insert(entry.name);
        std::vector<WriteCopies::Held> mine;
        for (std::size_t i = 0; i < held.size(); ++i) {
          const std::string& service = std::visit([](const auto& r) -> const std::string& { return r.service; }, held[i].reply);
          if (sent[i] || !names.contains(service)) continue;
          sent[i] = true;
          mine.push_back(std::move(held[i]));
        }
        if (mine.empty()) continue;
        const std::size_t records = piece.services.size();
        const std::uint64_t id = copies_.open(std::move(mine), records, targets, peers, deadline);
        for (const auto& address : targets) send_to_peer(address, WriteCopy{id, config_.self.name, piece});
        ++counters_.write_copies_sent;
      }
    }
    for (std::size_t i = 0; i < held.size(); ++i) {
      if (sent[i]) continue;
      held[i].reply = WriteCopies::with_copies(std::move(held[i].reply), 1, peers);
      answer_held(std::move(held[i]));
    }
  }

  // A held answer leaves, remembered for retries of its write.
  void answer_held(WriteCopies::Held held) {
    if (std::visit([](const auto& r) { return r.copies; }, held.reply) < 2) ++counters_.writes_with_one_copy;
    const auto now = time_.steady_now();
    net_.reply(held.request,
               std::visit([&](auto& reply) { return Body{recent_writes_.remember(held.write_id, std::move(reply), now)}; },
                          held.reply));
  }

  // The other members this agent knows, but those that left: what a write's answer counts
  // its copies against.
  std::uint32_t known_peers() const {
    std::uint32_t count = 0;
    for (const auto& [key, entry] : state_.members())
      if (entry.member.state != MemberState::left && entry.member.name != config_.self.name) ++count;
    return count;
  }

  // Up to kWriteCopyPeers live peers, at random: alive ones first, suspected ones if too few.
  std::vector<std::string> copy_targets() {
    std::vector<const std::string*> alive, suspect;
    for (const auto& [key, entry] : state_.members()) {
      if (entry.member.name == config_.self.name) continue;
      if (entry.member.state == MemberState::alive) alive.push_back(&entry.member.address);
      else if (entry.member.state == MemberState::suspect) suspect.push_back(&entry.member.address);
    }
    std::shuffle(alive.begin(), alive.end(), random_);
    std::shuffle(suspect.begin(), suspect.end(), random_);
    std::vector<std::string> targets;
    for (const auto* list : {&alive, &suspect})
      for (const std::string* address : *list)
        if (targets.size() < kWriteCopyPeers) targets.push_back(*address);
    return targets;
  }

  // A peer's client write, copied here before that peer answers its client: through the
  // same door and merge as gossip, on disk at once (not kSaveDelay later), and answered with
  // how many of its records this agent now holds on disk (that write or a later one).
  void take_copy(const Routed& request, const WriteCopy& copy) {
    absorb(copy.delta);
    save();
    std::uint32_t held = 0;
    for (const auto& entry : copy.delta.services) {
      const ServiceEntry* mine = state_.service(entry.name);
      if (mine && !is_newer(entry.stamp, mine->stamp) && !unsaved_.contains(entry.name)) ++held;
    }
    if (held > 0 && held == copy.delta.services.size()) ++counters_.write_copies_taken;
    net_.reply(request, WriteCopied{copy.id, config_.self.name, held});
  }

  Result<Taken<ControlReply>> control(const ControlRequest& request) {
    const std::string refusal = write_refusal();
    auto taken = take_write(decide_control(command_view(refusal), request, [this] { return stamp(); }));
    if (taken) log::info(kStoreLog, log::about_service(request.service), to_string(request.action), " ", request.service);
    return taken;
  }

  Result<Taken<DeployReply>> rollback(const RollbackRequest& request) {
    const std::string refusal = write_refusal();
    auto taken = take_write(decide_rollback(command_view(refusal), request, [this] { return stamp(); }));
    if (taken)
      log::info(kStoreLog, log::about_service(taken->reply.service), "rolled ", taken->reply.service, " back as version ",
                taken->reply.version);
    return taken;
  }

  Result<Taken<ControlReply>> promote(const PromoteRequest& request) {
    const std::string refusal = write_refusal();
    auto taken = take_write(decide_promote(command_view(refusal), request, [this] { return stamp(); }));
    if (taken)
      log::info(kStoreLog, log::about_service(taken->reply.service), "promoted the canaries of ", taken->reply.service,
                " version ", taken->reply.version);
    return taken;
  }

  // Records the wish to rebalance each service named (every one when none is) that is not
  // spread evenly; its owner carries it out (move_rebalances), whatever becomes of the client.
  Result<RebalanceReply> rebalance(const RebalanceRequest& request) {
    const std::string refusal = write_refusal();
    auto write = decide_rebalance(command_view(refusal), request, fit_members(/*include_suspect=*/false),
                                  [this] { return stamp(); });
    if (!write) return std::unexpected(write.error());
    for (const auto& entry : write->entries) {
      if (auto kept = keep_before_applying(entry); !kept) return std::unexpected(kept.error());
      apply_kept(entry);
      log::info(kStoreLog, log::about_service(entry.name), "rebalance of ", entry.name, " asked for");
    }
    return std::move(write->reply);
  }

  Result<StatusReply> status(const StatusRequest& request) {
    return service_statuses(read_view(), request, [this] { return fit_members(/*include_suspect=*/false); });
  }

  // Members that may own services and run instances: live, and neither saying nor measured
  // to have a problem (a skewed clock would make its writes lose or be refused).
  std::vector<Member> fit_members(bool include_suspect) const {
    auto members = live_members(include_suspect);
    std::erase_if(members, [&](const Member& member) { return unfit(member); });
    return members;
  }

  // `entry`, a member's own word about itself, was refused for being stamped too far ahead:
  // its clock (or ours) is off. The stamp proves nothing (anyone can write one): probe the
  // member at its address, and take the sample from its ack (answer_clock_check).
  // The probe's seq when one was sent.
  std::optional<std::uint64_t> check_clock_of(const MemberEntry& entry) {
    const Member& member = entry.member;
    if (entry.reported_by != member.name || member.state != MemberState::alive) return std::nullopt;
    return ask_clock_of(member);
  }

  // Probes `member` for its wall clock (at most once per kClockCheckPeriod); the probe's seq
  // when one was sent.
  std::optional<std::uint64_t> ask_clock_of(const Member& member) {
    if (member.name == config_.self.name || clock_checks_.size() >= kMaxClockChecks) return std::nullopt;
    auto now = time_.steady_now();
    auto last = clock_checked_.find(member.name);
    if (last != clock_checked_.end() && now - last->second < kClockCheckPeriod) return std::nullopt;
    if (last == clock_checked_.end() && clock_checked_.size() >= kMaxMembers) return std::nullopt;
    clock_checked_[member.name] = now;
    std::uint64_t seq = kClockCheckSeqBase + next_clock_check_seq_++ % kClockCheckSeqBase;
    clock_checks_[seq] = ClockCheck{member.name, member.address, now + kClockCheckWait};
    send_to_peer(member.address, ProbeRequest{seq, config_.self.name, member.name, 0, time_.wall_ms()});
    return seq;
  }

  // Peers asked after this agent's wall clock stepped have not all answered yet (nor been
  // given up on): writes wait for their verdict.
  bool clock_step_unconfirmed() const {
    return std::any_of(clock_step_checks_.begin(), clock_step_checks_.end(),
                       [&](std::uint64_t seq) { return clock_checks_.contains(seq); });
  }

  void answer_clock_check(const ProbeAck& ack, const std::string& address) {
    auto check = clock_checks_.find(ack.seq);
    if (check == clock_checks_.end()) return;
    const bool sampled = check->second.name == ack.from && check->second.address == address;
    if (sampled) note_clock(ack.from, ack.wall_ms);
    clock_checks_.erase(check);
    if (sampled) check_clock();  // the verdict now, not at the next second's check
  }

  // The wall clock stepped against the steady clock (an NTP step, `date`): the samples taken
  // before compare peers with a clock that is no more. They are forgotten and a few live
  // peers are asked at once, so that a clock that jumped minutes ahead stops taking writes
  // within round trips, instead of when the probe rounds (one a second) have sampled enough
  // peers again; writes taken meanwhile would be stamped minutes ahead, which peers refuse.
  void watch_wall_clock() {
    const auto steady_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(time_.steady_now().time_since_epoch()).count();
    const auto offset = static_cast<std::int64_t>(time_.wall_ms()) - static_cast<std::int64_t>(steady_ms);
    const auto before = std::exchange(wall_minus_steady_ms_, offset);
    if (!before || std::llabs(offset - *before) < kWallClockStepMs) return;
    log::warn(kStoreLog, "this agent's wall clock stepped by ", offset - *before,
              " ms: checking it against its peers before trusting it");
    clock_judge_.forget_samples(offset - *before);
    clock_step_checks_.clear();
    clock_uncompared_ = true;
    // Peers' stamps found too far ahead were judged against the old clock: a clock put right
    // would otherwise hold every peer unfit (and take every service for itself) until the
    // judgments expired, while the peers moved them back (mob-sim seed 2011 of
    // random-clocks-behind: 10,000 placements in 7 s).
    if (!stamps_ahead_until_.empty()) {
      stamps_ahead_until_.clear();
      all_dirty_ = true;
    }
    auto peers = live_peers_shuffled();
    if (peers.size() > kClockStepChecks) peers.resize(kClockStepChecks);
    // Too few alive in this agent's view (it is back from a partition, or its peers were
    // just restarted): members it holds failed are asked too; those that answer are back.
    // Without them a step while cut off was taken on trust, and writes stamped minutes ahead
    // went out that every peer refused (mob-sim seed 702308: 373 s ahead, two deploys taken).
    if (peers.size() < kClockStepChecks) {
      std::vector<Member> failed;
      for (const auto& [key, entry] : state_.members())
        if (entry.member.state == MemberState::failed && entry.member.name != config_.self.name)
          failed.push_back(entry.member);
      std::shuffle(failed.begin(), failed.end(), random_);
      for (auto& member : failed) {
        if (peers.size() >= kClockStepChecks) break;
        peers.push_back(std::move(member));
      }
    }
    for (const auto& member : peers) {
      clock_checked_.erase(member.name);  // asked now, whenever it was asked last
      if (auto seq = ask_clock_of(member)) clock_step_checks_.insert(*seq);
    }
  }

  // `peer`'s wall clock read `their_wall_ms` just now (0: not known).
  void note_clock(const std::string& peer, std::uint64_t their_wall_ms) {
    if (peer == config_.self.name || !is_valid_agent_name(peer)) return;
    clock_judge_.note(peer, their_wall_ms, time_.wall_ms(), time_.steady_now());
    if (their_wall_ms != 0 && !clock_judge_.undecided()) clock_uncompared_ = false;
  }

  // The members alive in this agent's view but itself, in a random order: whom to ask for
  // their clocks.
  std::vector<Member> live_peers_shuffled() {
    auto peers = live_members(false);
    std::erase_if(peers, [&](const Member& member) { return member.name == config_.self.name; });
    std::shuffle(peers.begin(), peers.end(), random_);
    return peers;
  }

  // This agent's clock jumped further than peers' stamps may run ahead (kMaxClockAheadMs)
  // and no peer has been heard on it since: client writes and owner duties wait, the
  // instances keep running (a lone agent with nobody to ask could otherwise take writes
  // stamped minutes ahead that its peers refuse once they are back: mob-sim seed 731780).
  bool clock_jump_unconfirmed() const {
    return clock_uncompared_ && static_cast<std::uint64_t>(std::llabs(clock_judge_.last_step_ms())) > kMaxClockAheadMs;
  }

  // Whether every live member but this agent has a clock sample in the judge: nobody else
  // could still break a tie.
  bool every_live_peer_sampled() const {
    std::size_t live_peers = 0;
    for (const auto& [key, entry] : state_.members())
      if (entry.member.name != config_.self.name && is_live_member(entry.member.state)) ++live_peers;
    return clock_judge_.peers_sampled() >= live_peers;
  }

  // Not compared since it started or stepped, and the one peer that answered disagrees by
  // more than the bound while another may still answer: writes and owner duties wait for
  // that answer (check_clock judges the tie once nobody else can).
  bool clock_tie_unsettled() const { return clock_uncompared_ && clock_judge_.undecided(); }

  // Started with seeds, no peer has answered how its clock compares since, and the network
  // wait is not over: client writes and owner duties wait (a write taken in the moment
  // before the first answer was stamped by a clock that may have been set minutes ahead
  // while the agent was down). A lone agent, whose peers never answer, takes writes after
  // kNetworkWait.
  bool clock_unheard_since_start() const {
    return clock_uncompared_ && awaiting_network_ && time_.steady_now() - started_ < kNetworkWait;
  }

  // While this agent's clock has not been compared with a peer's since it started joining
  // or since it stepped (the peers asked then did not answer: it was cut off), the live
  // peers it hears from are asked at once, and writes wait for their verdict as after a
  // step. Without it a clock set 9 minutes ahead while the agent was down, or stepped while
  // it was cut off, took a deploy within a second of the agent hearing its peers again: the
  // write, stamped minutes ahead, was refused by every peer and beat the network's own
  // version of the service once real time caught up (mob-sim seeds 711591, 802706).
  void compare_clock_if_uncompared(const std::vector<std::string>& heard_again = {}) {
    if (!clock_uncompared_) return;
    for (const auto& name : heard_again) clock_checked_.erase(name);
    if (clock_step_unconfirmed()) return;
    for (const auto& member : live_peers_shuffled()) {
      if (clock_step_checks_.size() >= kClockStepChecks) break;
      if (auto seq = ask_clock_of(member)) clock_step_checks_.insert(*seq);
    }
  }

  // A member's own heartbeat came stamped too far ahead: whatever it writes is refused here,
  // so it may neither own services nor run instances in this agent's view for a while
  // (kClockSampleLife after the last such heartbeat).
  void note_stamps_ahead(const MemberEntry& entry) {
    const std::string& name = entry.member.name;
    if (entry.reported_by != name || name == config_.self.name || !state_.member(name)) return;
    auto [it, added] = stamps_ahead_until_.insert_or_assign(name, time_.steady_now() + kClockSampleLife);
    if (added) all_dirty_ = true;
  }

  bool unfit(const Member& member) const {
    if (!member.problem.empty()) return true;
    if (member.name == config_.self.name) return !clock_problem_.empty();
    if (auto ahead = stamps_ahead_until_.find(member.name);
        ahead != stamps_ahead_until_.end() && time_.steady_now() < ahead->second)
      return true;
    return clock_judge_.measured_off(member.name, time_.steady_now());
  }

  // Whether this agent's clock is off (agent/clock_judge.hpp): more of its peers are outside
  // the bound than inside it. Samples come only from acks to this agent's own probes (every agent probes each member
  // in turn; a member whose entries are refused as stamped ahead is probed for it), never
  // from what a message claims: a probe, gossip. Without a fresh sample the verdict stands.
  void check_clock() {
    auto now = time_.steady_now();
    std::erase_if(clock_checks_, [&](const auto& check) { return now >= check.second.give_up_at; });
    if (!clock_step_unconfirmed()) clock_step_checks_.clear();
    std::erase_if(clock_checked_, [&](const auto& last) { return now - last.second >= kClockCheckPeriod; });
    if (std::erase_if(stamps_ahead_until_, [&](const auto& until) { return now >= until.second; }) > 0)
      all_dirty_ = true;
    stamp_self_by_wall_if_ahead();
    // Without fresh samples the last verdict stands.
    // One peer against one, with no other live peer left to answer: the agent whose clock
    // has not been compared since it started or stepped is the odd one (mob-sim seed
    // 762767: an agent restarted with its data dir lost and its clock set 393 s ahead while
    // down, its only peer running all along; taking writes on the tie, it stamped a deploy
    // minutes ahead that beat the network's for 6.5 minutes). Its peer, compared before,
    // keeps taking writes: a network of two keeps one agent that works; two agents both just
    // started and minutes apart take none. While another live peer may still answer, the
    // tie only holds writes back (clock_tie_unsettled): an agent whose first answer after a
    // start or an NTP step came from the one peer with a bad clock would otherwise have
    // stopped its instances until the next answer.
    const bool lose_ties = clock_tie_unsettled() && every_live_peer_sampled();
    if (auto verdict = clock_judge_.judge_own_clock(now, lose_ties)) judged_clock_problem_ = *verdict;
    const bool judged = !judged_clock_problem_.empty();
    const std::string problem = judged ? judged_clock_problem_ : stamps_run_ahead();
    // The member record says what is wrong: it changes when the problem comes, goes, or
    // changes kind (a clock put back: "ahead of its peers" becomes "ran ahead"), not with
    // each second of its figures.
    const bool same_kind = problem.empty() == clock_problem_.empty() &&
                           (problem.empty() || judged == clock_problem_judged_);
    clock_problem_ = problem;  // what refusals say: current figures
    if (same_kind) {
      if (!problem.empty() && now - last_skew_log_ >= std::chrono::minutes(1)) {
        log::warn(kStoreLog, "this agent's ", problem, ": it refuses client writes and runs nothing; fix its clock (NTP)");
        last_skew_log_ = now;
      }
      return;
    }
    clock_problem_judged_ = judged;
    if (problem.empty()) {
      log::info(kStoreLog, "this agent's clock agrees with its peers again: it takes part fully once it has caught up");
      catch_up();
    }
    else log::warn(kStoreLog, "this agent's ", problem, ": it refuses client writes and runs nothing; fix its clock (NTP)");
    last_skew_log_ = now;
    config_.self.problem = problem.empty() ? "" : "its " + problem;
    next_incarnation();
    announce_self();
    all_dirty_ = true;
  }

  // Holds local assignments back until a peer's state has been taken in (kCatchUpLimit).
  void catch_up() {
    std::string peer = random_live_peer(state_, config_.self.name, random_);
    if (peer.empty()) return;
    catching_up_until_ = time_.steady_now() + kCatchUpLimit;
    catch_up_peer_ = peer;
    sync_with(peer);
  }

  bool catching_up() const { return catching_up_until_.has_value(); }

  void caught_up() {
    if (!catching_up_until_) return;
    log::info(kStoreLog, time_.steady_now() >= *catching_up_until_
                        ? "no answer from " + catch_up_peer_ + " within " +
                              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kCatchUpLimit).count()) + " s"
                        : "caught up with " + catch_up_peer_,
              ": this agent runs what it is assigned again");
    catching_up_until_.reset();
    catch_up_peer_.clear();
    all_dirty_ = true;
  }

  // A clock that was ahead and was put right leaves this agent's hybrid clock ahead of it
  // (stamps never go back): every change it stamps is refused by its peers until real time
  // catches up. Until then it is as skewed as a wrong clock: it runs nothing and takes no
  // writes, and the network runs its instances elsewhere.
  std::string stamps_run_ahead() const {
    const std::uint64_t stamps_ms = HybridClock::wall_ms_of(clock_.last());
    const std::uint64_t wall = time_.wall_ms();
    constexpr std::uint64_t kMargin = 1000;  // no flapping at the bound itself
    if (stamps_ms <= wall + kMaxClockAheadMs + kMargin) return "";
    return "clock ran ahead and was put back: its stamps run " + std::to_string((stamps_ms - wall) / 1000) +
           " s ahead of it until that time passes (more than " + std::to_string(kMaxClockAheadMs / 1000) +
           " s)";
  }

  // The heartbeat of this agent's own member record. Normally a hybrid-clock stamp. While
  // the hybrid clock runs past the bound ahead of the wall clock (stamps_run_ahead), peers
  // refuse such stamps, so they could not hear this agent refute a suspicion and would list
  // it failed until real time caught up: its member record is then stamped by the wall
  // clock instead, under a new incarnation (which orders before the heartbeat, so the
  // record still wins), and again by the hybrid clock, under another one, once it is back.
  std::uint64_t self_stamp() {
    if (!self_stamped_by_wall_) return clock_.now(time_.wall_ms());
    last_self_stamp_ = std::max(last_self_stamp_ + 1, time_.wall_ms() << 16);
    return last_self_stamp_;
  }

  void stamp_self_by_wall_if_ahead() {
    const bool by_wall = !stamps_run_ahead().empty();
    if (by_wall == self_stamped_by_wall_ || leaving_ || !state_.member(config_.self.name)) return;
    self_stamped_by_wall_ = by_wall;
    last_self_stamp_ = 0;
    next_incarnation();
    log::info(kStoreLog, by_wall ? "this agent's hybrid clock runs ahead of its wall clock: its member record is stamped by the wall clock (incarnation "
                            : "this agent's hybrid clock is within the bound again: its member record is stamped by it (incarnation ",
              incarnation_, ")");
    announce_self();
  }

  std::vector<Member> live_members(bool include_suspect) const { return state_.live_members(include_suspect); }

  // ---- membership: join, probes, gossip, anti-entropy ---------------------------------------

  template <class Message>
  void send_to_peer(const std::string& address, Message message) {
    net_.request(address, Body{std::move(message)}, !std::is_same_v<Message, SyncPush>);
  }

  std::string address_of(const std::string& name) const {
    const MemberEntry* entry = state_.member(name);
    return entry ? entry->member.address : "";
  }

  // Joins through the start-up seeds once every configured provider said whether it runs
  // here (the first word of each worker), or kAdvertiseWait after the start.
  void join_when_advertised() {
    if (seeds_to_join_.empty()) return;
    if (!unreported_providers_.empty() && time_.steady_now() - started_ < kAdvertiseWait) return;
    begin_join(seeds_to_join_);
    seeds_to_join_.clear();
  }

  void begin_join(const std::vector<std::string>& seeds) {
    for (const auto& why : join_.begin(seeds, time_.steady_now())) log::warn(kStoreLog, "not joining through ", why);
  }

  void send_join(const std::vector<std::string>& seeds) {
    const MemberEntry* self = state_.member(config_.self.name);
    if (!self) return;
    for (const auto& seed : seeds)
      if (seed != config_.self.address) send_to_peer(seed, JoinRequest{*self});
  }

  // The most a piece of state may pack to in one message (split above): half the limit
  // leaves room for the envelope and the keys a sync reply asks for.
  std::size_t piece_bytes() const { return std::max<std::size_t>(config_.max_message_bytes / 2, 4096); }

  void reply_everything(const Routed& request) {
    auto pieces = split(state_.everything(), kMaxEntriesPerGossip * 4, piece_bytes());
    // The last piece answers the request; the others go ahead as pushes to the joiner.
    for (std::size_t i = 0; i + 1 < pieces.size(); ++i)
      net_.reply(request, SyncPush{std::move(pieces[i])});
    net_.reply(request, JoinReply{std::move(pieces.back())});
  }

  void handle_probe(const Routed& request, const ProbeRequest& probe) {
    if (probe.target != config_.self.name) {
      net_.reply(request, ErrorReply{Errc::not_found, "this is agent " + config_.self.name +
                                                             ", not " + probe.target});
      return;
    }
    // Lifeguard's buddy system: the prober tells us we are suspected at incarnation n.
    if (probe.suspected_at != 0 && probe.suspected_at - 1 >= incarnation_) refute(probe.suspected_at - 1);
    net_.reply(request, ProbeAck{probe.seq, config_.self.name, incarnation_, time_.wall_ms()});
    // A member we hold failed probes us: it is back (a partition healed, one way at least).
    if (const MemberEntry* prober = state_.member(probe.from))
      if (prober->member.state == MemberState::failed) exchange_with_returning(*prober);
  }

  // Syncs with a member this agent holds failed that shows it is alive: its refutation and
  // whatever either side changed meanwhile cross in one exchange. At most one a second.
  void exchange_with_returning(const MemberEntry& member) {
    auto now = time_.steady_now();
    if (now < next_returning_sync_) return;
    next_returning_sync_ = now + std::chrono::seconds(1);
    log::info(kStoreLog, log::about_member(member.member.name), "failed member ", member.member.name, " answers again: exchanging state with it");
    net_.renew_peer(member.member.address);
    sync_with(member.member.address);
  }

  // A failed member may be alive behind a healed partition, or restarted: probe one at
  // random. The probe says it is suspected, so it refutes at once, and its ack starts the
  // exchange (handle_peer_reply).
  void probe_a_failed_member() {
    const Member* failed = random_failed_member(state_, config_.self.name, random_);
    if (!failed) return;
    const Member& target = *failed;
    net_.renew_peer(target.address);  // a fresh link reaches it at once if it is back
    send_to_peer(target.address, ProbeRequest{kReconnectSeqBase + next_reconnect_seq_++ % kReconnectSeqBase,
                                              config_.self.name, target.name, target.incarnation + 1,
                                              time_.wall_ms()});
  }

  void handle_indirect_probe(const Routed& request, const IndirectProbeRequest& indirect) {
    const auto now = time_.steady_now();
    std::optional<Clock::time_point> nack_at;
    if (indirect.wants_nack) nack_at = now + detector_.ack_timeout();
    auto seq = relays_.open(request, indirect.seq, now + detector_.probe_window() * 2, nack_at);
    if (!seq) {
      net_.reply(request, ErrorReply{Errc::unavailable, "this agent already relays " +
                                                           std::to_string(relays_.limit()) +
                                                           " probes; ask another member"});
      return;
    }
    std::string address = indirect.target_address.empty() ? address_of(indirect.target)
                                                          : indirect.target_address;
    if (!address.empty()) send_to_peer(address, ProbeRequest{*seq, config_.self.name, indirect.target, 0, time_.wall_ms()});
  }

  // Lifeguard's nacks: the relays whose target did not ack within this agent's ack wait tell
  // their requesters so (the relay stays open: a late ack is still passed on).
  void send_due_nacks(Clock::time_point now) {
    for (const auto& relay : relays_.nacks_due(now)) {
      ++counters_.nacks_sent;
      net_.reply(relay.request, ProbeNack{relay.seq, config_.self.name});
    }
  }

  // Anti-entropy's responder (SyncRequest in bus/messages.hpp): round one compares bucket
  // summaries and names the buckets that differ; round two (or the single round of an earlier
  // agent) answers a digest with what is newer here and the keys newer there.
  void handle_sync(const Routed& request, const SyncRequest& sync) {
    std::vector<std::string> wanted;
    StateDelta newer;
    if (sync.bucket_count == 0) {
      if (ClusterState::summary(state_.digest()) == sync.summary) {
        net_.reply(request, SyncReply{});
        return;
      }
      newer = state_.newer_than(sync.digest, wanted);
    } else if (sync.scope.empty()) {
      if (state_.total_summary() == sync.summary) net_.reply(request, SyncReply{});
      else net_.reply(request, SyncReply{{}, {}, sync.bucket_count, state_.bucket_summaries(sync.bucket_count)});
      return;
    } else {
      newer = state_.newer_than(sync.digest, wanted, sync.scope, sync.bucket_count);
    }
    auto pieces = split(std::move(newer), kMaxEntriesPerGossip * 4, piece_bytes());
    for (std::size_t i = 0; i + 1 < pieces.size(); ++i)
      net_.reply(request, SyncPush{std::move(pieces[i])});
    net_.reply(request, SyncReply{std::move(pieces.back()), std::move(wanted), 0, {}});
  }

  // An ack finds the probe it answers by its seq (agent/membership.hpp).
  void on_probe_ack(const ProbeAck& ack, const std::string& address) {
    switch (ack_for(ack.seq)) {
      case AckFor::relay:
        if (auto relay = relays_.close(ack.seq))
          net_.reply(relay->request, ProbeAck{relay->seq, ack.from, ack.incarnation, ack.wall_ms});
        return;
      case AckFor::reconnect:
        if (const MemberEntry* member = state_.member(ack.from); member && member->member.state == MemberState::failed)
          exchange_with_returning(*member);
        return;
      case AckFor::clock_check:
        answer_clock_check(ack, address);
        return;
      case AckFor::detector:
        // A clock sample counts only from the member this agent probed itself, answering from
        // the address this agent holds for it: made-up members cannot vote its clock wrong.
        if (detector_.probe_target(ack.seq) == ack.from && address_of(ack.from) == address) {
          const bool was_uncompared = clock_uncompared_;
          note_clock(ack.from, ack.wall_ms);
          // The first sample since a start or a step decides at once (a tie it loses).
          if (was_uncompared) check_clock();
        }
        detector_.on_ack(ack.seq, time_.steady_now());
        return;
    }
  }

  void handle_peer_reply(const std::string& address, const std::vector<std::string>& frames) {
    auto envelope = decode(frames.back(), config_.max_message_bytes);
    if (!envelope) {
      log::warn(kStoreLog, "bad reply from ", address, ": ", envelope.error().message);
      return;
    }
    const Body& body = envelope->body;
    if (std::holds_alternative<SyncReply>(body) || std::holds_alternative<SyncPush>(body) ||
        std::holds_alternative<JoinReply>(body)) {
      ++counters_.sync_messages_received;
      counters_.sync_bytes_received += frames.back().size();
    }
    if (auto admitted = admit_reply(body); !admitted) {
      refuse_change(std::string(type_name(body)) + " refused: " + admitted.error().message, address,
                    "docs/security.md, what peers may send");
      return;
    }
    if (const auto* ack = std::get_if<ProbeAck>(&body)) {
      on_probe_ack(*ack, address);
    } else if (const auto* nack = std::get_if<ProbeNack>(&body)) {
      if (detector_.on_nack(nack->seq)) ++counters_.nacks_received;
    } else if (const auto* join = std::get_if<JoinReply>(&body)) {
      absorb(join->state);
      if (join_.joining()) log::info(kStoreLog, "joined the network through ", address);
      if (config_.state_from_network) {
        log::warn(kStoreLog, "took the state from the network through ", address, " in place of the damaged state.db: ",
                  deployed_count(state_), " service(s)");
        config_.state_from_network = false;
      }
      auto waiting = join_.answered();
      joined_ = true;
      release_held_specs(/*network_answered=*/true);
      for (const auto& request : waiting)
        net_.reply(request, JoinCommandReply{static_cast<std::uint32_t>(live_members(true).size())});
    } else if (const auto* push = std::get_if<SyncPush>(&body)) {
      absorb(push->delta);
    } else if (const auto* reply = std::get_if<SyncReply>(&body)) {
      absorb(reply->newer);
      // The exchange's last round: no buckets left to compare.
      if (address == catch_up_peer_ && reply->buckets.empty()) caught_up();
      if (!reply->wanted_keys.empty()) {
        for (auto& piece : split(state_.entries(reply->wanted_keys), kMaxEntriesPerGossip * 4, piece_bytes()))
          send_to_peer(address, SyncPush{std::move(piece)});
      }
      if (!reply->buckets.empty()) send_digests(address, reply->bucket_count, state_.differing_buckets(reply->buckets));
    } else if (const auto* copied = std::get_if<WriteCopied>(&body)) {
      for (auto& held : copies_.answered(*copied, address)) answer_held(std::move(held));
    } else if (const auto* error = std::get_if<ErrorReply>(&body)) {
      log::warn(kStoreLog, "peer ", address, " refused: ", error->message);
    }
  }

  void handle_gossip(const std::vector<std::string>& frames) {
    if (frames.size() != 2) return;
    auto envelope = decode_gossip(frames[1], config_.max_message_bytes,
                                  [this](const RecordPeek& record) { return holds_as_new(record); });
    if (!envelope) {
      log::warn(kStoreLog, "dropped bad gossip: ", envelope.error().message);
      return;
    }
    auto* gossip = std::get_if<Gossip>(&envelope->body);
    if (!gossip || gossip->sender == config_.self.name) return;
    if (!is_valid_agent_name(gossip->sender)) {
      refuse_change("gossip from a sender whose name is not an agent name", printable(gossip->sender),
                    "agent names are 1-253 letters, digits, '.', '_', '-', ':', '@', '[' or ']'");
      return;
    }
    if (auto admitted = admit_delta(gossip->delta, "delta"); !admitted) {
      refuse_change("gossip refused: " + admitted.error().message, gossip->sender,
                    "docs/security.md, what peers may send");
      return;
    }
    auto& last = last_seq_[gossip->sender];
    if (last != 0 && gossip->seq > last + 1) gap_sync_with_ = gossip->sender;  // missed some (or later)
    last = std::max(last, gossip->seq);
    // Every reader of this agent that also reads the sender got the sender's records from it;
    // when all of them do, only member records go on (docs/architecture.md, "Gossip").
    const bool covered = coverage_.readers_read(gossip->sender);
    absorb(gossip->delta, Origin::peers, covered ? Relay::members_only : Relay::everything);
  }

  // Gossip comes from up to --max-subscriptions peers, so a record arrives again and again;
  // a record not newer than the one held would change nothing: decode_gossip asks this of
  // each (`record`, peeked at in the message) and leaves out those this agent holds as new,
  // before they are decoded, checked at the door or their specs parsed (the cost of a deploy
  // storm, and of a partition's suspicions, at every agent). A member record is left out only
  // when it is the very record held, or an older heartbeat of it, and absorb would do nothing
  // with it: not a record of this agent (which may have to be refuted), not one stamped too
  // far ahead (which says this agent's clock may be behind), not a suspicion whose reporter
  // the failure detector has not counted (a suspicion that loses the merge still confirms).
  bool holds_as_new(const RecordPeek& record) const {
    const Stamp* held = nullptr;
    switch (record.kind) {
      case RecordPeek::Kind::member: {
        if (record.member == config_.self.name) return false;
        const MemberEntry* entry = state_.member(record.member);
        return entry && entry->member.incarnation == record.incarnation && entry->member.state == record.state &&
               entry->heartbeat >= record.heartbeat && entry->reported_by == record.reported_by &&
               HybridClock::wall_ms_of(record.heartbeat) <= time_.wall_ms() + kMaxClockAheadMs &&
               (record.state != MemberState::suspect || detector_.counted(record.member, record.reported_by));
      }
      case RecordPeek::Kind::service:
        if (const auto* entry = state_.service(record.service)) held = &entry->stamp;
        break;
      case RecordPeek::Kind::assignment:
        if (const auto* entry = state_.assignment(record.service, record.index)) held = &entry->stamp;
        break;
      case RecordPeek::Kind::instance:
        if (const auto* entry = state_.instance(record.service, record.index, record.node)) held = &entry->stamp;
        break;
    }
    return held && !is_newer(record.hlc, record.origin, *held);
  }

  // Sends what the outbox holds now, unless it holds only membership changes and the last
  // message went out less than kMembershipGossipSpacing ago (next_deadline() comes back).
  void flush_when_due() {
    if (entry_count(outbox_) == 0) return;
    const auto now = time_.steady_now();
    const bool members_only = outbox_.services.empty() && outbox_.assignments.empty() && outbox_.instances.empty();
    // A full message's worth goes at once: holding it saves no message, and a heal or a join
    // storm relays thousands of member records, which waited here decoded (about 0.4 KB each).
    const bool full = outbox_.members.size() >= kMaxEntriesPerGossip;
    if (members_only && !full && now < next_membership_gossip_) return;
    flush();
  }

  void flush() {
    if (entry_count(outbox_) == 0) return;
    next_membership_gossip_ = time_.steady_now() + kMembershipGossipSpacing;
    for (auto& piece : split(std::exchange(outbox_, StateDelta{}), kMaxEntriesPerGossip, piece_bytes())) {
      auto bytes = encode(Envelope{kProtocolVersion, 0, config_.self.name,
                                   Body{Gossip{config_.self.name, ++gossip_seq_, std::move(piece)}}});
      net_.publish(kGossipTopic, bytes);
    }
  }

  // ---- timers ----------------------------------------------------------------------------

  Clock::time_point next_deadline() const {
    auto deadline = std::min({heartbeat_timer_.latest(), sync_timer_.latest(), gc_timer_.latest(),
                              detector_.next_deadline()});
    if (has_failed_members_) deadline = std::min(deadline, next_reconnect_);
    if (peers_unsaved_) deadline = std::min(deadline, peers_save_at_);
    if (join_.joining()) deadline = std::min(deadline, join_.next_at());
    if (!seeds_to_join_.empty()) deadline = std::min(deadline, started_ + kAdvertiseWait);
    if (!unsaved_.empty() || !uncollected_.empty()) deadline = std::min(deadline, save_at_);
    if (!disk_problem_.empty()) deadline = std::min(deadline, next_disk_check_);
    if (all_dirty_ || !dirty_services_.empty()) deadline = std::min(deadline, time_.steady_now());
    for (const auto& [name, at] : rollout_rechecks_) deadline = std::min(deadline, at);
    if (catching_up_until_) deadline = std::min(deadline, *catching_up_until_);
    if (!gap_sync_with_.empty()) deadline = std::min(deadline, next_gap_sync_);
    if (!outbox_.members.empty()) deadline = std::min(deadline, next_membership_gossip_);
    deadline = std::min(deadline, relays_.next_nack());
    if (auto copies_due = copies_.next_deadline()) deadline = std::min(deadline, *copies_due);
    return deadline;
  }

  void run_timers() {
    auto now = time_.steady_now();
    watch_wall_clock();
    if (catching_up_until_ && now >= *catching_up_until_) caught_up();
    join_when_advertised();
    if (auto seeds = join_.due(now); !seeds.empty()) send_join(seeds);
    for (const auto& request : join_.overdue(now))
      net_.reply(request, ErrorReply{Errc::unavailable,
                                     "no seed answered within 2.5 s; is mob-agent running there?"
                                     " (still trying in the background)"});
    if (heartbeat_timer_.due(now)) {
      heartbeat();
      heartbeat_timer_.ran(now);
    }
    for (const auto& action : detector_.tick(now)) act(action);
    const bool sync_due = sync_timer_.due(now);
    if (sync_due && local_.has_handovers()) all_dirty_ = true;  // handover deadlines
    for (auto it = rollout_rechecks_.begin(); it != rollout_rechecks_.end();) {
      if (now < it->second) {
        ++it;
        continue;
      }
      dirty_services_.insert(it->first);
      it = rollout_rechecks_.erase(it);
    }
    // A gap in a sender's gossip asks for a sync with it at once, but not more than once a
    // quarter period: during a burst, gaps come by the hundred (a message dropped past a
    // queue's limit, or overtaken by the next on another path), and each sync then compares
    // states that differ by the writes in flight (a digest of every differing bucket).
    if (!gap_sync_with_.empty() && now >= next_gap_sync_) {
      if (sync_soon_.empty()) sync_soon_ = gap_sync_with_;
      gap_sync_with_.clear();
      next_gap_sync_ = now + config_.sync_interval / 4;
    }
    if (sync_due || !sync_soon_.empty()) {
      sync_with(sync_soon_.empty() ? random_live_peer(state_, config_.self.name, random_) : address_of(sync_soon_));
      sync_soon_.clear();
      if (sync_due) sync_timer_.ran(now);
    }
    if (now >= next_clock_check_) {
      check_clock();
      compare_clock_if_uncompared();
      next_clock_check_ = now + std::chrono::seconds(1);
    }
    if (gc_timer_.due(now)) {
      collect_garbage();
      specs_.sweep();  // the parsed specs no duty asked for since the last sweep
      gc_timer_.ran(now);
    }
    if (has_failed_members_ && now >= next_reconnect_) {
      probe_a_failed_member();
      std::uniform_real_distribution<double> jitter(0.5, 1.5);
      next_reconnect_ = now + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double, std::milli>(
                                      static_cast<double>(config_.reconnect_interval.count()) * jitter(random_)));
    }
    if (peers_unsaved_ && now >= peers_save_at_) {
      keep_peers();
    } else if (now >= next_contact_save_) {
      if (live_members(true).size() > 1) keep_peers();
      else next_contact_save_ = now + kContactRefresh;
    }
    send_due_nacks(now);
    relays_.expire(now);
    for (auto& held : copies_.expired(now)) answer_held(std::move(held));
  }

  void heartbeat() {
    const MemberEntry* self = state_.member(config_.self.name);
    if (!self || leaving_) return;
    MemberEntry entry = *self;
    entry.heartbeat = self_stamp();
    entry.member.load = static_cast<double>(local_.local_instances());
    state_.merge(entry);
    StateDelta delta;
    delta.members.push_back(std::move(entry));
    append(outbox_, std::move(delta));
  }

  void act(const FailureDetector::Action& action) {
    using Kind = FailureDetector::Action::Kind;
    const MemberEntry* target = state_.member(action.target);
    if (!target) return;
    switch (action.kind) {
      case Kind::probe: {
        ++counters_.probes_sent;
        std::uint64_t suspected_at =
            target->member.state == MemberState::suspect ? target->member.incarnation + 1 : 0;
        send_to_peer(target->member.address,
                     ProbeRequest{action.seq, config_.self.name, action.target, suspected_at, time_.wall_ms()});
        return;
      }
      case Kind::indirect_probe:
        ++counters_.probes_failed;  // the direct probe got no ack in time
        for (const auto& helper : action.helpers) {
          auto address = address_of(helper);
          if (!address.empty())
            send_to_peer(address, IndirectProbeRequest{action.seq, config_.self.name, action.target,
                                                       target->member.address, /*wants_nack=*/true});
        }
        return;
      case Kind::suspect:
        // Already suspect: our own suspicion is an independent confirmation (Lifeguard),
        // which shortens everyone's suspicion timeout; once (our first accusation counts
        // too), and not once the suspicion has every confirmation that shortens the timeout
        // (memberlist's cap).
        if (target->member.state == MemberState::suspect) {
          if (!detector_.suspicion_confirmed_by(action.target, config_.self.name) &&
              !detector_.suspicion_fully_confirmed(action.target))
            accuse(*target, MemberState::suspect);
          return;
        }
        if (target->member.state != MemberState::alive) return;
        accuse(*target, MemberState::suspect);
        return;
      case Kind::declare_failed:
        if (target->member.state != MemberState::suspect) return;
        accuse(*target, MemberState::failed);
        return;
    }
  }

  void accuse(const MemberEntry& target, MemberState state) {
    ++(state == MemberState::suspect ? counters_.suspicions : counters_.declared_failed);
    MemberEntry entry = target;
    entry.member.state = state;
    entry.heartbeat = clock_.now(time_.wall_ms());
    entry.reported_by = config_.self.name;
    record(entry);
  }

  // Anti-entropy's first round: the sum of this agent's record hashes, and how many buckets
  // to compare if the peer's differs: about 8 records a bucket, 1 to 256 buckets
  // (docs/architecture.md, "Anti-entropy").
  void sync_with(const std::string& address) {
    if (address.empty()) return;
    auto bucket_count = static_cast<std::uint32_t>(
        std::clamp<std::size_t>(std::bit_ceil(std::max<std::size_t>(1, state_.record_count() / 8)), 1,
                                ClusterState::kSummaryBuckets));
    send_to_peer(address, SyncRequest{config_.self.name, state_.total_summary(), {}, bucket_count, {}});
  }

  // Anti-entropy's second round: the digests of the buckets whose summaries differ, in as many
  // requests as it takes to keep each digest under kMaxEntriesPerGossip * 4 entries (a bucket
  // larger than that goes alone).
  void send_digests(const std::string& address, std::uint32_t bucket_count, const std::vector<std::uint32_t>& buckets) {
    const std::size_t limit = kMaxEntriesPerGossip * 4;
    auto sizes = state_.bucket_sizes(buckets, bucket_count);
    std::vector<std::uint32_t> scope;
    std::size_t entries = 0;
    auto send = [&] {
      if (scope.empty()) return;
      send_to_peer(address, SyncRequest{config_.self.name, state_.total_summary(), state_.digest(scope, bucket_count),
                                        bucket_count, scope});
      scope.clear();
      entries = 0;
    };
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      if (!scope.empty() && entries + sizes[i] > limit) send();
      scope.push_back(buckets[i]);
      entries += sizes[i];
    }
    send();
  }

  void collect_garbage() {
    recent_writes_.forget_expired(time_.steady_now());
    auto ttl_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(config_.tombstone_ttl).count());
    auto now_ms = time_.wall_ms();
    if (now_ms <= ttl_ms) return;
    std::vector<std::string> removed_specs = state_.removed_services();
    std::vector<std::string> gone_members;  // only failed and left ones are collected
    for (const auto& [key, entry] : state_.members())
      if (entry.member.state == MemberState::failed || entry.member.state == MemberState::left)
        gone_members.push_back(entry.member.name);
    std::uint64_t cutoff = (now_ms - ttl_ms) << 16;
    auto failed_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(config_.reconnect_timeout).count());
    std::uint64_t failed_cutoff = now_ms > failed_ms ? (now_ms - failed_ms) << 16 : 0;
    // A member cut off (failed, still retried) may hold records that tombstones written since
    // it was cut off remove: they are kept until it is back or reaped, or it would bring
    // them back when the partition heals. kFailureMargin covers what it may have missed
    // while it was being found out (suspicion, confirmation, lost gossip).
    if (auto failure = state_.earliest_failure(failed_cutoff)) {
      constexpr std::uint64_t kFailureMargin = std::uint64_t{10 * 60 * 1000} << 16;
      cutoff = std::min(cutoff, *failure > kFailureMargin ? *failure - kFailureMargin : 0);
    }
    if (state_.collect_garbage(cutoff, failed_cutoff) == 0) return;
    for (const auto& name : removed_specs)
      if (!state_.service(name)) uncollected_.push_back(name);
    for (auto& name : gone_members)
      if (!state_.member(name)) members_changed_.insert(std::move(name));
    save();
    members_dirty_ = true;
  }

  // ---- after every change: peers, placement, local assignments ------------------------------

  // Re-examines only the services something happened to (all of them when membership
  // changed), so one deploy costs the same in a network of 10 services or 10,000.
  void after_change() {
    if (members_dirty_) {
      members_dirty_ = false;
      update_peers();
      all_dirty_ = true;
      if (!peers_unsaved_) peers_save_at_ = time_.steady_now() + kPeersSaveDelay;
      peers_unsaved_ = true;
    }
    refresh_coverage();
    if (!held_specs_.empty() && !joined_ && owner_duties_allowed()) release_held_specs(false);
    bool owner_duties = !leaving_ && owner_duties_allowed();
    if (owner_duties && !owner_duties_were_allowed_) all_dirty_ = true;
    owner_duties_were_allowed_ = owner_duties;
    if (all_dirty_) {
      for (const auto& [key, service] : state_.services()) dirty_services_.insert(service.name);
      all_dirty_ = false;
      sweep_pending_ = true;
    }
    if (!dirty_services_.empty()) {
      // At most kPlacementBudget instances' worth of services a turn (one service at least),
      // so that requests and probes are answered between turns however much there is to place.
      std::vector<std::string> targets;
      std::size_t work = 0;
      // The members fit to run instances, copied once a turn for every plan of it (each copy
      // is every member's record: six a turn were 6 % of a store's time in a deploy burst).
      FitMembers fit;
      if (owner_duties) fit = {fit_members(/*include_suspect=*/false), fit_members(/*include_suspect=*/true)};
      std::vector<std::string> owners;  // who may own a service (plan_owned_services' list)
      for (const auto& member : fit.live) owners.push_back(member.name);
      // Finding a service's owner costs a hash per member: past a few dozen, as much as the
      // parse it saves.
      const bool parse_all = owners.size() > kOwnerCheckMembers;
      for (auto it = dirty_services_.begin(); it != dirty_services_.end() && (targets.empty() || work < kPlacementBudget);) {
        work += 1 + (parse_all ? wanted_instances(*it) : turn_work(*it, owners));
        targets.push_back(*it);
        it = dirty_services_.erase(it);
      }
      // Services that vanished entirely are withdrawn once a whole pass is done.
      bool everything = sweep_pending_ && dirty_services_.empty();
      if (everything) sweep_pending_ = false;
      if (owner_duties) place_owned_services(targets, fit);
      push_local_assignments(targets, everything);
    }
    flush_when_due();
  }

  // What planning `service` costs this turn, in instances: the instances it wants where this
  // agent owns it (placement visits each), else its assignments (push_local_assignments looks
  // for this agent among them). Only an owner parses the spec for it: every agent plans every
  // service that changed, and parsing all of them was a tenth of each store's work in a burst
  // of deploys.
  std::size_t turn_work(const std::string& service, const std::vector<std::string>& owners) {
    if (!owners.empty() && owner_of(service, owners) == config_.self.name) return wanted_instances(service);
    std::size_t assignments = 0;
    state_.for_each_assignment(service, [&](const AssignmentEntry&) { ++assignments; });
    return assignments;
  }

  std::size_t wanted_instances(const std::string& service) {
    const ServiceEntry* entry = state_.service(service);
    if (!entry || entry->removed) return 0;
    const ServiceSpec* spec = spec_of(*entry);
    return spec ? mob::wanted_instances(*entry, *spec) : 0;
  }

  bool owner_duties_allowed() const {
    // A joining agent first learns the network's state, so it does not place on a stale view.
    if (!clock_problem_.empty()) return false;
    // Nor on a clock its peers have not answered for yet: a placement stamped by a clock that
    // had just stepped 9 minutes ahead beat every later one for those 9 minutes in this
    // agent's view, an instance left on a dead agent (mob-sim seed 710846).
    if (clock_step_unconfirmed() || clock_jump_unconfirmed() || clock_unheard_since_start() || clock_tie_unsettled())
      return false;
    return !awaiting_network_ || joined_ || time_.steady_now() - started_ > kNetworkWait;
  }

  // A subscription of ours ended without our asking: probe the peer now.
  void on_subscription_dropped(const std::string& endpoint) {
    if (!subscriptions_.subscribed(endpoint)) return;  // we left it, or no member of ours
    for (const auto& [key, entry] : state_.members()) {
      const Member& member = entry.member;
      if (member.pub_address != endpoint || !is_live_member(member.state)) continue;
      log::debug(kStoreLog, "lost the connection to ", member.name, "'s gossip: probing it now");
      detector_.probe_soon(member.name, time_.steady_now());
      return;
    }
  }

  // Reads the gossip of the peers agent/subscriptions.hpp picks, after membership changed
  // (members_changed_), and tells the failure detector which members to probe.
  void update_peers() {
    auto changes = subscriptions_.update(state_, members_changed_);
    members_changed_.clear();
    if (!changes.added.empty() || !changes.gone.empty()) {
      // Worked out again after the change, at most once a kCoveragePeriod (quadratic in the
      // members, and a join storm or a partition changes them every turn); meanwhile
      // everything is relayed.
      coverage_.clear();
      coverage_stale_ = true;
    }
    for (const auto& address : changes.forget) net_.forget_peer(address);
    for (const auto& pub : changes.unsubscribe) net_.unsubscribe(pub);
    for (const auto& pub : changes.subscribe) net_.subscribe(pub);
    if (!changes.sync_first.empty()) sync_soon_ = changes.sync_first;
    detector_.change_members(changes.added, changes.gone);
    const bool has_failed = subscriptions_.has_failed_members();
    if (has_failed && !has_failed_members_) next_reconnect_ = time_.steady_now() + config_.reconnect_interval;
    has_failed_members_ = has_failed;
    compare_clock_if_uncompared(changes.added);  // a peer heard again, or the first ones after a join
  }

  // The members fit to run instances: alive ones, and live ones (alive or suspect).
  struct FitMembers {
    std::vector<Member> alive, live;
  };

  void refresh_coverage() {
    if (!coverage_stale_ || subscriptions_.live_publishers() >= coverage_.max_members()) return;
    const auto now = time_.steady_now();
    if (now < coverage_due_) return;
    coverage_.update(state_);
    coverage_stale_ = false;
    coverage_due_ = now + kCoveragePeriod;
  }

  void place_owned_services(const std::vector<std::string>& targets, const FitMembers& fit) {
    auto writes = plan_owned_services(state_, targets, fit.alive, fit.live, config_.self.name, spec_lookup_);
    for (auto& write : writes.assignments) {
      if (!write.removed) {
        const AssignmentEntry* before = state_.assignment(write.service, write.index);
        log::info(kStoreLog, log::about_service(write.service), "placed ", write.service, "/", write.index, " on ", write.node,
                  before && !before->removed ? " (was on " + before->node + ")" : "");
      }
      write.stamp = stamp();
      record(write);
    }
    for (auto& tombstone : writes.instance_tombstones) {
      tombstone.stamp = stamp();
      record(tombstone);
    }
    move_rollouts(targets, fit);
    move_rebalances(targets, fit);
  }

  // Rebalances this agent owns: the next batch once the last one runs, or the end
  // (agent/rebalance.hpp). Instance changes mark the service dirty, which plans it again.
  void move_rebalances(const std::vector<std::string>& targets, const FitMembers& fit) {
    auto writes = plan_owned_rebalances(state_, targets, fit.alive, fit.live, config_.self.name, spec_lookup_);
    for (auto& move : writes.moves) {
      const AssignmentEntry* before = state_.assignment(move.service, move.index);
      log::info(kStoreLog, log::about_service(move.service), "rebalance: moving ", move.service, "/", move.index,
                before ? " from " + before->node : "", " to ", move.node);
      move.stamp = stamp();
      record(move);
    }
    for (auto& service : writes.services) {
      log::info(kStoreLog, log::about_service(service.name), "rebalance of ", service.name, " ", service.rebalance);
      service.stamp = stamp();
      record(service);
    }
  }

  // Rolling updates this agent owns: the next batch, the end, or a revert
  // (agent/rollout_plan.hpp); looked at again when time alone changes the answer.
  void move_rollouts(const std::vector<std::string>& targets, const FitMembers& fit) {
    const std::uint64_t now_ms = time_.wall_ms();
    auto writes = plan_rollouts(state_, targets, fit.live, config_.self.name,
                                spec_lookup_, now_ms, config_.history);
    for (auto& move : writes.moves) {
      log::info(kStoreLog, log::about_service(move.service), "rolling ", move.service, "/", move.index, " on ", move.node, " to version ", move.generation);
      move.stamp = stamp();
      record(move);
    }
    for (auto& service : writes.services) {
      log::info(kStoreLog, log::about_service(service.name), "rollout of ", service.name, ": ",
                service.rollout.empty() ? "done, version " + std::to_string(service.generation) : service.rollout.str());
      service.stamp = stamp();
      record(service);
    }
    if (writes.recheck_at_ms) {
      auto at = time_.steady_now() + std::chrono::milliseconds(*writes.recheck_at_ms - std::min(*writes.recheck_at_ms, now_ms));
      for (const auto& name : targets) {
        const ServiceEntry* service = state_.service(name);
        if (service && rollout_active(*service)) rollout_rechecks_[name] = at;
      }
    }
  }

  // Sends the supervisor what this agent should run, when that changed, and tombstones the
  // records of instances it no longer runs (agent/local_assignments.hpp).
  void push_local_assignments(const std::vector<std::string>& targets, bool everything) {
    auto changes = local_.update(state_, targets, everything, config_.self.name, !clock_problem_.empty() || catching_up(),
                                 spec_lookup_, stable_spec_lookup_, time_.steady_now());
    for (auto& body : changes.to_supervisor) net_.to_supervisor(std::move(body));
    for (auto& entry : changes.stale) {
      entry.stamp = stamp();
      record(entry);
    }
  }

  // ---- the supervisor and main ---------------------------------------------------------------

  void handle_supervisor(const InternalBody& message) {
    if (const auto* availability = std::get_if<ProviderAvailability>(&message)) {
      set_provider_available(availability->provider, availability->available);
      unreported_providers_.erase(availability->provider);
      join_when_advertised();
      return;
    }
    const auto* report = std::get_if<InstanceReport>(&message);
    if (!report) return;
    InstanceEntry entry{report->status, false, stamp()};
    entry.status.node = config_.self.name;
    auto key = instance_key(entry.status.service, entry.status.index, entry.status.node);
    bool live = entry.status.state == InstanceState::running || entry.status.state == InstanceState::starting;
    if (live) my_instances_[key] = entry.status;
    else my_instances_.erase(key);
    record(entry);
  }

  void handle_control(const ControlBody& body) {
    if (std::holds_alternative<ShutdownRequest>(body)) {
      stopping_ = true;
      flush();
      net_.to_main(ShutdownDone{});
    } else if (std::holds_alternative<AnnounceLeave>(body)) {
      leave();
      net_.to_main(LeaveAnnounced{});
    }
  }

  // What this agent advertises changed: a new incarnation carries it to every peer.
  void set_provider_available(const std::string& provider, bool available) {
    auto& advertised = config_.self.providers;
    bool listed = std::find(advertised.begin(), advertised.end(), provider) != advertised.end();
    if (listed == available) return;
    if (available) advertised.push_back(provider);
    else std::erase(advertised, provider);
    std::sort(advertised.begin(), advertised.end());
    log::info(kStoreLog, available ? "advertising provider " : "no longer advertising provider ", provider);
    if (state_.member(config_.self.name)) next_incarnation();
    announce_self();
  }

  void leave() {
    if (leaving_) return;
    const MemberEntry* self = state_.member(config_.self.name);
    if (!self) return;
    MemberEntry entry = *self;
    entry.member.incarnation = incarnation_ + 1;
    entry.member.state = MemberState::left;
    entry.heartbeat = self_stamp();
    entry.reported_by = config_.self.name;
    leaving_ = true;
    // Only an alive record may take the last incarnations (agent/admission.hpp): peers would
    // refuse this one. An agent a claim pushed that high leaves unannounced: found failed.
    if (auto allowed = check_incarnation(entry); !allowed) {
      log::warn(kStoreLog, "this agent cannot announce that it leaves (its incarnation is ", incarnation_,
                ", pushed there by a peer's claim): its peers will find it failed");
      return;
    }
    incarnation_ = entry.member.incarnation;
    record(entry);
    flush();
    // Tell every live peer directly too: the slowest subscriber still learns it at once.
    for (const auto& member : live_members(true))
      if (member.name != config_.self.name) send_to_peer(member.address, SyncPush{StateDelta{{entry}, {}, {}, {}}});
    log::info(kStoreLog, "announced that this agent leaves the network");
  }

  StoreConfig config_;
  const TimeSource& time_ = config_.time ? *config_.time : system_time();
  ServiceArchive archive_;
  std::set<std::string, KeyOrder> unsaved_;           // services whose record is not on disk yet
  std::vector<std::string> uncollected_;    // collected tombstones still on disk
  Clock::time_point save_at_{};
  std::string disk_problem_;  // what the disk that refused the last write is ("disk full in DIR"), or empty
  Clock::time_point next_disk_check_{};
  RecentWrites recent_writes_{kRecentWrites, kRecentWriteLife};
  WriteCopies copies_;  // client writes answered once a peer holds a copy
  // Deploys decided and waiting for their commit (queue_deploy), by service.
  struct QueuedDeploy {
    Routed request;
    ServiceEntry entry;
    DeployReply reply;
    std::string write_id;
    std::optional<ServiceSpec> spec;  // as the deploy parsed it
  };
  std::map<std::string, QueuedDeploy> deploys_;
  std::size_t queued_creations_ = 0;  // of deploys_, the ones that create a service
  std::uint64_t refused_changes_ = 0;  // since the last warning
  Clock::time_point last_refusal_log_{};
  StoreTransport& net_;
  std::set<std::string> members_changed_;  // since update_peers() last ran (absorb, collect_garbage)
  Subscriptions subscriptions_{config_.self.name, config_.max_subscriptions};
  RelayCoverage coverage_{config_.self.name, config_.max_subscriptions};
  bool coverage_stale_ = false;       // members changed since coverage_ was worked out
  Clock::time_point coverage_due_{};  // not worked out again before then
  ClusterState state_;
  HybridClock clock_;
  FailureDetector detector_;
  std::mt19937_64 random_;
  SpecCache specs_{kAnySpecFromThePeers};
  const SpecOf spec_lookup_ = [this](const ServiceEntry& entry) { return spec_of(entry); };
  const SpecOf stable_spec_lookup_ = [this](const ServiceEntry& entry) { return specs_.stable(entry); };
  LocalAssignments local_;
  std::map<std::string, std::uint64_t> last_seq_;
  ProbeRelays relays_{kMaxRelays};
  JoinAttempt join_;
  StateDelta outbox_;
  std::uint64_t gossip_seq_ = 0;
  std::uint64_t event_seq_ = 0;
  std::uint64_t incarnation_ = 0;
  std::map<std::string, std::string> flag_tags_;  // --tag, before the runtime changes
  struct Counters {
    std::uint64_t probes_sent = 0;
    std::uint64_t probes_failed = 0;
    std::uint64_t nacks_sent = 0;      // as a helper: the target was silent to us too
    std::uint64_t nacks_received = 0;  // as a prober: for a probe that then did not count against us
    std::uint64_t suspicions = 0;
    std::uint64_t declared_failed = 0;
    std::uint64_t events_published = 0;
    std::uint64_t sync_messages_received = 0;
    std::uint64_t sync_bytes_received = 0;
    std::uint64_t peer_list_writes = 0;
    std::uint64_t write_copies_sent = 0;     // WriteCopy rounds this agent opened for its clients' writes
    std::uint64_t write_copies_taken = 0;    // peers' writes copied to this agent's disk
    std::uint64_t relays_left_out = 0;       // records every reader had from their sender
    std::uint64_t writes_with_one_copy = 0;  // client writes answered held by this agent alone
  } counters_;
  // A hash of the peer list the last keep_peers() wrote (at first: an empty list's, so that an
  // agent that knows no peer yet does not write over the ones it remembers).
  std::uint64_t kept_peers_fingerprint_ = kFnvOffsetBasis;
  NodeSettings node_settings_;                    // kept in the archive
  bool self_stamped_by_wall_ = false;  // self_stamp()
  std::uint64_t last_self_stamp_ = 0;
  std::string sync_soon_;
  std::string gap_sync_with_;             // a sender whose gossip had a gap, awaiting its sync
  Clock::time_point next_gap_sync_{};     // the earliest time of the next sync for a gap
  std::optional<Clock::time_point> catching_up_until_;  // catch_up()
  std::string catch_up_peer_;                           // its address
  bool stopping_ = false;
  bool leaving_ = false;
  bool all_dirty_ = false;
  bool sweep_pending_ = false;  // a pass over every service is under way (after_change)
  bool owner_duties_were_allowed_ = false;
  std::set<std::string, KeyOrder> dirty_services_;
  std::map<std::string, Clock::time_point> rollout_rechecks_;  // by service: when to plan its rollout again
  std::vector<ServiceEntry> held_specs_;  // restored specs waiting for the network (load)
  std::vector<std::string> seeds_to_join_;         // until join_when_advertised()
  std::set<std::string> unreported_providers_;    // configured, not yet reported by their worker
  bool awaiting_network_ = false;         // started with seeds, given or remembered
  bool has_failed_members_ = false;       // some member is failed: probe_a_failed_member runs
  Clock::time_point next_membership_gossip_{};  // flush_when_due()
  bool peers_unsaved_ = false;            // membership changed since keep_peers()
  std::uint64_t last_contact_ms_ = 0;     // wall ms when a live peer was last known
  std::uint64_t next_reconnect_seq_ = 0;
  std::map<std::string, InstanceStatus, KeyOrder> my_instances_;
  ClockJudge clock_judge_{{kMaxClockAheadMs, kClockSampleLife, kMaxMembers}};
  std::optional<std::int64_t> wall_minus_steady_ms_;  // at the last turn: watch_wall_clock()
  std::string clock_problem_;  // "clock is 600 s behind 2 of its 2 peers ...", or empty
  bool clock_problem_judged_ = false;  // clock_problem_ is the judge's verdict (not stamps_run_ahead)
  std::string judged_clock_problem_;  // the clock judge's last verdict
  std::map<std::string, Clock::time_point> stamps_ahead_until_;  // note_stamps_ahead()
  struct ClockCheck {
    std::string name, address;
    Clock::time_point give_up_at;
  };
  std::map<std::uint64_t, ClockCheck> clock_checks_;          // by probe seq, in flight
  std::set<std::uint64_t> clock_step_checks_;  // of those, the ones sent after the last step
  bool clock_uncompared_ = false;  // no peer's clock sampled since it started joining or stepped
  std::map<std::string, Clock::time_point> clock_checked_;    // when each member was last
  std::uint64_t next_clock_check_seq_ = 0;
  Clock::time_point next_clock_check_{};
  Clock::time_point last_skew_log_{};  // the supervisor's last report, by instance key
  Clock::time_point next_reconnect_{};
  Clock::time_point next_returning_sync_{};
  Clock::time_point peers_save_at_{};
  Clock::time_point next_contact_save_{};
  std::map<std::string, std::set<std::string>, KeyOrder> dependents_;  // service -> services needing it
  bool members_dirty_ = false;
  bool joined_ = false;
  Clock::time_point started_;
  // Periodic work that may move within half a period: it runs in wake-ups the loop has anyway
  // (the failure detector's probes), so an idle agent wakes about once a probe interval.
  LaxTimer heartbeat_timer_{config_.heartbeat_interval};
  LaxTimer sync_timer_{config_.sync_interval};
  LaxTimer gc_timer_{std::chrono::seconds(10)};
};

PeerStore::PeerStore(StoreConfig config, ServiceArchive archive, StoreTransport& net)
    : store_(std::make_unique<Store>(std::move(config), std::move(archive), net)) {}
PeerStore::~PeerStore() = default;
void PeerStore::start() { store_->start(); }
void PeerStore::on_request(const Routed& request) { store_->on_request(request); }
void PeerStore::on_supervisor(const InternalBody& message) { store_->on_supervisor(message); }
void PeerStore::on_main(const ControlBody& message) { store_->on_main(message); }
void PeerStore::on_gossip(const std::vector<std::string>& frames) { store_->on_gossip(frames); }
void PeerStore::on_subscription_lost(const std::string& pub_address) { store_->on_subscription_lost(pub_address); }
void PeerStore::on_peer_reply(const std::string& address, const std::vector<std::string>& frames) {
  store_->on_peer_reply(address, frames);
}
void PeerStore::after_inputs(StepGuard& guard) { store_->after_inputs(guard); }
std::chrono::steady_clock::time_point PeerStore::deadline() const { return store_->deadline(); }
bool PeerStore::stopping() const { return store_->stopping(); }
std::uint64_t PeerStore::specs_parsed() const { return store_->specs_parsed(); }
std::size_t PeerStore::specs_held() const { return store_->specs_held(); }
const ClusterState& PeerStore::state() const { return store_->state(); }
void PeerStore::finish() { store_->finish(); }
void PeerStore::write_metrics(Exposition& out) const { store_->write_metrics(out); }
std::chrono::steady_clock::duration PeerStore::reply_wait() const { return store_->reply_wait(); }

namespace {


// The DEALER that carries this agent's requests to one peer. The driver polls it only for a
// while after each request (Store::reply_wait()): a reply later than that waits in the
// socket and is read after the next request to that peer (join and sync are retried; a
// probe's ack that late is stale).
struct PeerLink {
  zmq::socket_t socket;
  Clock::time_point reply_until{};
  Clock::time_point last_used{};
  Clock::time_point made{};
};

// A peer's link retries a lost connection after 100 ms, then backs off to at most this
// (fewer connection attempts to a member that is gone for good).
constexpr int kPeerLinkReconnectMs = 100;
constexpr int kPeerLinkReconnectMaxMs = 1000;

// The store on real sockets: owns them, polls them, hands each message to the Store and
// carries what it sends (StoreTransport). The loop of the store's thread.
class ZmqStoreDriver final : public StoreTransport {
 public:
  ZmqStoreDriver(StoreConfig config, ServiceArchive archive, zmq::context_t& context, zmq::socket_t io,
                 zmq::socket_t supervisor, zmq::socket_t control, zmq::socket_t pub, zmq::socket_t metrics)
      : self_name_(config.self.name),
        self_address_(config.self.address),
        max_message_bytes_(config.max_message_bytes),
        curve_(config.curve),
        time_(config.time ? *config.time : system_time()),
        context_(context),
        io_(std::move(io)),
        supervisor_(std::move(supervisor)),
        control_(std::move(control)),
        pub_(std::move(pub)),
        sub_(context, zmq::socket_type::sub),
        metrics_(std::move(metrics)),
        // The kernel of a peer whose process dies closes its connections at once, and this
        // agent's subscription to it is one: the earliest sign of a crash, so the peer is
        // probed out of turn (the probe decides, as always).
        sub_events_(context, sub_, "store-sub-events", ZMQ_EVENT_DISCONNECTED),
        // The connections to the PUB socket (peers reading gossip, event subscribers),
        // counted for the metrics.
        pub_events_(context, pub_, "store-pub-events", ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED),
        store_(std::move(config), std::move(archive), *this) {
    harden_socket(sub_, max_message_bytes_);
    keep_links_alive(sub_);
    if (curve_) make_curve_client(sub_, *curve_);
    sub_.set(zmq::sockopt::subscribe, kGossipTopic);
  }

  ZmqStoreDriver(const ZmqStoreDriver&) = delete;
  ZmqStoreDriver& operator=(const ZmqStoreDriver&) = delete;

  // The state on disk, this agent's record, the join: before the loop, and before ready.
  void start() {
    guard_.run("starting", [&] { store_.start(); });
  }

  void run() {
    while (!store_.stopping()) {
      std::vector<zmq::pollitem_t> items = {{io_.handle(), 0, ZMQ_POLLIN, 0},
                                            {supervisor_.handle(), 0, ZMQ_POLLIN, 0},
                                            {control_.handle(), 0, ZMQ_POLLIN, 0},
                                            {sub_.handle(), 0, ZMQ_POLLIN, 0},
                                            sub_events_.poll_item(),
                                            pub_events_.poll_item()};
      // The HTTP endpoint's pipe, when the agent serves metrics (--metrics-addr).
      const bool serves_metrics = metrics_.handle() != nullptr;
      if (serves_metrics) items.push_back({metrics_.handle(), 0, ZMQ_POLLIN, 0});
      const std::size_t kFirstDealer = serves_metrics ? 7 : 6;
      // A peer's DEALER is polled only while a reply may come (PeerLink): in a large network
      // most of them are idle, and each socket polled costs syscalls on every wake-up.
      std::vector<std::string> dealer_keys;
      auto now = time_.steady_now();
      for (auto& [address, link] : dealers_) {
        if (now >= link.reply_until) continue;
        items.push_back({link.socket.handle(), 0, ZMQ_POLLIN, 0});
        dealer_keys.push_back(address);
      }
      // Requests left over from the last turn are handled without waiting.
      const auto wait = backlog_.empty() ? poll_timeout_ms(store_.deadline()) : 0;
      poll_sockets(items.data(), items.size(), std::chrono::milliseconds(wait));
      // Only sockets that are ready are read: an idle agent with many peers stays idle.
      auto ready = [&](std::size_t i) { return (items[i].revents & ZMQ_POLLIN) != 0; };
      if (ready(0)) read_requests();
      handle_backlog();
      if (ready(1))
        while (auto message = receive_internal(supervisor_))
          guard_.run(internal_name(message->envelope.body), [&] { store_.on_supervisor(message->envelope.body); });
      if (ready(2))
        while (auto message = receive_control(control_))
          guard_.run(control_name(*message), [&] { store_.on_main(*message); });
      for (int i = 0; ready(3) && i < 1000; ++i) {
        auto frames = recv_frames(sub_);
        if (!frames) break;
        ++traffic_.gossip_received;
        for (const auto& frame : *frames) traffic_.gossip_bytes_received += frame.size();
        guard_.run("a gossip message", [&] { store_.on_gossip(*frames); });
      }
      if (ready(4))
        while (auto event = recv_monitor_event(sub_events_.events()))
          guard_.run("a connection event", [&] { store_.on_subscription_lost(event->endpoint); });
      if (ready(5))
        while (auto event = recv_monitor_event(pub_events_.events())) {
          if (event->event == ZMQ_EVENT_ACCEPTED) ++traffic_.pub_connections;
          else if (traffic_.pub_connections > 0) --traffic_.pub_connections;
        }
      if (serves_metrics && ready(6))
        while (auto message = receive_routed(metrics_))
          guard_.run("a metrics request", [&] {
            if (std::holds_alternative<MetricsRequest>(message->envelope.body))
              reply_to(metrics_, *message, MetricsReply{metrics_text()});
          });
      for (std::size_t d = 0; d < dealer_keys.size(); ++d) {
        if (!ready(kFirstDealer + d)) continue;
        // Found again for each reply: handling one may close links (PeerLink bound).
        for (auto link = dealers_.find(dealer_keys[d]); link != dealers_.end();
             link = dealers_.find(dealer_keys[d])) {
          auto frames = recv_frames(link->second.socket);
          if (!frames) break;
          guard_.run("a peer's reply", [&] { store_.on_peer_reply(dealer_keys[d], *frames); });
        }
      }
      store_.after_inputs(guard_);
    }
    guard_.run("stopping", [&] { store_.finish(); });
  }

  // ---- requests: probes ahead of writes ----------------------------------------------------

  // Probes and pings (answered_ahead) are answered as soon as they are read: a peer waits
  // probe_timeout (100 ms) for an ack, and a probe read behind a burst of requests was answered
  // after every one of them (a ping after 800 deploys: after all 800; docs/performance.md,
  // "Deploy bursts").
  // Reads every request waiting on the I/O pipe (up to kMaxBacklog held; the rest wait in the
  // pipe, under its high-water mark), answering the probes and pings at once.
  void read_requests() {
    while (backlog_.size() < kMaxBacklog) {
      auto message = receive_routed(io_);
      if (!message) break;
      if (answered_ahead(message->envelope.body)) handle_request(*message);
      else backlog_.push_back(std::move(*message));
    }
  }

  // Handles the requests read, in their order, for at most kRequestBudget a turn (one at
  // least): then the turn's commit, timers and placement run, and the pipe is read again.
  void handle_backlog() {
    const auto started = time_.steady_now();
    while (!backlog_.empty()) {
      Routed message = std::move(backlog_.front());
      backlog_.pop_front();
      handle_request(message);
      if (time_.steady_now() - started >= kRequestBudget) break;
    }
  }

  // One request is one guarded step: an internal error drops that message, never the agent.
  void handle_request(const Routed& message) {
    const auto type = type_name(message.envelope.body);
    const auto started = time_.steady_now();
    guard_.run(type, [&] {
      if (std::holds_alternative<MetricsRequest>(message.envelope.body)) reply(message, MetricsReply{metrics_text()});
      else store_.on_request(message);
    });
    latency_[type].observe(std::chrono::duration<double>(time_.steady_now() - started).count());
  }

  // ---- StoreTransport ---------------------------------------------------------------------

  void reply(const Routed& request, Body body) override { reply_to(io_, request, std::move(body)); }

  void request(const std::string& address, Body body, bool expects_reply) override {
    PeerLink* link = dealer_for(address);
    if (!link) return;
    const bool sync = std::holds_alternative<SyncRequest>(body) || std::holds_alternative<SyncPush>(body) ||
                      std::holds_alternative<JoinRequest>(body);
    auto bytes = encode(Envelope{kProtocolVersion, 0, self_name_, std::move(body)});
    if (sync) {
      ++traffic_.sync_sent;
      traffic_.sync_bytes_sent += bytes.size();
    }
    send_frames(link->socket, {bytes});
    link->last_used = time_.steady_now();
    if (expects_reply) link->reply_until = link->last_used + store_.reply_wait();
  }

  void forget_peer(const std::string& address) override { dealers_.erase(address); }

  // A link made within its first reconnect interval has not backed off: it stays (it may
  // carry a request just sent).
  void renew_peer(const std::string& address) override {
    auto found = dealers_.find(address);
    if (found == dealers_.end()) return;
    if (time_.steady_now() - found->second.made < std::chrono::milliseconds(kPeerLinkReconnectMs)) return;
    dealers_.erase(found);
  }

  void publish(std::string_view topic, const std::string& bytes) override {
    if (topic == kGossipTopic) {
      ++traffic_.gossip_sent;
      traffic_.gossip_bytes_sent += topic.size() + bytes.size();
    }
    send_frames(pub_, {topic, bytes});  // a PUB drops at its high-water mark, never blocks
  }

  void subscribe(const std::string& pub_address) override { sub_.connect(outgoing(pub_address)); }
  void unsubscribe(const std::string& pub_address) override { sub_.disconnect(outgoing(pub_address)); }

  void to_supervisor(InternalBody body) override { send_internal(supervisor_, std::move(body)); }
  void to_main(ControlBody body) override { send_control(control_, body); }

 private:
  // The store's metrics and what this driver's sockets carried (docs/operations.md, "Metrics").
  std::string metrics_text() const {
    Exposition out;
    store_.write_metrics(out);
    auto by_direction = [&](std::string_view name, std::string_view help, std::uint64_t sent, std::uint64_t received) {
      out.family(name, Exposition::Type::counter, help);
      out.sample(name, {{"direction", "sent"}}, static_cast<double>(sent));
      out.sample(name, {{"direction", "received"}}, static_cast<double>(received));
    };
    by_direction("mob_gossip_messages_total", "Gossip messages this agent published and received on its subscriptions.",
                 traffic_.gossip_sent, traffic_.gossip_received);
    by_direction("mob_gossip_bytes_total", "Bytes of those gossip messages (topic and envelope).",
                 traffic_.gossip_bytes_sent, traffic_.gossip_bytes_received);
    out.family("mob_sync_sent_messages_total", Exposition::Type::counter,
               "Anti-entropy requests and pushes (SyncRequest, SyncPush, JoinRequest) this agent sent to peers.");
    out.sample("mob_sync_sent_messages_total", static_cast<double>(traffic_.sync_sent));
    out.family("mob_sync_sent_bytes_total", Exposition::Type::counter, "Bytes of those messages.");
    out.sample("mob_sync_sent_bytes_total", static_cast<double>(traffic_.sync_bytes_sent));
    out.family("mob_pub_connections", Exposition::Type::gauge,
               "Connections to this agent's PUB socket: peers that read its gossip and event subscribers "
               "(mob-tool events, deploy, watchers).");
    out.sample("mob_pub_connections", static_cast<double>(traffic_.pub_connections));
    out.family("mob_request_seconds", Exposition::Type::histogram,
               "Time the store thread took to handle each request from a client or a peer, by message type "
               "(not the time it waited in the I/O actor's pipe; logs requests go to the supervisor and are not counted).");
    for (const auto& [type, histogram] : latency_)
      histogram.write(out, "mob_request_seconds", {{"type", std::string(type)}});
    return out.text();
  }

  // Connections leave from the address this agent listens on (ZeroMQ's "source;target"
  // form), so that peers, firewalls and partitions see one address per agent.
  std::string outgoing(const std::string& address) const {
    const std::string& own = self_address_;  // tcp://HOST:PORT
    auto colon = own.rfind(':');
    if (own.rfind("tcp://", 0) != 0 || colon == std::string::npos) return address;
    std::string host = own.substr(6, colon - 6);
    // 127.0.0.1 is the source the kernel picks for loopback anyway; binding a source port
    // first makes it search the ephemeral range for every connection (a third of the CPU
    // while 50 agents on one host join), so only other addresses are bound.
    if (host == "*" || host == "0.0.0.0" || host == "::" || host == "[::]" || host == "127.0.0.1" ||
        address.rfind("tcp://", 0) != 0)
      return address;
    return "tcp://" + host + ":0;" + address.substr(6);
  }

  // The link to a peer's ROUTER, made on first use; null when `address` is not a valid
  // endpoint (admission checks what peers send; this is the last line before connect).
  PeerLink* dealer_for(const std::string& address) {
    auto found = dealers_.find(address);
    if (found != dealers_.end()) return &found->second;
    if (auto valid = check_endpoint(address); !valid) {
      log::warn(kStoreLog, "not connecting to a peer: ", valid.error().message);
      return nullptr;
    }
    if (dealers_.size() >= kMaxPeerLinks) close_least_recent_link();
    zmq::socket_t dealer(context_, zmq::socket_type::dealer);
    harden_socket(dealer, max_message_bytes_);
    if (curve_) make_curve_client(dealer, *curve_);
    // Messages wait (a few) for a connection being made: the first join request must not be
    // lost to a connection still in progress.
    dealer.set(zmq::sockopt::sndhwm, 100);
    dealer.set(zmq::sockopt::reconnect_ivl, kPeerLinkReconnectMs);
    dealer.set(zmq::sockopt::reconnect_ivl_max, kPeerLinkReconnectMaxMs);
    bound_unacknowledged_data(dealer);
    try {
      dealer.connect(outgoing(address));
    } catch (const zmq::error_t& e) {
      log::warn(kStoreLog, "cannot connect to peer ", address, ": ", e.what());
      return nullptr;
    }
    return &dealers_.emplace(address, PeerLink{std::move(dealer), {}, {}, time_.steady_now()}).first->second;
  }

  void close_least_recent_link() {
    auto oldest = std::min_element(dealers_.begin(), dealers_.end(), [](const auto& a, const auto& b) {
      return a.second.last_used < b.second.last_used;
    });
    if (oldest != dealers_.end()) dealers_.erase(oldest);
  }


  const std::string self_name_;
  const std::string self_address_;
  const std::size_t max_message_bytes_;
  const std::optional<ClientKeys> curve_;
  const TimeSource& time_;
  zmq::context_t& context_;
  zmq::socket_t io_;
  zmq::socket_t supervisor_;
  zmq::socket_t control_;
  zmq::socket_t pub_;
  zmq::socket_t sub_;
  zmq::socket_t metrics_;     // PAIR to the HTTP endpoint's thread; none without --metrics-addr
  // Declared after the sockets they watch: stopped before those close.
  SocketMonitor sub_events_;  // sub_'s, which reports dropped connections
  SocketMonitor pub_events_;  // pub_'s, which reports connections made and lost
  struct Traffic {
    std::uint64_t gossip_sent = 0;
    std::uint64_t gossip_bytes_sent = 0;
    std::uint64_t gossip_received = 0;
    std::uint64_t gossip_bytes_received = 0;
    std::uint64_t sync_sent = 0;
    std::uint64_t sync_bytes_sent = 0;
    std::uint64_t pub_connections = 0;
  } traffic_;
  std::map<std::string_view, LatencyHistogram> latency_;  // by message type (type_name's static names)
  std::map<std::string, PeerLink> dealers_;  // by peer ROUTER address
  // Requests read and not yet handled (read_requests, handle_backlog).
  static constexpr std::size_t kMaxBacklog = 4096;
  static constexpr auto kRequestBudget = std::chrono::milliseconds(20);
  std::deque<Routed> backlog_;
  StepGuard guard_{"store"};
  PeerStore store_;  // last: it is made with this transport, and goes first
};

}  // namespace

void run_store(ActorStartup& startup, StoreConfig config, ServiceArchive archive,
               zmq::context_t& context, zmq::socket_t io, zmq::socket_t supervisor,
               zmq::socket_t control, zmq::socket_t pub, zmq::socket_t metrics) {
  ZmqStoreDriver driver(std::move(config), std::move(archive), context, std::move(io), std::move(supervisor),
                        std::move(control), std::move(pub), std::move(metrics));
  driver.start();
  startup.ready();
  driver.run();
}

}  // namespace mob
