// Structure-aware libFuzzer target for the peer store's HANDLERS (agent/store.cpp), not only the
// decoder: one in-process store (mob::run_store) lives for the whole run, and each input is a
// sequence of up to 16 well-formed messages of every type a client or a peer may send to an
// agent's ROUTER, with hostile fields (addresses, names with NUL and '/', numbers and stamps at
// both ends of their range, garbage specs). They enter the store's io pipe as the I/O actor
// forwards them, [route, payload], when its door (agent/admission.hpp) admits them. Steps can
// also answer the store's own requests as a
// fake peer ("peer-a", a ROUTER and a PUB of this process), publish gossip to it, and restart
// the store on its data dir. After the sequence a PingRequest must be answered within 5 s.
// Findings (the target aborts): the store crashes (a sanitizer report, an exception leaving its
// thread), hangs (no answer: its thread's stack is printed), or catches an exception at its
// step boundary (StepGuard, which keeps an agent running: where it was thrown is printed).
//
// The network is isolated first (LLVMFuzzerInitialize, before any thread exists): the process
// moves to a network namespace of its own with only loopback up, so that no address a message
// names can reach a real machine or agent. That takes root, or unprivileged user namespaces.
//
// The store's state carries over from one input to the next (it finds more); every
// MOB_STORE_FUZZ_RESET inputs (default 2000; 0: never) the store is stopped as an agent stops
// it (LeaveCommand, ShutdownRequest) and a fresh one starts on a new data dir, so that the
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
#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <fuzzer/FuzzedDataProvider.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>
#include <sanitizer/common_interface_defs.h>
#include <zmq.hpp>

#include "agent/actor.hpp"
#include "agent/admission.hpp"
#include "agent/service_archive.hpp"
#include "agent/store.hpp"
#include "bus/codec.hpp"
#include "bus/log.hpp"
#include "bus/transport.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kSelf = "fuzz-self";
constexpr const char* kPeer = "peer-a";  // a fake peer this process plays (peer_router, peer_pub)
constexpr std::size_t kMaxSteps = 16;
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

template <class T>
void describe(std::string& out, const T& value);  // prints a message's fields, below

// ---- exceptions the store catches at its step boundary ---------------------------------------
//
// The store runs each step (a message, a round of timers) under a StepGuard that logs an
// exception, drops the step and goes on: the agent survives, but the exception is a bug all
// the same. This target interposes the C++ runtime's __cxa_allocate_exception (every throw
// calls it at the throw site: the stack is recorded) and __cxa_begin_catch (every catch block
// starts with it: a catch inside StepGuard::run is recognized by symbolizing its address), on
// the store thread only, and aborts with the exception and where it was thrown. (ASan owns
// __cxa_throw; these two are not intercepted by it.)

std::atomic<bool> store_thread_known{false};
pthread_t store_thread_id;  // written before store_thread_known is set
thread_local void* throw_stack[64];
thread_local int throw_depth = 0;
thread_local bool in_exception_hook = false;

bool on_store_thread() {
  return store_thread_known.load(std::memory_order_acquire) && ::pthread_equal(::pthread_self(), store_thread_id);
}

// Every function the frame at `pc` is in (inlined ones too) as the symbolizer names them.
std::string functions_at(const void* pc) {
  char text[8192] = {};
  __sanitizer_symbolize_pc(const_cast<void*>(pc), "%f", text, sizeof text - 1);
  std::string names;
  for (const char* frame = text; *frame; frame += std::strlen(frame) + 1) names += std::string(frame) + "\n";
  return names;
}

bool is_step_guard_catch(const void* pc) {
  static std::mutex mutex;
  static std::map<const void*, bool> known;
  std::lock_guard lock(mutex);
  auto found = known.find(pc);
  if (found != known.end()) return found->second;
  return known[pc] = functions_at(pc).find("StepGuard::run") != std::string::npos;
}

