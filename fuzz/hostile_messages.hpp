// What a hostile client or peer may send an agent's peer store, made from a fuzzer's bytes:
// the vocabulary the store's two fuzz targets share (store_fuzz.cpp, a real store on real
// sockets; peer_store_fuzz.cpp, PeerStore driven directly on virtual time). Well-formed
// messages of every type a client or a peer may send, with hostile fields (addresses, names
// with NUL and '/', numbers and stamps at both ends of their range, garbage specs), and the
// checks both targets make of what the store says of itself. fuzz/store_inputs.py mirrors the
// choices made here, byte for byte, to write inputs that mean chosen sequences. Also where
// their stores keep their files.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/actor.hpp"
#include "agent/store.hpp"
#include "agent/time_source.hpp"
#include "bus/error.hpp"
#include "bus/messages.hpp"

namespace mob::fuzz {

inline constexpr const char* kSelf = "fuzz-self";  // the store's name
inline constexpr const char* kPeer = "peer-a";     // a fake peer the harness plays
inline constexpr std::size_t kMaxSteps = 16;       // steps of one input

// The addresses a message may name besides hostile ones, and the clock its stamps and walls
// are near: those of one harness.
struct Vocabulary {
  std::string self_address;      // the store's ROUTER
  std::string pub_address;       // the store's PUB
  std::string peer_address;      // the fake peer's ROUTER
  std::string peer_pub_address;  // the fake peer's PUB
  const TimeSource* time = nullptr;  // "now"; null: the machine's clocks
  bool print = false;                // print each step (type and every field) to stderr
  std::string label;                 // what printed lines start with: the target's name
};

// Hostile values and messages, each consumed from the input in a fixed order (an input means
// the same messages with every compiler, and store_inputs.py can write one on purpose).
class Gen {
 public:
  Gen(FuzzedDataProvider& data, const Vocabulary& words) : p_(data), words_(words) {}

  const Vocabulary& words() const { return words_; }
  bool coin() { return p_.ConsumeBool(); }
  std::size_t range(std::size_t low, std::size_t high) { return p_.ConsumeIntegralInRange<std::size_t>(low, high); }
  std::string raw(std::size_t max) { return p_.ConsumeRandomLengthString(max); }
  bool empty() const { return p_.remaining_bytes() == 0; }

  std::uint64_t wall_ms() const;  // the vocabulary's clock
  std::uint64_t u64();
  std::uint32_t u32();
  std::int64_t i64();
  std::int32_t i32();
  double real();
  std::uint64_t hlc();   // stamps: both ends, now, around the 5 min the store accepts ahead
  std::uint64_t wall();  // wall clocks as peers report them in probes
  std::string name();
  std::string service();
  std::string address();
  std::string seed();  // host:port, as mob-tool join passes seeds
  MemberState member_state();
  InstanceState instance_state();
  std::vector<std::string> providers();
  std::map<std::string, std::string> tags();
  std::string spec_json(const std::string& name);  // valid ones of several shapes, and garbage
  Stamp stamp();
  Member member();
  MemberEntry member_entry();
  ServiceEntry service_entry();
  AssignmentEntry assignment_entry();
  InstanceStatus instance_status();
  InstanceEntry instance_entry();
  StateDelta delta();
  std::string record_key();
  DigestEntry digest_entry();

 private:
  FuzzedDataProvider& p_;
  const Vocabulary& words_;
};

// The kinds of message steps, in the order an input's step byte picks them (store_inputs.py
// STEPS): the requests the I/O actor forwards to the store, then a reply of the fake peer to
// the store and its gossip. A target may add kinds of its own after these.
enum class Kind : std::uint8_t {
  ping, deploy, status, control, members, probe, indirect_probe, join, sync, sync_push,
  join_command, leave_command, history, rollback, promote, rebalance, write_copy,
  peer_reply, gossip,
  count_,
};
inline constexpr std::size_t kKinds = static_cast<std::size_t>(Kind::count_);

// The request of a step of kind `kind` (one before Kind::peer_reply), as the I/O actor passes
// it on: nullopt when the door (agent/admission.hpp) refuses it and `door` is set. Its route
// is a ROUTER identity of 1 to 7 bytes starting with 'r'; its request id is ++request_ids or
// any number.
std::optional<Routed> request(Gen& g, Kind kind, std::uint64_t& request_ids, bool door);
// A reply of the fake peer to the store (an encoded envelope, or garbage bytes);
// `last_probe_seq` is the seq of the store's last probe of it.
std::string peer_reply(Gen& g, std::uint64_t last_probe_seq);
// A gossip message as a subscribed PUB publishes it: the envelope (its topic is "gossip").
std::string gossip(Gen& g);

// `text` quoted, escaped and cut for printing.
std::string shown(const std::string& text);
// A message's type and every field, for printing.
std::string described(const Body& body);
std::string described(const InternalBody& body);
// With words.print: "LABEL step: HOW TYPE {fields}" on stderr.
void print_step(const Vocabulary& words, const char* how, const Body& body);

// A directory of this process for the stores' data dirs, PREFIX-PID-XXXXXX under /dev/shm (a
// tmpfs keeps SQLite's synchronous commits off the disk) or else the temp dir. A run that
// crashed could not remove its own: those of PREFIX whose process is gone are removed first.
Result<std::filesystem::path> make_scratch_dir(const std::string& prefix);
// A new empty data dir (0700) in `root` for a fresh store; `previous` (if any) is removed.
// `made` counts the dirs made, and names them.
Result<std::filesystem::path> next_data_dir(const std::filesystem::path& root, unsigned& made,
                                            const std::filesystem::path& previous);

// The store the targets fuzz: named kSelf, at the vocabulary's addresses, configured with the
// provider bash (-P bash) and the tag zone=a.
StoreConfig store_config(const Vocabulary& words, const std::filesystem::path& data_dir);
// The fake peer's own record, as it joins the store.
Member fake_peer(const Vocabulary& words);
// What the store says of itself, that nothing from outside may change: its own record (in
// `members`, what it answers a MembersRequest with) is alive at the incarnation it answers
// probes with, and advertises the addresses, tags, version and providers it was configured
// with (`advertised`: the providers its supervisor said run here), with no problem (the
// harness's clock is right). nullopt when that holds, else what is wrong.
std::optional<std::string> own_record_problem(const Vocabulary& words, const std::vector<Member>& members,
                                              std::uint64_t incarnation,
                                              const std::vector<std::string>& advertised);

}  // namespace mob::fuzz
