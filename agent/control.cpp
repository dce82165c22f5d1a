#include "agent/control.hpp"

#include <array>

namespace mob {
namespace {

constexpr std::array<std::string_view, std::variant_size_v<ControlBody>> kControlNames = {
    "shutdown_request", "shutdown_done", "announce_leave", "leave_announced", "leave_asked"};

template <std::size_t I = 0>
Result<ControlBody> read_control(std::uint64_t code, const msgpack::object& obj) {
  if constexpr (I == std::variant_size_v<ControlBody>) {
    return fail(Errc::unknown_type, "unknown control message type " + std::to_string(code));
  } else {
    if (code != I) return read_control<I + 1>(code, obj);
    std::variant_alternative_t<I, ControlBody> message;
    if (auto ok = wire::read(obj, message); !ok)
      return std::unexpected(ok.error().with_context(std::string(kControlNames[I])));
    return ControlBody{std::move(message)};
  }
}

}  // namespace

std::string_view control_name(const ControlBody& body) { return kControlNames[body.index()]; }

std::string encode_control(const ControlBody& body) {
  msgpack::sbuffer buffer(32);
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(2);
  wire::pack(pk, static_cast<std::uint64_t>(body.index()));
  std::visit([&](const auto& message) { wire::pack(pk, message); }, body);
  return std::string(buffer.data(), buffer.size());
}

Result<ControlBody> decode_control(std::string_view bytes) {
  msgpack::object_handle handle;
  try {
    handle = msgpack::unpack(bytes.data(), bytes.size());
  } catch (const std::exception& e) {
    return fail(Errc::malformed, std::string("a control message that is not msgpack: ") + e.what());
  }
  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::ARRAY || root.via.array.size != 2)
    return fail(Errc::malformed, "a control message must be an array of 2 items");
  std::uint64_t code = 0;
  if (auto ok = wire::read(root.via.array.ptr[0], code); !ok)
    return std::unexpected(ok.error().with_context("control message type"));
  return read_control(code, root.via.array.ptr[1]);
}

}  // namespace mob
