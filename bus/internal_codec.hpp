// The codec of the messages between the threads of one agent (bus/internal_messages.hpp):
// one frame, a msgpack array [code, request_id, body]. Pipes stay inside one process, so the
// codes are InternalBody's indexes and may change between releases.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "bus/error.hpp"
#include "bus/internal_messages.hpp"

namespace mob {

// `request_id` is that of the client request the message serves (ProviderLogsRequest and
// its reply carry a logs request's), else 0.
struct InternalEnvelope {
  std::uint64_t request_id = 0;
  InternalBody body;
};

std::string_view internal_name(const InternalBody& body);

std::string encode_internal(const InternalEnvelope& envelope);
// Pipes carry only what this build encoded, so an error here is a bug in the agent.
Result<InternalEnvelope> decode_internal(std::string_view bytes);

}  // namespace mob
