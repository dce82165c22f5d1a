// Structure-aware libFuzzer target for the peer store's HANDLERS (agent/store.cpp), not only the
// decoder: one in-process store (mob::run_store) lives for the whole run, and each input is a
// sequence of up to 16 well-formed messages of every type a client or a peer may send to an
// agent's ROUTER, with hostile fields (addresses, names with NUL and '/', numbers and stamps at
// both ends of their range, garbage specs: fuzz/hostile_messages.hpp, which
// peer_store_fuzz.cpp shares). They enter the store's io pipe as the I/O actor
// forwards them, [route, payload], when its door (agent/admission.hpp) admits them. Steps can
// also answer the store's own requests as a
// fake peer ("peer-a", a ROUTER and a PUB of this process), publish gossip to it, and restart
// the store on its data dir. After the sequence a PingRequest must be answered within 5 s.
// Findings (the target aborts): the store crashes (a sanitizer report, an exception leaving its
// thread), hangs (no answer: its thread's stack is printed), or catches an exception at its
// step boundary (StepGuard, which keeps an agent running: where it was thrown is printed, by
// fuzz/step_guard_watch.hpp).
//
// The network is isolated first (LLVMFuzzerInitialize, before any thread exists): the process
// moves to a network namespace of its own with only loopback up, so that no address a message
// names can reach a real machine or agent. That takes root, or unprivileged user namespaces.
//
// The store's state carries over from one input to the next (it finds more); every
// MOB_STORE_FUZZ_RESET inputs (default 2000; 0: never) the store is stopped as an agent stops
// it (AnnounceLeave, ShutdownRequest) and a fresh one starts on a new data dir, so that the
// state does not grow without bound, which would make everything slow. A crash caused by
// state that several inputs built may therefore not reproduce from its one artifact: fuzz with
// MOB_STORE_FUZZ_RESET=1 (a fresh store for every input, slower) to get artifacts that do.
// When run on files only (reproducing), each file gets a fresh store, which is watched for
// MOB_STORE_FUZZ_LINGER_MS (default 3000) after the input, so that the timers (probes, syncs,
// joins) act on what the input left, and is then stopped, which runs its leave and shutdown.
// fuzz/store_inputs.py writes inputs that mean chosen message sequences (the seeds in
// fuzz/corpus/store, and reproducers).
// Environment: MOB_STORE_FUZZ_LOG=debug|info|warn|error|off (default off): the store's log;
// MOB_STORE_FUZZ_PRINT=1: print each step (message type and every field) to stderr;
// MOB_STORE_FUZZ_INVARIANTS=1: after each input, also check what the store says of itself
// (check_invariants): logic errors, not only crashes; MOB_STORE_FUZZ_NO_DOOR=1: requests reach
// the store without the I/O actor's admission check (agent/admission.hpp), to see what the
// store does on its own with what the door refuses.
#include <fuzzer/FuzzedDataProvider.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <sanitizer/common_interface_defs.h>
#include <zmq.hpp>

#include "agent/actor.hpp"
#include "agent/admission.hpp"
#include "agent/service_archive.hpp"
#include "agent/store.hpp"
#include "bus/codec.hpp"
#include "bus/log.hpp"
#include "bus/transport.hpp"
#include "fuzz/hostile_messages.hpp"
#include "fuzz/step_guard_watch.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

using mob::fuzz::kPeer;
using mob::fuzz::kSelf;
constexpr auto kReplyBound = std::chrono::seconds(5);
// Routes of the requests this harness sends itself; every other route belongs to self_router.
constexpr std::string_view kRoutePrefix = "fz:";
constexpr std::string_view kAskRoute = "fz:ask";  // the harness's own requests
// Sent to the store thread when it hangs: it prints its stack (the store never blocks it).
constexpr int kStackSignal = SIGURG;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "store_fuzz: %s\n", why.c_str());
  std::fflush(stderr);
  std::abort();
}

