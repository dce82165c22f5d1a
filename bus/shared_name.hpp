// An agent's or a host's name held by reference: every record an agent holds names the agent
// that wrote it, the agent it runs on and that agent's host, so the cluster state holds each
// such name once (agent/name_table.hpp) and its records one pointer each instead of a whole
// std::string (32 bytes, and a heap block past 15 characters). Immutable once made; on the
// wire it is a msgpack string like any other.
#pragma once

#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "bus/wire.hpp"

namespace mob {

class SharedName {
 public:
  SharedName() = default;
  SharedName(std::string text)  // NOLINT(google-explicit-constructor): a name is written as text
      : block_(text.empty() ? nullptr : new Block{{1}, std::move(text)}) {}
  SharedName(std::string_view text) : SharedName(std::string(text)) {}  // NOLINT(google-explicit-constructor)
  SharedName(const char* text) : SharedName(std::string(text)) {}       // NOLINT(google-explicit-constructor)
  SharedName(const SharedName& other) noexcept : block_(other.block_) { hold(); }
  SharedName(SharedName&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
  SharedName& operator=(const SharedName& other) noexcept {
    if (block_ != other.block_) {
      other.hold();
      release();
      block_ = other.block_;
    }
    return *this;
  }
  SharedName& operator=(SharedName&& other) noexcept {
    if (this != &other) {
      release();
      block_ = std::exchange(other.block_, nullptr);
    }
    return *this;
  }
  ~SharedName() { release(); }

  const std::string& str() const { return block_ ? block_->text : empty_text(); }
  operator const std::string&() const { return str(); }  // NOLINT(google-explicit-constructor)
  operator std::string_view() const { return str(); }    // NOLINT(google-explicit-constructor)
  bool empty() const { return !block_; }
  std::size_t size() const { return str().size(); }
  const char* c_str() const { return str().c_str(); }
  const char* data() const { return str().data(); }
  bool starts_with(std::string_view prefix) const { return str().starts_with(prefix); }
  void clear() { *this = SharedName(); }

  // Whether both hold the very same string (tests of the sharing).
  bool shares_with(const SharedName& other) const { return block_ && block_ == other.block_; }
  // How many names hold this one's string (0 when empty): the name table forgets a name only
  // it holds.
  std::uint32_t holders() const { return block_ ? block_->holders.load(std::memory_order_acquire) : 0; }

  friend bool operator==(const SharedName& a, const SharedName& b) {
    return a.block_ == b.block_ || a.str() == b.str();
  }
  friend bool operator==(const SharedName& a, const std::string& b) { return a.str() == b; }
  friend bool operator==(const SharedName& a, std::string_view b) { return a.str() == b; }
  friend bool operator==(const SharedName& a, const char* b) { return a.str() == b; }
  friend std::strong_ordering operator<=>(const SharedName& a, const SharedName& b) {
    return a.str().compare(b.str()) <=> 0;
  }
  friend std::strong_ordering operator<=>(const SharedName& a, std::string_view b) {
    return std::string_view(a.str()).compare(b) <=> 0;
  }
  friend std::string operator+(std::string a, const SharedName& b) { return a += b.str(); }
  friend std::string operator+(const SharedName& a, std::string_view b) { return a.str() + std::string(b); }
  friend std::string operator+(const SharedName& a, const char* b) { return a.str() + b; }
  friend std::ostream& operator<<(std::ostream& out, const SharedName& name) { return out << name.str(); }

 private:
  struct Block {
    std::atomic<std::uint32_t> holders;
    const std::string text;
  };
  static const std::string& empty_text() {
    static const std::string* const kEmpty = new std::string();  // never destroyed: read at exit
    return *kEmpty;
  }
  void hold() const {
    if (block_) block_->holders.fetch_add(1, std::memory_order_relaxed);
  }
  void release() {
    if (block_ && block_->holders.fetch_sub(1, std::memory_order_acq_rel) == 1) delete block_;
    block_ = nullptr;
  }
  Block* block_ = nullptr;
};

namespace wire {
template <>
struct WireForm<SharedName> : WireFormOf<SharedName, std::string> {};
}  // namespace wire

}  // namespace mob
