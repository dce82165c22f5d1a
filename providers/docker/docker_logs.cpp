#include "providers/docker/docker_logs.hpp"

namespace mob::docker {

bool LogDemuxer::header_is_valid() const {
  const auto stream = static_cast<unsigned char>(header_[0]);
  return stream <= 2 && header_[1] == 0 && header_[2] == 0 && header_[3] == 0;
}

std::uint32_t LogDemuxer::header_length() const {
  std::uint32_t length = 0;
  for (std::size_t i = 4; i < 8; ++i) length = (length << 8) | static_cast<unsigned char>(header_[i]);
  return length;
}

LogSelector::LogSelector(std::uint32_t tail_lines, bool from_offset, std::uint64_t offset,
                         std::size_t cap)
    : tail_lines_(tail_lines), from_offset_(from_offset), offset_(offset), cap_(cap) {}

bool LogSelector::consume(std::string_view payload) {
  const std::uint64_t start = total_;
  total_ += payload.size();
  if (from_offset_) {
    if (total_ <= offset_) return true;
    if (start < offset_) payload.remove_prefix(static_cast<std::size_t>(offset_ - start));
    payload = payload.substr(0, cap_ - kept_.size());
    kept_.append(payload);
    return kept_.size() < cap_;
  }
  kept_.append(payload);
  if (kept_.size() > 2 * cap_) kept_.erase(0, kept_.size() - cap_);
  return true;
}

LogSelector::Selection LogSelector::finish() && {
  Selection out;
  if (from_offset_) {
    out.offset_past_end = total_ < offset_;
    out.next_offset = out.offset_past_end ? offset_ : offset_ + kept_.size();
    out.data = std::move(kept_);
    return out;
  }
  out.next_offset = total_;
  std::size_t begin = kept_.size() > cap_ ? kept_.size() - cap_ : 0;
  if (tail_lines_ > 0) {
    std::size_t end = kept_.size();
    if (end > begin && kept_[end - 1] == '\n') --end;  // the last line's own newline
    std::uint32_t lines = 0;
    std::size_t at = end;
    while (at > begin) {
      if (kept_[at - 1] == '\n' && ++lines == tail_lines_) break;
      --at;
    }
    begin = at;
  }
  out.data = kept_.substr(begin);
  return out;
}

}  // namespace mob::docker
