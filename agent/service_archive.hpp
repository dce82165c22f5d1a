// What an agent keeps across restarts: one SQLite database in the data dir (state.db,
// write-ahead log) with one record per service, the peers it last knew (its seeds when it
// is restarted without -j) and when it last heard from them. Writes come in batches: one
// transaction and one sync of the log however many services changed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bus/error.hpp"

namespace mob {

class ServiceArchive {
 public:
  using Record = std::pair<std::string, std::string>;  // service name, record (JSON text)

  // Opens (creating, mode 0600) the database `file`; errors name the file and what to do.
  static Result<ServiceArchive> open(const std::filesystem::path& file);

  // Every record kept.
  Result<std::vector<Record>> load() const;
  // Writes or replaces `records` and deletes `erased` in one durable transaction.
  Result<void> commit(const std::vector<Record>& records, const std::vector<std::string>& erased);

  struct Peer {
    std::string name;
    std::string address;  // its ROUTER endpoint, tcp://HOST:PORT
  };
  // The peers kept by the last keep_peers(), and the wall-clock ms of the last contact.
  Result<std::vector<Peer>> load_peers() const;
  Result<std::optional<std::uint64_t>> last_contact_ms() const;
  // Replaces the peers kept with `peers` and records `contact_ms`, durably.
  Result<void> keep_peers(const std::vector<Peer>& peers, std::uint64_t contact_ms);

  ServiceArchive(ServiceArchive&&) noexcept;
  ServiceArchive& operator=(ServiceArchive&&) noexcept;
  ~ServiceArchive();

 private:
  struct Database;
  explicit ServiceArchive(std::unique_ptr<Database> database);
  std::unique_ptr<Database> database_;
};

}  // namespace mob