[[noreturn]] void report_caught_exception() {
  std::string type = "an exception that is not a std::exception";
  if (const std::type_info* info = abi::__cxa_current_exception_type()) {
    int status = 0;
    char* name = abi::__cxa_demangle(info->name(), nullptr, nullptr, &status);
    type = status == 0 && name ? name : info->name();
    std::free(name);
  }
  std::string what;
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::fprintf(stderr, "store_fuzz: the store caught %s at its step boundary (StepGuard): %s\n"
                       "store_fuzz: it was thrown here:\n", type.c_str(), what.c_str());
  for (int i = 2; i < throw_depth; ++i) {  // frames 0 and 1: backtrace() and the hook
    char text[8192] = {};
    // The return address minus one is inside the call, on the line of the call.
    __sanitizer_symbolize_pc(static_cast<char*>(throw_stack[i]) - 1, "%p in %f %L", text, sizeof text - 1);
    for (const char* frame = text; *frame; frame += std::strlen(frame) + 1)  // inlined ones first
      std::fprintf(stderr, "    #%d %s\n", i - 2, frame);
  }
  die("the store caught an exception at its step boundary: see above where it was thrown");
}

}  // namespace

extern "C" void* __cxa_allocate_exception(std::size_t size) noexcept {
  static auto* real = reinterpret_cast<void* (*)(std::size_t)>(::dlsym(RTLD_NEXT, "__cxa_allocate_exception"));
  if (!in_exception_hook && on_store_thread()) {
    in_exception_hook = true;
    throw_depth = ::backtrace(throw_stack, 64);
    in_exception_hook = false;
  }
  return real(size);
}

extern "C" void* __cxa_begin_catch(void* header) noexcept {
  static auto* real = reinterpret_cast<void* (*)(void*)>(::dlsym(RTLD_NEXT, "__cxa_begin_catch"));
  const char* landing_pad = static_cast<const char*>(__builtin_return_address(0)) - 1;
  void* object = real(header);
  if (!in_exception_hook && on_store_thread()) {
    in_exception_hook = true;
    if (is_step_guard_catch(landing_pad)) report_caught_exception();
    in_exception_hook = false;
  }
  return object;
}

namespace {

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
  // The store's own ROUTER address: what reaches it is forwarded into the io pipe, as the I/O
  // actor would, and the replies go back.
  zmq::socket_t self_router{context, zmq::socket_type::router};
  std::string self_address;
  // A fake peer: answers the store's probes of it, and its replies and gossip are fuzzed.
  zmq::socket_t peer_router{context, zmq::socket_type::router};
  zmq::socket_t peer_pub{context, zmq::socket_type::pub};
  std::string peer_address;
  std::string peer_pub_address;
  std::string pub_address;  // the store's PUB
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
    std::error_code ignored;
    if (!h.data_dir.empty()) fs::remove_all(h.data_dir, ignored);
    h.data_dir = h.root / ("data-" + std::to_string(h.data_dirs++));
    fs::create_directories(h.data_dir);
    ::chmod(h.data_dir.c_str(), 0700);
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
  h.pub_address = bound_endpoint(pub, "tcp://127.0.0.1:0");

