// Internal to the docker provider (tests include it too): the Engine's multiplexed log
// stream turned back into plain output, and the part of it a read_logs call asked for.
// Pure; fed chunk by chunk as the stream arrives.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mob::docker {

inline constexpr std::size_t kMaxLogChunkBytes = 1024 * 1024;

// Splits GET /containers/{id}/logs output into its payload. Each frame is an 8-byte header
// (stream type 0|1|2, three zero bytes, big-endian uint32 length) and that many bytes. A
// header that is not one (a TTY container's raw stream, garbage) switches to passing every
// byte through unchanged; a frame cut short yields what arrived.
class LogDemuxer {
 public:
  template <class Out>
  void feed(std::string_view bytes, Out&& out) {
    while (!bytes.empty()) {
      if (raw_) {
        out(bytes);
        return;
      }
      if (payload_left_ > 0) {
        const std::size_t take = std::min<std::size_t>(payload_left_, bytes.size());
        out(bytes.substr(0, take));
        payload_left_ -= static_cast<std::uint32_t>(take);
        bytes.remove_prefix(take);
        continue;
      }
      const std::size_t take = std::min(header_.size() - header_fill_, bytes.size());
      for (std::size_t i = 0; i < take; ++i) header_[header_fill_ + i] = bytes[i];
      header_fill_ += take;
      bytes.remove_prefix(take);
      if (header_fill_ < header_.size()) return;
      header_fill_ = 0;
      if (!header_is_valid()) {
        raw_ = true;
        out(std::string_view(header_.data(), header_.size()));
        continue;
      }
      payload_left_ = header_length();
    }
  }

 private:
  bool header_is_valid() const;
  std::uint32_t header_length() const;

  std::array<char, 8> header_{};
  std::size_t header_fill_ = 0;
  std::uint32_t payload_left_ = 0;
  bool raw_ = false;
};

// Keeps the part of a demultiplexed log that one read_logs call returns, at most `cap`
// bytes: from `offset` on (follow mode), else the last `tail_lines` lines (0: all of it).
// Offsets count bytes of demultiplexed output from the container's first byte.
class LogSelector {
 public:
  LogSelector(std::uint32_t tail_lines, bool from_offset, std::uint64_t offset,
              std::size_t cap = kMaxLogChunkBytes);
  // Returns false once nothing more is needed (follow mode, `cap` bytes collected).
  bool consume(std::string_view payload);

  struct Selection {
    std::string data;
    std::uint64_t next_offset = 0;
    bool offset_past_end = false;  // follow mode: the log is shorter than `offset`
  };
  Selection finish() &&;

 private:
  std::uint32_t tail_lines_;
  bool from_offset_;
  std::uint64_t offset_;
  std::size_t cap_;
  std::uint64_t total_ = 0;
  std::string kept_;
};

}  // namespace mob::docker
