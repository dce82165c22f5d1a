// An instance's output on disk: the live file <key>.log and the rotated <key>.log.1, .2, ...
// Internal to the bash provider; used on its worker thread only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "bus/error.hpp"
#include "bus/messages.hpp"
#include "providers/bash/unique_fd.hpp"

namespace mob::bash {

inline constexpr std::uint64_t kMaxLogChunkBytes = 1024 * 1024;

// Creates `dir` (mode 0700) and its parents if missing.
Result<void> ensure_log_dir(const std::filesystem::path& dir);

class LogWriter {
 public:
  // Appends to `live_file` (created with mode 0600). The live file is kept at or below
  // `max_bytes`; older output moves to live_file.1 .. live_file.<keep_files>.
  static Result<LogWriter> open(const std::filesystem::path& live_file, std::uint64_t max_bytes,
                                std::uint32_t keep_files);

  // Write errors (a full disk) drop the data and are logged once per writer.
  void append(std::string_view data);

 private:
  LogWriter(std::filesystem::path live_file, UniqueFd fd, std::uint64_t size,
            std::uint64_t max_bytes, std::uint32_t keep_files);
  void rotate();
  bool reopen();
  void write_all(std::string_view data);
  void report_failure(const std::string& what);

  std::filesystem::path live_file_;
  UniqueFd fd_;
  std::uint64_t size_;
  std::uint64_t max_bytes_;
  std::uint32_t keep_files_;
  bool failure_reported_ = false;
};

// The live file's last `tail_lines` lines (0: all of it), or its bytes from `offset` on
// (from the start if the file is now shorter: it rotated). At most kMaxLogChunkBytes.
// A missing file gives empty data and next_offset 0. Fills data and next_offset only.
LogChunk read_log_file(const std::filesystem::path& live_file, std::uint32_t tail_lines,
                       bool from_offset, std::uint64_t offset);

}  // namespace mob::bash
