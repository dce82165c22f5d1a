// Error values that cross module and thread boundaries: a code a program can branch on
// and a message that tells a person what was wrong and how to fix it.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace mob {

enum class Errc : std::uint16_t {
  invalid_argument = 1,  // the caller sent something that can never work (bad spec, bad flag)
  malformed = 2,         // bytes on the wire do not decode
  unsupported_version = 3,
  unknown_type = 4,
  too_large = 5,
  not_found = 6,
  conflict = 7,
  unavailable = 8,       // a peer, engine or agent does not answer
  timeout = 9,
  io = 10,
  internal = 11,
  not_authorized = 12,
  count_,
};

std::string_view to_string(Errc code);

struct Error {
  Errc code = Errc::internal;
  std::string message;

  // "message" prefixed with context, e.g. "restart.policy: " + inner message.
  Error with_context(std::string_view context) const;
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(Errc code, std::string message) {
  return std::unexpected(Error{code, std::move(message)});
}

}  // namespace mob