std::uint64_t wall_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// ---- network isolation ---------------------------------------------------------------------

void write_proc(const char* path, const std::string& text) {
  std::ofstream file(path);
  file << text;
  file.flush();
  if (!file) die(std::string("cannot write ") + path + ": " + std::strerror(errno));
}

void isolate_network() {
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  if (::unshare(CLONE_NEWNET) != 0) {
    const int as_root = errno;
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
      const int as_user = errno;
      die(std::string("cannot isolate the network, and the store must never connect anywhere "
                      "real: unshare(CLONE_NEWNET): ") +
          std::strerror(as_root) + "; unshare(CLONE_NEWUSER | CLONE_NEWNET): " +
          std::strerror(as_user) +
          ". Run as root, or where unprivileged user namespaces are allowed "
          "(sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0)");
    }
    // Keep our identity inside the user namespace: an unmapped uid cannot create files.
    write_proc("/proc/self/setgroups", "deny");
    write_proc("/proc/self/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1");
    write_proc("/proc/self/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1");
  }
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die(std::string("socket() for bringing lo up: ") + std::strerror(errno));
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(fd, SIOCGIFFLAGS, &request) != 0)
    die(std::string("ioctl(SIOCGIFFLAGS, lo): ") + std::strerror(errno));
  request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(fd, SIOCSIFFLAGS, &request) != 0)
    die(std::string("ioctl(SIOCSIFFLAGS, lo up): ") + std::strerror(errno));
  ::close(fd);
  // The new namespace holds loopback only; anything else means we are not isolated.
  if (struct if_nameindex* names = ::if_nameindex()) {
    for (auto* name = names; name->if_index != 0; ++name)
      if (std::strcmp(name->if_name, "lo") != 0)
        die(std::string("network not isolated: interface ") + name->if_name + " is visible");
    ::if_freenameindex(names);
  }
}

// zmq::poll that returns on EINTR instead of throwing: libFuzzer's SIGALRM (-timeout) ticks
// on this thread.
void wait_for(zmq::pollitem_t* items, int count, long timeout_ms) {
  if (::zmq_poll(items, count, timeout_ms) < 0 && zmq_errno() != EINTR)
    die(std::string("zmq_poll: ") + zmq_strerror(zmq_errno()));
}

// ---- the harness: one store, its pipes, and a fake peer ------------------------------------

struct Harness {
  zmq::context_t context{1};  // this harness's own sockets
  // The store's, as an agent has one: a new one for each store started. (Stores started one
  // after another in one context fail at random: a Store names its monitor endpoint after its
  // own address, which the next Store often has too, and libzmq may not have released the
  // previous endpoint yet: zmq::error_t "Address already in use" from the Store constructor.)
  zmq::context_t* store_context = nullptr;
  fs::path root;
  fs::path data_dir;
  unsigned data_dirs = 0;
  // Our ends of the store's pipes.
  zmq::socket_t io;
  zmq::socket_t supervisor;
  zmq::socket_t control;
  std::thread* store = nullptr;  // never destroyed while running: a joinable std::thread terminates
  // What the store says when it is ready (its Actor's handshake, agent/actor.hpp); nobody waits
  // on it here: requests queue on the pipes until the store reads them.
  std::unique_ptr<mob::ActorStartup> startup;
  // The store's own ROUTER address: what reaches it is forwarded into the io pipe, as the I/O
  // actor would, and the replies go back.
  zmq::socket_t self_router{context, zmq::socket_type::router};
  // The store's ROUTER (self_router), its PUB, the fake peer's ROUTER and PUB, and the
  // machine's clock: what the hostile messages name (fuzz/hostile_messages.hpp).
  mob::fuzz::Vocabulary words;
  // A fake peer: answers the store's probes of it, and its replies and gossip are fuzzed.
  zmq::socket_t peer_router{context, zmq::socket_type::router};
  zmq::socket_t peer_pub{context, zmq::socket_type::pub};
  std::string last_peer_identity;  // the store's DEALER as peer_router saw it
  std::uint64_t last_probe_seq = 0;  // of a ProbeRequest the store sent to the fake peer
  std::uint64_t request_ids = 0;
  mob::Envelope answer;  // the reply to the request ask() waits for
  bool invariants = false;
  bool door = true;  // requests pass agent/admission.hpp first, as in io.cpp
  std::uint64_t inputs = 0;
  std::uint64_t last_restart = 0;
  std::uint64_t reset_every = 2000;
  std::chrono::milliseconds linger{0};
};

