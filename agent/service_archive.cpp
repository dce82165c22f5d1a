#include "agent/service_archive.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mob {
namespace {

constexpr const char* kSchema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"  // a committed batch survives a power cut, not only a crash
    "CREATE TABLE IF NOT EXISTS services (name TEXT PRIMARY KEY, record TEXT NOT NULL);";

// Finalizes a prepared statement however the scope is left.
struct Statement {
  sqlite3_stmt* handle = nullptr;
  ~Statement() { sqlite3_finalize(handle); }
};

}  // namespace

struct ServiceArchive::Database {
  std::string path;
  sqlite3* handle = nullptr;
  ~Database() { sqlite3_close(handle); }

  Error error(const std::string& doing) const {
    return Error{Errc::io, doing + " in " + path + ": " + sqlite3_errmsg(handle)};
  }
  Result<void> exec(const char* sql, const std::string& doing) {
    if (sqlite3_exec(handle, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      return std::unexpected(error(doing));
    return {};
  }
  Result<void> prepare(const char* sql, Statement& statement, const std::string& doing) const {
    if (sqlite3_prepare_v2(handle, sql, -1, &statement.handle, nullptr) != SQLITE_OK)
      return std::unexpected(error(doing));
    return {};
  }
};

ServiceArchive::ServiceArchive(std::unique_ptr<Database> database) : database_(std::move(database)) {}
ServiceArchive::ServiceArchive(ServiceArchive&&) noexcept = default;
ServiceArchive& ServiceArchive::operator=(ServiceArchive&&) noexcept = default;
ServiceArchive::~ServiceArchive() = default;

Result<ServiceArchive> ServiceArchive::open(const std::filesystem::path& file) {
  // SQLite gives its log files the database file's mode, so the file is made 0600 first.
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return fail(Errc::io, "cannot create " + file.string() + ": " + std::strerror(errno) +
                              " (check the permissions of the data dir, --data-dir)");
  ::close(fd);
  auto database = std::make_unique<Database>();
  database->path = file.string();
  int opened = sqlite3_open_v2(file.c_str(), &database->handle,
                               SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (opened != SQLITE_OK) {
    if (!database->handle) return fail(Errc::io, "cannot open " + file.string() + ": out of memory");
    return std::unexpected(database->error("cannot open the database"));
  }
  sqlite3_busy_timeout(database->handle, 5000);
  if (auto ok = database->exec(kSchema, "cannot set up the database"); !ok) {
    auto why = ok.error();
    why.message += " (if the file is damaged, move it away: the network still holds every service)";
    return std::unexpected(why);
  }
  return ServiceArchive(std::move(database));
}

Result<std::vector<ServiceArchive::Record>> ServiceArchive::load() const {
  Statement select;
  if (auto ok = database_->prepare("SELECT name, record FROM services", select, "cannot read services");
      !ok)
    return std::unexpected(ok.error());
  std::vector<Record> records;
  int step;
  while ((step = sqlite3_step(select.handle)) == SQLITE_ROW) {
    auto text = [&](int column) {
      const auto* bytes = sqlite3_column_text(select.handle, column);
      return bytes ? std::string(reinterpret_cast<const char*>(bytes),
                                 static_cast<std::size_t>(sqlite3_column_bytes(select.handle, column)))
                   : std::string();
    };
    records.emplace_back(text(0), text(1));
  }
  if (step != SQLITE_DONE) return std::unexpected(database_->error("cannot read services"));
  return records;
}

Result<void> ServiceArchive::commit(const std::vector<Record>& records,
                                    const std::vector<std::string>& erased) {
  if (records.empty() && erased.empty()) return {};
  Statement upsert, remove;
  if (auto ok = database_->prepare("INSERT OR REPLACE INTO services (name, record) VALUES (?1, ?2)",
                                   upsert, "cannot save services");
      !ok)
    return ok;
  if (auto ok = database_->prepare("DELETE FROM services WHERE name = ?1", remove,
                                   "cannot delete services");
      !ok)
    return ok;
  if (auto ok = database_->exec("BEGIN IMMEDIATE", "cannot start a transaction"); !ok) return ok;
  auto run = [&](sqlite3_stmt* statement) {
    bool done = sqlite3_step(statement) == SQLITE_DONE;
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
    return done;
  };
  for (const auto& [name, record] : records) {
    sqlite3_bind_text(upsert.handle, 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
    sqlite3_bind_text(upsert.handle, 2, record.data(), static_cast<int>(record.size()), SQLITE_STATIC);
    if (!run(upsert.handle)) {
      auto why = database_->error("cannot save service " + name);
      (void)database_->exec("ROLLBACK", "rollback");
      return std::unexpected(why);
    }
  }
  for (const auto& name : erased) {
    sqlite3_bind_text(remove.handle, 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
    if (!run(remove.handle)) {
      auto why = database_->error("cannot delete service " + name);
      (void)database_->exec("ROLLBACK", "rollback");
      return std::unexpected(why);
    }
  }
  return database_->exec("COMMIT", "cannot commit");
}

}  // namespace mob
