// Fields that are empty in almost every record, held in one pointer instead of a whole
// std::string (32 bytes), std::map (48) or std::vector (24): a member's problem, degraded and
// tags; an instance's reason, ports and checks; a service's rollout and rebalance notes; an
// assignment's agents to avoid. Every
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
#include <vector>

#include "bus/wire.hpp"

namespace mob {

// A value held behind a pointer that is null while the value is empty: one pointer for an
// empty string, map or vector (null exactly while empty). A copy copies the value held.
template <class Value>
class HeldWhenNotEmpty {
 public:
  HeldWhenNotEmpty() = default;
  explicit HeldWhenNotEmpty(Value value)
      : held_(value.empty() ? nullptr : std::make_unique<Value>(std::move(value))) {}
  HeldWhenNotEmpty(const HeldWhenNotEmpty& other)
      : held_(other.held_ ? std::make_unique<Value>(*other.held_) : nullptr) {}
  HeldWhenNotEmpty(HeldWhenNotEmpty&&) noexcept = default;
  HeldWhenNotEmpty& operator=(const HeldWhenNotEmpty& other) {
    if (this != &other) *this = HeldWhenNotEmpty(other);
    return *this;
  }
  HeldWhenNotEmpty& operator=(HeldWhenNotEmpty&&) noexcept = default;

  const Value& get() const { return held_ ? *held_ : empty_value(); }
  bool empty() const { return !held_; }
  void clear() { held_.reset(); }
  // The value to write into, held from now on (empty until written).
  Value& hold() {
    if (!held_) held_ = std::make_unique<Value>();
    return *held_;
  }

 private:
  static const Value& empty_value() {
    static const Value* const kEmpty = new Value();  // never destroyed: read at exit
    return *kEmpty;
  }
  std::unique_ptr<Value> held_;  // null while empty
};

// A string that costs one pointer while empty.
class CompactText {
 public:
  CompactText() = default;
  CompactText(std::string text)  // NOLINT(google-explicit-constructor): written as a string
      : text_(std::move(text)) {}
  CompactText(const char* text) : CompactText(std::string(text)) {}  // NOLINT(google-explicit-constructor)

  const std::string& str() const { return text_.get(); }
  operator const std::string&() const { return str(); }  // NOLINT(google-explicit-constructor)
  operator std::string_view() const { return str(); }    // NOLINT(google-explicit-constructor)
  bool empty() const { return text_.empty(); }
  std::size_t size() const { return str().size(); }
  bool starts_with(std::string_view prefix) const { return str().starts_with(prefix); }
  std::size_t find(std::string_view part) const { return str().find(part); }
  void clear() { text_.clear(); }

  friend std::string operator+(std::string a, const CompactText& b) { return a += b.str(); }
  friend std::string operator+(const CompactText& a, std::string_view b) { return a.str() + std::string(b); }

  friend bool operator==(const CompactText& a, const CompactText& b) { return a.str() == b.str(); }
  friend bool operator==(const CompactText& a, const std::string& b) { return a.str() == b; }
  friend bool operator==(const CompactText& a, std::string_view b) { return a.str() == b; }
  friend bool operator==(const CompactText& a, const char* b) { return a.str() == b; }
  friend std::ostream& operator<<(std::ostream& out, const CompactText& text) { return out << text.str(); }

 private:
  HeldWhenNotEmpty<std::string> text_;
};

// A map that costs one pointer while empty: a member's tags, an instance's ports.
template <class Map>
class CompactMap {
 public:
  using key_type = typename Map::key_type;
  using mapped_type = typename Map::mapped_type;
  using const_iterator = typename Map::const_iterator;
  CompactMap() = default;
  CompactMap(Map map)  // NOLINT(google-explicit-constructor): written as a map
      : map_(std::move(map)) {}
  CompactMap(std::initializer_list<typename Map::value_type> map) : CompactMap(Map(map)) {}

  const Map& map() const { return map_.get(); }
  operator const Map&() const { return map(); }  // NOLINT(google-explicit-constructor)
  bool empty() const { return map_.empty(); }
  std::size_t size() const { return map().size(); }
  const_iterator begin() const { return map().begin(); }
  const_iterator end() const { return map().end(); }
  const_iterator find(std::string_view key) const { return map().find(key_type(key)); }
  bool contains(std::string_view key) const { return find(key) != end(); }
  const mapped_type& at(const key_type& key) const { return map().at(key); }
  mapped_type& operator[](const key_type& key) { return map_.hold()[key]; }
  void clear() { map_.clear(); }

  friend bool operator==(const CompactMap& a, const CompactMap& b) { return a.map() == b.map(); }
  friend bool operator==(const CompactMap& a, const Map& b) { return a.map() == b; }

 private:
  HeldWhenNotEmpty<Map> map_;
};

// A member's tags (key -> value), one pointer while empty.
using CompactTags = CompactMap<std::map<std::string, std::string>>;

// A vector that costs one pointer while empty: an instance's check results, an assignment's
// agents to avoid.
template <class T>
class CompactVector {
 public:
  using Vector = std::vector<T>;
  using value_type = T;
  using const_iterator = typename Vector::const_iterator;
  CompactVector() = default;
  CompactVector(Vector items)  // NOLINT(google-explicit-constructor): written as a vector
      : items_(std::move(items)) {}
  CompactVector(std::initializer_list<T> items) : CompactVector(Vector(items)) {}

  const Vector& vector() const { return items_.get(); }
  operator const Vector&() const { return vector(); }  // NOLINT(google-explicit-constructor)
  bool empty() const { return items_.empty(); }
  std::size_t size() const { return vector().size(); }
  const_iterator begin() const { return vector().begin(); }
  const_iterator end() const { return vector().end(); }
  // Iterators to change the items in place (none while empty: a value-initialized pair).
  typename Vector::iterator begin() { return empty() ? typename Vector::iterator{} : items_.hold().begin(); }
  typename Vector::iterator end() { return empty() ? typename Vector::iterator{} : items_.hold().end(); }
  const T& operator[](std::size_t i) const { return vector()[i]; }
  const T& back() const { return vector().back(); }
  void push_back(T item) { items_.hold().push_back(std::move(item)); }
  void clear() { items_.clear(); }

  friend bool operator==(const CompactVector& a, const CompactVector& b) { return a.vector() == b.vector(); }
  friend bool operator==(const CompactVector& a, const Vector& b) { return a.vector() == b; }

 private:
  HeldWhenNotEmpty<Vector> items_;
};

namespace wire {
template <>
struct WireForm<CompactText> : WireFormOf<CompactText, std::string> {};
template <class Map>
struct WireForm<CompactMap<Map>> : WireFormOf<CompactMap<Map>, Map> {};
template <class T>
struct WireForm<CompactVector<T>> : WireFormOf<CompactVector<T>, std::vector<T>> {};
}  // namespace wire

}  // namespace mob
