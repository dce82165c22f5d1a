// A normalized spec text held by reference: the copies of one service record (in the state,
// in gossip, in a delta) and the versions of it that hold the same text (the current spec and
// its entry in `history`, the stable spec and its) share one string instead of one each.
// Immutable once made; on the wire it is a msgpack string like any other.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "bus/wire.hpp"

namespace mob {

class SpecText {
 public:
  SpecText() = default;
  SpecText(std::string_view text)  // NOLINT(google-explicit-constructor): a spec is written as text
      : block_(make_block(text)) {}
  SpecText(const std::string& text) : SpecText(std::string_view(text)) {}  // NOLINT(google-explicit-constructor)
  SpecText(const char* text) : SpecText(std::string_view(text)) {}         // NOLINT(google-explicit-constructor)
  SpecText(const SpecText& other) noexcept : block_(other.block_) { hold(); }
  SpecText(SpecText&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
  SpecText& operator=(const SpecText& other) noexcept {
    if (block_ != other.block_) {
      other.hold();
      release();
      block_ = other.block_;
    }
    return *this;
  }
  SpecText& operator=(SpecText&& other) noexcept {
    if (this != &other) {
      release();
      block_ = std::exchange(other.block_, nullptr);
    }
    return *this;
  }
  ~SpecText() { release(); }

  std::string_view view() const { return block_ ? std::string_view(block_->text, block_->size) : std::string_view(); }
  std::string str() const { return std::string(view()); }
  operator std::string_view() const { return view(); }  // NOLINT(google-explicit-constructor)
  explicit operator std::string() const { return str(); }
  bool empty() const { return !block_; }
  std::size_t size() const { return block_ ? block_->size : 0; }
  const char* data() const { return view().data(); }
  void clear() { release(); }

  // Holds `other`'s string when the two texts are equal (true then): one allocation for both.
  bool share_if_equal(const SpecText& other) {
    if (block_ == other.block_) return true;
    if (view() != other.view()) return false;
    *this = other;
    return true;
  }
  // Whether both hold the very same string (tests of the sharing).
  bool shares_with(const SpecText& other) const { return block_ && block_ == other.block_; }

  friend bool operator==(const SpecText& a, const SpecText& b) {
    return a.block_ == b.block_ || a.view() == b.view();
  }
  friend bool operator==(const SpecText& a, const std::string& b) { return a.view() == b; }
  friend bool operator==(const SpecText& a, std::string_view b) { return a.view() == b; }
  friend bool operator==(const SpecText& a, const char* b) { return a.view() == b; }
  friend std::ostream& operator<<(std::ostream& out, const SpecText& text) { return out << text.view(); }

 private:
  // One allocation holds the count of holders, the length and the text (a shared_ptr to a
  // std::string took three: the count's block, the string and its characters).
  struct Block {
    std::atomic<std::uint32_t> holders;
    std::uint32_t size;
    char text[1];  // `size` characters and a terminating zero
  };
  static Block* make_block(std::string_view text) {
    if (text.empty()) return nullptr;
    // At least a whole Block: a text of a character or two ends inside its padding.
    void* memory = ::operator new(std::max(sizeof(Block), offsetof(Block, text) + text.size() + 1));
    auto* block = new (memory) Block;  // the count only: the length and text are written below
    block->holders.store(1, std::memory_order_relaxed);
    block->size = static_cast<std::uint32_t>(text.size());
    std::memcpy(block->text, text.data(), text.size());
    block->text[text.size()] = '\0';
    return block;
  }
  void hold() const {
    if (block_) block_->holders.fetch_add(1, std::memory_order_relaxed);
  }
  void release() {
    if (block_ && block_->holders.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      block_->~Block();
      ::operator delete(block_);
    }
    block_ = nullptr;
  }
  Block* block_ = nullptr;
};

namespace wire {
template <>
struct WireForm<SpecText> {
  template <class Packer>
  static void pack(Packer& pk, const SpecText& text) {
    pk.pack_str(static_cast<std::uint32_t>(text.size()));
    pk.pack_str_body(text.data(), static_cast<std::uint32_t>(text.size()));
  }
  static Result<void> read(const msgpack::object& obj, SpecText& out) {
    if (obj.type == msgpack::type::STR) {  // the text read in place, not through a string
      out = SpecText(std::string_view(obj.via.str.ptr, obj.via.str.size));
      return {};
    }
    std::string text;  // a BIN, or an error that says what was found instead
    if (auto ok = wire::read(obj, text); !ok) return ok;
    out = SpecText(text);
    return {};
  }
};
}  // namespace wire

}  // namespace mob
