#include "agent/version_history.hpp"

#include <algorithm>

namespace mob {
namespace {

void trim(std::vector<VersionRecord>& history, std::uint32_t keep) {
  keep = std::clamp<std::uint32_t>(keep, 1, kMaxHistory);
  if (history.size() > keep) history.erase(history.begin(), history.end() - keep);
  std::size_t bytes = 0;
  for (const auto& version : history) bytes += version.spec_json.size();
  while (history.size() > 1 && bytes > kMaxHistoryBytes) {
    bytes -= history.front().spec_json.size();
    history.erase(history.begin());
  }
}

}  // namespace

void add_version(std::vector<VersionRecord>& history, VersionRecord added, std::string_view replaced_outcome,
                 std::uint32_t keep) {
  // A version number met again (concurrent deploys made it twice; the record that won is
  // written on) is replaced, so versions ascend.
  std::erase_if(history, [&](const VersionRecord& version) { return version.version >= added.version; });
  if (!history.empty() && history.back().outcome.empty()) history.back().outcome = std::string(replaced_outcome);
  history.push_back(std::move(added));
  trim(history, keep);
}

void close_version(std::vector<VersionRecord>& history, std::uint64_t version, std::string_view outcome) {
  for (auto& kept : history)
    if (kept.version == version && kept.outcome.empty()) kept.outcome = std::string(outcome);
}

std::vector<VersionRecord> newest_first(const std::vector<VersionRecord>& history, std::uint32_t keep,
                                        std::uint64_t current, std::string_view current_outcome) {
  std::vector<VersionRecord> shown(history.rbegin(), history.rend());
  if (shown.size() > keep) shown.resize(keep);
  for (auto& version : shown)
    if (version.version == current && version.outcome.empty()) version.outcome = std::string(current_outcome);
  return shown;
}

Result<VersionRecord> rollback_target(const ServiceEntry& service, std::uint64_t version) {
  const std::string command = "rollback " + service.name + (version == 0 ? "" : " " + std::to_string(version));
  const auto& history = service.history;
  if (history.empty())
    return fail(Errc::not_found, command + ": no earlier version is kept (versions are recorded from this release on)");
  if (version == 0) {
    if (service.removed) return history.back();  // a removed service: its last version again
    for (auto it = history.rbegin(); it != history.rend(); ++it)
      if (it->version < service.generation) return *it;
    return fail(Errc::not_found, command + ": no version before the current one (" +
                                     std::to_string(service.generation) + ") is kept");
  }
  if (version == service.generation && !service.removed)
    return fail(Errc::invalid_argument, command + ": version " + std::to_string(version) +
                                            " is the current one; name an earlier one (mob-tool history " +
                                            service.name + ")");
  for (const auto& kept : history)
    if (kept.version == version) return kept;
  return fail(Errc::not_found, command + ": no version " + std::to_string(version) + " in the last " +
                                   std::to_string(history.size()) + " (oldest is " +
                                   std::to_string(history.front().version) + ")");
}

}  // namespace mob
