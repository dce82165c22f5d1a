#include "bus/codec.hpp"

#include <algorithm>
#include <array>

namespace mob {
namespace {

constexpr std::array<std::string_view, std::variant_size_v<Body>> kTypeNames = {
    "ping_request",   "ping_reply",        "deploy_request",      "deploy_reply",
    "status_request", "status_reply",      "control_request",     "control_reply",
    "logs_request",   "logs_reply",        "members_request",     "members_reply",
    "error_reply",    "service_assignment", "service_withdrawn",  "instance_report",
    "provider_start", "provider_stop",     "provider_event",      "provider_logs_request",
    "provider_logs_reply", "shutdown_request", "shutdown_done", "gossip", "probe_request",
    "probe_ack", "indirect_probe_request", "join_request", "join_reply", "sync_request",
    "sync_reply", "sync_push", "join_command", "join_command_reply", "leave_command",
    "leave_reply", "provider_availability", "event", "health_watch", "health_unwatch",
    "health_change"};

// Bounds what a hostile message can make the unpacker allocate. msgpack allocates an array's
// or map's items when it reads their count, so a count is bounded by the bytes that follow
// (every item takes at least one): a 10-byte message claiming 2^20 items made the decoder
// allocate 24 MiB (found by fuzz/codec_fuzz).
msgpack::unpack_limit limits_for(std::size_t message_bytes) {
  const auto items = static_cast<std::size_t>(std::min<std::size_t>(1u << 20, message_bytes));
  return msgpack::unpack_limit(/*array=*/items, /*map=*/items / 2,
                               /*str=*/message_bytes, /*bin=*/message_bytes, /*ext=*/0,
                               /*depth=*/32);
}

template <std::size_t I = 0>
Result<Body> read_body(std::uint64_t code, const msgpack::object& obj) {
  if constexpr (I == std::variant_size_v<Body>) {
    return fail(Errc::unknown_type, "unknown message type " + std::to_string(code));
  } else {
    if (code != I + 1) return read_body<I + 1>(code, obj);
    std::variant_alternative_t<I, Body> message;
    if (auto ok = wire::read(obj, message); !ok)
      return std::unexpected(ok.error().with_context(std::string(kTypeNames[I])));
    return Body{std::move(message)};
  }
}

}  // namespace

std::uint16_t type_code(const Body& body) { return static_cast<std::uint16_t>(body.index() + 1); }

std::string_view type_name(const Body& body) { return kTypeNames[body.index()]; }

std::string encode(const Envelope& envelope) {
  msgpack::sbuffer buffer(256);
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(5);
  wire::pack(pk, envelope.version);
  wire::pack(pk, type_code(envelope.body));
  wire::pack(pk, envelope.request_id);
  wire::pack(pk, envelope.sender);
  std::visit([&](const auto& message) { wire::pack(pk, message); }, envelope.body);
  return std::string(buffer.data(), buffer.size());
}

Result<Envelope> decode(std::string_view bytes, std::size_t max_bytes) {
  if (bytes.size() > max_bytes)
    return fail(Errc::too_large, "message of " + std::to_string(bytes.size()) +
                                     " bytes exceeds the limit of " + std::to_string(max_bytes));
  if (bytes.empty()) return fail(Errc::malformed, "empty message");
  msgpack::object_handle handle;
  try {
    std::size_t offset = 0;
    handle = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr,
                             limits_for(bytes.size()));
    if (offset != bytes.size())
      return fail(Errc::malformed, std::to_string(bytes.size() - offset) +
                                       " trailing bytes after the envelope");
  } catch (const msgpack::insufficient_bytes&) {
    return fail(Errc::malformed, "truncated message");
  } catch (const std::exception& e) {
    return fail(Errc::malformed, std::string("not msgpack: ") + e.what());
  }
  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::ARRAY || root.via.array.size < 5)
    return fail(Errc::malformed, "envelope must be an array of 5 items");
  const msgpack::object* item = root.via.array.ptr;
  Envelope envelope;
  if (auto ok = wire::read(item[0], envelope.version); !ok)
    return std::unexpected(ok.error().with_context("envelope version"));
  if (envelope.version != kProtocolVersion)
    return fail(Errc::unsupported_version,
                "protocol version " + std::to_string(envelope.version) + " is not supported (this "
                "build speaks version " + std::to_string(kProtocolVersion) +
                "); run the same Mob release on every agent and tool");
  std::uint64_t code = 0;
  if (auto ok = wire::read(item[1], code); !ok)
    return std::unexpected(ok.error().with_context("envelope type"));
  if (auto ok = wire::read(item[2], envelope.request_id); !ok)
    return std::unexpected(ok.error().with_context("envelope request_id"));
  if (auto ok = wire::read(item[3], envelope.sender); !ok)
    return std::unexpected(ok.error().with_context("envelope sender"));
  auto body = read_body(code, item[4]);
  if (!body) return std::unexpected(body.error());
  envelope.body = std::move(*body);
  return envelope;
}

}  // namespace mob
