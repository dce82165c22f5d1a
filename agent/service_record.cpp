#include "agent/service_record.hpp"

#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace mob {

namespace {

std::string dumped(const nlohmann::json& doc) { return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

// A member whose value is JSON text: its key and that text (empty: null).
using RawMember = std::pair<std::string_view, std::string_view>;

// `doc`, a JSON object, written out with `raw` members added: their values are JSON texts
// spliced in as they are (a spec's normalized text, checked JSON), never parsed to be written.
std::string with_raw_members(const nlohmann::json& doc, const std::vector<RawMember>& raw) {
  std::string text = dumped(doc);
  text.pop_back();  // the closing brace
  for (const auto& [key, value] : raw) {
    if (text.size() > 1) text += ',';
    text += '"';
    text += key;
    text += "\":";
    text += value.empty() ? std::string_view("null") : value;
  }
  text += '}';
  return text;
}

}  // namespace

std::string service_record_text(const ServiceEntry& entry) {
  nlohmann::json doc = {{"generation", entry.generation},
                        {"enabled", entry.enabled},
                        {"restart_generation", entry.restart_generation},
                        {"removed", entry.removed},
                        {"stamp", {{"hlc", entry.stamp.hlc}, {"origin", entry.stamp.origin}}}};
  if (!entry.write_id.empty()) doc["write_id"] = entry.write_id;
  if (entry.stable_generation != 0) doc["stable_generation"] = entry.stable_generation;
  if (!entry.rollout.empty()) doc["rollout"] = entry.rollout;
  if (entry.canaries != 0) doc["canaries"] = entry.canaries;
  if (entry.promoted) doc["promoted"] = true;
  if (!entry.rebalance.empty()) doc["rebalance"] = entry.rebalance;
  std::vector<RawMember> raw = {{"spec", entry.spec_json}};
  if (entry.stable_generation != 0) raw.emplace_back("stable_spec", entry.stable_spec_json);
  std::string history = "[";
  for (const auto& version : entry.history) {
    nlohmann::json kept = {{"version", version.version},
                           {"time_ms", version.time_ms},
                           {"through", version.through},
                           {"outcome", version.outcome}};
    if (version.rollback_of != 0) kept["rollback_of"] = version.rollback_of;
    if (history.size() > 1) history += ',';
    history += with_raw_members(kept, {{"spec", version.spec_json}});
  }
  history += ']';
  if (!entry.history.empty()) raw.emplace_back("history", history);
  return with_raw_members(doc, raw);
}

Result<ServiceEntry> parse_service_record(const std::string& text) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("spec") || !doc.contains("stamp") ||
      !doc["stamp"].is_object())
    return fail(Errc::malformed, "not a service record");
  auto spec = parse_spec(doc["spec"].dump(), kAnySpecFromThePeers);
  if (!spec) return std::unexpected(spec.error());
  ServiceEntry entry;
  entry.name = spec->name;
  entry.spec_json = to_json(*spec).dump();
  try {  // a field of the wrong type (damage, or a hand-edited file) makes it no record
    entry.generation = doc.value("generation", std::uint64_t{1});
    entry.enabled = doc.value("enabled", true);
    entry.restart_generation = doc.value("restart_generation", std::uint64_t{0});
    entry.removed = doc.value("removed", false);
    entry.stamp.hlc = doc["stamp"].value("hlc", std::uint64_t{0});
    entry.stamp.origin = doc["stamp"].value("origin", std::string());
    entry.write_id = doc.value("write_id", std::string());
    entry.rollout = doc.value("rollout", std::string());
    if (doc.contains("stable_spec")) {  // a rollout under way when it was saved
      auto stable = parse_spec(doc["stable_spec"].dump(), kAnySpecFromThePeers);
      if (!stable) return std::unexpected(stable.error());
      entry.stable_spec_json = to_json(*stable).dump();
      entry.stable_generation = doc.value("stable_generation", std::uint64_t{0});
    }
    if (doc.contains("history")) {
      for (const auto& kept : doc.at("history")) {
        VersionRecord version;
        version.version = kept.at("version").get<std::uint64_t>();
        version.time_ms = kept.value("time_ms", std::int64_t{0});
        version.through = kept.value("through", std::string());
        version.spec_json = kept.at("spec").dump();
        version.outcome = kept.value("outcome", std::string());
        version.rollback_of = kept.value("rollback_of", std::uint64_t{0});
        entry.history.push_back(std::move(version));
      }
    }
    entry.canaries = doc.value("canaries", std::uint32_t{0});
    entry.promoted = doc.value("promoted", false);
    entry.rebalance = doc.value("rebalance", std::string());
  } catch (const nlohmann::json::exception& e) {
    return fail(Errc::malformed, std::string("not a service record: ") + e.what());
  }
  return entry;
}

}  // namespace mob
