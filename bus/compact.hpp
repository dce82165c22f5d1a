// Fields that are empty in almost every record, held in one pointer instead of a whole
// std::string (32 bytes) or std::map (48 bytes): a member's problem, degraded and tags. Every
// agent holds a record of every member (a simulation holds N^2 of them). Values, not
// references: a copy copies what is held; on the wire each is the string or map it holds.
#pragma once

#include <initializer_list>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "bus/wire.hpp"

namespace mob {

// A string that costs one pointer while empty.
class CompactText {
 public:
  CompactText() = default;
  CompactText(std::string text)  // NOLINT(google-explicit-constructor): written as a string
      : text_(text.empty() ? nullptr : std::make_unique<std::string>(std::move(text))) {}
  CompactText(const char* text) : CompactText(std::string(text)) {}  // NOLINT(google-explicit-constructor)
  CompactText(const CompactText& other) : CompactText(other.str()) {}
  CompactText(CompactText&&) noexcept = default;
  CompactText& operator=(const CompactText& other) {
    if (this != &other) *this = CompactText(other);
    return *this;
  }
  CompactText& operator=(CompactText&&) noexcept = default;

  const std::string& str() const { return text_ ? *text_ : empty_text(); }
  operator const std::string&() const { return str(); }  // NOLINT(google-explicit-constructor)
  operator std::string_view() const { return str(); }    // NOLINT(google-explicit-constructor)
  bool empty() const { return !text_; }
  std::size_t size() const { return str().size(); }
  void clear() { text_.reset(); }

  friend bool operator==(const CompactText& a, const CompactText& b) { return a.str() == b.str(); }
  friend bool operator==(const CompactText& a, std::string_view b) { return a.str() == b; }
  friend bool operator==(const CompactText& a, const char* b) { return a.str() == b; }
  friend std::ostream& operator<<(std::ostream& out, const CompactText& text) { return out << text.str(); }

 private:
  static const std::string& empty_text() {
    static const std::string* const kEmpty = new std::string();  // never destroyed: read at exit
    return *kEmpty;
  }
  std::unique_ptr<std::string> text_;  // null while empty
};

// A map of tags (key -> value) that costs one pointer while empty.
class CompactTags {
 public:
  using Map = std::map<std::string, std::string>;
  CompactTags() = default;
  CompactTags(Map tags)  // NOLINT(google-explicit-constructor): written as a map
      : tags_(tags.empty() ? nullptr : std::make_unique<Map>(std::move(tags))) {}
  CompactTags(std::initializer_list<Map::value_type> tags) : CompactTags(Map(tags)) {}
  CompactTags(const CompactTags& other) : CompactTags(other.map()) {}
  CompactTags(CompactTags&&) noexcept = default;
  CompactTags& operator=(const CompactTags& other) {
    if (this != &other) *this = CompactTags(other);
    return *this;
  }
  CompactTags& operator=(CompactTags&&) noexcept = default;

  const Map& map() const { return tags_ ? *tags_ : empty_map(); }
  operator const Map&() const { return map(); }  // NOLINT(google-explicit-constructor)
  bool empty() const { return !tags_; }
  std::size_t size() const { return map().size(); }
  Map::const_iterator begin() const { return map().begin(); }
  Map::const_iterator end() const { return map().end(); }
  Map::const_iterator find(std::string_view key) const { return map().find(std::string(key)); }
  bool contains(std::string_view key) const { return find(key) != end(); }
  const std::string& at(const std::string& key) const { return map().at(key); }
  std::string& operator[](const std::string& key) {
    if (!tags_) tags_ = std::make_unique<Map>();
    return (*tags_)[key];
  }
  void clear() { tags_.reset(); }

  friend bool operator==(const CompactTags& a, const CompactTags& b) { return a.map() == b.map(); }
  friend bool operator==(const CompactTags& a, const Map& b) { return a.map() == b; }

 private:
  static const Map& empty_map() {
    static const Map* const kEmpty = new Map();  // never destroyed: read at exit
    return *kEmpty;
  }
  std::unique_ptr<Map> tags_;  // null while empty
};

namespace wire {
template <>
struct WireForm<CompactText> : WireFormOf<CompactText, std::string> {};
template <>
struct WireForm<CompactTags> : WireFormOf<CompactTags, CompactTags::Map> {};
}  // namespace wire

}  // namespace mob
