// An agent's own settings that change at runtime (mob-tool eligibility, tag, drain): whether
// placement may put instances on it, and tags set or removed over its --tag flags. Pure
// functions; the store thread owns the settings, keeps them in the archive and advertises
// them in its member record.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "bus/error.hpp"
#include "bus/messages.hpp"

namespace mob {

struct NodeSettings {
  bool eligible = true;
  // Runtime tag changes over the --tag flags: a value sets the tag, nullopt removes it. They
  // persist, and win over the flags, until `mob-tool tag NODE --reset` forgets them.
  std::map<std::string, std::optional<std::string>> tag_overrides;
  bool operator==(const NodeSettings&) const = default;
};

// 1-255 bytes of letters, digits and . _ - / : (a tag key a runtime change may name).
bool is_valid_tag_key(std::string_view key);
// At most kMaxTagValueBytes, no control characters.
bool is_valid_tag_value(std::string_view value);

// The tags the agent advertises: its flags' tags with the runtime changes applied.
std::map<std::string, std::string> effective_tags(const std::map<std::string, std::string>& flag_tags,
                                                  const NodeSettings& settings);

// `settings` changed as `request` asks (reset first, then removals, then sets). Refused
// (Errc::invalid_argument, in words that say what to fix) when the request changes nothing,
// names a key both to set and to remove, or would leave more than kMaxTags tags.
Result<NodeSettings> apply_settings_request(const NodeSettings& settings, const NodeSettingsRequest& request,
                                            const std::map<std::string, std::string>& flag_tags);

}  // namespace mob
