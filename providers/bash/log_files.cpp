#include "providers/bash/log_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "bus/log.hpp"

namespace mob::bash {
namespace {

std::string rotated_name(const std::filesystem::path& live_file, std::uint32_t generation) {
  return live_file.string() + "." + std::to_string(generation);
}

Result<UniqueFd> open_for_append(const std::filesystem::path& live_file) {
  int fd = ::open(live_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0)
    return fail(Errc::io, "log file \"" + live_file.string() + "\": " + std::strerror(errno));
  return UniqueFd(fd);
}

// Reads [start, start + length) or less if the file is shorter now.
std::string read_range(int fd, std::uint64_t start, std::uint64_t length) {
  std::string data(length, '\0');
  std::size_t got = 0;
  while (got < data.size()) {
    ssize_t n = pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(start + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  data.resize(got);
  return data;
}

// Drops all but the last `lines` lines; a final newline ends the last line, it does not
// start an empty one.
void keep_last_lines(std::string& data, std::uint32_t lines) {
  std::size_t begin = data.size();
  if (begin > 0 && data[begin - 1] == '\n') --begin;
  std::uint32_t seen = 0;
  while (begin > 0) {
    std::size_t newline = data.rfind('\n', begin - 1);
    if (newline == std::string::npos) {
      begin = 0;
      break;
    }
    if (++seen == lines) {
      begin = newline + 1;
      break;
    }
    begin = newline;
  }
  data.erase(0, begin);
}

}  // namespace

Result<void> ensure_log_dir(const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir.parent_path(), error);
  if (error)
    return fail(Errc::io, "data dir \"" + dir.parent_path().string() + "\": " + error.message());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return fail(Errc::io, "logs dir \"" + dir.string() + "\": " + std::strerror(errno));
  if (!std::filesystem::is_directory(dir, error))
    return fail(Errc::io, "logs dir \"" + dir.string() + "\": exists and is not a directory");
  return {};
}

std::string truncation_marker(std::uint64_t dropped) {
  return " [mob: line truncated, " + std::to_string(dropped) +
         (dropped == 1 ? " byte" : " bytes") + " dropped]";
}

Result<LogWriter> LogWriter::open(const std::filesystem::path& live_file,
                                  std::uint64_t max_bytes, std::uint32_t keep_files,
                                  std::uint64_t max_line_bytes) {
  // Nothing is opened or made until the instance first prints: an instance that never
  // prints holds no descriptor and costs no file. Every descriptor the agent holds is
  // inherited by each process it starts next and closed again there before exec, and making
  // a file costs the file system an inode: with 10,000 silent instances both showed in the
  // profile of their start (docs/performance.md, "The deploy path at scale"). The logs
  // directory must be writable now, so that a start fails at once when it is not.
  const auto dir = live_file.parent_path();
  if (::access(dir.empty() ? "." : dir.c_str(), W_OK | X_OK) != 0)
    return fail(Errc::io, "logs dir \"" + dir.string() + "\": " + std::strerror(errno));
  std::uint64_t size = 0;
  struct stat info {};
  if (::stat(live_file.c_str(), &info) == 0) size = static_cast<std::uint64_t>(info.st_size);
  else if (errno != ENOENT)
    return fail(Errc::io, "log file \"" + live_file.string() + "\": " + std::strerror(errno));
  return LogWriter(live_file, UniqueFd(), size, std::max<std::uint64_t>(max_bytes, 1), keep_files,
                   std::max<std::uint64_t>(max_line_bytes, 1));
}

LogWriter::LogWriter(std::filesystem::path live_file, UniqueFd fd, std::uint64_t size,
                     std::uint64_t max_bytes, std::uint32_t keep_files,
                     std::uint64_t max_line_bytes)
    : live_file_(live_file.native()),
      fd_(std::move(fd)),
      size_(size),
      max_bytes_(max_bytes),
      keep_files_(keep_files),
      max_line_bytes_(max_line_bytes) {}

void LogWriter::append(std::string_view data) {
  // Output within the limit is written in one piece; only a cut interrupts it.
  std::size_t span_begin = 0;
  std::size_t at = 0;
  while (at < data.size()) {
    const std::size_t newline = data.find('\n', at);
    const std::size_t line_end = newline == std::string_view::npos ? data.size() : newline;
    const std::uint64_t length = line_end - at;
    if (dropped_bytes_ == 0 && line_bytes_ + length <= max_line_bytes_) {
      line_bytes_ = newline == std::string_view::npos ? line_bytes_ + length : 0;
      at = newline == std::string_view::npos ? data.size() : newline + 1;
      continue;
    }
    const std::uint64_t room = max_line_bytes_ - line_bytes_;  // 0 once cut
    const std::size_t keep = static_cast<std::size_t>(std::min(length, room));
    const std::string_view kept = data.substr(span_begin, at + keep - span_begin);
    line_bytes_ += keep;
    dropped_bytes_ += length - keep;
    if (newline == std::string_view::npos) {
      write_rotating(kept);
      span_begin = at = data.size();
    } else {
      // One piece, so that rotation keeps the cut line and its marker in one file.
      write_rotating(std::string(kept) + truncation_marker(dropped_bytes_) + "\n");
      line_bytes_ = 0;
      dropped_bytes_ = 0;
      span_begin = at = newline + 1;
    }
  }
  write_rotating(data.substr(span_begin));
}

void LogWriter::end_of_output() {
  if (dropped_bytes_ == 0) return;
  write_rotating(truncation_marker(dropped_bytes_) + "\n");
  line_bytes_ = 0;
  dropped_bytes_ = 0;
}

void LogWriter::write_rotating(std::string_view data) {
  if (data.empty()) return;
  // A writer that lost its file (rotation could not reopen it) tries again.
  if (!fd_ && !reopen()) return;
  while (!data.empty() && fd_) {
    std::size_t take = data.size();
    if (size_ + take > max_bytes_) {
      // Cut at a line end when one fits, so that rotated files hold whole lines.
      std::uint64_t room = max_bytes_ > size_ ? max_bytes_ - size_ : 0;
      std::size_t newline = data.substr(0, room).rfind('\n');
      if (newline != std::string_view::npos) {
        take = newline + 1;
      } else if (size_ > 0) {
        rotate();
        continue;
      } else {
        take = room;  // one line longer than a whole file
      }
    }
    write_all(data.substr(0, take));
    data.remove_prefix(take);
  }
}

void LogWriter::write_all(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd_.get(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      report_failure(std::string("write: ") + std::strerror(errno));
      return;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    size_ += static_cast<std::uint64_t>(n);
  }
}

void LogWriter::rotate() {
  fd_.reset();
  if (keep_files_ == 0) {
    ::unlink(live_file_.c_str());
  } else {
    ::unlink(rotated_name(live_file_, keep_files_).c_str());
    for (std::uint32_t generation = keep_files_ - 1; generation >= 1; --generation)
      ::rename(rotated_name(live_file_, generation).c_str(),
               rotated_name(live_file_, generation + 1).c_str());
    ::rename(live_file_.c_str(), rotated_name(live_file_, 1).c_str());
  }
  size_ = 0;
  reopen();
}

bool LogWriter::reopen() {
  auto fd = open_for_append(live_file_);
  struct stat info {};
  if (!fd || fstat(fd->get(), &info) != 0) {
    report_failure(fd ? std::string("fstat: ") + std::strerror(errno) : fd.error().message);
    return false;
  }
  fd_ = std::move(*fd);
  size_ = static_cast<std::uint64_t>(info.st_size);
  return true;
}

void LogWriter::report_failure(const std::string& what) {
  if (failure_reported_) return;
  failure_reported_ = true;
  log::warn("bash", "log file \"", live_file_, "\": ", what, "; output is dropped");
}

LogChunk read_log_file(const std::filesystem::path& live_file, std::uint32_t tail_lines,
                       bool from_offset, std::uint64_t offset) {
  LogChunk chunk;
  UniqueFd fd(::open(live_file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return chunk;
  struct stat info {};
  if (fstat(fd.get(), &info) != 0) return chunk;
  const auto size = static_cast<std::uint64_t>(info.st_size);

  if (from_offset) {
    // A follower never loses output: it gets the next 1 MiB and comes back for more.
    const std::uint64_t start = offset > size ? 0 : offset;
    chunk.data = read_range(fd.get(), start, std::min(size - start, kMaxLogChunkBytes));
    chunk.next_offset = start + chunk.data.size();
    return chunk;
  }
  const std::uint64_t start = size > kMaxLogChunkBytes ? size - kMaxLogChunkBytes : 0;
  chunk.data = read_range(fd.get(), start, size - start);
  chunk.next_offset = start + chunk.data.size();
  if (tail_lines > 0) keep_last_lines(chunk.data, tail_lines);
  return chunk;
}

}  // namespace mob::bash
