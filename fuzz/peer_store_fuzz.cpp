// libFuzzer target for the peer store's protocol logic, made fast: mob::PeerStore
// (agent/store.hpp) driven directly on this one thread, on virtual time (ManualTime) and a
// fake transport, as tests/support/store_harness.cpp and mob-sim drive it. No socket, no
// thread, no real clock; the store's state.db lives on /dev/shm.
//
// Each input is a sequence of up to 16 steps. Most are the messages of store_fuzz.cpp
// (fuzz/hostile_messages.hpp: client and peer requests through the door of
// agent/admission.hpp as the I/O actor passes them on, a fake peer's replies and gossip, with
// hostile fields). The others are this target's own: virtual time moves (past each timer on
// the way, up to kMaxTimerRounds of them, or in one jump, as a process stopped for a while
// sees it) so that probes, suspicions, syncs, reconnects, garbage collection and clock checks
// fire; the fake network answers a request the store sent (a probe's ack, a join or sync
// reply, an error, the same answer twice); the fake supervisor reports an instance of what
// the store assigned, or its provider coming and going; a subscription drops; rarely the
// store stops (gracefully, or crashes) and starts again on its data dir. The fake peer
// ("peer-a") acks the store's probes of it on its own, as a live peer does.
//
// Findings (the target aborts): a sanitizer report; an exception that leaves the store, or
// that its step boundary catches (fuzz/step_guard_watch.hpp); after each input, a store that
// keeps asking to run at once (busy, as a real agent's loop would spin), that does not answer
// a ping, or whose own record says something nothing from outside may change
// (fuzz::own_record_problem). While it runs, everything the store sends its peers must pass a
// peer's door: requests (admit_request) to endpoints (check_endpoint), and its gossip
// (admit_delta): a bad entry that got in must never be relayed.
//
// The store's state carries over from one input to the next (it finds more); every
// MOB_PEER_STORE_FUZZ_RESET inputs (default 500) the store stops as an agent does and a fresh
// one starts on a new data dir and a new clock. A finding may thus depend on the inputs before
// it: with MOB_PEER_STORE_FUZZ_HISTORY=PREFIX, the inputs since the last reset are kept in the
// file PREFIX<pid> (removed at a normal exit), and `peer_store_fuzz FILE` replays them in one
// fresh store: the
// store is deterministic (virtual time, a fixed seed), so that reproduces the finding. A
// plain input file runs alone in a fresh store, then MOB_PEER_STORE_FUZZ_LINGER_S (default
// 60) of virtual time passes so that the timers act on what it left.
// Environment: MOB_PEER_STORE_FUZZ_LOG=debug|info|warn|error|off (default off): the store's
// log; MOB_PEER_STORE_FUZZ_PRINT=1: print each step to stderr; MOB_PEER_STORE_FUZZ_NO_DOOR=1:
// requests reach the store without the door's check.
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "agent/actor.hpp"
#include "agent/admission.hpp"
#include "agent/service_archive.hpp"
#include "agent/store.hpp"
#include "agent/store_transport.hpp"
#include "agent/time_source.hpp"
#include "bus/codec.hpp"
#include "bus/log.hpp"
#include "fuzz/hostile_messages.hpp"
#include "fuzz/step_guard_watch.hpp"

