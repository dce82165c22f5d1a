// The door: every address, name and number that arrives from outside the agent (client and
// peer requests, gossip, peers' replies) is checked here before a handler sees it. Pure
// functions, no state; the error names the field path ("joiner.member.address") and the rule.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "bus/error.hpp"
#include "bus/messages.hpp"

namespace mob {

// Bounds a message from outside must respect (docs/security.md lists them).
inline constexpr std::uint64_t kMaxIncarnation = 1ULL << 48;  // a member's incarnation is below this
// What others say of a member (suspect, failed, or any entry not reported by the member itself
// alive) stays below kMaxIncarnation - 1, so that the member can always refute it with one
// more: only a member's own word may take the last incarnation.
inline constexpr std::uint64_t kMaxClaimedIncarnation = kMaxIncarnation - 1;
// An instance index is below this; --max-instances cannot be larger. It bounds what a spec
// from a peer may make an agent place, report in status, or keep in memory.
inline constexpr std::uint32_t kMaxInstanceIndex = 10'000;
inline constexpr std::size_t kMaxAgentNameBytes = 253;
inline constexpr std::size_t kMaxJoinSeeds = 64;
inline constexpr std::size_t kMaxAvoidedAgents = 64;  // AssignmentEntry.avoid
inline constexpr std::size_t kMaxWriteIdBytes = 64;  // DeployRequest/ControlRequest.write_id

// "tcp://HOST:PORT": HOST an IPv4 literal, a bracketed IPv6 literal or a DNS name, PORT
// 1..65535. Nothing else reaches zmq's connect (no ipc://, inproc://, no ';' source part).
Result<void> check_endpoint(std::string_view endpoint);

// A seed as a user or peer names it: HOST:PORT, with or without the tcp:// prefix.
Result<std::string> seed_endpoint(std::string_view seed);

// `text` as it may go into a log line or an error: quoted, control bytes escaped, at most 80
// bytes of it.
std::string printable(std::string_view text);

// 1-253 of letters, digits and . _ - : @ [ ] (an agent's --name; HOSTNAME:PORT by default).
bool is_valid_agent_name(std::string_view name);

// Whether `entry`'s incarnation is one its member can still refute (the bounds above).
Result<void> check_incarnation(const MemberEntry& entry);

// Whether a request from a client or a peer may reach its handler.
Result<void> admit_request(const Body& body);

// Whether replicated state from a peer (gossip, a join or sync reply, a push) may be merged.
// `path` prefixes the field names in the error ("delta").
Result<void> admit_delta(const StateDelta& delta, std::string_view path);

// A peer's SyncReply: its state (as admit_delta, path "newer") and its bucket summaries.
Result<void> admit_sync_reply(const SyncReply& reply);

}  // namespace mob
