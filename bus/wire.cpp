#include "bus/wire.hpp"

namespace mob::wire {

std::string field_name(const char* names, std::size_t index) {
  std::string_view all(names);
  for (std::size_t i = 0; i < index; ++i) {
    auto comma = all.find(',');
    if (comma == std::string_view::npos) return "field " + std::to_string(index);
    all.remove_prefix(comma + 1);
  }
  auto end = all.find(',');
  std::string_view name = all.substr(0, end);
  while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
  while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
  return std::string(name);
}

std::string_view type_name(msgpack::type::object_type type) {
  switch (type) {
    case msgpack::type::NIL: return "nil";
    case msgpack::type::BOOLEAN: return "boolean";
    case msgpack::type::POSITIVE_INTEGER: return "integer";
    case msgpack::type::NEGATIVE_INTEGER: return "negative integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return "float";
    case msgpack::type::STR: return "string";
    case msgpack::type::BIN: return "binary";
    case msgpack::type::ARRAY: return "array";
    case msgpack::type::MAP: return "map";
    case msgpack::type::EXT: return "extension";
  }
  return "unknown";
}

}  // namespace mob::wire