namespace {

namespace fs = std::filesystem;
using mob::fuzz::Gen;
using mob::fuzz::Kind;
using mob::fuzz::kPeer;
using mob::fuzz::kSelf;
using std::chrono::milliseconds;

constexpr const char* kLabel = "peer_store_fuzz";
// The harness's own requests; every route of a fuzzed request starts with 'r'.
constexpr std::string_view kCheckRoute = "check";
constexpr std::size_t kMaxPending = 64;       // requests of the store kept for an answer step
constexpr std::uint64_t kRestartEvery = 16;  // inputs, at least, between two restarts
constexpr int kMaxTimerRounds = 32;          // timer rounds run on the way in one advance step
constexpr int kMaxRoundsAtOneTime = 10'000;  // rounds at one instant: more is a busy loop
constexpr std::string_view kHistoryMagic = "MOBPSFH1";  // a history file starts with it

// The steps of this target after the messages (fuzz::Kind): their number in an input's step
// byte is fuzz::kKinds + their value. 255 is a restart.
enum class Own : std::uint8_t { advance, answer, supervisor, subscription_lost, count_ };
constexpr std::size_t kStepKinds = mob::fuzz::kKinds + static_cast<std::size_t>(Own::count_);
// How far an advance step moves time: 0 is "to the store's next deadline". The others cross
// the store's periods: probe (200 ms), sync (1 s), heartbeat (2 s), garbage collection (10 s),
// the 5 min a stamp may run ahead, the tombstone TTL (1 h) and the reconnect timeout (24 h).
constexpr milliseconds kSpans[] = {milliseconds(0),       milliseconds(1),       milliseconds(10),
                                   milliseconds(100),     milliseconds(250),     milliseconds(1000),
                                   milliseconds(2000),    milliseconds(5000),    milliseconds(10'000),
                                   milliseconds(30'000),  milliseconds(60'000),  milliseconds(301'000),
                                   milliseconds(3'601'000), milliseconds(90'000'000)};

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "%s: %s\n", kLabel, why.c_str());
  std::fflush(stderr);
  std::abort();
}

// ---- the fake network, supervisor and main: what the store sends --------------------------

struct Sent {
  std::string address;
  mob::Body body;
};

class FakeNetwork final : public mob::StoreTransport {
 public:
  explicit FakeNetwork(const mob::fuzz::Vocabulary& words) : words_(words) {}

  void reply(const mob::Routed& request, mob::Body body) override {
    if (request.route == kCheckRoute) answers.push_back(std::move(body));
    else mob::fuzz::print_step(words_, "the store replies", body);
  }

  void request(const std::string& address, mob::Body body, bool expects_reply) override {
    if (auto valid = mob::check_endpoint(address); !valid)
      die("the store sent a " + std::string(mob::type_name(body)) + " to an address no peer can have: " +
          valid.error().message);
    if (auto admitted = mob::admit_request(body); !admitted)
      die("the store sent " + address + " a request its door refuses: " + admitted.error().message + ": " +
          mob::fuzz::described(body));
    if (const auto* probe = std::get_if<mob::ProbeRequest>(&body); probe && address == words_.peer_address) {
      last_probe_seq = probe->seq;
      // The fake peer is alive: it acks a probe of itself at once.
      if (probe->target == kPeer) acks.push_back(mob::ProbeAck{probe->seq, kPeer, 0, words_.time->wall_ms()});
    }
    if (!expects_reply) return;
    if (pending.size() == kMaxPending) pending.pop_front();
    pending.push_back(Sent{address, std::move(body)});
  }

  void forget_peer(const std::string&) override {}

  void publish(std::string_view topic, const std::string& bytes) override {
    if (!topic.starts_with("gossip")) return;  // an event
    auto envelope = mob::decode(bytes, SIZE_MAX);
    if (!envelope) die("the store published undecodable gossip: " + envelope.error().message);
    const auto* gossip = std::get_if<mob::Gossip>(&envelope->body);
    if (!gossip) die("the store published a " + std::string(mob::type_name(envelope->body)) + " as gossip");
    if (auto admitted = mob::admit_delta(gossip->delta, "delta"); !admitted)
      die("the store gossiped an entry its peers refuse: " + admitted.error().message);
  }

  void subscribe(const std::string& pub_address) override { subscriptions.insert(pub_address); }
  void unsubscribe(const std::string& pub_address) override { subscriptions.erase(pub_address); }

  void to_supervisor(mob::InternalBody body) override {
    if (auto* assignment = std::get_if<mob::ServiceAssignment>(&body))
      assignments[assignment->name] = std::move(*assignment);
    else if (const auto* withdrawn = std::get_if<mob::ServiceWithdrawn>(&body))
      assignments.erase(withdrawn->name);
  }

  // LeaveAsked (a client asked the agent to leave: the restart step does that) and the answers
  // to on_main's control messages.
  void to_main(mob::ControlBody body) override {
    if (!std::holds_alternative<mob::LeaveAsked>(body)) main_replies.push_back(std::move(body));
  }

  // A fresh store starts with nothing of this.
  void clear() {
    answers.clear();
    main_replies.clear();
    pending.clear();
    acks.clear();
    subscriptions.clear();
    assignments.clear();
    last_probe_seq = 0;
  }

  std::vector<mob::Body> answers;       // to the harness's own requests (kCheckRoute)
  std::vector<mob::ControlBody> main_replies;  // to on_main
  std::deque<Sent> pending;             // requests that expect a reply, oldest first
  std::vector<mob::ProbeAck> acks;      // the fake peer's, not delivered yet
  std::set<std::string> subscriptions;  // PUB addresses
  std::map<std::string, mob::ServiceAssignment> assignments;  // what the supervisor runs
  std::uint64_t last_probe_seq = 0;     // of the store's last probe of the fake peer

