#include "agent/node_settings.hpp"

#include <algorithm>

namespace mob {

bool is_valid_tag_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxTagKeyBytes) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == '/' || c == ':';
  });
}

bool is_valid_tag_value(std::string_view value) {
  if (value.size() > kMaxTagValueBytes) return false;
  return std::none_of(value.begin(), value.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

std::map<std::string, std::string> effective_tags(const std::map<std::string, std::string>& flag_tags,
                                                  const NodeSettings& settings) {
  auto tags = flag_tags;
  for (const auto& [key, value] : settings.tag_overrides) {
    if (value) tags[key] = *value;
    else tags.erase(key);
  }
  return tags;
}

Result<NodeSettings> apply_settings_request(const NodeSettings& settings, const NodeSettingsRequest& request,
                                            const std::map<std::string, std::string>& flag_tags) {
  if (request.eligibility == Eligibility::unchanged && request.set_tags.empty() && request.remove_tags.empty() &&
      !request.reset_tags)
    return fail(Errc::invalid_argument,
                "the request changes nothing: name an eligibility (on, off), tags to set (KEY=VALUE), "
                "tags to remove (--remove KEY) or --reset");
  for (const auto& key : request.remove_tags)
    if (request.set_tags.contains(key))
      return fail(Errc::invalid_argument, "tag \"" + key + "\" is both set and removed: name it once");
  NodeSettings changed = settings;
  if (request.eligibility != Eligibility::unchanged) changed.eligible = request.eligibility == Eligibility::eligible;
  if (request.reset_tags) changed.tag_overrides.clear();
  for (const auto& key : request.remove_tags) {
    // Removing a tag only a runtime change set, with no flag under it, forgets the change.
    if (flag_tags.contains(key)) changed.tag_overrides[key] = std::nullopt;
    else changed.tag_overrides.erase(key);
  }
  for (const auto& [key, value] : request.set_tags) {
    auto flag = flag_tags.find(key);
    if (flag != flag_tags.end() && flag->second == value) changed.tag_overrides.erase(key);
    else changed.tag_overrides[key] = value;
  }
  if (auto count = effective_tags(flag_tags, changed).size(); count > kMaxTags)
    return fail(Errc::invalid_argument, "an agent has at most " + std::to_string(kMaxTags) + " tags; this makes " +
                                            std::to_string(count) + ": remove some first");
  return changed;
}

}  // namespace mob
