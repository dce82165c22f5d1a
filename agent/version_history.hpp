// The history of a service's versions (docs/spec.md, "History and rollback") as pure steps
// over ServiceEntry.history: the record of each new version, how the one it replaces ended,
// what `mob-tool history` shows and which earlier spec a rollback deploys. The history
// travels inside the service record, so it merges, gossips and is kept on disk with it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bus/error.hpp"
#include "bus/messages.hpp"

namespace mob {

inline constexpr std::uint32_t kDefaultHistory = 10;  // mob-agent --history

// VersionRecord.outcome of a version that ran healthy on every instance, and of one that a
// later version replaced before it did.
inline constexpr std::string_view kOutcomeHealthy = "healthy";
inline constexpr std::string_view kOutcomeReplaced = "replaced";

// Appends `added` (the record's new current version) to `history`, first closing the version
// it replaces with `replaced_outcome` unless that one already ended (healthy, failed, ...);
// then keeps the last `keep` versions and at most kMaxHistoryBytes of spec text (the newest
// always stays).
void add_version(std::vector<VersionRecord>& history, VersionRecord added, std::string_view replaced_outcome,
                 std::uint32_t keep);

// Sets how `version` ended, unless its end is already known.
void close_version(std::vector<VersionRecord>& history, std::uint64_t version, std::string_view outcome);

// The versions newest first, at most `keep`, as `mob-tool history` shows them: the current
// one's outcome says how it runs now (`current_outcome`, e.g. "current, healthy").
std::vector<VersionRecord> newest_first(const std::vector<VersionRecord>& history, std::uint32_t keep,
                                        std::uint64_t current, std::string_view current_outcome);

// The version a rollback of `service` to `version` deploys again (0: the one before the
// current version; of a removed service, whose tombstone still holds its history, the last). Errors name the command: "rollback web 99: no version 99 in the last 10
// (oldest is 3)".
Result<VersionRecord> rollback_target(const ServiceEntry& service, std::uint64_t version);

}  // namespace mob
