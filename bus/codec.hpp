// The one codec of the Mob protocol: every message is a msgpack envelope
// [version, type, request_id, sender, body]. Decoding never trusts its input.
#pragma once

#include <cstddef>
#include <cstdint>
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

}  // namespace mob