Harness* harness = nullptr;

std::string bound_endpoint(zmq::socket_t& socket, const char* endpoint) {
  socket.bind(endpoint);
  return socket.get(zmq::sockopt::last_endpoint);
}

void start_store(bool fresh) {
  Harness& h = *harness;
  if (fresh) {
    auto dir = mob::fuzz::next_data_dir(h.root, h.data_dirs, h.data_dir);
    if (!dir) die(dir.error().message);
    h.data_dir = *dir;
  }
  auto archive = mob::ServiceArchive::open(h.data_dir / "state.db");
  if (!archive) die("cannot open the archive: " + archive.error().message);
  h.store_context = new zmq::context_t(1);
  zmq::context_t& context = *h.store_context;
  auto io = mob::make_pipe(context, "fuzz-io-store");
  auto supervisor = mob::make_pipe(context, "fuzz-store-supervisor");
  auto control = mob::make_pipe(context, "fuzz-store-control");
  zmq::socket_t pub(context, zmq::socket_type::pub);
  mob::harden_socket(pub, mob::kDefaultMaxMessageBytes);
  pub.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(1024));
  h.words.pub_address = bound_endpoint(pub, "tcp://127.0.0.1:0");

  // Its provider is advertised once its worker says it runs (the ProviderAvailability below).
  mob::StoreConfig config = mob::fuzz::store_config(h.words, h.data_dir);
  // Timers faster than the defaults: more of their paths (heartbeat, sync, probes) run per
  // second of fuzzing.
  config.heartbeat_interval = std::chrono::milliseconds(200);
  config.sync_interval = std::chrono::milliseconds(100);
  config.reconnect_interval = std::chrono::milliseconds(300);

  h.io = std::move(io.first);
  h.supervisor = std::move(supervisor.second);
  h.control = std::move(control.first);
  // libFuzzer's handlers (SIGALRM for -timeout, SIGUSR1/2, SIGINT, SIGTERM) must run on this
  // thread: one that interrupts the store's zmq::poll makes cppzmq throw EINTR in its thread,
  // which would be reported as a crash of the store. (An agent has no handlers: main blocks
  // the signals it takes and reads them from a signalfd.) The store thread inherits the mask.
  sigset_t blocked, previous;
  sigemptyset(&blocked);
  for (int signo : {SIGALRM, SIGUSR1, SIGUSR2, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGPIPE})
    sigaddset(&blocked, signo);
  pthread_sigmask(SIG_BLOCK, &blocked, &previous);
  mob::fuzz::unwatch_step_guard();
  h.startup = std::make_unique<mob::ActorStartup>();
  h.store = new std::thread(mob::run_store, std::ref(*h.startup), std::move(config), std::move(*archive),
                            std::ref(context), std::move(io.second),
                            std::move(supervisor.first), std::move(control.second),
                            std::move(pub), zmq::socket_t{});  // no metrics endpoint
  mob::fuzz::watch_step_guard(h.store->native_handle(), "store_fuzz", /*full_stacks=*/true);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  // What the bash worker says first in an agent: it runs here.
  mob::send_internal(h.supervisor, mob::ProviderAvailability{"bash", true});
}

template <class Message>
std::string encoded(Message message, std::uint64_t request_id = 0, std::string sender = "fuzz") {
  return mob::encode(mob::Envelope{mob::kProtocolVersion, request_id, std::move(sender),
                                   mob::Body{std::move(message)}});
}

