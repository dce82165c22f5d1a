// Test support: an envelope packed by hand, so that a test can break any part of it (a
// version or a type code no encoder writes, a body of the wrong shape).
#pragma once

#include <cstdint>
#include <string>

#include <msgpack.hpp>

namespace mob::test {

// The header fields, then whatever `pack_body` writes as the body.
template <class PackBody>
std::string hand_packed(std::uint64_t version, std::uint64_t type, PackBody pack_body, std::uint64_t request_id = 1,
                        const std::string& sender = "tool") {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(5);
  pk.pack(version);
  pk.pack(type);
  pk.pack(request_id);
  pk.pack(sender);
  pack_body(pk);
  return std::string(buffer.data(), buffer.size());
}

}  // namespace mob::test
