#include "bus/internal_codec.hpp"

#include <array>

namespace mob {
namespace {

constexpr std::array<std::string_view, std::variant_size_v<InternalBody>> kInternalNames = {
    "service_assignment", "service_withdrawn",  "instance_report",       "provider_availability",
    "provider_start",     "provider_stop",      "provider_signal",       "provider_event",
    "provider_logs_request", "provider_logs_reply", "health_watch",      "health_unwatch",
    "health_change",      "provider_exec_check", "provider_exec_check_result"};

template <std::size_t I = 0>
Result<InternalBody> read_internal(std::uint64_t code, const msgpack::object& obj) {
  if constexpr (I == std::variant_size_v<InternalBody>) {
    return fail(Errc::unknown_type, "unknown internal message type " + std::to_string(code));
  } else {
    if (code != I) return read_internal<I + 1>(code, obj);
    std::variant_alternative_t<I, InternalBody> message;
    if (auto ok = wire::read(obj, message); !ok)
      return std::unexpected(ok.error().with_context(std::string(kInternalNames[I])));
    return InternalBody{std::move(message)};
  }
}

}  // namespace

std::string_view internal_name(const InternalBody& body) { return kInternalNames[body.index()]; }

std::string encode_internal(const InternalEnvelope& envelope) {
  msgpack::sbuffer buffer(256);
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(3);
  wire::pack(pk, static_cast<std::uint64_t>(envelope.body.index()));
  wire::pack(pk, envelope.request_id);
  std::visit([&](const auto& message) { wire::pack(pk, message); }, envelope.body);
  return std::string(buffer.data(), buffer.size());
}

Result<InternalEnvelope> decode_internal(std::string_view bytes) {
  msgpack::object_handle handle;
  try {
    handle = msgpack::unpack(bytes.data(), bytes.size());
  } catch (const std::exception& e) {
    return fail(Errc::malformed, std::string("an internal message that is not msgpack: ") + e.what());
  }
  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::ARRAY || root.via.array.size != 3)
    return fail(Errc::malformed, "an internal message must be an array of 3 items");
  const msgpack::object* item = root.via.array.ptr;
  std::uint64_t code = 0;
  if (auto ok = wire::read(item[0], code); !ok)
    return std::unexpected(ok.error().with_context("internal message type"));
  InternalEnvelope envelope;
  if (auto ok = wire::read(item[1], envelope.request_id); !ok)
    return std::unexpected(ok.error().with_context("internal message request_id"));
  auto body = read_internal(code, item[2]);
  if (!body) return std::unexpected(body.error());
  envelope.body = std::move(*body);
  return envelope;
}

}  // namespace mob
