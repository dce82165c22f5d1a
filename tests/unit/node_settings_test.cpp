// Runtime settings of an agent: eligibility and tag changes over its --tag flags.
#include "agent/node_settings.hpp"

#include <gtest/gtest.h>

namespace mob {
namespace node_settings_test {

using Tags = std::map<std::string, std::string>;

NodeSettingsRequest tags_request(Tags set, std::vector<std::string> remove = {}, bool reset = false) {
  return NodeSettingsRequest{"agent-1", Eligibility::unchanged, std::move(set), std::move(remove), reset};
}

TEST(NodeSettings, RuntimeTagsOverrideTheFlagsUntilReset) {
  const Tags flags{{"zone", "east"}, {"disk", "ssd"}};
  auto changed = apply_settings_request(NodeSettings{}, tags_request({{"zone", "west"}, {"gpu", "yes"}}, {"disk"}), flags);
  ASSERT_TRUE(changed) << changed.error().message;
  EXPECT_EQ(effective_tags(flags, *changed), (Tags{{"zone", "west"}, {"gpu", "yes"}}));
  auto reset = apply_settings_request(*changed, tags_request({}, {}, true), flags);
  ASSERT_TRUE(reset);
  EXPECT_EQ(effective_tags(flags, *reset), flags);
  EXPECT_TRUE(reset->tag_overrides.empty());
}

TEST(NodeSettings, SettingAFlagsOwnValueOrRemovingARuntimeOnlyTagForgetsTheChange) {
  const Tags flags{{"zone", "east"}};
  auto set = apply_settings_request(NodeSettings{}, tags_request({{"zone", "west"}, {"gpu", "yes"}}), flags);
  ASSERT_TRUE(set);
  auto back = apply_settings_request(*set, tags_request({{"zone", "east"}}, {"gpu"}), flags);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->tag_overrides.empty());
  EXPECT_EQ(effective_tags(flags, *back), flags);
}

TEST(NodeSettings, EligibilityChangesAloneAndTagsStay) {
  NodeSettings start{true, {{"zone", "west"}}};
  auto off = apply_settings_request(start, NodeSettingsRequest{"agent-1", Eligibility::ineligible, {}, {}, false}, {});
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->eligible);
  EXPECT_EQ(off->tag_overrides, start.tag_overrides);
  auto on = apply_settings_request(*off, NodeSettingsRequest{"agent-1", Eligibility::eligible, {}, {}, false}, {});
  ASSERT_TRUE(on);
  EXPECT_TRUE(on->eligible);
}

TEST(NodeSettings, ARequestThatChangesNothingOrContradictsItselfIsRefused) {
  auto nothing = apply_settings_request(NodeSettings{}, tags_request({}), {});
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().code, Errc::invalid_argument);
  EXPECT_NE(nothing.error().message.find("changes nothing"), std::string::npos);
  auto both = apply_settings_request(NodeSettings{}, tags_request({{"zone", "a"}}, {"zone"}), {});
  ASSERT_FALSE(both);
  EXPECT_NE(both.error().message.find("both set and removed"), std::string::npos);
}

TEST(NodeSettings, MoreThanTheMostTagsIsRefused) {
  Tags flags;
  for (std::size_t i = 0; i < kMaxTags; ++i) flags["flag" + std::to_string(i)] = "x";
  auto one_more = apply_settings_request(NodeSettings{}, tags_request({{"extra", "y"}}), flags);
  ASSERT_FALSE(one_more);
  EXPECT_NE(one_more.error().message.find("at most 64 tags"), std::string::npos) << one_more.error().message;
}

TEST(NodeSettings, TagKeysAndValuesHaveTheirRules) {
  EXPECT_TRUE(is_valid_tag_key("zone"));
  EXPECT_TRUE(is_valid_tag_key("k8s.io/role:x_y-z"));
  EXPECT_FALSE(is_valid_tag_key(""));
  EXPECT_FALSE(is_valid_tag_key("a=b"));
  EXPECT_FALSE(is_valid_tag_key("a b"));
  EXPECT_FALSE(is_valid_tag_key(std::string(kMaxTagKeyBytes + 1, 'k')));
  EXPECT_TRUE(is_valid_tag_value(""));
  EXPECT_TRUE(is_valid_tag_value("us east 1"));
  EXPECT_FALSE(is_valid_tag_value("a\tb"));
  EXPECT_FALSE(is_valid_tag_value(std::string(kMaxTagValueBytes + 1, 'v')));
}

}  // namespace node_settings_test
}  // namespace mob