 private:
  const mob::fuzz::Vocabulary& words_;
};

// ---- the harness -----------------------------------------------------------------------------

struct Harness {
  Harness() : net(words) {
    words.self_address = "tcp://10.0.0.1:7000";
    words.pub_address = "tcp://10.0.0.1:7001";
    words.peer_address = "tcp://10.0.0.2:7000";
    words.peer_pub_address = "tcp://10.0.0.2:7001";
    words.label = kLabel;
  }

  mob::fuzz::Vocabulary words;
  std::unique_ptr<mob::ManualTime> time;  // a new one with each fresh store
  FakeNetwork net;
  fs::path root;
  fs::path data_dir;
  unsigned data_dirs = 0;
  std::uint64_t starts = 0;  // the store's random seed: the number of its start
  std::unique_ptr<mob::StepGuard> guard;
  std::unique_ptr<mob::PeerStore> store;  // made with `net`, `time` and `guard`: goes first
  bool bash_available = false;            // what the fake supervisor said last
  std::uint64_t request_ids = 0;
  std::uint64_t inputs = 0;
  std::uint64_t inputs_since_reset = 0;  // the one running included
  std::uint64_t last_restart = 0;        // inputs_since_reset then; 0: none yet
  std::uint64_t reset_every = 500;
  bool door = true;
  bool reproducing = false;  // only files were given
  milliseconds linger{60'000};
  std::string history_path;
  int history = -1;  // fd
};

Harness* harness = nullptr;

mob::Routed routed(std::string route, mob::Body body) {
  return mob::Routed{std::move(route), mob::Envelope{mob::kProtocolVersion, 0, "fuzz", std::move(body)}};
}

// As the driver runs each message: one guarded step (a catch in it is a finding).
template <class Step>
void guarded(const char* what, Step&& step) {
  harness->guard->run(what, std::forward<Step>(step));
}

void note(const char* format, const std::string& detail = "") {
  if (harness->words.print) std::fprintf(stderr, "%s step: %s%s\n", kLabel, format, detail.c_str());
}

// What the driver's loop does after each round of inputs; then the fake peer's acks arrive.
void turn() {
  Harness& h = *harness;
  h.store->after_inputs(*h.guard);
  for (int round = 0; !h.net.acks.empty(); ++round) {
    if (round == kMaxRoundsAtOneTime) die("the store and the fake peer's acks never end");
    auto acks = std::move(h.net.acks);
    h.net.acks.clear();
    for (auto& ack : acks) {
      auto bytes = mob::encode(mob::Envelope{mob::kProtocolVersion, 0, kPeer, mob::Body{std::move(ack)}});
      guarded("a peer's reply", [&] { h.store->on_peer_reply(h.words.peer_address, {bytes}); });
    }
    h.store->after_inputs(*h.guard);
  }
}

// A real agent polls with a timeout of deadline() - now: a deadline that stays at or before
// now after a round is a loop that spins. Rounds that catch up at one instant are fine.
void catch_up() {
  Harness& h = *harness;
  for (int round = 0; h.store->deadline() <= h.time->steady_now(); ++round) {
    if (round == kMaxRoundsAtOneTime)
      die("the store keeps asking to run at once: its deadline stays at or before now after " +
          std::to_string(kMaxRoundsAtOneTime) + " rounds (a real agent's loop would spin)");
    turn();
  }
}

void advance_to(mob::TimeSource::SteadyClock::time_point when) {
  Harness& h = *harness;
  auto now = h.time->steady_now();
  if (when <= now) return;
  h.time->advance(std::chrono::ceil<milliseconds>(when - now));
}

// Moves virtual time by `span` (0: to the next deadline). On the way the store's timers fire
// in turn, up to kMaxTimerRounds of them; the rest of the way is one jump.
void advance(milliseconds span, bool on_the_way) {
  Harness& h = *harness;
  auto target = span.count() == 0 ? std::max(h.store->deadline(), h.time->steady_now() + milliseconds(1))
                                  : h.time->steady_now() + span;
  for (int round = 0; on_the_way && round < kMaxTimerRounds; ++round) {
    auto next = h.store->deadline();
    if (next >= target) break;
    advance_to(next);
    turn();
    catch_up();
  }
  advance_to(target);
  turn();
  catch_up();
}

void add_history(const std::uint8_t* data, std::size_t size);
void restart_history();

void start_store(bool fresh) {
  Harness& h = *harness;
  if (fresh) {
    // Everything the store's behaviour depends on starts again as it did: a history replays.
    h.time = std::make_unique<mob::ManualTime>();
    h.words.time = h.time.get();
    h.starts = 0;
    h.request_ids = 0;
    h.inputs_since_reset = 0;
    h.last_restart = 0;
    restart_history();
    auto dir = mob::fuzz::next_data_dir(h.root, h.data_dirs, h.data_dir);
    if (!dir) die(dir.error().message);
    h.data_dir = *dir;
  }
  h.net.clear();
  auto archive = mob::ServiceArchive::open(h.data_dir / "state.db");
  if (!archive) die("cannot open the archive: " + archive.error().message);
  mob::StoreConfig config = mob::fuzz::store_config(h.words, h.data_dir);
  config.seed = ++h.starts;
  h.guard = std::make_unique<mob::StepGuard>("store");
  h.store = std::make_unique<mob::PeerStore>(std::move(config), std::move(*archive), h.net);
  guarded("starting", [&] { h.store->start(); });
  // What the bash worker says first in an agent: it runs here.
  h.bash_available = true;
  guarded("a supervisor message",
          [&] { h.store->on_supervisor(mob::ProviderAvailability{"bash", true}); });
  turn();
  catch_up();
}

void on_main(mob::ControlBody body) {
  Harness& h = *harness;
  h.net.main_replies.clear();
  guarded("a command from main", [&] { h.store->on_main(body); });
  if (h.net.main_replies.empty()) die("the store did not answer main's " + std::string(mob::control_name(body)));
}

// As Agent::stop(): the store announces that it leaves, then shuts down (its last save and
// flush). Without `gracefully`, the process dies: nothing more runs.
void stop_store(bool gracefully) {
  Harness& h = *harness;
  if (gracefully) {
    on_main(mob::AnnounceLeave{});
    turn();
    on_main(mob::ShutdownRequest{});
    if (!h.store->stopping()) die("the store does not stop after a ShutdownRequest");
    guarded("stopping", [&] { h.store->finish(); });
  }
  h.store.reset();
  h.guard.reset();
}

// The fake peer joins the store, so that the store probes it, syncs with it and reads its PUB.
void introduce_peer() {
  Harness& h = *harness;
  auto join = routed("intro", mob::JoinRequest{{mob::fuzz::fake_peer(h.words), h.time->wall_ms() << 16, kPeer}});
  guarded("a request", [&] { h.store->on_request(join); });
  turn();
  catch_up();
}

void fresh_store() {
  if (harness->store) stop_store(/*gracefully=*/true);
  start_store(/*fresh=*/true);
  introduce_peer();
}

// ---- the checks after each input -------------------------------------------------------------

// Asks the store as a client would; its one reply of type Reply.
template <class Reply>
Reply ask(mob::Body request, const char* when) {
  Harness& h = *harness;
  const std::string type(mob::type_name(request));
  h.net.answers.clear();
  auto message = routed(std::string(kCheckRoute), std::move(request));
  guarded("a request", [&] { h.store->on_request(message); });
  for (auto& answer : h.net.answers)
    if (auto* reply = std::get_if<Reply>(&answer)) return std::move(*reply);
  die("the store did not answer a " + type + " " + when +
      (h.net.answers.empty() ? std::string(": no reply")
                             : ": it answered " + mob::fuzz::described(h.net.answers.front())));
}

void check_store() {
  Harness& h = *harness;
  ask<mob::PingReply>(mob::PingRequest{}, "after this input");
  auto incarnation = ask<mob::ProbeAck>(mob::ProbeRequest{1, "fuzz-check", kSelf, 0, 0}, "(checking invariants)")
                         .incarnation;
  auto members = ask<mob::MembersReply>(mob::MembersRequest{}, "(checking invariants)");
  std::vector<std::string> advertised;
  if (h.bash_available) advertised.push_back("bash");
  if (auto problem = mob::fuzz::own_record_problem(h.words, members.members, incarnation, advertised))
    die("invariant: " + *problem);
}

// ---- the steps of this target ----------------------------------------------------------------

// Answers one of the requests the store sent that wait for a reply, as the peer at its
// address would (or a confused one): fields fuzzed, ids and seqs mostly the right ones.
void answer(Gen& g) {
  Harness& h = *harness;
  std::size_t which = g.range(0, kMaxPending - 1);
  bool again = g.coin();  // the same answer comes twice (kept to answer again)
  std::size_t how = g.range(0, 3);
  if (h.net.pending.empty()) return;
  auto chosen = h.net.pending.begin() + static_cast<std::ptrdiff_t>(which % h.net.pending.size());
  Sent sent = again ? *chosen : std::move(*chosen);
  if (!again) h.net.pending.erase(chosen);
  mob::Body reply = mob::ErrorReply{mob::Errc::unavailable, "busy"};
  if (how != 3) {
    // The peers this agent probes report the right wall clock (g.wall() is read all the same):
    // two of two peers whose clocks are off would rightly make it hold its own clock wrong,
    // which the invariants do not allow. Wrong clocks come in peers' probes and the fake
    // peer's replies (one against one: only a tie lost while its clock is uncompared, after
    // a restart, may make it hold its clock wrong; fuzz/hostile_messages.cpp).
    if (const auto* probe = std::get_if<mob::ProbeRequest>(&sent.body)) {
      reply = mob::ProbeAck{probe->seq, how == 0 ? probe->target : g.name(), g.coin() ? g.range(0, 3) : g.u64(),
                            (g.wall(), h.time->wall_ms())};
    } else if (const auto* indirect = std::get_if<mob::IndirectProbeRequest>(&sent.body)) {
      if (how == 2 && g.coin())
        reply = mob::ProbeNack{g.coin() ? indirect->seq : g.u64(), g.name()};
      else
        reply = mob::ProbeAck{indirect->seq, how == 0 ? indirect->target : g.name(),
                              g.coin() ? g.range(0, 3) : g.u64(), (g.wall(), h.time->wall_ms())};
    } else if (std::holds_alternative<mob::JoinRequest>(sent.body)) {
      reply = mob::JoinReply{g.delta()};
    } else if (const auto* copy = std::get_if<mob::WriteCopy>(&sent.body)) {
      // Holds them all, some, none, or answers another round.
      const std::size_t records = copy->delta.services.size();
      reply = mob::WriteCopied{how == 0 || g.coin() ? copy->id : g.u64() % 4, how == 0 ? copy->from : g.name(),
                               static_cast<std::uint32_t>(how == 2 ? 0 : g.range(0, records + 1))};
    } else if (const auto* sync = std::get_if<mob::SyncRequest>(&sent.body)) {
      std::vector<std::string> keys;
      if (how == 0)
        for (const auto& entry : sync->digest) keys.push_back(entry.key);
      else
        for (std::size_t n = g.range(0, 4); n > 0; --n) keys.push_back(g.record_key());
      mob::SyncReply answer{g.delta(), std::move(keys), 0, {}};
      if (sync->bucket_count > 0 && sync->scope.empty() && g.coin()) {
        // Round one: the peer's bucket summaries, some equal to zero, some not.
        answer.bucket_count = sync->bucket_count;
        answer.buckets.resize(sync->bucket_count);
        for (std::size_t n = g.range(1, 4); n > 0; --n) answer.buckets[g.range(0, sync->bucket_count - 1)] = g.u64();
      }
      reply = std::move(answer);
    }
  }
  note("answer from ", sent.address + ": " + mob::fuzz::described(reply) + " to " + mob::fuzz::described(sent.body));
  auto bytes = mob::encode(mob::Envelope{mob::kProtocolVersion, 0, kPeer, std::move(reply)});
  guarded("a peer's reply", [&] { h.store->on_peer_reply(sent.address, {bytes}); });
}

// The fake supervisor: an instance of what the store assigned changes state (with the
// version it runs, or an older one: a report that crossed an update), or the provider bash
// stops or starts running here.
void supervisor(Gen& g) {
  Harness& h = *harness;
  if (g.range(0, 7) == 0) {
    h.bash_available = g.coin();
    note("provider bash available: ", h.bash_available ? "yes" : "no");
    guarded("a supervisor message",
            [&] { h.store->on_supervisor(mob::ProviderAvailability{"bash", h.bash_available}); });
    return;
  }
  std::size_t which = g.range(0, 255);
  std::size_t instance = g.range(0, 255);
  mob::InstanceStatus status;
  status.state = g.instance_state();
  status.restarts = g.coin() ? static_cast<std::uint32_t>(g.range(0, 3)) : g.u32();
  status.exit_code = g.i32();
  status.signal = g.coin() ? 0 : g.i32();
  status.reason = g.coin() ? "" : g.raw(64);
  bool stale = g.coin();
  if (h.net.assignments.empty()) return;
  auto assignment = h.net.assignments.begin();
  std::advance(assignment, static_cast<std::ptrdiff_t>(which % h.net.assignments.size()));
  const auto& told = assignment->second;
  status.service = told.name;
  status.index = told.instances.empty() ? static_cast<std::uint32_t>(instance)
                                        : told.instances[instance % told.instances.size()];
  status.node = kSelf;
  status.pid = status.state == mob::InstanceState::stopped ? 0 : 1000 + static_cast<std::int64_t>(instance);
  status.since_ms = static_cast<std::int64_t>(h.time->wall_ms());
  status.spec_version = stale && told.version > 0 ? told.version - 1 : told.version;
  mob::InternalBody report = mob::InstanceReport{std::move(status)};
  note("supervisor ", mob::fuzz::described(report));
  guarded("a supervisor message", [&] { h.store->on_supervisor(report); });
}

void subscription_lost(Gen& g) {
  Harness& h = *harness;
  std::size_t which = g.range(0, 255);
  std::string address = h.words.peer_pub_address;
  if (!h.net.subscriptions.empty()) {
    auto chosen = h.net.subscriptions.begin();
    std::advance(chosen, static_cast<std::ptrdiff_t>(which % h.net.subscriptions.size()));
    address = *chosen;
  }
  note("subscription lost: ", address);
  guarded("a connection event", [&] { h.store->on_subscription_lost(address); });
}

void step(Gen& g) {
  Harness& h = *harness;
  auto pick = g.range(0, 255);
  if (pick == 255) {
    bool gracefully = g.coin();
    // A restart reads the whole state again: at most one in kRestartEvery inputs while
    // fuzzing, and one an input (counted from the last reset: a history replays the same way).
    if (h.last_restart != 0 && h.inputs_since_reset < h.last_restart + kRestartEvery) return;
    h.last_restart = h.inputs_since_reset;
    note(gracefully ? "the agent stops and starts again on its data dir"
                    : "the agent crashes and starts again on its data dir");
    stop_store(gracefully);
    start_store(/*fresh=*/false);
    return;
  }
  std::size_t kind = pick % kStepKinds;
  if (kind < static_cast<std::size_t>(Kind::peer_reply)) {
    if (auto request = mob::fuzz::request(g, static_cast<Kind>(kind), h.request_ids, h.door))
      guarded("a request", [&] { h.store->on_request(*request); });
  } else if (kind == static_cast<std::size_t>(Kind::peer_reply)) {
    auto bytes = mob::fuzz::peer_reply(g, h.net.last_probe_seq);
    guarded("a peer's reply", [&] { h.store->on_peer_reply(h.words.peer_address, {bytes}); });
  } else if (kind == static_cast<std::size_t>(Kind::gossip)) {
    std::vector<std::string> frames{"gossip", mob::fuzz::gossip(g)};
    guarded("a gossip message", [&] { h.store->on_gossip(frames); });
  } else {
    switch (static_cast<Own>(kind - mob::fuzz::kKinds)) {
      case Own::advance: {
        auto span = kSpans[g.range(0, std::size(kSpans) - 1)];
        bool on_the_way = g.coin();
        note(on_the_way ? "time passes, timers on the way: ms " : "time jumps: ms ", std::to_string(span.count()));
        return advance(span, on_the_way);  // runs its own rounds
      }
      case Own::answer: answer(g); break;
      case Own::supervisor: supervisor(g); break;
      case Own::subscription_lost: subscription_lost(g); break;
      case Own::count_: break;
    }
  }
  turn();
}

void run_input(const std::uint8_t* data, std::size_t size) {
  ++harness->inputs_since_reset;
  FuzzedDataProvider provider(data, size);
  Gen g(provider, harness->words);
  const std::size_t steps = g.range(1, mob::fuzz::kMaxSteps);
  for (std::size_t i = 0; i < steps && !g.empty(); ++i) step(g);
  catch_up();
  check_store();
}

// ---- the history of the inputs since the last reset ----------------------------------------

void restart_history() {
  Harness& h = *harness;
  if (h.history < 0) return;
  if (::ftruncate(h.history, 0) != 0 || ::lseek(h.history, 0, SEEK_SET) != 0 ||
      ::write(h.history, kHistoryMagic.data(), kHistoryMagic.size()) != static_cast<ssize_t>(kHistoryMagic.size()))
    die("cannot write the history " + h.history_path + ": " + std::strerror(errno));
}

void add_history(const std::uint8_t* data, std::size_t size) {
  Harness& h = *harness;
  if (h.history < 0) return;
  std::uint32_t length = static_cast<std::uint32_t>(size);
  iovec parts[] = {{&length, sizeof length}, {const_cast<std::uint8_t*>(data), size}};
  if (::writev(h.history, parts, 2) != static_cast<ssize_t>(sizeof length + size))
    die("cannot write the history " + h.history_path + ": " + std::strerror(errno));
}

// A history file: every input in it, in order, in one fresh store.
bool replay_history(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!text.starts_with(kHistoryMagic)) return false;
  fresh_store();
  std::size_t at = kHistoryMagic.size();
  std::size_t count = 0;
  while (at + sizeof(std::uint32_t) <= size) {
    std::uint32_t length = 0;
    std::memcpy(&length, data + at, sizeof length);
    at += sizeof length;
    if (length > size - at) die("a truncated history: input " + std::to_string(count) + " is cut");
    if (harness->words.print) std::fprintf(stderr, "%s: input %zu of the history\n", kLabel, count);
    run_input(data + at, length);
    at += length;
    ++count;
  }
  std::fprintf(stderr, "%s: replayed %zu inputs of a history without a finding\n", kLabel, count);
  return true;
}

void clean_up_at_exit() {
  if (!harness) return;
  std::error_code ignored;
  if (harness->history >= 0) fs::remove(harness->history_path, ignored);
  if (!harness->root.empty()) fs::remove_all(harness->root, ignored);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  mob::log::Level level = mob::log::Level::off;
  if (const char* text = std::getenv("MOB_PEER_STORE_FUZZ_LOG"); text && !mob::log::parse_level(text, level))
    die(std::string("MOB_PEER_STORE_FUZZ_LOG: not a level: ") + text);
  mob::log::set_level(level);

  harness = new Harness();
  Harness& h = *harness;
  h.words.print = std::getenv("MOB_PEER_STORE_FUZZ_PRINT") != nullptr;
  h.door = std::getenv("MOB_PEER_STORE_FUZZ_NO_DOOR") == nullptr;
  if (const char* every = std::getenv("MOB_PEER_STORE_FUZZ_RESET")) h.reset_every = std::strtoull(every, nullptr, 10);
  if (const char* linger = std::getenv("MOB_PEER_STORE_FUZZ_LINGER_S"))
    h.linger = milliseconds(std::strtoll(linger, nullptr, 10) * 1000);
  h.reproducing = *argc > 1;
  for (int i = 1; i < *argc; ++i) {
    std::error_code error;
    if ((*argv)[i][0] == '-' || !fs::is_regular_file((*argv)[i], error)) h.reproducing = false;
  }
  if (const char* prefix = std::getenv("MOB_PEER_STORE_FUZZ_HISTORY"); prefix && *prefix && !h.reproducing) {
    h.history_path = std::string(prefix) + std::to_string(::getpid());  // -fork runs several processes
    h.history = ::open(h.history_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (h.history < 0) die("cannot open the history " + h.history_path + ": " + std::strerror(errno));
  }
  // Exceptions the store's step boundary catches are findings; the door's refusals throw a
  // lot, so only the frame that threw is kept while fuzzing.
  mob::fuzz::watch_step_guard(::pthread_self(), kLabel, /*full_stacks=*/h.reproducing);

  auto root = mob::fuzz::make_scratch_dir("mob-peer-store-fuzz");
  if (!root) die(root.error().message);
  h.root = *root;
  std::atexit(clean_up_at_exit);
  fresh_store();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Harness& h = *harness;
  if (h.reproducing) {
    if (replay_history(data, size)) return 0;
    fresh_store();
    run_input(data, size);
    if (h.linger.count() > 0) {
      advance(h.linger, /*on_the_way=*/true);
      check_store();
    }
    stop_store(/*gracefully=*/true);
    return 0;
  }
  ++h.inputs;
  add_history(data, size);
  run_input(data, size);
  if (h.reset_every != 0 && h.inputs % h.reset_every == 0) fresh_store();
  return 0;
}
