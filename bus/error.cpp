#include "bus/error.hpp"

namespace mob {

std::string_view to_string(Errc code) {
  switch (code) {
    case Errc::invalid_argument: return "invalid argument";
    case Errc::malformed: return "malformed message";
    case Errc::unsupported_version: return "unsupported protocol version";
    case Errc::unknown_type: return "unknown message type";
    case Errc::too_large: return "too large";
    case Errc::not_found: return "not found";
    case Errc::conflict: return "conflict";
    case Errc::unavailable: return "unavailable";
    case Errc::timeout: return "timeout";
    case Errc::io: return "i/o error";
    case Errc::internal: return "internal error";
    case Errc::not_authorized: return "not authorized";
    case Errc::count_: break;
  }
  return "unknown error";
}

Error Error::with_context(std::string_view context) const {
  Error out = *this;
  out.message = std::string(context) + ": " + message;
  return out;
}

}  // namespace mob
