#include "bus/codec.hpp"

#include <algorithm>
#include <array>

namespace mob {
namespace {

struct WireType {
  std::uint16_t code;
  std::string_view name;
};

// Body's alternatives in order: each one's type code on the wire and its name.
constexpr std::array<WireType, std::variant_size_v<Body>> kWireTypes = {{
    {1, "ping_request"},        {2, "ping_reply"},           {3, "deploy_request"},
    {4, "deploy_reply"},        {5, "status_request"},       {6, "status_reply"},
    {7, "control_request"},     {8, "control_reply"},        {9, "logs_request"},
    {10, "logs_reply"},         {11, "members_request"},     {12, "members_reply"},
    {13, "error_reply"},        {24, "gossip"},              {25, "probe_request"},
    {26, "probe_ack"},          {27, "indirect_probe_request"}, {28, "join_request"},
    {29, "join_reply"},         {30, "sync_request"},        {31, "sync_reply"},
    {32, "sync_push"},          {33, "join_command"},        {34, "join_command_reply"},
    {35, "leave_command"},      {36, "leave_reply"},         {38, "event"},
    {45, "node_settings_request"}, {46, "node_settings_reply"}, {47, "metrics_request"},
    {48, "metrics_reply"},      {60, "history_request"},     {61, "history_reply"},
    {62, "rollback_request"},   {63, "promote_request"},     {64, "rebalance_request"},
    {65, "rebalance_reply"},    {66, "probe_nack"},          {67, "write_copy"},
    {68, "write_copied"},
}};

// Codes that left the wire for messages between the threads of one agent: the control
// messages (agent/control.hpp) and the internal ones (bus/internal_messages.hpp). One from a
// client or a peer is refused by name; none is ever given to a new wire type.
constexpr std::array<WireType, 17> kRetiredTypes = {{
    {14, "service_assignment"},  {15, "service_withdrawn"},    {16, "instance_report"},
    {17, "provider_start"},      {18, "provider_stop"},        {19, "provider_event"},
    {20, "provider_logs_request"}, {21, "provider_logs_reply"}, {22, "shutdown_request"},
    {23, "shutdown_done"},       {37, "provider_availability"}, {39, "health_watch"},
    {40, "health_unwatch"},      {41, "health_change"},        {42, "provider_exec_check"},
    {43, "provider_exec_check_result"}, {44, "provider_signal"},
}};

constexpr bool codes_ascend() {
  for (std::size_t i = 1; i < kWireTypes.size(); ++i)
    if (kWireTypes[i].code <= kWireTypes[i - 1].code) return false;
  return true;
}
static_assert(codes_ascend(), "append new wire types with codes above the last");

constexpr bool retired_codes_unused() {
  for (const auto& retired : kRetiredTypes)
    for (const auto& type : kWireTypes)
      if (type.code == retired.code) return false;
  return true;
}
static_assert(retired_codes_unused(), "a retired wire code is never given to a new type");

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
    for (const auto& retired : kRetiredTypes)
      if (code == retired.code)
        return fail(Errc::unknown_type, "message type " + std::to_string(code) + " (" +
                                            std::string(retired.name) +
                                            ") is internal to an agent: no client or peer may send it");
    return fail(Errc::unknown_type, "unknown message type " + std::to_string(code));
  } else {
    if (code != kWireTypes[I].code) return read_body<I + 1>(code, obj);
    std::variant_alternative_t<I, Body> message;
    if (auto ok = wire::read(obj, message); !ok)
      return std::unexpected(ok.error().with_context(std::string(kWireTypes[I].name)));
    return Body{std::move(message)};
  }
}

}  // namespace

std::uint16_t type_code(const Body& body) { return kWireTypes[body.index()].code; }

std::string_view type_name(const Body& body) { return kWireTypes[body.index()].name; }

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

