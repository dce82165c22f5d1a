// The logger's lines: text as before, and --log-format json, one JSON object per line that
// any JSON parser reads, whatever bytes the message holds.
#include "bus/log.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace mob::log {
namespace log_test {

using namespace std::chrono_literals;

const auto kAt = std::chrono::system_clock::time_point(1714564800123ms);  // 2024-05-01T12:00:00.123Z

TEST(Log, TextLineKeepsItsFormat) {
  EXPECT_EQ(format_line(Format::text, Level::warn, "store", "disk full", kAt),
            "12:00:00.123 WARN  [store] disk full\n");
}

TEST(Log, JsonLineHasTimeLevelComponentAndMessage) {
  auto line = format_line(Format::json, Level::info, "agent", "listening on tcp://127.0.0.1:6666", kAt);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one object per line";
  auto object = nlohmann::json::parse(line);
  EXPECT_EQ(object["time"], "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(object["level"], "info");
  EXPECT_EQ(object["component"], "agent");
  EXPECT_EQ(object["message"], "listening on tcp://127.0.0.1:6666");
  EXPECT_EQ(object.size(), 4u);
}

TEST(Log, JsonLineCarriesWhatItIsAboutAsFieldsAndLeavesOutEmptyOnes) {
  auto object = nlohmann::json::parse(format_line(Format::json, Level::warn, "supervisor", about_instance("web.api.3"),
                                                  "web.api.3 exited with code 1", kAt));
  EXPECT_EQ(object["service"], "web.api");
  EXPECT_EQ(object["instance"], "web.api.3");
  EXPECT_FALSE(object.contains("member"));
  EXPECT_EQ(object["message"], "web.api.3 exited with code 1");
  EXPECT_EQ(object.size(), 6u);

  object = nlohmann::json::parse(format_line(Format::json, Level::info, "store", about_member("node-\"b\""),
                                             "member node-b is failed", kAt));
  EXPECT_EQ(object["member"], "node-\"b\"");
  EXPECT_FALSE(object.contains("service"));
  EXPECT_FALSE(object.contains("instance"));

  object = nlohmann::json::parse(format_line(Format::json, Level::info, "store", about_service("db"), "deployed db", kAt));
  EXPECT_EQ(object["service"], "db");
  EXPECT_EQ(object.size(), 5u);
  EXPECT_EQ(about_instance("nodot").service, "") << "a key without an index names no service";
}

TEST(Log, TextLineIsTheSameWithOrWithoutWhatItIsAbout) {
  EXPECT_EQ(format_line(Format::text, Level::info, "supervisor", about_instance("web.0"), "web.0 running", kAt),
            format_line(Format::text, Level::info, "supervisor", "web.0 running", kAt));
}

TEST(Log, JsonLevelsAreLowerCaseNames) {
  const std::pair<Level, const char*> levels[] = {
      {Level::debug, "debug"}, {Level::info, "info"}, {Level::warn, "warn"}, {Level::error, "error"}};
  for (auto [level, name] : levels)
    EXPECT_EQ(nlohmann::json::parse(format_line(Format::json, level, "c", "m", kAt))["level"], name);
}

TEST(Log, JsonEscapesQuotesControlsAndNewlinesKeepingOneLine) {
  std::string message = "a \"quoted\" \\ path\nsecond line\ttab\r\x01\x1f\x7f end";
  auto line = format_line(Format::json, Level::error, "supervisor", message, kAt);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_EQ(nlohmann::json::parse(line)["message"], message);
}

TEST(Log, JsonKeepsUtf8AndReplacesBytesThatAreNotUtf8) {
  std::string message = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82";  // é € 🙂
  EXPECT_EQ(nlohmann::json::parse(format_line(Format::json, Level::info, "c", message, kAt))["message"], message);
  // A lone continuation byte, a truncated sequence, an overlong '/', a surrogate, past U+10FFFF.
  std::string broken = "a\x80" "b\xe2\x82" "c\xc0\xaf" "d\xed\xa0\x80" "e\xf4\x90\x80\x80";
  auto parsed = nlohmann::json::parse(format_line(Format::json, Level::info, "c", broken, kAt));
  const std::string r = "\xef\xbf\xbd";  // U+FFFD, one per byte that is not part of UTF-8
  EXPECT_EQ(parsed["message"].get<std::string>(),
            "a" + r + "b" + r + r + "c" + r + r + "d" + r + r + r + "e" + r + r + r + r);
}

TEST(Log, ParsesFormats) {
  Format format = Format::text;
  EXPECT_TRUE(parse_format("json", format));
  EXPECT_EQ(format, Format::json);
  EXPECT_TRUE(parse_format("text", format));
  EXPECT_EQ(format, Format::text);
  EXPECT_FALSE(parse_format("yaml", format));
}

}  // namespace log_test
}  // namespace mob::log
