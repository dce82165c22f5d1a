// Instance ids: "service.index" keys read back into the pair they were written from, and
// every malformed key refused with a message naming it.
#include "bus/instance_id.hpp"

#include <gtest/gtest.h>

namespace mob {
namespace instance_id_test {

TEST(InstanceId, KeyAndDisplayNameWriteTheServiceAndTheIndex) {
  InstanceId id{"web", 3};
  EXPECT_EQ(id.key(), "web.3");
  EXPECT_EQ(id.display_name(), "web/3");
}

TEST(InstanceId, EveryKeyReadsBackAsTheIdItWasWrittenFrom) {
  const InstanceId ids[] = {{"web", 0},        {"web", 4294967295u}, {"api.v2", 3},
                            {"a", 12},         {"x-y_z", 7},         {"1.2.3", 4}};
  for (const auto& id : ids) {
    auto parsed = InstanceId::from_key(id.key());
    ASSERT_TRUE(parsed) << id.key() << ": " << parsed.error().message;
    EXPECT_EQ(*parsed, id) << id.key();
  }
}

TEST(InstanceId, TheLastDotSplitsServiceFromIndex) {
  auto parsed = InstanceId::from_key("api.v2.10");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->service, "api.v2");
  EXPECT_EQ(parsed->index, 10u);
}

TEST(InstanceId, MalformedKeysAreRefusedNamingTheKey) {
  const char* malformed[] = {"",        "web",  ".3",     "web.",    "web.x",
                             "web.-1",  "web.+1", "web.3a", "web. 3", "web.4294967296"};
  for (const char* key : malformed) {
    auto parsed = InstanceId::from_key(key);
    ASSERT_FALSE(parsed) << "accepted \"" << key << "\"";
    EXPECT_EQ(parsed.error().code, Errc::invalid_argument) << key;
    EXPECT_NE(parsed.error().message.find("\"" + std::string(key) + "\""), std::string::npos)
        << parsed.error().message;
  }
}

TEST(InstanceId, IdsOrderByServiceThenIndex) {
  EXPECT_LT((InstanceId{"a", 9}), (InstanceId{"b", 0}));
  EXPECT_LT((InstanceId{"a", 2}), (InstanceId{"a", 10}));
  EXPECT_EQ((InstanceId{"a", 2}), (InstanceId{"a", 2}));
}

}  // namespace instance_id_test
}  // namespace mob