  mob::StoreConfig config;
  config.self.name = kSelf;
  config.self.address = h.self_address;
  config.self.pub_address = h.pub_address;
  config.self.state = mob::MemberState::alive;
  // As agent.cpp: the providers are configured (-P bash) and advertised once their worker says
  // they run (the ProviderAvailability sent below).
  config.providers = {"bash"};
  config.self.tags = {{"zone", "a"}};
  config.self.version = MOB_VERSION;
  config.data_dir = h.data_dir;
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
  store_thread_known.store(false, std::memory_order_release);
  h.store = new std::thread(mob::run_store, std::move(config), std::move(*archive),
                            std::ref(context), std::move(io.second),
                            std::move(supervisor.first), std::move(control.second),
                            std::move(pub));
  store_thread_id = h.store->native_handle();
  store_thread_known.store(true, std::memory_order_release);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  // What the bash worker says first in an agent: it runs here.
  mob::send_body(h.supervisor, mob::ProviderAvailability{"bash", true});
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
  for (const auto& member : members.members) {
    if (member.name != kSelf) continue;
    std::string self;
    describe(self, member);
    auto wrong = [&](const char* what) {
      die(std::string("invariant: this agent's own member record ") + what + " (it answers probes with incarnation " +
          std::to_string(incarnation) + "): " + self);
    };
    if (member.state != mob::MemberState::alive) wrong("is not alive");
    if (member.incarnation != incarnation) wrong("is not at the incarnation the agent has");
    if (member.address != h.self_address || member.pub_address != h.pub_address) wrong("advertises other addresses");
    if (!member.problem.empty()) wrong("says it has a problem (this harness's clock is right)");
    if (member.providers != std::vector<std::string>{"bash"} ||
        member.tags != std::map<std::string, std::string>{{"zone", "a"}} || member.version != MOB_VERSION)
      wrong("advertises other providers, tags or version");
    return;
  }
  die("invariant: this agent is not among its own members");
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
template <class Reply, class Request>
bool ask_store(Request request) {
  Harness& h = *harness;
  mob::send_body(h.control, std::move(request));
  auto until = Clock::now() + kReplyBound;
  while (Clock::now() < until) {
    while (auto message = mob::receive_routed(h.control))
      if (std::holds_alternative<Reply>(message->envelope.body)) return true;
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
  if (!ask_store<mob::LeaveReply>(mob::LeaveCommand{}))
    die("the store did not answer LeaveCommand on its control pipe within 5 s");
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

// ---- printing the steps of an input (MOB_STORE_FUZZ_PRINT=1, to read a reproducer) ---------

bool print_steps = false;

std::string shown(const std::string& text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < 80; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
    else if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  out += '"';
  if (text.size() > 80) out += "...(" + std::to_string(text.size()) + " bytes)";
  return out;
}

template <class T>
void describe(std::string& out, const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    out += value ? "true" : "false";
  } else if constexpr (std::is_enum_v<T>) {
    if constexpr (requires { mob::to_string(value); }) out += mob::to_string(value);
    else out += std::to_string(static_cast<std::uint64_t>(value));
  } else if constexpr (std::is_integral_v<T>) {
    out += std::to_string(value);
  } else if constexpr (std::is_floating_point_v<T>) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", static_cast<double>(value));
    out += text;
  } else if constexpr (std::is_same_v<T, std::string>) {
    out += shown(value);
  } else if constexpr (mob::wire::is_vector<T>::value) {
    out += '[';
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (i) out += ", ";
      describe(out, value[i]);
    }
    out += ']';
  } else if constexpr (mob::wire::is_map<T>::value) {
    out += '{';
    bool first = true;
    for (const auto& [key, item] : value) {
      if (!first) out += ", ";
      first = false;
      out += shown(key) + ": ";
      describe(out, item);
    }
    out += '}';
  } else if constexpr (mob::wire::Reflected<T>) {
    out += '{';
    std::size_t index = 0;
    std::apply(
        [&](const auto&... field) {
          ((out += (index ? ", " : "") + mob::wire::field_name(T::mob_field_names(), index) + "=",
            describe(out, field), ++index),
           ...);
        },
        value.mob_fields());
    out += '}';
  } else {
    out += "?";
  }
}

void print_step(const char* how, const mob::Body& body) {
  if (!print_steps) return;
  std::string text;
  std::visit([&](const auto& message) { describe(text, message); }, body);
  std::fprintf(stderr, "store_fuzz step: %s %s %s\n", how, std::string(mob::type_name(body)).c_str(),
               text.c_str());
}

// ---- hostile values ------------------------------------------------------------------------

class Gen {
 public:
  explicit Gen(FuzzedDataProvider& data) : p_(data) {}

  bool coin() { return p_.ConsumeBool(); }
  std::size_t range(std::size_t low, std::size_t high) {
    return p_.ConsumeIntegralInRange<std::size_t>(low, high);
  }
  std::string raw(std::size_t max) { return p_.ConsumeRandomLengthString(max); }
  bool empty() { return p_.remaining_bytes() == 0; }

  std::uint64_t now_hlc() { return wall_ms() << 16; }

