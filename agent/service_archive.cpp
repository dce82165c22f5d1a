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
    "CREATE TABLE IF NOT EXISTS services (name TEXT PRIMARY KEY, record TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS peers (name TEXT PRIMARY KEY, address TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, value INTEGER NOT NULL);";

// Finalizes a prepared statement however the scope is left.
struct Statement {
  sqlite3_stmt* handle = nullptr;
  ~Statement() { sqlite3_finalize(handle); }
};

std::string column_text(sqlite3_stmt* statement, int column) {
  const auto* bytes = sqlite3_column_text(statement, column);
  return bytes ? std::string(reinterpret_cast<const char*>(bytes),
                             static_cast<std::size_t>(sqlite3_column_bytes(statement, column)))
               : std::string();
}

bool step_done(sqlite3_stmt* statement) {
  bool done = sqlite3_step(statement) == SQLITE_DONE;
  sqlite3_reset(statement);
  sqlite3_clear_bindings(statement);
  return done;
}

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
  while ((step = sqlite3_step(select.handle)) == SQLITE_ROW)
    records.emplace_back(column_text(select.handle, 0), column_text(select.handle, 1));
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
  for (const auto& [name, record] : records) {
    sqlite3_bind_text(upsert.handle, 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
    sqlite3_bind_text(upsert.handle, 2, record.data(), static_cast<int>(record.size()), SQLITE_STATIC);
    if (!step_done(upsert.handle)) {
      auto why = database_->error("cannot save service " + name);
      (void)database_->exec("ROLLBACK", "rollback");
      return std::unexpected(why);
    }
  }
  for (const auto& name : erased) {
    sqlite3_bind_text(remove.handle, 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
    if (!step_done(remove.handle)) {
      auto why = database_->error("cannot delete service " + name);
      (void)database_->exec("ROLLBACK", "rollback");
      return std::unexpected(why);
    }
  }
  return database_->exec("COMMIT", "cannot commit");
}

Result<std::vector<ServiceArchive::Peer>> ServiceArchive::load_peers() const {
  Statement select;
  if (auto ok = database_->prepare("SELECT name, address FROM peers", select, "cannot read peers"); !ok)
    return std::unexpected(ok.error());
  std::vector<Peer> peers;
  int step;
  while ((step = sqlite3_step(select.handle)) == SQLITE_ROW)
    peers.push_back(Peer{column_text(select.handle, 0), column_text(select.handle, 1)});
  if (step != SQLITE_DONE) return std::unexpected(database_->error("cannot read peers"));
  return peers;
}

Result<std::optional<std::uint64_t>> ServiceArchive::last_contact_ms() const {
  Statement select;
  if (auto ok = database_->prepare("SELECT value FROM facts WHERE key = 'last_contact_ms'", select,
                                   "cannot read facts");
      !ok)
    return std::unexpected(ok.error());
  int step = sqlite3_step(select.handle);
  if (step == SQLITE_DONE) return std::optional<std::uint64_t>();
  if (step != SQLITE_ROW) return std::unexpected(database_->error("cannot read facts"));
  return std::optional<std::uint64_t>(static_cast<std::uint64_t>(sqlite3_column_int64(select.handle, 0)));
}

Result<void> ServiceArchive::keep_peers(const std::vector<Peer>& peers, std::uint64_t contact_ms) {
  Statement insert, contact;
  if (auto ok = database_->prepare("INSERT OR REPLACE INTO peers (name, address) VALUES (?1, ?2)", insert,
                                   "cannot save peers");
      !ok)
    return ok;
  if (auto ok = database_->prepare("INSERT OR REPLACE INTO facts (key, value) VALUES ('last_contact_ms', ?1)",
                                   contact, "cannot save facts");
      !ok)
    return ok;
  if (auto ok = database_->exec("BEGIN IMMEDIATE", "cannot start a transaction"); !ok) return ok;
  auto rollback = [&](const std::string& doing) {
    auto why = database_->error(doing);
    (void)database_->exec("ROLLBACK", "rollback");
    return std::unexpected(why);
  };
  if (sqlite3_exec(database_->handle, "DELETE FROM peers", nullptr, nullptr, nullptr) != SQLITE_OK)
    return rollback("cannot replace peers");
  for (const auto& peer : peers) {
    sqlite3_bind_text(insert.handle, 1, peer.name.data(), static_cast<int>(peer.name.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert.handle, 2, peer.address.data(), static_cast<int>(peer.address.size()),
                      SQLITE_STATIC);
    if (!step_done(insert.handle)) return rollback("cannot save peer " + peer.name);
  }
  sqlite3_bind_int64(contact.handle, 1, static_cast<sqlite3_int64>(contact_ms));
  if (!step_done(contact.handle)) return rollback("cannot save the last contact");
  return database_->exec("COMMIT", "cannot commit");
}

}  // namespace mob
