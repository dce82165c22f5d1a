// What an agent keeps across restarts: one SQLite database in the data dir (state.db,
// write-ahead log) with one record per service, the peers it last knew (its seeds when it
// is restarted without -j), when it last heard from them, and its own settings (eligibility,
// runtime tags). Writes come in batches: one
// transaction and one sync of the log however many services changed. A damaged file is
// never read as an empty one: open() checks it and says what is wrong.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/node_settings.hpp"
#include "bus/error.hpp"

namespace mob {

class ServiceArchive {
 public:
  using Record = std::pair<std::string, std::string>;  // service name, record (JSON text)

  // Opens the database `file`, or makes it (mode 0600) when there is none: the new file
  // holds the schema from its first byte on disk, so an empty or headless file is damage.
  // Errors name the file and what to do: Errc::malformed when the file is damaged (empty,
  // truncated, garbage in a page or in its write-ahead log, failing `PRAGMA quick_check`),
  // Errc::io when it cannot be made, opened or written (permissions, read-only, full disk).
  static Result<ServiceArchive> open(const std::filesystem::path& file);
  // Renames a damaged `file` and its log files to FILE.damaged-<UTC time>[-wal|-shm], kept
  // for a post-mortem; returns the new name of `file`.
  static Result<std::filesystem::path> move_aside(const std::filesystem::path& file);
  struct Peer;
  // The peers kept in `file`, read without changing it, even when it is damaged elsewhere;
  // empty when they cannot be read.
  static std::vector<Peer> salvage_peers(const std::filesystem::path& file);

  // Every record kept.
  Result<std::vector<Record>> load() const;
  // Writes or replaces `records` and deletes `erased` in one durable transaction. A disk
  // that refuses is an Errc::io whose message starts with what it is ("disk full in DIR",
  // "read-only data dir DIR", "I/O error in DIR"); the file then holds none of the batch.
  Result<void> commit(const std::vector<Record>& records, const std::vector<std::string>& erased);

  struct Peer {
    std::string name;
    std::string address;  // its ROUTER endpoint, tcp://HOST:PORT
    bool operator==(const Peer&) const = default;
  };
  // The peers kept by the last keep_peers(), and the wall-clock ms of the last contact.
  Result<std::vector<Peer>> load_peers() const;
  Result<std::optional<std::uint64_t>> last_contact_ms() const;
  // Replaces the peers kept with `peers` and records `contact_ms`, durably.
  Result<void> keep_peers(const std::vector<Peer>& peers, std::uint64_t contact_ms);
  // This agent's own settings (eligibility, runtime tag changes); the defaults when none
  // were kept. keep_node_settings replaces them in one durable transaction.
  Result<NodeSettings> load_node_settings() const;
  Result<void> keep_node_settings(const NodeSettings& settings);
  // Writes one small durable transaction: whether the disk takes writes again.
  Result<void> check_writable();

  ServiceArchive(ServiceArchive&&) noexcept;
  ServiceArchive& operator=(ServiceArchive&&) noexcept;
  ~ServiceArchive();

 private:
  struct Database;
  explicit ServiceArchive(std::unique_ptr<Database> database);
  std::unique_ptr<Database> database_;
};

}  // namespace mob