  std::uint64_t u64() {
    switch (range(0, 12)) {
      case 0: return 0;
      case 1: return 1;
      case 2: return 2;
      case 3: return 1ULL << 32;
      case 4: return 1ULL << 48;
      case 5: return (1ULL << 48) - 1;
      case 6: return 1ULL << 63;
      case 7: return UINT64_MAX;
      case 8: return UINT64_MAX - 1;
      case 9: return now_hlc();
      case 10: return range(0, 16);
      default: return p_.ConsumeIntegral<std::uint64_t>();
    }
  }
  std::uint32_t u32() {
    switch (range(0, 8)) {
      case 0: return 0;
      case 1: return 1;
      case 2: return 2;
      case 3: return 100;
      case 4: return 101;
      case 5: return UINT32_MAX;
      case 6: return UINT32_MAX - 1;
      default: return p_.ConsumeIntegral<std::uint32_t>();
    }
  }
  std::int64_t i64() {
    switch (range(0, 5)) {
      case 0: return 0;
      case 1: return -1;
      case 2: return INT64_MIN;
      case 3: return INT64_MAX;
      default: return p_.ConsumeIntegral<std::int64_t>();
    }
  }
  std::int32_t i32() {
    switch (range(0, 5)) {
      case 0: return 0;
      case 1: return -1;
      case 2: return INT32_MIN;
      case 3: return INT32_MAX;
      default: return p_.ConsumeIntegral<std::int32_t>();
    }
  }
  double real() {
    switch (range(0, 8)) {
      case 0: return 0.0;
      case 1: return 1.0;
      case 2: return -1.0;
      case 3: return std::numeric_limits<double>::quiet_NaN();
      case 4: return std::numeric_limits<double>::infinity();
      case 5: return -std::numeric_limits<double>::infinity();
      case 6: return std::numeric_limits<double>::max();
      case 7: return std::numeric_limits<double>::denorm_min();
      default: return p_.ConsumeFloatingPoint<double>();
    }
  }
  // Hybrid logical clock stamps: both ends of the range, now, just under and just over the
  // 5 min the store accepts ahead of its clock, and the past.
  std::uint64_t hlc() {
    const std::uint64_t now = wall_ms();
    switch (range(0, 10)) {
      case 0: return 0;
      case 1: return 1;
      case 2: return UINT64_MAX;
      case 3: return (now << 16) + range(0, 1000);
      case 4: return (now + 4 * 60 * 1000) << 16;
      case 5: return (now + 6 * 60 * 1000) << 16;
      case 6: return (now - 2 * 3600 * 1000) << 16;
      case 7: return ((now + 5 * 60 * 1000) << 16) | 0xffff;
      case 8: return now << 16;
      default: return p_.ConsumeIntegral<std::uint64_t>();
    }
  }

  // Wall clocks (ms) as peers report them in probes: this machine's, just past the 5 min
  // bound either way, and the ends of the range (now + 2^63 makes the offset INT64_MIN).
  std::uint64_t wall() {
    const std::uint64_t now = wall_ms();
    switch (range(0, 9)) {
      case 0: return 0;
      case 1: return 1;
      case 2: return now;
      case 3: return now + 5 * 60 * 1000 + 1000;
      case 4: return now - 5 * 60 * 1000 - 1000;
      case 5: return now + (1ULL << 63);
      case 6: return UINT64_MAX;
      case 7: return now + 10 * 60 * 1000;
      case 8: return now - 10 * 60 * 1000;
      default: return p_.ConsumeIntegral<std::uint64_t>();
    }
  }

  std::string name() {
    switch (range(0, 15)) {
      case 0: return kSelf;
      case 1: return kPeer;
      case 2: return "node-b";
      case 3: return "node-c";
      case 4: return "";
      case 5: return std::string("a\0b", 3);
      case 6: return "a/b";
      case 7: return "../x";
      case 8: return "with space";
      case 9: return std::string(300, 'n');
      case 10: return std::string(64, 'n');
      case 11: return "\xff\xfe";
      case 12: return "node-" + std::to_string(range(0, 9));
      case 13: return std::string(kSelf) + "\n";
      default: return raw(40);
    }
  }
  std::string service() {
    switch (range(0, 13)) {
      case 0: return "echoes";
      case 1: return "db";
      case 2: return "web";
      case 3: return "a";
      case 4: return "";
      case 5: return "a/0";
      case 6: return std::string("x\0y", 3);
      case 7: return std::string(300, 's');
      case 8: return "..";
      case 9: return "-bad";
      case 10: return "with space";
      case 11: return "a/b/c";
      default: return raw(40);
    }
  }

