// The one codec of the Mob protocol: every message is a msgpack envelope
// [version, type, request_id, sender, body]. Decoding never trusts its input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "bus/error.hpp"
#include "bus/messages.hpp"

namespace mob {

inline constexpr std::uint16_t kProtocolVersion = 1;
// Default bound on one message; sockets set ZMQ_MAXMSGSIZE to the same value.
inline constexpr std::size_t kDefaultMaxMessageBytes = 4 * 1024 * 1024;

struct Envelope {
  std::uint16_t version = kProtocolVersion;
  std::uint64_t request_id = 0;
  std::string sender;
  Body body;
};

std::uint16_t type_code(const Body& body);
std::string_view type_name(const Body& body);

std::string encode(const Envelope& envelope);

// Builds an envelope and encodes it in one step.
template <class Message>
std::string encode_message(Message message, std::uint64_t request_id = 0,
                           std::string sender = {}) {
  return encode(Envelope{kProtocolVersion, request_id, std::move(sender),
                         Body{std::move(message)}});
}

Result<Envelope> decode(std::string_view bytes,
                        std::size_t max_bytes = kDefaultMaxMessageBytes);

// What a gossiped record is and how new, read in place from the message before the record
// is decoded: its views are valid only during the call that is given it.
struct RecordPeek {
  enum class Kind : std::uint8_t { member, service, assignment, instance };
  Kind kind = Kind::service;
  std::string_view service;  // the service's name
  std::uint32_t index = 0;   // assignment and instance: the instance index
  std::string_view node;     // instance: the agent it runs on
  std::uint64_t hlc = 0;     // the record's stamp
  std::string_view origin;
  // A member record: its name, incarnation, state and heartbeat (its order) and who reported
  // that state; the fields above are empty.
  std::string_view member;
  std::uint64_t incarnation = 0;
  MemberState state = MemberState::alive;
  std::uint64_t heartbeat = 0;
  std::string_view reported_by;
};

// decode(), except that the records of a Gossip for which `skip` answers true are left out
// before they are decoded: a record arrives from every agent that relays it, and decoding the
// copies an agent holds already cost more than the rest of its handling (docs/performance.md,
// "Gossip copies"). A record whose shape the peek does not recognise is kept, and the decode
// checks it as decode() would. What is left out is not checked at the door either: whatever
// else it holds, the copy held wins over it.
Result<Envelope> decode_gossip(std::string_view bytes, std::size_t max_bytes,
                               const std::function<bool(const RecordPeek&)>& skip);

}  // namespace mob