void send_to_store(const std::string& route, const std::string& payload) {
  if (!mob::send_frames(harness->io, {route, payload}))
    die("the store's io pipe refused a message (its thread ended?)");
}

// ---- draining what the store sends ---------------------------------------------------------

void answer_as_peer(const std::vector<std::string>& frames) {
  Harness& h = *harness;
  if (frames.size() != 2) return;
  auto envelope = mob::decode(frames[1]);
  if (!envelope) die("the store sent its peer an undecodable request: " + envelope.error().message);
  h.last_peer_identity = frames[0];
  if (const auto* probe = std::get_if<mob::ProbeRequest>(&envelope->body)) {
    h.last_probe_seq = probe->seq;
    if (probe->target == kPeer)
      mob::send_frames(h.peer_router,
                       {frames[0], encoded(mob::ProbeAck{probe->seq, kPeer, 0, wall_ms()}, 0, kPeer)});
  }
}

// Reads everything waiting (the control pipe too unless `control` is false); returns whether
// the reply to request `awaited` (a request id of ours) was among it: it is kept in
// harness->answer.
bool drain(std::uint64_t awaited, bool control = true) {
  Harness& h = *harness;
  bool answered = false;
  while (auto frames = mob::recv_frames(h.io)) {
    if (frames->size() != 2) die("the store sent a reply of " + std::to_string(frames->size()) + " frames");
    const std::string& route = (*frames)[0];
    if (!route.starts_with(kRoutePrefix)) {  // a reply to a client of self_router
      if (!route.empty()) mob::send_frames(h.self_router, {route, (*frames)[1]});
      continue;
    }
    // Only the replies to our own requests are read: the I/O actor passes the others on as
    // bytes (decoding a status of many instances would take longer than the store made it).
    if (awaited == 0 || route != kAskRoute) continue;
    auto envelope = mob::decode((*frames)[1], SIZE_MAX);
    if (!envelope) die("the store sent an undecodable reply: " + envelope.error().message);
    if (envelope->request_id == awaited) {
      h.answer = std::move(*envelope);
      answered = true;
    }
  }
  while (mob::recv_frames(h.supervisor)) {
  }
  while (control && mob::recv_frames(h.control)) {
  }
  // Requests that reach this agent's address go to the store, as the I/O actor forwards them
  // (it answers the others itself).
  for (int i = 0; i < 256; ++i) {
    auto frames = mob::recv_frames(h.self_router);
    if (!frames) break;
    if (frames->size() != 2) continue;
    auto envelope = mob::decode((*frames)[1]);
    if (!envelope || (h.door && !mob::admit_request(envelope->body))) continue;
    mob::send_frames(h.io, {(*frames)[0], (*frames)[1]});
  }
  for (int i = 0; i < 256; ++i) {
    auto frames = mob::recv_frames(h.peer_router);
    if (!frames) break;
    answer_as_peer(*frames);
  }
  return answered;
}

// Polls every socket the store writes to until `until` or, with `awaited`, until its reply.
bool pump(Clock::time_point until, std::uint64_t awaited) {
  Harness& h = *harness;
  while (true) {
    if (drain(awaited)) return true;
    auto now = Clock::now();
    if (now >= until) return false;
    zmq::pollitem_t items[] = {{h.io.handle(), 0, ZMQ_POLLIN, 0},
                               {h.supervisor.handle(), 0, ZMQ_POLLIN, 0},
                               {h.control.handle(), 0, ZMQ_POLLIN, 0},
                               {h.self_router.handle(), 0, ZMQ_POLLIN, 0},
                               {h.peer_router.handle(), 0, ZMQ_POLLIN, 0}};
    wait_for(items, 5, mob::poll_timeout_ms(until, std::chrono::milliseconds(100)));
  }
}