  std::string address() {
    Harness& h = *harness;
    static const char* const hostile[] = {
        "garbage", "", "tcp://", "tcp://127.0.0.1:99999", "tcp://127.0.0.1:0", "ipc:///tmp/x",
        "inproc://zeromq.zap.01", "tcp://a;b:1", "tcp://127.0.0.1:6000;127.0.0.2:1",
        "udp://127.0.0.1:1", "tcp://[::1]:1", "tcp://localhost:1", "tcp://*:1",
        "tcp://127.0.0.1:-1", "tcp://127.0.0.1", "tcp://:1", "tcp://0.0.0.0:1",
        "tcp://127.0.0.1:1:2", "tcp://example.invalid:1", "tcp://%:1", "tcp://127.0.0.1:65535",
        "127.0.0.1:6666", "inproc://", "inproc://fuzz-io-store-1", "ws://127.0.0.1:1",
        "pgm://lo;239.192.1.1:5555", "epgm://127.0.0.1;239.192.1.1:5555", "norm://127.0.0.1:1",
        "tipc://{5560,0,0}", "vmci://1:1", "tcp://127.0.0.1:1;", "tcp://;127.0.0.1:1",
        "tcp://[::1", "tcp://[:::1]:1", "tcp://1.2.3.4.5:1", "TCP://127.0.0.1:1"};
    constexpr std::size_t kHostile = sizeof hostile / sizeof *hostile;
    switch (range(0, 9)) {
      case 0:
      case 1: return hostile[range(0, kHostile - 1)];
      case 2: return h.self_address;
      case 3: return h.peer_address;
      case 4: return h.peer_pub_address;
      case 5: return h.pub_address;
      case 6: {
        // Each value consumed in its own statement: the operands of + are unsequenced, and
        // an input must mean the same with every compiler.
        std::string host = "tcp://127.0.0." + std::to_string(range(1, 3));
        return host + ":" + std::to_string(p_.ConsumeIntegral<std::uint16_t>());
      }
      case 7: return "tcp://" + std::string(range(200, 5000), 'a') + ":1";
      default: return raw(64);
    }
  }
  // host:port, as mob-tool join passes seeds
  std::string seed() {
    Harness& h = *harness;
    switch (range(0, 8)) {
      case 0: return "127.0.0.1:6666";
      case 1: return "[::1]:6670";
      case 2: return ":";
      case 3: return h.peer_address.substr(6);
      case 4: return h.self_address.substr(6);
      case 5: return "localhost:" + std::to_string(p_.ConsumeIntegral<std::uint16_t>());
      default: return address();
    }
  }

  mob::MemberState member_state() {
    return static_cast<mob::MemberState>(range(0, static_cast<std::size_t>(mob::MemberState::count_) - 1));
  }
  mob::InstanceState instance_state() {
    return static_cast<mob::InstanceState>(range(0, static_cast<std::size_t>(mob::InstanceState::count_) - 1));
  }

  std::vector<std::string> providers() {
    switch (range(0, 5)) {
      case 0: return {"bash"};
      case 1: return {};
      case 2: return {"docker"};
      case 3: return {"bash", "bash"};
      case 4: return {"", std::string(300, 'p')};
      default: return {raw(16), raw(16)};
    }
  }
  std::map<std::string, std::string> tags() {
    switch (range(0, 3)) {
      case 0: return {};
      case 1: return {{"zone", "a"}};
      case 2: return {{"", ""}, {"zone", std::string(300, 'z')}};
      default: return {{raw(16), raw(16)}};
    }
  }

