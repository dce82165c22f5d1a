// Field reflection for bus messages and strict msgpack reading: a struct lists its fields
// once with MOB_FIELDS and is packed as a msgpack array; reading checks every type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <msgpack.hpp>

#include "bus/error.hpp"

// Declares the fields of a wire struct, in wire order. New fields go at the end: a
// reader accepts extra trailing fields from a newer sender.
#define MOB_FIELDS(...)                                                   \
  auto mob_fields() { return std::tie(__VA_ARGS__); }                     \
  auto mob_fields() const { return std::tie(__VA_ARGS__); }               \
  static constexpr const char* mob_field_names() { return #__VA_ARGS__; }

// Declares that a reader needs only the first `n` fields: those after them were appended by
// a later release, and a message from an older sender that lacks them keeps their defaults.
#define MOB_REQUIRED_FIELDS(n) static constexpr std::size_t mob_required_fields = n;

namespace mob::wire {

template <class T>
concept Reflected = requires(const T& t) { t.mob_fields(); };

// Every enum that travels has a `count_` sentinel; values at or past it are rejected.
template <class E>
concept WireEnum = std::is_enum_v<E> && requires { E::count_; };

std::string field_name(const char* names, std::size_t index);

// The position of `field` in a MOB_FIELDS list (`names`), or SIZE_MAX: for code that reads a
// field of a packed struct without decoding it, to pin the position it reads at compile time.
constexpr std::size_t field_index(std::string_view names, std::string_view field) {
  std::size_t index = 0;
  while (true) {
    const std::size_t comma = names.find(',');
    std::string_view name = names.substr(0, comma);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (name == field) return index;
    if (comma == std::string_view::npos) return SIZE_MAX;
    names.remove_prefix(comma + 1);
    ++index;
  }
}
std::string_view type_name(msgpack::type::object_type type);

// A type that is not a struct of fields (a JSON value) travels in the form its specialization
// of WireForm gives it: static pack(packer, value) and read(object, value). The
// specialization is declared with the type's use (bus/service_spec.hpp), before any message
// that holds one is packed.
template <class T>
struct WireForm;
template <class T>
concept HasWireForm = requires { WireForm<T>::read; };

template <class T> struct is_vector : std::false_type {};
template <class T> struct is_vector<std::vector<T>> : std::true_type {};
template <class T> struct is_map : std::false_type {};
template <class T> struct is_map<std::map<std::string, T>> : std::true_type {};
template <class T> struct is_optional : std::false_type {};
template <class T> struct is_optional<std::optional<T>> : std::true_type {};

// ---- packing -------------------------------------------------------------------------

template <class Packer, class T>
void pack(Packer& pk, const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    value ? pk.pack_true() : pk.pack_false();
  } else if constexpr (std::is_enum_v<T>) {
    pk.pack(static_cast<std::uint64_t>(value));
  } else if constexpr (std::is_integral_v<T>) {
    if constexpr (std::is_signed_v<T>) pk.pack(static_cast<std::int64_t>(value));
    else pk.pack(static_cast<std::uint64_t>(value));
  } else if constexpr (std::is_floating_point_v<T>) {
    pk.pack_double(static_cast<double>(value));
  } else if constexpr (std::is_same_v<T, std::string>) {
    pk.pack_str(static_cast<std::uint32_t>(value.size()));
    pk.pack_str_body(value.data(), static_cast<std::uint32_t>(value.size()));
  } else if constexpr (is_vector<T>::value) {
    pk.pack_array(static_cast<std::uint32_t>(value.size()));
    for (const auto& item : value) wire::pack(pk, item);
  } else if constexpr (is_map<T>::value) {
    pk.pack_map(static_cast<std::uint32_t>(value.size()));
    for (const auto& [key, item] : value) {
      wire::pack(pk, key);
      wire::pack(pk, item);
    }
  } else if constexpr (is_optional<T>::value) {
    if (value) wire::pack(pk, *value);
    else pk.pack_nil();
  } else if constexpr (HasWireForm<T>) {
    WireForm<T>::pack(pk, value);
  } else if constexpr (Reflected<T>) {
    auto fields = value.mob_fields();
    pk.pack_array(static_cast<std::uint32_t>(std::tuple_size_v<decltype(fields)>));
    std::apply([&](const auto&... field) { (wire::pack(pk, field), ...); }, fields);
  } else {
    static_assert(sizeof(T) == 0, "type cannot travel on the bus");
  }
}

// The bytes `value` packs to, counted without keeping them (a packer over a counter): what
// splits a message under a byte limit.
struct ByteCounter {
  std::size_t bytes = 0;
  void write(const char*, std::size_t size) { bytes += size; }
};
template <class T>
std::size_t packed_size(const T& value) {
  ByteCounter counter;
  msgpack::packer<ByteCounter> pk(counter);
  wire::pack(pk, value);
  return counter.bytes;
}

// ---- reading -------------------------------------------------------------------------

inline std::unexpected<Error> type_mismatch(std::string_view expected, const msgpack::object& obj) {
  return fail(Errc::malformed,
              "expected " + std::string(expected) + ", got " + std::string(type_name(obj.type)));
}

template <class T>
Result<void> read(const msgpack::object& obj, T& out);

template <class T>
Result<void> read_integer(const msgpack::object& obj, T& out) {
  using Limits = std::numeric_limits<T>;
  if (obj.type == msgpack::type::POSITIVE_INTEGER) {
    if (obj.via.u64 > static_cast<std::uint64_t>(Limits::max()))
      return fail(Errc::malformed, "integer " + std::to_string(obj.via.u64) + " out of range");
    out = static_cast<T>(obj.via.u64);
    return {};
  }
  if (obj.type == msgpack::type::NEGATIVE_INTEGER) {
    if constexpr (std::is_signed_v<T>) {
      if (obj.via.i64 < static_cast<std::int64_t>(Limits::min()))
        return fail(Errc::malformed, "integer " + std::to_string(obj.via.i64) + " out of range");
      out = static_cast<T>(obj.via.i64);
      return {};
    } else {
      return fail(Errc::malformed, "expected a non-negative integer, got " +
                                       std::to_string(obj.via.i64));
    }
  }
  return type_mismatch("integer", obj);
}

template <Reflected T>
Result<void> read_struct(const msgpack::object& obj, T& out) {
  if (obj.type != msgpack::type::ARRAY) return type_mismatch("array", obj);
  auto fields = out.mob_fields();
  constexpr std::size_t count = std::tuple_size_v<decltype(fields)>;
  constexpr std::size_t required = [] {
    if constexpr (requires { T::mob_required_fields; }) return T::mob_required_fields;
    else return count;
  }();
  static_assert(required <= count);
  if (obj.via.array.size < required)
    return fail(Errc::malformed, "expected " + std::to_string(required) + " fields, got " +
                                     std::to_string(obj.via.array.size));
  Result<void> status;
  std::size_t index = 0;
  auto read_one = [&](auto& field) {
    if (status && index < obj.via.array.size) {
      status = wire::read(obj.via.array.ptr[index], field);
      if (!status) status = std::unexpected(status.error().with_context(
                        field_name(T::mob_field_names(), index)));
    }
    ++index;
  };
  std::apply([&](auto&... field) { (read_one(field), ...); }, fields);
  return status;
}

template <class T>
Result<void> read(const msgpack::object& obj, T& out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (obj.type != msgpack::type::BOOLEAN) return type_mismatch("boolean", obj);
    out = obj.via.boolean;
    return {};
  } else if constexpr (WireEnum<T>) {
    std::uint64_t raw = 0;
    if (auto ok = read_integer(obj, raw); !ok) return ok;
    if (raw >= static_cast<std::uint64_t>(T::count_))
      return fail(Errc::malformed, "enum value " + std::to_string(raw) + " out of range");
    out = static_cast<T>(raw);
    return {};
  } else if constexpr (std::is_integral_v<T>) {
    return read_integer(obj, out);
  } else if constexpr (std::is_floating_point_v<T>) {
    if (obj.type == msgpack::type::FLOAT64 || obj.type == msgpack::type::FLOAT32) {
      out = static_cast<T>(obj.via.f64);
      return {};
    }
    if (obj.type == msgpack::type::POSITIVE_INTEGER) {
      out = static_cast<T>(obj.via.u64);
      return {};
    }
    if (obj.type == msgpack::type::NEGATIVE_INTEGER) {
      out = static_cast<T>(obj.via.i64);
      return {};
    }
    return type_mismatch("number", obj);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (obj.type == msgpack::type::STR) out.assign(obj.via.str.ptr, obj.via.str.size);
    else if (obj.type == msgpack::type::BIN) out.assign(obj.via.bin.ptr, obj.via.bin.size);
    else return type_mismatch("string", obj);
    return {};
  } else if constexpr (is_vector<T>::value) {
    if (obj.type != msgpack::type::ARRAY) return type_mismatch("array", obj);
    out.clear();
    out.resize(obj.via.array.size);
    for (std::uint32_t i = 0; i < obj.via.array.size; ++i) {
      if (auto ok = wire::read(obj.via.array.ptr[i], out[i]); !ok)
        return std::unexpected(ok.error().with_context("[" + std::to_string(i) + "]"));
    }
    return {};
  } else if constexpr (is_map<T>::value) {
    if (obj.type != msgpack::type::MAP) return type_mismatch("map", obj);
    out.clear();
    for (std::uint32_t i = 0; i < obj.via.map.size; ++i) {
      std::string key;
      if (auto ok = wire::read(obj.via.map.ptr[i].key, key); !ok)
        return std::unexpected(ok.error().with_context("map key"));
      typename T::mapped_type value{};
      if (auto ok = wire::read(obj.via.map.ptr[i].val, value); !ok)
        return std::unexpected(ok.error().with_context(key));
      out.insert_or_assign(std::move(key), std::move(value));
    }
    return {};
  } else if constexpr (is_optional<T>::value) {
    if (obj.type == msgpack::type::NIL) {
      out.reset();
      return {};
    }
    typename T::value_type value{};
    if (auto ok = wire::read(obj, value); !ok) return ok;
    out = std::move(value);
    return {};
  } else if constexpr (HasWireForm<T>) {
    return WireForm<T>::read(obj, out);
  } else if constexpr (Reflected<T>) {
    return read_struct(obj, out);
  } else {
    static_assert(sizeof(T) == 0, "type cannot travel on the bus");
  }
}

// The WireForm of a type that travels as the `Held` value it holds (a string, a map): packed
// as that value, read into one and made from it. A specialization derives from it:
//   template <> struct WireForm<SpecText> : WireFormOf<SpecText, std::string> {};
template <class T, class Held>
struct WireFormOf {
  template <class Packer>
  static void pack(Packer& pk, const T& value) {
    wire::pack(pk, static_cast<const Held&>(value));
  }
  static Result<void> read(const msgpack::object& obj, T& out) {
    Held held{};
    if (auto ok = wire::read(obj, held); !ok) return ok;
    out = T(std::move(held));
    return {};
  }
};

}  // namespace mob::wire
