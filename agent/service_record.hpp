// The format of a service's record in the archive (agent/service_archive.hpp): one JSON
// object holding the record's fields and its normalized spec. Also the format of the
// per-service files agents before 0.2 kept, which are imported once.
#pragma once

#include <cstdint>
#include <string>

#include "agent/admission.hpp"
#include "agent/spec.hpp"
#include "bus/error.hpp"
#include "bus/messages.hpp"

namespace mob {

// Specs written by other agents (or read back from disk) were checked against the limits of
// the agent that took them, which may be larger than this agent's; they are bounded only by
// what the door allows (an instance index below kMaxInstanceIndex), so that no peer can make
// a status reply loop over 2^32 instances.
inline constexpr SpecLimits kAnySpecFromThePeers{SIZE_MAX, kMaxInstanceIndex};

// The JSON text kept for `entry`. Its specs go in as the texts they are (JSON this agent
// normalized, or the door checked), never parsed again to be written; in the other fields,
// bytes that are not UTF-8 are replaced, never thrown on.
std::string service_record_text(const ServiceEntry& entry);

// The entry a kept record holds; Errc::malformed (or the spec's own error) when the text is
// not a service record. Its spec is held only to the door's bounds, not to this agent's
// limits: it was checked by the agent that took it.
Result<ServiceEntry> parse_service_record(const std::string& text);

}  // namespace mob