// Prints the stack of the thread it runs on: sent to the store thread when it hangs.
extern "C" void on_stack_request(int) {
  static const char line[] = "store_fuzz: the store thread is here:\n";
  [[maybe_unused]] auto written = ::write(2, line, sizeof line - 1);
  __sanitizer_print_stack_trace();
}

// Sends `request` to the store as a client would and returns its reply, or nullopt when none
// came within kReplyBound.
std::optional<mob::Envelope> ask(mob::Body request) {
  Harness& h = *harness;
  std::uint64_t id = ++h.request_ids;
  send_to_store(std::string(kAskRoute), mob::encode(mob::Envelope{mob::kProtocolVersion, id, "fuzz", std::move(request)}));
  if (!pump(Clock::now() + kReplyBound, id)) return std::nullopt;
  return std::move(h.answer);
}

// Like ask(), for a reply of type Reply; a store that does not answer within kReplyBound
// hangs or died: abort (a finding), with the stack of its thread.
template <class Reply>
Reply expect_reply(mob::Body request, const char* when) {
  std::string type(mob::type_name(request));
  auto reply = ask(std::move(request));
  if (reply && std::holds_alternative<Reply>(reply->body)) return std::get<Reply>(std::move(reply->body));
  if (reply) die("the store answered a " + type + " with " + std::string(mob::type_name(reply->body)));
  std::fprintf(stderr, "store_fuzz: the store did not answer a %s within 5 s %s: it hangs or its thread died\n",
               type.c_str(), when);
  if (harness->store) {
    ::pthread_kill(harness->store->native_handle(), kStackSignal);
    std::this_thread::sleep_for(std::chrono::seconds(3));  // symbolizing takes a while
  }
  die("the store hangs (see its stack above)");
}

void expect_alive(const char* when) { expect_reply<mob::PingReply>(mob::PingRequest{}, when); }

// MOB_STORE_FUZZ_INVARIANTS=1: what the store says of itself still holds after every input.
// Its own member record is alive, at the incarnation it answers probes with, and advertises
// what it was configured with: whatever peers send, no one but the agent changes it.
std::uint64_t incarnation_of_store() {
  return expect_reply<mob::ProbeAck>(mob::ProbeRequest{1, "fuzz-check", kSelf, 0, 0}, "(checking invariants)")
      .incarnation;
}

void check_invariants() {
  Harness& h = *harness;
  // The fake peer's replies reach the store on their own connection, at any time: an
  // incarnation that changed between the two probes is asked again.
  std::uint64_t incarnation = 0;
  mob::MembersReply members;
  for (int attempt = 0;; ++attempt) {
    incarnation = incarnation_of_store();
    members = expect_reply<mob::MembersReply>(mob::MembersRequest{}, "(checking invariants)");
    if (incarnation_of_store() == incarnation) break;
    if (attempt == 10) die("invariant: the store's incarnation changes all the time");
  }
  if (auto problem = mob::fuzz::own_record_problem(h.words, members.members, incarnation, {"bash"}))
    die("invariant: " + *problem);
}