  // Specs: valid ones of several shapes (named as `name` or not), and garbage.
  std::string spec_json(const std::string& name) {
    nlohmann::json spec = {{"name", name}, {"provider", "bash"}, {"params", {{"command", "true"}}}};
    switch (range(0, 11)) {
      case 0: break;
      case 1: {
        // 9999: the most instances a spec from a peer may ask for (kMaxInstanceIndex - 1).
        static const std::uint64_t counts[] = {0, 1, 2, 3, 100, 101, 1000, UINT32_MAX, 9999, 10000};
        spec["instances"] = counts[range(0, std::size(counts) - 1)];
        break;
      }
      case 2: spec["depends_on"] = {service(), service()}; break;
      case 3: spec["constraints"] = {{"tags", {{"zone", coin() ? "a" : "b"}}}}; break;
      case 4:
        spec["provider"] = "docker";
        spec["params"] = {{"image", "busybox"}};
        break;
      case 5: spec["name"] = service(); break;
      case 6: spec["restart"] = {{"policy", "never"}, {"backoff_max_ms", UINT32_MAX}}; break;
      case 7: return "";
      case 8: return "{";
      case 9: return coin() ? "null" : "[]";
      case 10: return R"({"name":")" + name + R"("})";
      default: return raw(200);
    }
    return spec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  mob::Stamp stamp() { return mob::Stamp{hlc(), name()}; }

  mob::Member member() {
    mob::Member m;
    m.name = name();
    // Valid addresses half of the time, so that members get deep into the store too.
    m.address = coin() ? harness->peer_address : address();
    m.pub_address = coin() ? harness->peer_pub_address : address();
    m.state = member_state();
    m.providers = providers();
    m.tags = tags();
    m.incarnation = coin() ? range(0, 3) : u64();
    m.load = real();
    m.version = coin() ? MOB_VERSION : raw(16);
    switch (range(0, 3)) {
      case 0:
      case 1: m.problem = ""; break;
      case 2: m.problem = "its clock is 600 s behind 2 of its 2 peers"; break;
      default: m.problem = raw(40);
    }
    return m;
  }
  mob::MemberEntry member_entry() { return mob::MemberEntry{member(), hlc(), name()}; }
  mob::ServiceEntry service_entry() {
    mob::ServiceEntry e;
    e.name = service();
    e.spec_json = spec_json(coin() ? e.name : service());
    e.generation = coin() ? range(0, 3) : u64();
    e.enabled = coin();
    e.restart_generation = coin() ? range(0, 3) : u64();
    e.removed = range(0, 3) == 0;
    e.stamp = stamp();
    return e;
  }
  mob::AssignmentEntry assignment_entry() {
    return mob::AssignmentEntry{service(), coin() ? static_cast<std::uint32_t>(range(0, 3)) : u32(),
                                name(), range(0, 3) == 0, stamp()};
  }
  mob::InstanceStatus instance_status() {
    mob::InstanceStatus s;
    s.service = service();
    s.index = coin() ? static_cast<std::uint32_t>(range(0, 3)) : u32();
    s.node = name();
    s.state = instance_state();
    s.restarts = u32();
    s.pid = i64();
    s.since_ms = i64();
    s.exit_code = i32();
    s.signal = i32();
    s.reason = coin() ? "" : raw(64);
    s.spec_version = u64();
    return s;
  }
  mob::InstanceEntry instance_entry() {
    return mob::InstanceEntry{instance_status(), range(0, 3) == 0, stamp()};
  }
  mob::StateDelta delta() {
    mob::StateDelta d;
    for (std::size_t n = range(0, 4); n > 0 && !empty(); --n) d.members.push_back(member_entry());
    for (std::size_t n = range(0, 4); n > 0 && !empty(); --n) d.services.push_back(service_entry());
    for (std::size_t n = range(0, 4); n > 0 && !empty(); --n) d.assignments.push_back(assignment_entry());
    for (std::size_t n = range(0, 4); n > 0 && !empty(); --n) d.instances.push_back(instance_entry());
    return d;
  }
  std::string record_key() {
    switch (range(0, 7)) {
      case 0: return "m/" + name();
      case 1: return "s/" + service();
      case 2: {
        std::string key = "a/" + service();
        return key + "/" + std::to_string(u32());
      }
      case 3: {
        std::string key = "i/" + service();
        key += "/" + std::to_string(u32());
        return key + "/" + name();
      }
      case 4: return "";
      case 5: return "m/";
      default: return raw(40);
    }
  }
  mob::DigestEntry digest_entry() { return mob::DigestEntry{record_key(), u64(), u64(), name()}; }

 private:
  FuzzedDataProvider& p_;
};

// ---- one step of an input ------------------------------------------------------------------

enum class Step : std::uint8_t {
  ping, deploy, status, control, members, probe, indirect_probe, join, sync, sync_push,
  join_command, leave_command,  // the requests the I/O actor forwards to the store
  peer_reply, gossip,           // the fake peer answers the store or publishes
  count_,
  restart = count_,             // rare: stop the store, start it again on its data dir
};

// A request from a client or a peer, as the I/O actor passes it on: only if the door
// (agent/admission.hpp, io.cpp) admits it; the I/O actor answers the others itself.
void send_request(Gen& g, mob::Body body) {
  // Routes as ROUTER identities are: never empty, opaque bytes.
  std::string route = std::string(kRoutePrefix) + "r" + g.raw(6);  // never kAskRoute
  std::uint64_t id = g.coin() ? ++harness->request_ids : g.u64();
  std::string sender = g.coin() ? g.name() : "fuzz";
  auto admitted = harness->door ? mob::admit_request(body) : mob::Result<void>{};
  print_step(admitted ? "request" : "request refused at the door:", body);
  if (!admitted) return;
  send_to_store(route, mob::encode(mob::Envelope{mob::kProtocolVersion, id, std::move(sender), std::move(body)}));
}

// Answers the store's last request to the fake peer (if it made one yet: either way the
// input's bytes mean the same messages).
void peer_reply(Gen& g) {
  Harness& h = *harness;
  std::string bytes;
  mob::Body body;
  switch (g.range(0, 6)) {
    case 0: body = mob::ProbeAck{g.coin() ? h.last_probe_seq : g.u64(), g.name(), g.u64(), g.wall()}; break;
    case 1: body = mob::JoinReply{g.delta()}; break;
    case 2: {
      std::vector<std::string> keys;
      for (std::size_t n = g.range(0, 4); n > 0; --n) keys.push_back(g.record_key());
      body = mob::SyncReply{g.delta(), std::move(keys)};
      break;
    }
    case 3: body = mob::SyncPush{g.delta()}; break;
    case 4: body = mob::ErrorReply{static_cast<mob::Errc>(g.range(1, 12)), g.raw(64)}; break;
    case 5: bytes = g.raw(128); break;
    default: body = mob::PingReply{g.name(), g.raw(8), g.u32(), g.address()}; break;
  }
  if (!bytes.empty()) {
    if (print_steps) std::fprintf(stderr, "store_fuzz step: peer reply of raw bytes %s\n", shown(bytes).c_str());
  } else {
    print_step("peer reply", body);
    bytes = mob::encode(mob::Envelope{mob::kProtocolVersion, 0, kPeer, std::move(body)});
  }
  if (!h.last_peer_identity.empty()) mob::send_frames(h.peer_router, {h.last_peer_identity, bytes});
}

void gossip(Gen& g) {
  std::string sender = g.coin() ? kPeer : g.name();
  mob::Gossip message{sender, g.coin() ? g.range(0, 8) : g.u64(), g.delta()};
  print_step("published", mob::Body{message});
  auto bytes = encoded(std::move(message), 0, sender);
  mob::send_frames(harness->peer_pub, {std::string("gossip"), bytes});
}

void step(Gen& g) {
  auto pick = g.range(0, 255);
  Step kind = pick == 255 ? Step::restart : static_cast<Step>(pick % static_cast<std::size_t>(Step::count_));
  switch (kind) {
    case Step::ping: return send_request(g, mob::PingRequest{});
    case Step::deploy: return send_request(g, mob::DeployRequest{g.spec_json(g.service()), {}});
    case Step::status: return send_request(g, mob::StatusRequest{g.coin() ? "" : g.service()});
    case Step::control:
      return send_request(g, mob::ControlRequest{g.service(), static_cast<mob::ControlAction>(g.range(
                                                                  0, static_cast<std::size_t>(mob::ControlAction::count_) - 1)), {}});
    case Step::members: return send_request(g, mob::MembersRequest{});
    case Step::probe:
      return send_request(g, mob::ProbeRequest{g.u64(), g.name(), g.coin() ? kSelf : g.name(), g.u64(), g.wall()});
    case Step::indirect_probe:
      return send_request(g, mob::IndirectProbeRequest{g.u64(), g.name(), g.name(), g.address()});
    case Step::join: return send_request(g, mob::JoinRequest{g.member_entry()});
    case Step::sync: {
      mob::SyncRequest sync{g.name(), g.u64(), {}};
      for (std::size_t n = g.range(0, 6); n > 0 && !g.empty(); --n) sync.digest.push_back(g.digest_entry());
      return send_request(g, std::move(sync));
    }
    case Step::sync_push: return send_request(g, mob::SyncPush{g.delta()});
    case Step::join_command: {
      mob::JoinCommand join;
      for (std::size_t n = g.range(0, 3); n > 0; --n) join.seeds.push_back(g.seed());
      return send_request(g, std::move(join));
    }
    case Step::leave_command: return send_request(g, mob::LeaveCommand{});
    case Step::peer_reply: return peer_reply(g);
    case Step::gossip: return gossip(g);
    case Step::restart:
      // A restart costs about 7 ms (a thread, a context, the database): at most one in 64
      // inputs while fuzzing; every one when reproducing.
      if (harness->linger.count() == 0 && harness->inputs < harness->last_restart + 64) return;
      harness->last_restart = harness->inputs;
      if (print_steps) std::fprintf(stderr, "store_fuzz step: restart the store on its data dir\n");
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
  mob::Member peer{kPeer, h.peer_address, h.peer_pub_address, mob::MemberState::alive, {"bash"},
                   {{"zone", "b"}}, 0, 0.0, MOB_VERSION, ""};
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
  print_steps = std::getenv("MOB_STORE_FUZZ_PRINT") != nullptr;
  struct sigaction action {};
  action.sa_handler = on_stack_request;
  sigemptyset(&action.sa_mask);
  ::sigaction(kStackSignal, &action, nullptr);

  harness = new Harness();
  Harness& h = *harness;
  if (const char* every = std::getenv("MOB_STORE_FUZZ_RESET")) h.reset_every = std::strtoull(every, nullptr, 10);
  h.invariants = std::getenv("MOB_STORE_FUZZ_INVARIANTS") != nullptr;
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

  // A tmpfs makes the archive's synchronous commits cheap. A run that crashed could not remove
  // its dir: those of processes that are gone are removed here.
  std::error_code error;
  fs::path base = fs::is_directory("/dev/shm", error) ? fs::path("/dev/shm") : fs::temp_directory_path();
  for (const auto& entry : fs::directory_iterator(base, error)) {
    const std::string name = entry.path().filename().string();
    int pid = 0;
    if (std::sscanf(name.c_str(), "mob-store-fuzz-%d-", &pid) == 1 && pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH)
      fs::remove_all(entry.path(), error);
  }
  std::string pattern = (base / ("mob-store-fuzz-" + std::to_string(::getpid()) + "-XXXXXX")).string();
  if (!::mkdtemp(pattern.data())) die("mkdtemp " + pattern + ": " + std::strerror(errno));
  h.root = pattern;

  for (auto* socket : {&h.self_router, &h.peer_router, &h.peer_pub}) {
    socket->set(zmq::sockopt::linger, 0);
    socket->set(zmq::sockopt::sndhwm, 100000);
  }
  h.self_router.set(zmq::sockopt::router_mandatory, false);
  h.self_address = bound_endpoint(h.self_router, "tcp://127.0.0.1:0");
  h.peer_address = bound_endpoint(h.peer_router, "tcp://127.0.0.1:0");
  h.peer_pub_address = bound_endpoint(h.peer_pub, "tcp://127.0.0.1:0");
  std::atexit(shut_down_at_exit);

  start_store(/*fresh=*/true);
  introduce_peer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Harness& h = *harness;
  ++h.inputs;
  FuzzedDataProvider provider(data, size);
  Gen g(provider);
  const std::size_t steps = g.range(1, kMaxSteps);
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
