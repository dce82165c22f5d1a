// ServiceArchive: the SQLite file that keeps an agent's specs across restarts.
#include "agent/service_archive.hpp"

#include <sys/stat.h>

#include <algorithm>

#include <fstream>
#include <optional>

#include <gtest/gtest.h>

#include "tests/support/process.hpp"

namespace mob {
namespace service_archive_test {

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

TEST(ServiceArchive, NodeSettingsSurviveReopeningAndDefaultToEligible) {
  test::TempDir dir;
  auto file = dir.path() / "state.db";
  {
    auto archive = ServiceArchive::open(file);
    ASSERT_TRUE(archive) << archive.error().message;
    auto fresh = archive->load_node_settings();
    ASSERT_TRUE(fresh) << fresh.error().message;
    EXPECT_EQ(*fresh, NodeSettings{});
    ASSERT_TRUE(archive->keep_node_settings(NodeSettings{false, {{"zone", "east"}, {"rack", std::nullopt}}}));
    ASSERT_TRUE(archive->keep_node_settings(NodeSettings{false, {{"zone", "west"}, {"rack", std::nullopt}}}));
  }
  auto reopened = ServiceArchive::open(file);
  ASSERT_TRUE(reopened) << reopened.error().message;
  auto settings = reopened->load_node_settings();
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(*settings, (NodeSettings{false, {{"zone", "west"}, {"rack", std::nullopt}}}));
  ASSERT_TRUE(reopened->keep_node_settings(NodeSettings{}));
  EXPECT_EQ(*reopened->load_node_settings(), NodeSettings{});
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

// A copy of `file` and its log as a kill -9 would leave them: the log not yet checkpointed.
std::filesystem::path crash_copy(const std::filesystem::path& file, const std::filesystem::path& dir) {
  auto copy = dir / "state.db";
  std::filesystem::copy_file(file, copy);
  std::filesystem::copy_file(file.string() + "-wal", copy.string() + "-wal");
  return copy;
}

void overwrite(const std::filesystem::path& file, std::size_t offset, std::size_t size) {
  std::fstream out(file, std::ios::in | std::ios::out | std::ios::binary);
  out.seekp(static_cast<std::streamoff>(offset));
  out << std::string(size, 'g');
}

void expect_damage(const std::filesystem::path& file, const std::string& what) {
  auto archive = ServiceArchive::open(file);
  ASSERT_FALSE(archive) << "a damaged " << file << " was opened";
  EXPECT_EQ(archive.error().code, Errc::malformed) << archive.error().message;
  EXPECT_NE(archive.error().message.find(file.string() + " is damaged"), std::string::npos)
      << archive.error().message;
  EXPECT_NE(archive.error().message.find(what), std::string::npos) << archive.error().message;
  EXPECT_NE(archive.error().message.find("-j HOST:PORT"), std::string::npos) << archive.error().message;
}

Records many_records(int count) {
  Records records;
  for (int i = 0; i < count; ++i) records.emplace_back("s" + std::to_string(i), std::string(2000, 'r'));
  return records;
}

TEST(ServiceArchive, AFreshFileHoldsItsSchemaFromItsFirstByte) {
  test::TempDir dir;
  auto file = dir.path() / "state.db";
  {
    auto archive = ServiceArchive::open(file);
    ASSERT_TRUE(archive) << archive.error().message;
  }
  EXPECT_GT(std::filesystem::file_size(file), 0u);
  EXPECT_FALSE(std::filesystem::exists(file.string() + ".new"));
  auto reopened = ServiceArchive::open(file);
  ASSERT_TRUE(reopened) << reopened.error().message;
  auto records = reopened->load();
  ASSERT_TRUE(records);
  EXPECT_TRUE(records->empty());
}

TEST(ServiceArchive, AnEmptyFileIsDamageNotAnEmptyState) {
  test::TempDir dir;
  auto file = dir.path() / "state.db";
  std::ofstream{file};
  expect_damage(file, "0 bytes");
}

TEST(ServiceArchive, ATruncatedFileIsDamage) {
  test::TempDir dir;
  auto file = dir.path() / "state.db";
  {
    auto archive = ServiceArchive::open(file);
    ASSERT_TRUE(archive);
    ASSERT_TRUE(archive->commit(many_records(100), {}));
  }  // closing checkpoints every page into the file
  std::filesystem::resize_file(file, std::filesystem::file_size(file) / 2);
  expect_damage(file, "truncated");
}

TEST(ServiceArchive, GarbageInAPageIsDamage) {
  test::TempDir dir;
  auto file = dir.path() / "state.db";
  {
    auto archive = ServiceArchive::open(file);
    ASSERT_TRUE(archive);
    ASSERT_TRUE(archive->commit(many_records(100), {}));
  }
  overwrite(file, 4096 * 20, 4096);  // a page of services
  expect_damage(file, "malformed");
}

TEST(ServiceArchive, GarbageInTheFirstPageIsDamage) {
  test::TempDir dir;
  auto file = dir.path() / "state.db";
  { ASSERT_TRUE(ServiceArchive::open(file)); }
  overwrite(file, 0, 100);
  expect_damage(file, "not a SQLite database");
}

class ArchiveAfterACrash : public ::testing::Test {
 protected:
  void SetUp() override {
    archive_.emplace(*ServiceArchive::open(live_.path() / "state.db"));
    for (int batch = 0; batch < 5; ++batch)
      ASSERT_TRUE(archive_->commit({{"s" + std::to_string(batch), std::string(100, 'r')}}, {}));
    copy_ = crash_copy(live_.path() / "state.db", crashed_.path());
  }
  std::size_t log_size() const { return std::filesystem::file_size(copy_.string() + "-wal"); }

  test::TempDir live_, crashed_;
  std::optional<ServiceArchive> archive_;
  std::filesystem::path copy_;
};

TEST_F(ArchiveAfterACrash, EveryCommittedBatchIsInTheLog) {
  auto archive = ServiceArchive::open(copy_);
  ASSERT_TRUE(archive) << archive.error().message;
  auto records = archive->load();
  ASSERT_TRUE(records);
  EXPECT_EQ(records->size(), 5u);
}

TEST_F(ArchiveAfterACrash, GarbageInTheLogHeaderIsDamage) {
  overwrite(copy_.string() + "-wal", 0, 32);
  expect_damage(copy_, "header of its write-ahead log");
}

TEST_F(ArchiveAfterACrash, GarbageInAFrameBeforeCommittedOnesIsDamage) {
  overwrite(copy_.string() + "-wal", 32 + 100, 64);  // inside the first frame
  expect_damage(copy_, "frame 0 of its write-ahead log");
}

TEST_F(ArchiveAfterACrash, ALogCutInItsLastFrameIsWhatACrashLeaves) {
  std::filesystem::resize_file(copy_.string() + "-wal", log_size() - 100);
  auto archive = ServiceArchive::open(copy_);
  ASSERT_TRUE(archive) << archive.error().message;
  auto records = archive->load();
  ASSERT_TRUE(records);
  EXPECT_EQ(records->size(), 4u);  // the last batch was never answered
}

TEST(ServiceArchive, PeersAreSalvagedAndDamageIsMovedAside) {
  test::TempDir dir;
  auto file = dir.path() / "state.db";
  {
    auto archive = ServiceArchive::open(file);
    ASSERT_TRUE(archive);
    ASSERT_TRUE(archive->keep_peers({{"b", "tcp://127.0.0.1:7002"}}, 1));
  }
  auto peers = ServiceArchive::salvage_peers(file);
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].address, "tcp://127.0.0.1:7002");
  EXPECT_TRUE(ServiceArchive::salvage_peers(dir.path() / "no-such.db").empty());
  auto aside = ServiceArchive::move_aside(file);
  ASSERT_TRUE(aside) << aside.error().message;
  EXPECT_FALSE(std::filesystem::exists(file));
  EXPECT_TRUE(std::filesystem::exists(*aside));
  EXPECT_NE(aside->filename().string().find("state.db.damaged-"), std::string::npos);
}

TEST(ServiceArchive, AMissingDirectoryIsNamed) {
  auto archive = ServiceArchive::open("/proc/mob-no-such-dir/state.db");
  ASSERT_FALSE(archive);
  EXPECT_NE(archive.error().message.find("cannot create /proc/mob-no-such-dir/state.db"), std::string::npos)
      << archive.error().message;
}

}  // namespace service_archive_test
}  // namespace mob
