// ServiceArchive: the SQLite file that keeps an agent's specs across restarts.
#include "agent/service_archive.hpp"

#include <sys/stat.h>

#include <algorithm>

#include <fstream>

#include <gtest/gtest.h>

#include "tests/support/process.hpp"

namespace mob {
namespace {

using Records = std::vector<ServiceArchive::Record>;

Records sorted(Records records) {
  std::sort(records.begin(), records.end());
  return records;
}

TEST(ServiceArchive, CommittedRecordsSurviveReopening) {
  test::TempDir dir;
  auto file = dir.path() / "state.db";
  {
    auto archive = ServiceArchive::open(file);
    ASSERT_TRUE(archive) << archive.error().message;
    ASSERT_TRUE(archive->commit({{"web", R"({"v":1})"}, {"db", R"({"v":2})"}}, {}));
    ASSERT_TRUE(archive->commit({{"web", R"({"v":3})"}}, {}));  // replaces
  }
  auto reopened = ServiceArchive::open(file);
  ASSERT_TRUE(reopened) << reopened.error().message;
  auto records = reopened->load();
  ASSERT_TRUE(records) << records.error().message;
  EXPECT_EQ(sorted(*records), (Records{{"db", R"({"v":2})"}, {"web", R"({"v":3})"}}));
}

TEST(ServiceArchive, ErasedRecordsAreGoneAndOthersStay) {
  test::TempDir dir;
  auto archive = ServiceArchive::open(dir.path() / "state.db");
  ASSERT_TRUE(archive);
  ASSERT_TRUE(archive->commit({{"a", "1"}, {"b", "2"}, {"c", "3"}}, {}));
  ASSERT_TRUE(archive->commit({{"d", "4"}}, {"a", "c", "never-there"}));
  auto records = archive->load();
  ASSERT_TRUE(records);
  EXPECT_EQ(sorted(*records), (Records{{"b", "2"}, {"d", "4"}}));
}

TEST(ServiceArchive, ABatchOfAThousandIsOneTransaction) {
  test::TempDir dir;
  auto archive = ServiceArchive::open(dir.path() / "state.db");
  ASSERT_TRUE(archive);
  Records batch;
  for (int i = 0; i < 1000; ++i) batch.emplace_back("s" + std::to_string(i), std::string(200, 'x'));
  ASSERT_TRUE(archive->commit(batch, {}));
  auto records = archive->load();
  ASSERT_TRUE(records);
  EXPECT_EQ(records->size(), 1000u);
  EXPECT_TRUE(archive->commit({}, {}));  // nothing to do is not an error
}

TEST(ServiceArchive, FilesAreForTheOwnerOnly) {
  test::TempDir dir;
  auto file = dir.path() / "state.db";
  auto archive = ServiceArchive::open(file);
  ASSERT_TRUE(archive);
  ASSERT_TRUE(archive->commit({{"a", "1"}}, {}));
  for (const auto& path : {file, std::filesystem::path(file.string() + "-wal")}) {
    struct stat info {};
    ASSERT_EQ(::stat(path.c_str(), &info), 0) << path;
    EXPECT_EQ(info.st_mode & 0777, 0600u) << path;
  }
}

TEST(ServiceArchive, ADamagedFileIsNamedWithWhatToDo) {
  test::TempDir dir;
  auto file = dir.path() / "state.db";
  std::ofstream(file) << std::string(4096, 'g');  // not a database
  auto archive = ServiceArchive::open(file);
  ASSERT_FALSE(archive);
  EXPECT_NE(archive.error().message.find(file.string()), std::string::npos) << archive.error().message;
  EXPECT_NE(archive.error().message.find("move it away"), std::string::npos) << archive.error().message;
}

TEST(ServiceArchive, AMissingDirectoryIsNamed) {
  auto archive = ServiceArchive::open("/proc/mob-no-such-dir/state.db");
  ASSERT_FALSE(archive);
  EXPECT_NE(archive.error().message.find("cannot create /proc/mob-no-such-dir/state.db"), std::string::npos)
      << archive.error().message;
}

}  // namespace
}  // namespace mob
