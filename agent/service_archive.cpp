#include "agent/service_archive.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>

namespace mob {
namespace {

constexpr const char* kSettings =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"  // a committed batch survives a power cut, not only a crash
    // The file is read whole once, at start-up, and then only written: SQLite's default page
    // cache (2 MiB) would hold a copy of the state the store already keeps in memory.
    "PRAGMA cache_size=-256;";
constexpr const char* kTables =
    "CREATE TABLE IF NOT EXISTS services (name TEXT PRIMARY KEY, record TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS peers (name TEXT PRIMARY KEY, address TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    // This agent's runtime tag changes (agent/node_settings.hpp): a NULL value removes the tag.
    "CREATE TABLE IF NOT EXISTS tag_overrides (key TEXT PRIMARY KEY, value TEXT);";

constexpr const char* kDamageFix =
    ": mob-agent will not take it for an empty state. Start it with -j HOST:PORT of a live agent "
    "to take the state from the network (the file is moved aside first), or move it away "
    "yourself to start with no services";

std::unexpected<Error> damaged(const std::filesystem::path& file, const std::string& what) {
  return fail(Errc::malformed, file.string() + " is damaged (" + what + ")" + kDamageFix);
}

std::uint32_t big_endian32(const unsigned char* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
         (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
}

std::string read_prefix(const std::filesystem::path& file, std::size_t bytes) {
  std::ifstream in(file, std::ios::binary);
  std::string data(bytes, '\0');
  in.read(data.data(), static_cast<std::streamsize>(bytes));
  data.resize(static_cast<std::size_t>(in.gcount()));
  return data;
}

// SQLite's write-ahead log checksum (sqlite.org/fileformat2.html#walformat): pairs of
// 32-bit words, big-endian when the magic number's low bit is set.
struct WalChecksum {
  bool big_endian = true;
  std::uint32_t s0 = 0, s1 = 0;
  void add(const unsigned char* data, std::size_t size) {
    for (std::size_t i = 0; i + 8 <= size; i += 8) {
      std::uint32_t x0, x1;
      if (big_endian) {
        x0 = big_endian32(data + i);
        x1 = big_endian32(data + i + 4);
      } else {
        std::memcpy(&x0, data + i, 4);
        std::memcpy(&x1, data + i + 4, 4);
      }
      s0 += x0 + s1;
      s1 += x1 + s0;
    }
  }
};

// What is wrong with the write-ahead log FILE-wal, or "" when nothing is. A log cut short
// in its last frames is what a crash leaves (that transaction was never answered), and
// SQLite ignores it; garbage in its header, or frames of the current log after a frame that
// does not check, is damage SQLite would silently read as "no more log".
std::string wal_damage(const std::filesystem::path& wal) {
  std::error_code error;
  auto size = std::filesystem::file_size(wal, error);
  if (error || size == 0) return "";
  std::ifstream in(wal, std::ios::binary);
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto* bytes = reinterpret_cast<const unsigned char*>(log.data());
  if (log.size() < 32) return "its write-ahead log " + wal.string() + " is cut inside its header";
  std::uint32_t magic = big_endian32(bytes);
  std::uint32_t page_size = big_endian32(bytes + 8);
  if ((magic != 0x377f0682 && magic != 0x377f0683) || page_size < 512 || page_size > 65536 ||
      (page_size & (page_size - 1)) != 0)
    return "garbage in the header of its write-ahead log " + wal.string();
  WalChecksum sum{(magic & 1) != 0};
  sum.add(bytes, 24);
  if (sum.s0 != big_endian32(bytes + 24) || sum.s1 != big_endian32(bytes + 28))
    return "garbage in the header of its write-ahead log " + wal.string();
  const std::uint32_t salt1 = big_endian32(bytes + 16), salt2 = big_endian32(bytes + 20);
  const std::size_t frame = 24 + page_size;
  std::size_t offset = 32;
  for (; offset + frame <= log.size(); offset += frame) {
    const unsigned char* header = bytes + offset;
    if (big_endian32(header + 8) != salt1 || big_endian32(header + 12) != salt2) break;
    sum.add(header, 8);
    sum.add(header + 24, page_size);
    if (sum.s0 != big_endian32(header + 16) || sum.s1 != big_endian32(header + 20)) break;
  }
  for (std::size_t later = offset + frame; later + frame <= log.size(); later += frame)
    if (big_endian32(bytes + later + 8) == salt1 && big_endian32(bytes + later + 12) == salt2)
      return "garbage in frame " + std::to_string((offset - 32) / frame) +
             " of its write-ahead log " + wal.string() + ", with committed frames after it";
  return "";
}

// What is wrong with the database file itself, from its header, or "" when nothing is.
std::string file_damage(const std::filesystem::path& file, bool log_has_frames) {
  std::error_code error;
  auto size = std::filesystem::file_size(file, error);
  if (error) return "";  // sqlite3_open says why
  if (size == 0) return "it is empty, 0 bytes: a state.db holds its schema from its first write";
  auto header = read_prefix(file, 100);
  const auto* bytes = reinterpret_cast<const unsigned char*>(header.data());
  if (header.size() < 100 || std::memcmp(bytes, "SQLite format 3", 16) != 0)
    return "garbage in its first page: it is not a SQLite database";
  std::uint32_t page_size = (std::uint32_t{bytes[16]} << 8) | bytes[17];
  if (page_size == 1) page_size = 65536;
  if (page_size < 512 || (page_size & (page_size - 1)) != 0)
    return "garbage in its first page: page size " + std::to_string(page_size);
  // The page count is trusted only when the header says so (it matches the change counter);
  // with frames in the log the file may lag behind its header until the next checkpoint.
  std::uint32_t pages = big_endian32(bytes + 28);
  bool count_valid = pages != 0 && big_endian32(bytes + 92) == big_endian32(bytes + 24);
  if (count_valid && !log_has_frames && size < std::uint64_t{pages} * page_size)
    return "truncated: " + std::to_string(size) + " bytes where its header says " +
           std::to_string(std::uint64_t{pages} * page_size);
  return "";
}

bool is_damage_code(int code) {
  code &= 0xff;
  return code == SQLITE_CORRUPT || code == SQLITE_NOTADB || code == SQLITE_FORMAT;
}

// What a refusing disk is, in words a user acts on. `system_errno` is the OS error under
// an SQLITE_IOERR (a file system the kernel made read-only fails writes with EROFS).
std::string disk_trouble(int code, int system_errno, const std::filesystem::path& dir) {
  if (system_errno == ENOSPC || system_errno == EDQUOT) code = SQLITE_FULL;
  if (system_errno == EROFS) code = SQLITE_READONLY;
  // SQLite's system errno may be overwritten by later calls: a small write in the data
  // dir says what the disk is (a file system the kernel made read-only after an error may
  // still call itself read-write in statvfs).
  if ((code & 0xff) == SQLITE_IOERR && system_errno != EIO) {
    auto probe = dir / ".mob-write-check";
    int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int probe_errno = fd < 0 ? errno : 0;
    if (fd >= 0) {
      if (::write(fd, "x", 1) != 1 || ::fsync(fd) != 0) probe_errno = errno;
      ::close(fd);
      ::unlink(probe.c_str());
    }
    if (probe_errno == ENOSPC || probe_errno == EDQUOT) code = SQLITE_FULL;
    if (probe_errno == EROFS) code = SQLITE_READONLY;
  }
  switch (code & 0xff) {
    case SQLITE_FULL: return "disk full in " + dir.string();
    case SQLITE_READONLY: return "read-only data dir " + dir.string();
    case SQLITE_IOERR:
      return "I/O error in " + dir.string() + (system_errno ? std::string(" (") + std::strerror(system_errno) + ")" : "");
    case SQLITE_CANTOPEN: return "cannot open files in " + dir.string();
    case SQLITE_PERM: return "no permission to write in " + dir.string();
    default: return "write refused in " + dir.string();
  }
}

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
    int code = sqlite3_extended_errcode(handle);
    if (is_damage_code(code))
      return Error{Errc::malformed, path + " is damaged (" + doing + ": " + sqlite3_errmsg(handle) +
                                        ")" + kDamageFix};
    return Error{Errc::io, doing + " in " + path + ": " + sqlite3_errmsg(handle)};
  }
  // A write the disk refused: what the disk is ("disk full in DIR") comes first.
  Error write_error(const std::string& doing) const {
    int code = sqlite3_extended_errcode(handle);
    if (is_damage_code(code)) return error(doing);
    return Error{Errc::io, disk_trouble(code, sqlite3_system_errno(handle), std::filesystem::path(path).parent_path()) + " (" +
                               doing + " in " + path + ": " + sqlite3_errmsg(handle) + ")"};
  }
  Result<void> write(const char* sql, const std::string& doing) {
    if (sqlite3_exec(handle, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      return std::unexpected(write_error(doing));
    return {};
  }
  // Ends a transaction that failed, keeping the error that failed it.
  std::unexpected<Error> roll_back(const std::string& doing) {
    auto why = write_error(doing);
    if (!sqlite3_get_autocommit(handle)) sqlite3_exec(handle, "ROLLBACK", nullptr, nullptr, nullptr);
    return std::unexpected(why);
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

namespace {

std::unexpected<Error> cannot_create(const std::filesystem::path& file) {
  std::string hint = errno == EROFS   ? " (the data dir is on a read-only file system: remount it "
                                        "read-write or give another --data-dir)"
                     : errno == ENOSPC ? " (the disk is full: free space there)"
                                       : " (check the permissions of the data dir, --data-dir)";
  return fail(Errc::io, "cannot create " + file.string() + ": " + std::strerror(errno) + hint);
}

bool fsync_path(const std::filesystem::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// Makes `file` whole or not at all: the schema is written to FILE.new in one transaction,
// synced, then renamed. A crash leaves no state.db (a fresh start) or a complete one.
Result<void> create_database(const std::filesystem::path& file) {
  auto fresh = file;
  fresh += ".new";
  std::error_code ignored;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"})
    std::filesystem::remove(fresh.string() + suffix, ignored);
  // SQLite gives its log files the database file's mode, so the file is made 0600 first.
  int fd = ::open(fresh.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return cannot_create(fresh);
  ::close(fd);
  sqlite3* handle = nullptr;
  int opened = sqlite3_open_v2(fresh.c_str(), &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::string failure;
  if (opened != SQLITE_OK) {
    failure = handle ? sqlite3_errmsg(handle) : "out of memory";
  } else {
    std::string setup = std::string(kSettings) + "BEGIN;" + kTables + "COMMIT;";
    if (sqlite3_exec(handle, setup.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      failure = disk_trouble(sqlite3_extended_errcode(handle), sqlite3_system_errno(handle), file.parent_path()) + ": " +
                sqlite3_errmsg(handle);
  }
  // Closing the last connection checkpoints the log into the file and deletes it.
  if (sqlite3_close(handle) != SQLITE_OK && failure.empty()) failure = "cannot close it";
  if (failure.empty() && !fsync_path(fresh, O_RDWR)) failure = std::string("fsync: ") + std::strerror(errno);
  if (failure.empty() && ::rename(fresh.c_str(), file.c_str()) != 0)
    failure = std::string("rename: ") + std::strerror(errno);
  if (failure.empty() && !fsync_path(file.parent_path(), O_RDONLY | O_DIRECTORY))
    failure = std::string("fsync of the data dir: ") + std::strerror(errno);
  if (failure.empty()) return {};
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(fresh.string() + suffix, ignored);
  return fail(Errc::io, "cannot create " + file.string() + ": " + failure);
}

// SQLite's settings for the whole process, made before it initializes: no page cache
// allocated in bulk ahead of use (20 pages, about 87 KiB, for each database a connection
// opens, the temporary one too) for an archive of a few pages, read once at start-up: each
// of a simulation's thousands of agents opens one. Pages then come one at a time, as read.
bool configure_sqlite() {
  return sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0) == SQLITE_OK;
}

}  // namespace

Result<ServiceArchive> ServiceArchive::open(const std::filesystem::path& file) {
  // Too late once SQLite has initialized (another part opened a database first): then
  // SQLITE_MISUSE and the defaults, which work as well.
  [[maybe_unused]] static const bool configured = configure_sqlite();
  std::error_code error;
  if (!std::filesystem::exists(file, error) && !error) {
    if (auto made = create_database(file); !made) return std::unexpected(made.error());
  }
  auto wal = file;
  wal += "-wal";
  if (auto what = wal_damage(wal); !what.empty()) return damaged(file, what);
  std::error_code no_log;
  bool log_has_frames = std::filesystem::file_size(wal, no_log) > 32 && !no_log;
  if (auto what = file_damage(file, log_has_frames); !what.empty()) return damaged(file, what);
  auto database = std::make_unique<Database>();
  database->path = file.string();
  int opened = sqlite3_open_v2(file.c_str(), &database->handle,
                               SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (opened != SQLITE_OK) {
    if (!database->handle) return fail(Errc::io, "cannot open " + file.string() + ": out of memory");
    return std::unexpected(database->error("cannot open the database"));
  }
  sqlite3_busy_timeout(database->handle, 5000);
  if (auto ok = database->exec(kSettings, "cannot set up the database"); !ok) return std::unexpected(ok.error());
  Statement check;
  if (auto ok = database->prepare("PRAGMA quick_check", check, "cannot check the database"); !ok)
    return std::unexpected(ok.error());
  std::string problems;
  int step;
  while ((step = sqlite3_step(check.handle)) == SQLITE_ROW) {
    auto line = column_text(check.handle, 0);
    if (line != "ok" && problems.size() < 300) problems += (problems.empty() ? "" : "; ") + line;
  }
  if (step != SQLITE_DONE) return std::unexpected(database->error("cannot check the database"));
  if (!problems.empty()) return damaged(file, "PRAGMA quick_check: " + problems);
  // Files made by agents before 0.3 may lack a table; they are added, never replaced.
  if (auto ok = database->exec(kTables, "cannot set up the database"); !ok) return std::unexpected(ok.error());
  return ServiceArchive(std::move(database));
}

Result<std::filesystem::path> ServiceArchive::move_aside(const std::filesystem::path& file) {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  std::filesystem::path aside = file.string() + ".damaged-" + stamp;
  for (int n = 2; std::filesystem::exists(aside); ++n)
    aside = file.string() + ".damaged-" + stamp + "-" + std::to_string(n);
  for (const char* suffix : {"-wal", "-shm", ""}) {
    std::filesystem::path from = file.string() + suffix;
    std::error_code missing;
    if (!std::filesystem::exists(from, missing)) continue;
    if (::rename(from.c_str(), (aside.string() + suffix).c_str()) != 0)
      return fail(Errc::io, "cannot move " + from.string() + " aside: " + std::strerror(errno) +
                                " (move it away yourself and start again)");
  }
  fsync_path(file.parent_path(), O_RDONLY | O_DIRECTORY);
  return aside;
}

std::vector<ServiceArchive::Peer> ServiceArchive::salvage_peers(const std::filesystem::path& file) {
  std::vector<Peer> peers;
  sqlite3* handle = nullptr;
  if (sqlite3_open_v2(file.c_str(), &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) == SQLITE_OK) {
    Statement select;
    if (sqlite3_prepare_v2(handle, "SELECT name, address FROM peers", -1, &select.handle, nullptr) == SQLITE_OK)
      while (sqlite3_step(select.handle) == SQLITE_ROW)
        peers.push_back(Peer{column_text(select.handle, 0), column_text(select.handle, 1)});
  }
  sqlite3_close(handle);
  return peers;
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
  if (auto ok = database_->write("BEGIN IMMEDIATE", "cannot start a transaction"); !ok) return ok;
  for (const auto& [name, record] : records) {
    sqlite3_bind_text(upsert.handle, 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
    sqlite3_bind_text(upsert.handle, 2, record.data(), static_cast<int>(record.size()), SQLITE_STATIC);
    if (!step_done(upsert.handle)) return database_->roll_back("cannot save service " + name);
  }
  for (const auto& name : erased) {
    sqlite3_bind_text(remove.handle, 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
    if (!step_done(remove.handle)) return database_->roll_back("cannot delete service " + name);
  }
  if (sqlite3_exec(database_->handle, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
    return database_->roll_back("cannot commit");
  return {};
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
  if (auto ok = database_->write("BEGIN IMMEDIATE", "cannot start a transaction"); !ok) return ok;
  if (sqlite3_exec(database_->handle, "DELETE FROM peers", nullptr, nullptr, nullptr) != SQLITE_OK)
    return database_->roll_back("cannot replace peers");
  for (const auto& peer : peers) {
    sqlite3_bind_text(insert.handle, 1, peer.name.data(), static_cast<int>(peer.name.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert.handle, 2, peer.address.data(), static_cast<int>(peer.address.size()),
                      SQLITE_STATIC);
    if (!step_done(insert.handle)) return database_->roll_back("cannot save peer " + peer.name);
  }
  sqlite3_bind_int64(contact.handle, 1, static_cast<sqlite3_int64>(contact_ms));
  if (!step_done(contact.handle)) return database_->roll_back("cannot save the last contact");
  if (sqlite3_exec(database_->handle, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
    return database_->roll_back("cannot commit");
  return {};
}

Result<NodeSettings> ServiceArchive::load_node_settings() const {
  NodeSettings settings;
  Statement eligible, tags;
  if (auto ok = database_->prepare("SELECT value FROM facts WHERE key = 'ineligible'", eligible,
                                   "cannot read this agent's settings");
      !ok)
    return std::unexpected(ok.error());
  int step = sqlite3_step(eligible.handle);
  if (step == SQLITE_ROW) settings.eligible = sqlite3_column_int64(eligible.handle, 0) == 0;
  else if (step != SQLITE_DONE) return std::unexpected(database_->error("cannot read this agent's settings"));
  if (auto ok = database_->prepare("SELECT key, value FROM tag_overrides", tags, "cannot read this agent's tags");
      !ok)
    return std::unexpected(ok.error());
  while ((step = sqlite3_step(tags.handle)) == SQLITE_ROW) {
    std::optional<std::string> value;
    if (sqlite3_column_type(tags.handle, 1) != SQLITE_NULL) value = column_text(tags.handle, 1);
    settings.tag_overrides[column_text(tags.handle, 0)] = std::move(value);
  }
  if (step != SQLITE_DONE) return std::unexpected(database_->error("cannot read this agent's tags"));
  return settings;
}

Result<void> ServiceArchive::keep_node_settings(const NodeSettings& settings) {
  Statement eligible, insert;
  if (auto ok = database_->prepare("INSERT OR REPLACE INTO facts (key, value) VALUES ('ineligible', ?1)", eligible,
                                   "cannot save this agent's settings");
      !ok)
    return ok;
  if (auto ok = database_->prepare("INSERT INTO tag_overrides (key, value) VALUES (?1, ?2)", insert,
                                   "cannot save this agent's tags");
      !ok)
    return ok;
  if (auto ok = database_->write("BEGIN IMMEDIATE", "cannot start a transaction"); !ok) return ok;
  sqlite3_bind_int64(eligible.handle, 1, settings.eligible ? 0 : 1);
  if (!step_done(eligible.handle)) return database_->roll_back("cannot save this agent's eligibility");
  if (sqlite3_exec(database_->handle, "DELETE FROM tag_overrides", nullptr, nullptr, nullptr) != SQLITE_OK)
    return database_->roll_back("cannot replace this agent's tags");
  for (const auto& [key, value] : settings.tag_overrides) {
    sqlite3_bind_text(insert.handle, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    if (value) sqlite3_bind_text(insert.handle, 2, value->data(), static_cast<int>(value->size()), SQLITE_STATIC);
    else sqlite3_bind_null(insert.handle, 2);
    if (!step_done(insert.handle)) return database_->roll_back("cannot save tag " + key);
  }
  if (sqlite3_exec(database_->handle, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
    return database_->roll_back("cannot commit");
  return {};
}

Result<void> ServiceArchive::check_writable() {
  Statement write;
  if (auto ok = database_->prepare("INSERT OR REPLACE INTO facts (key, value) VALUES ('disk_checked_at', ?1)",
                                   write, "cannot check the disk");
      !ok)
    return ok;
  sqlite3_bind_int64(write.handle, 1, static_cast<sqlite3_int64>(std::time(nullptr)));
  if (!step_done(write.handle)) return std::unexpected(database_->write_error("cannot write"));
  return {};
}

}  // namespace mob
