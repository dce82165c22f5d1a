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

// Ends a line cut at the line length limit, in place of the `dropped` bytes left out.
std::string truncation_marker(std::uint64_t dropped);

class LogWriter {
 public:
  // Appends to `live_file` (created with mode 0600). The live file is kept at or below
  // `max_bytes`; older output moves to live_file.1 .. live_file.<keep_files>. A line longer
  // than `max_line_bytes` keeps its first `max_line_bytes` bytes; the rest is counted, not
  // kept, and truncation_marker() is written before the line's newline.
  static Result<LogWriter> open(const std::filesystem::path& live_file, std::uint64_t max_bytes,
                                std::uint32_t keep_files, std::uint64_t max_line_bytes);

  // Write errors (a full disk) drop the data and are logged once per writer.
  void append(std::string_view data);
  // The output has ended: a cut line that never got its newline gets its marker and one.
  void end_of_output();

 private:
  LogWriter(std::filesystem::path live_file, UniqueFd fd, std::uint64_t size,
            std::uint64_t max_bytes, std::uint32_t keep_files, std::uint64_t max_line_bytes);
  void write_rotating(std::string_view data);
  void rotate();
  bool reopen();
  void write_all(std::string_view data);
  void report_failure(const std::string& what);

  // Its text, not a std::filesystem::path: a path keeps a list of its components besides
  // (about 0.3 KiB more for each of thousands of instances).
  std::string live_file_;
  UniqueFd fd_;
  std::uint64_t size_;
  std::uint64_t max_bytes_;
  std::uint32_t keep_files_;
  std::uint64_t max_line_bytes_;
  std::uint64_t line_bytes_ = 0;     // kept bytes of the current line
  std::uint64_t dropped_bytes_ = 0;  // of the current line, once it passed the limit
  bool failure_reported_ = false;
};

// The live file's last `tail_lines` lines (0: all of it), or its bytes from `offset` on
// (from the start if the file is now shorter: it rotated). At most kMaxLogChunkBytes.
// A missing file gives empty data and next_offset 0. Fills data and next_offset only.
LogChunk read_log_file(const std::filesystem::path& live_file, std::uint32_t tail_lines,
                       bool from_offset, std::uint64_t offset);

}  // namespace mob::bash