// A store just started reads its provider's availability (sent by start_store) when it reads
// its supervisor pipe, after the requests that wait on its io pipe: until it has, it
// advertises no provider, rightly. Invariants are checked from then on.
void await_advertised() {
  auto until = Clock::now() + kReplyBound;
  while (Clock::now() < until) {
    auto members = expect_reply<mob::MembersReply>(mob::MembersRequest{}, "(just started)");
    for (const auto& member : members.members)
      if (member.name == kSelf && member.providers == std::vector<std::string>{"bash"}) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  die("the store started did not advertise its provider within 5 s");
}

// Sends `request` on the store's control pipe, as the agent's main thread does, and waits for
// `Reply` (bounded), handling everything else the store sends meanwhile.
template <class Reply>
bool ask_store(mob::ControlBody request) {
  Harness& h = *harness;
  mob::send_control(h.control, request);
  auto until = Clock::now() + kReplyBound;
  while (Clock::now() < until) {
    while (auto message = mob::receive_control(h.control))
      if (std::holds_alternative<Reply>(*message)) return true;
    drain(0, /*control=*/false);
    zmq::pollitem_t items[] = {{h.control.handle(), 0, ZMQ_POLLIN, 0},
                               {h.io.handle(), 0, ZMQ_POLLIN, 0},
                               {h.supervisor.handle(), 0, ZMQ_POLLIN, 0},
                               {h.self_router.handle(), 0, ZMQ_POLLIN, 0},
                               {h.peer_router.handle(), 0, ZMQ_POLLIN, 0}};
    wait_for(items, 5, 50);
  }
  return false;
}

// Stops the store as Agent::stop() does: it announces that it leaves (to every live peer),
// then shuts down (its last save and flush).
void stop_store() {
  Harness& h = *harness;
  if (!ask_store<mob::LeaveAnnounced>(mob::AnnounceLeave{}))
    die("the store did not answer AnnounceLeave on its control pipe within 5 s");
  if (!ask_store<mob::ShutdownDone>(mob::ShutdownRequest{}))
    die("the store did not answer ShutdownRequest on its control pipe within 5 s");
  h.store->join();
  delete h.store;
  h.store = nullptr;
  drain(0);
  h.io.close();
  h.supervisor.close();
  h.control.close();
  delete h.store_context;  // every socket of it is closed now: this does not block
  h.store_context = nullptr;
}

// ---- one step of an input ------------------------------------------------------------------

// The step kinds: the messages (fuzz/hostile_messages.hpp), and rarely a restart of the
// store on its data dir.
constexpr std::size_t kRestart = mob::fuzz::kKinds;

// Answers the store's last request to the fake peer (if it made one yet: either way the
// input's bytes mean the same messages).
void peer_reply(mob::fuzz::Gen& g) {
  Harness& h = *harness;
  auto bytes = mob::fuzz::peer_reply(g, h.last_probe_seq);
  if (!h.last_peer_identity.empty()) mob::send_frames(h.peer_router, {h.last_peer_identity, bytes});
}

void step(mob::fuzz::Gen& g) {
  using mob::fuzz::Kind;
  auto pick = g.range(0, 255);
  std::size_t kind = pick == 255 ? kRestart : pick % mob::fuzz::kKinds;
  switch (kind) {
    default:
      // A request from a client or a peer, as the I/O actor passes it on: only if the door
      // (agent/admission.hpp, io.cpp) admits it; the I/O actor answers the others itself.
      if (auto request = mob::fuzz::request(g, static_cast<Kind>(kind), harness->request_ids, harness->door))
        send_to_store(std::string(kRoutePrefix) + request->route, mob::encode(request->envelope));
      return;
    case static_cast<std::size_t>(Kind::peer_reply): return peer_reply(g);
    case static_cast<std::size_t>(Kind::gossip):
      mob::send_frames(harness->peer_pub, {std::string("gossip"), mob::fuzz::gossip(g)});
      return;
    case kRestart:
      // A restart costs about 7 ms (a thread, a context, the database): at most one in 64
      // inputs while fuzzing; every one when reproducing.
      if (harness->linger.count() == 0 && harness->inputs < harness->last_restart + 64) return;
      harness->last_restart = harness->inputs;
      if (harness->words.print) std::fprintf(stderr, "store_fuzz step: restart the store on its data dir\n");
      expect_alive("before a restart");
      stop_store();
      start_store(/*fresh=*/false);
      await_advertised();
      return;
  }
}

// The fake peer joins the store, so that the store subscribes to its gossip and talks to it.
void introduce_peer() {
  Harness& h = *harness;
  mob::Member peer = mob::fuzz::fake_peer(h.words);
  send_to_store(std::string(kRoutePrefix) + "intro",
                encoded(mob::JoinRequest{{peer, wall_ms() << 16, kPeer}}, ++h.request_ids, kPeer));
  expect_alive("after the fake peer joined");
  await_advertised();
}

void shut_down_at_exit() {
  // Bounded: a store that does not stop is reported by the run, not by the exit.
  if (harness && harness->store && ask_store<mob::ShutdownDone>(mob::ShutdownRequest{})) {
    harness->store->join();
    delete harness->store;
    harness->store = nullptr;
  }
  if (harness && !harness->root.empty()) {
    std::error_code ignored;
    fs::remove_all(harness->root, ignored);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  isolate_network();  // before any thread: every thread the process makes inherits it

  mob::log::Level level = mob::log::Level::off;
  if (const char* text = std::getenv("MOB_STORE_FUZZ_LOG"); text && !mob::log::parse_level(text, level))
    die(std::string("MOB_STORE_FUZZ_LOG: not a level: ") + text);
  mob::log::set_level(level);
  struct sigaction action {};
  action.sa_handler = on_stack_request;
  sigemptyset(&action.sa_mask);
  ::sigaction(kStackSignal, &action, nullptr);

  harness = new Harness();
  Harness& h = *harness;
  if (const char* every = std::getenv("MOB_STORE_FUZZ_RESET")) h.reset_every = std::strtoull(every, nullptr, 10);
  h.invariants = std::getenv("MOB_STORE_FUZZ_INVARIANTS") != nullptr;
  h.words.print = std::getenv("MOB_STORE_FUZZ_PRINT") != nullptr;
  h.words.label = "store_fuzz";
  h.door = std::getenv("MOB_STORE_FUZZ_NO_DOOR") == nullptr;
  // Reproducing (only files given): let the timers act on what the input left.
  bool files_only = *argc > 1;
  for (int i = 1; i < *argc; ++i) {
    std::error_code error;
    if ((*argv)[i][0] == '-' || !fs::is_regular_file((*argv)[i], error)) files_only = false;
  }
  if (files_only) {
    const char* linger = std::getenv("MOB_STORE_FUZZ_LINGER_MS");
    h.linger = std::chrono::milliseconds(linger ? std::strtoll(linger, nullptr, 10) : 3000);
  }

  auto root = mob::fuzz::make_scratch_dir("mob-store-fuzz");
  if (!root) die(root.error().message);
  h.root = *root;

  for (auto* socket : {&h.self_router, &h.peer_router, &h.peer_pub}) {
    socket->set(zmq::sockopt::linger, 0);
    socket->set(zmq::sockopt::sndhwm, 100000);
  }
  h.self_router.set(zmq::sockopt::router_mandatory, false);
  h.words.self_address = bound_endpoint(h.self_router, "tcp://127.0.0.1:0");
  h.words.peer_address = bound_endpoint(h.peer_router, "tcp://127.0.0.1:0");
  h.words.peer_pub_address = bound_endpoint(h.peer_pub, "tcp://127.0.0.1:0");
  std::atexit(shut_down_at_exit);

  start_store(/*fresh=*/true);
  introduce_peer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Harness& h = *harness;
  ++h.inputs;
  FuzzedDataProvider provider(data, size);
  mob::fuzz::Gen g(provider, h.words);
  const std::size_t steps = g.range(1, mob::fuzz::kMaxSteps);
  for (std::size_t i = 0; i < steps && !g.empty(); ++i) step(g);
  expect_alive("after this input");
  if (h.invariants) check_invariants();
  if (h.linger.count() > 0) {
    pump(Clock::now() + h.linger, 0);
    expect_alive("a while after this input");
    if (h.invariants) check_invariants();
  }
  // Stopping runs the store's shutdown path too (its last save and flush), so a crash there
  // is reported with the input that caused it.
  if (h.linger.count() > 0 || (h.reset_every != 0 && h.inputs % h.reset_every == 0)) {
    stop_store();
    start_store(/*fresh=*/true);
    introduce_peer();
  }
  return 0;
}
