// A normalized spec text held by reference: the copies of one service record (in the state,
// in gossip, in a delta) and the versions of it that hold the same text (the current spec and
// its entry in `history`, the stable spec and its) share one string instead of one each.
// Immutable once made; on the wire it is a msgpack string like any other.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "bus/wire.hpp"

namespace mob {

class SpecText {
 public:
  SpecText() = default;
  SpecText(std::string text)  // NOLINT(google-explicit-constructor): a spec is written as text
      : text_(text.empty() ? nullptr : std::make_shared<const std::string>(std::move(text))) {}
  SpecText(const char* text) : SpecText(std::string(text)) {}  // NOLINT(google-explicit-constructor)

  const std::string& str() const { return text_ ? *text_ : empty_text(); }
  operator const std::string&() const { return str(); }  // NOLINT(google-explicit-constructor)
  operator std::string_view() const { return str(); }    // NOLINT(google-explicit-constructor)
  bool empty() const { return !text_; }
  std::size_t size() const { return text_ ? text_->size() : 0; }
  const char* data() const { return str().data(); }
  void clear() { text_.reset(); }

  // Holds `other`'s string when the two texts are equal (true then): one allocation for both.
  bool share_if_equal(const SpecText& other) {
    if (text_ == other.text_) return true;
    if (str() != other.str()) return false;
    text_ = other.text_;
    return true;
  }
  // Whether both hold the very same string (tests of the sharing).
  bool shares_with(const SpecText& other) const { return text_ && text_ == other.text_; }

  friend bool operator==(const SpecText& a, const SpecText& b) {
    return a.text_ == b.text_ || a.str() == b.str();
  }
  friend bool operator==(const SpecText& a, const std::string& b) { return a.str() == b; }
  friend bool operator==(const SpecText& a, std::string_view b) { return a.str() == b; }
  friend bool operator==(const SpecText& a, const char* b) { return a.str() == b; }

 private:
  static const std::string& empty_text() {
    static const std::string* const kEmpty = new std::string();  // never destroyed: read at exit
    return *kEmpty;
  }
  std::shared_ptr<const std::string> text_;
};

namespace wire {
template <>
struct WireForm<SpecText> : WireFormOf<SpecText, std::string> {};
}  // namespace wire

}  // namespace mob