namespace {

Result<msgpack::object_handle> unpack_message(std::string_view bytes, std::size_t max_bytes) {
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
  return Result<msgpack::object_handle>(std::move(handle));
}

Result<Envelope> read_envelope(const msgpack::object& root) {
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

// ---- gossip copies left out before they are decoded --------------------------------------

bool peek_text(const msgpack::object& obj, std::string_view& out) {
  if (obj.type == msgpack::type::STR) out = {obj.via.str.ptr, obj.via.str.size};
  else if (obj.type == msgpack::type::BIN) out = {obj.via.bin.ptr, obj.via.bin.size};
  else return false;
  return true;
}

bool peek_index(const msgpack::object& obj, std::uint32_t& out) {
  if (obj.type != msgpack::type::POSITIVE_INTEGER || obj.via.u64 > UINT32_MAX) return false;
  out = static_cast<std::uint32_t>(obj.via.u64);
  return true;
}

// The positions the peeks read, as the structs pack their fields.
// A field that is not there does not compile: the throw is no constant expression.
template <class T>
consteval std::size_t position(std::string_view field) {
  const std::size_t index = wire::field_index(T::mob_field_names(), field);
  if (index == SIZE_MAX) throw "no such field in the struct's MOB_FIELDS";
  return index;
}
constexpr std::size_t kStampHlc = position<Stamp>("hlc");
constexpr std::size_t kStampOrigin = position<Stamp>("origin");

bool peek_stamp(const msgpack::object& obj, RecordPeek& peek) {
  if (obj.type != msgpack::type::ARRAY || obj.via.array.size <= std::max(kStampHlc, kStampOrigin)) return false;
  const msgpack::object* field = obj.via.array.ptr;
  if (field[kStampHlc].type != msgpack::type::POSITIVE_INTEGER) return false;
  peek.hlc = field[kStampHlc].via.u64;
  return peek_text(field[kStampOrigin], peek.origin);
}

constexpr std::size_t kServiceName = position<ServiceEntry>("name");
constexpr std::size_t kServiceStamp = position<ServiceEntry>("stamp");
constexpr std::size_t kAssignmentService = position<AssignmentEntry>("service");
constexpr std::size_t kAssignmentIndex = position<AssignmentEntry>("index");
constexpr std::size_t kAssignmentStamp = position<AssignmentEntry>("stamp");
constexpr std::size_t kInstanceStatus = position<InstanceEntry>("status");
constexpr std::size_t kInstanceStamp = position<InstanceEntry>("stamp");
constexpr std::size_t kStatusService = position<InstanceStatus>("service");
constexpr std::size_t kStatusIndex = position<InstanceStatus>("index");
constexpr std::size_t kStatusNode = position<InstanceStatus>("node");
constexpr std::size_t kEntryMember = position<MemberEntry>("member");
constexpr std::size_t kEntryHeartbeat = position<MemberEntry>("heartbeat");
constexpr std::size_t kEntryReportedBy = position<MemberEntry>("reported_by");
constexpr std::size_t kMemberName = position<Member>("name");
constexpr std::size_t kMemberState = position<Member>("state");
constexpr std::size_t kMemberIncarnation = position<Member>("incarnation");
constexpr std::size_t kGossipDelta = position<Gossip>("delta");
constexpr std::size_t kDeltaMembers = position<StateDelta>("members");
constexpr std::size_t kDeltaServices = position<StateDelta>("services");
constexpr std::size_t kDeltaAssignments = position<StateDelta>("assignments");
constexpr std::size_t kDeltaInstances = position<StateDelta>("instances");
static_assert(kDeltaInstances >= std::max({kDeltaMembers, kDeltaServices, kDeltaAssignments}));

// Where Gossip is among Body's alternatives.
template <std::size_t I = 0>
constexpr std::size_t gossip_alternative() {
  if constexpr (std::is_same_v<std::variant_alternative_t<I, Body>, Gossip>) return I;
  else return gossip_alternative<I + 1>();
}

// Reads what `obj`, a packed record of `kind`, is; false when it is not shaped like one.
bool peek_record(const msgpack::object& obj, RecordPeek::Kind kind, RecordPeek& peek) {
  if (obj.type != msgpack::type::ARRAY) return false;
  const auto size = obj.via.array.size;
  const msgpack::object* field = obj.via.array.ptr;
  peek.kind = kind;
  switch (kind) {
    case RecordPeek::Kind::member: {
      if (size <= std::max({kEntryMember, kEntryHeartbeat, kEntryReportedBy}) ||
          field[kEntryMember].type != msgpack::type::ARRAY || field[kEntryHeartbeat].type != msgpack::type::POSITIVE_INTEGER)
        return false;
      const auto& member = field[kEntryMember].via.array;
      if (member.size <= std::max({kMemberName, kMemberState, kMemberIncarnation})) return false;
      const msgpack::object& state = member.ptr[kMemberState];
      const msgpack::object& incarnation = member.ptr[kMemberIncarnation];
      if (state.type != msgpack::type::POSITIVE_INTEGER ||
          state.via.u64 >= static_cast<std::uint64_t>(MemberState::count_) ||
          incarnation.type != msgpack::type::POSITIVE_INTEGER)
        return false;
      peek.state = static_cast<MemberState>(state.via.u64);
      peek.incarnation = incarnation.via.u64;
      peek.heartbeat = field[kEntryHeartbeat].via.u64;
      return peek_text(member.ptr[kMemberName], peek.member) && peek_text(field[kEntryReportedBy], peek.reported_by);
    }
    case RecordPeek::Kind::service:
      return size > kServiceStamp && peek_text(field[kServiceName], peek.service) &&
             peek_stamp(field[kServiceStamp], peek);
    case RecordPeek::Kind::assignment:
      return size > kAssignmentStamp && peek_text(field[kAssignmentService], peek.service) &&
             peek_index(field[kAssignmentIndex], peek.index) && peek_stamp(field[kAssignmentStamp], peek);
    case RecordPeek::Kind::instance: {
      if (size <= kInstanceStamp || field[kInstanceStatus].type != msgpack::type::ARRAY) return false;
      const auto& status = field[kInstanceStatus].via.array;
      return status.size > kStatusNode && peek_text(status.ptr[kStatusService], peek.service) &&
             peek_index(status.ptr[kStatusIndex], peek.index) && peek_text(status.ptr[kStatusNode], peek.node) &&
             peek_stamp(field[kInstanceStamp], peek);
    }
  }
  return false;
}

// Leaves out of the packed array `records` the records `skip` answers true for. The unpacked
// tree lives in the handle's zone, which the unpacker allocated writable.
void leave_out(const msgpack::object& records, RecordPeek::Kind kind,
               const std::function<bool(const RecordPeek&)>& skip) {
  if (records.type != msgpack::type::ARRAY) return;
  auto& array = const_cast<msgpack::object_array&>(records.via.array);
  std::uint32_t kept = 0;
  for (std::uint32_t i = 0; i < array.size; ++i) {
    RecordPeek peek;
    if (peek_record(array.ptr[i], kind, peek) && skip(peek)) continue;
    if (kept != i) array.ptr[kept] = array.ptr[i];
    ++kept;
  }
  array.size = kept;
}

}  // namespace

Result<Envelope> decode(std::string_view bytes, std::size_t max_bytes) {
  auto handle = unpack_message(bytes, max_bytes);
  if (!handle) return std::unexpected(handle.error());
  return read_envelope(handle->get());
}

Result<Envelope> decode_gossip(std::string_view bytes, std::size_t max_bytes,
                               const std::function<bool(const RecordPeek&)>& skip) {
  auto handle = unpack_message(bytes, max_bytes);
  if (!handle) return std::unexpected(handle.error());
  const msgpack::object& root = handle->get();
  static constexpr std::uint16_t kGossipCode = kWireTypes[gossip_alternative()].code;
  if (root.type == msgpack::type::ARRAY && root.via.array.size >= 5) {
    const msgpack::object* item = root.via.array.ptr;
    const msgpack::object& body = item[4];
    if (item[1].type == msgpack::type::POSITIVE_INTEGER && item[1].via.u64 == kGossipCode &&
        body.type == msgpack::type::ARRAY && body.via.array.size > kGossipDelta) {
      const msgpack::object& delta = body.via.array.ptr[kGossipDelta];
      if (delta.type == msgpack::type::ARRAY && delta.via.array.size > kDeltaInstances) {
        leave_out(delta.via.array.ptr[kDeltaMembers], RecordPeek::Kind::member, skip);
        leave_out(delta.via.array.ptr[kDeltaServices], RecordPeek::Kind::service, skip);
        leave_out(delta.via.array.ptr[kDeltaAssignments], RecordPeek::Kind::assignment, skip);
        leave_out(delta.via.array.ptr[kDeltaInstances], RecordPeek::Kind::instance, skip);
      }
    }
  }
  return read_envelope(root);
}

}  // namespace mob
