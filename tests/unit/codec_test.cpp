// The bus codec: every message type round-trips, and every kind of malformed input comes
// back as an error value naming the problem.
#include "bus/codec.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/hand_packed.hpp"

namespace mob {
namespace codec_test {

template <std::size_t I = 0>
void round_trip_every_default_message() {
  if constexpr (I < std::variant_size_v<Body>) {
    Envelope original{kProtocolVersion, 42 + I, "agent-a", Body{std::in_place_index<I>}};
    auto bytes = encode(original);
    auto decoded = decode(bytes);
    ASSERT_TRUE(decoded) << "type " << I + 1 << ": " << decoded.error().message;
    EXPECT_EQ(decoded->body.index(), I);
    EXPECT_EQ(decoded->request_id, 42 + I);
    EXPECT_EQ(decoded->sender, "agent-a");
    EXPECT_EQ(encode(*decoded), bytes);
    round_trip_every_default_message<I + 1>();
  }
}

TEST(Codec, EveryMessageTypeRoundTrips) { round_trip_every_default_message(); }

TEST(Codec, PackedSizeCountsExactlyTheBytesAStateEntryPacksTo) {
  ServiceEntry service;
  service.name = "web";
  service.spec_json = std::string(70000, 's');  // past msgpack's 16-bit string lengths
  service.history = {VersionRecord{1, 5, "agent-a", std::string(300, 'h'), "", 0},
                     VersionRecord{2, 6, "agent-b", "{}", "failed: no", 1}};
  service.stamp = {1ull << 40, "agent-a"};
  InstanceEntry instance;
  instance.status.service = "web";
  instance.status.reason = "exited";
  instance.status.ports = {{"http", 20001}};
  instance.status.checks = {CheckResult{"ready", true, 7, 3, "ok"}};
  StateDelta delta;
  delta.services = {service, ServiceEntry{}};
  delta.instances = {instance};
  delta.members = {MemberEntry{}};
  delta.assignments = {AssignmentEntry{}};
  for (std::size_t size : {wire::packed_size(service), wire::packed_size(instance), wire::packed_size(delta)})
    EXPECT_GT(size, 0u);
  auto packed = [](const auto& value) {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> pk(buffer);
    wire::pack(pk, value);
    return buffer.size();
  };
  EXPECT_EQ(wire::packed_size(service), packed(service));
  EXPECT_EQ(wire::packed_size(instance), packed(instance));
  EXPECT_EQ(wire::packed_size(delta), packed(delta));
  EXPECT_GT(wire::packed_size(service), 70000u + 300u);
}

template <class Message>
Message round_trip(const Message& message) {
  auto bytes = encode_message(message, 7, "tool");
  auto decoded = decode(bytes);
  EXPECT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(encode(*decoded), bytes);
  return std::get<Message>(decoded->body);
}

InstanceStatus sample_instance() {
  InstanceStatus status;
  status.service = "echoes";
  status.index = 2;
  status.node = "host:6666";
  status.state = InstanceState::restarting;
  status.restarts = 3;
  status.pid = 4242;
  status.since_ms = 1700000000123;
  status.exit_code = 1;
  status.signal = 9;
  status.reason = "killed by signal 9";
  status.spec_version = 5;
  return status;
}

TEST(Codec, StatusReplyWithNestedRecordsRoundTrips) {
  ServiceStatus service{"echoes", "bash", 5, 3, false, R"({"name":"echoes"})", {sample_instance()}, "agent-1", 99, "a problem", 1, "failed: x",
                        "rebalancing: a 2, b 1; waiting for echoes/2 on b to start"};
  auto decoded = round_trip(StatusReply{{service, service}});
  EXPECT_EQ(decoded.services.at(0).rebalance, "rebalancing: a 2, b 1; waiting for echoes/2 on b to start");
  ASSERT_EQ(decoded.services.size(), 2u);
  EXPECT_EQ(decoded.services[1].instance_list[0].reason, "killed by signal 9");
  EXPECT_EQ(decoded.services[1].instance_list[0].state, InstanceState::restarting);
  EXPECT_EQ(decoded.services[0].instance_list[0].since_ms, 1700000000123);
  EXPECT_FALSE(decoded.services[0].enabled);
}

TEST(Codec, MembersReplyRoundTripsTagsAndLoad) {
  Member member{"a", "tcp://127.0.0.1:6666", "tcp://127.0.0.1:6667", MemberState::suspect,
                {"bash", "docker"}, {{"zone", "a"}, {"disk", "ssd"}}, 9, 0.25, "0.1.0",
                "its clock is 600 s behind 2 of its 2 peers", "its disk refuses writes"};
  auto decoded = round_trip(MembersReply{{member}});
  ASSERT_EQ(decoded.members.size(), 1u);
  EXPECT_EQ(decoded.members[0].problem, member.problem);
  EXPECT_EQ(decoded.members[0].degraded, member.degraded);
  EXPECT_EQ(decoded.members[0].tags.at("disk"), "ssd");
  EXPECT_EQ(decoded.members[0].state, MemberState::suspect);
  EXPECT_DOUBLE_EQ(decoded.members[0].load, 0.25);
}

// A member's rarely set fields are held compact, but pack exactly as the string and the map
// they hold (as releases before them packed them), and a copy owns what it holds.
TEST(Codec, CompactFieldsPackAsTheStringAndMapTheyHold) {
  auto bytes = [](const auto& value) {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> pk(buffer);
    wire::pack(pk, value);
    return std::string(buffer.data(), buffer.size());
  };
  for (const std::string& text : {std::string(), std::string("its disk refuses writes")})
    EXPECT_EQ(bytes(CompactText(text)), bytes(text));
  const std::map<std::string, std::string> tags{{"zone", "a"}, {"disk", "ssd"}};
  EXPECT_EQ(bytes(CompactTags(tags)), bytes(tags));
  EXPECT_EQ(bytes(CompactTags()), bytes(std::map<std::string, std::string>()));
  const std::map<std::string, std::uint32_t> ports{{"http", 8080}, {"admin", 9000}};
  EXPECT_EQ(bytes(CompactMap<std::map<std::string, std::uint32_t>>(ports)), bytes(ports));
  const std::vector<std::string> avoid{"n1", "n2"};
  EXPECT_EQ(bytes(CompactVector<std::string>(avoid)), bytes(avoid));
  EXPECT_EQ(bytes(CompactVector<std::string>()), bytes(std::vector<std::string>()));

  // The records that hold them read back what was packed, and change in place.
  InstanceStatus status;
  status.reason = "port 8080 is in use";
  status.ports["http"] = 8080;
  status.checks.push_back(CheckResult{"ready", true, 1, 2, "ok"});
  auto as_gossiped = [](const InstanceStatus& sent) {
    return round_trip(Gossip{"node-a", 1, StateDelta{{}, {}, {}, {InstanceEntry{sent, false, Stamp{7, "node-a"}}}}})
        .delta.instances.at(0)
        .status;
  };
  InstanceStatus read_back = as_gossiped(status);
  EXPECT_EQ(read_back.reason, "port 8080 is in use");
  EXPECT_EQ(read_back.ports.at("http"), 8080u);
  ASSERT_EQ(read_back.checks.size(), 1u);
  for (auto& check : read_back.checks) check.output = "changed";
  EXPECT_EQ(read_back.checks[0].output, "changed");
  EXPECT_EQ(status.checks[0].output, "ok") << "a copy owns its own checks";
  InstanceStatus empty;
  for (auto& check : empty.checks) check.output = "never";  // no items: no iteration
  EXPECT_TRUE(empty.checks.empty());
  EXPECT_TRUE(as_gossiped(empty).ports.empty());

  Member member;
  member.problem = "its clock is off";
  member.tags["zone"] = "a";
  Member copy = member;
  copy.problem = "";
  copy.tags["zone"] = "b";
  EXPECT_EQ(member.problem, "its clock is off") << "the copy owns its own text";
  EXPECT_EQ(member.tags.at("zone"), "a");
  EXPECT_TRUE(copy.problem.empty());
  Member assigned;
  assigned = member;
  member.tags["zone"] = "c";
  member.problem.clear();
  EXPECT_EQ(assigned.tags.at("zone"), "a") << "an assigned copy owns its own tags";
  EXPECT_EQ(assigned.problem, "its clock is off");
  EXPECT_EQ(round_trip(MembersReply{{member, copy}}).members[1].tags.at("zone"), "b");
  const auto decoded = round_trip(MembersReply{{Member{}}});
  EXPECT_TRUE(decoded.members[0].problem.empty());
  EXPECT_TRUE(decoded.members[0].tags.empty());
}

TEST(Codec, RequestsRoundTrip) {
  EXPECT_EQ(round_trip(DeployRequest{R"({"name":"x"})", {}}).spec_json, R"({"name":"x"})");
  EXPECT_EQ(round_trip(ControlRequest{"x", ControlAction::remove, {}}).action, ControlAction::remove);
  EXPECT_EQ(round_trip(DeployRequest{"{}", "3f9a01c2"}).write_id, "3f9a01c2");
  EXPECT_EQ(round_trip(ControlRequest{"x", ControlAction::stop, "77e0"}).write_id, "77e0");
  EXPECT_EQ(round_trip(ControlRequest{"x", ControlAction::scale, "77e1", 7}).instances, 7u);
  EXPECT_EQ(round_trip(ControlRequest{"x", ControlAction::scale, "77e1", 7}).action, ControlAction::scale);
  ServiceEntry entry;
  entry.name = "x";
  entry.write_id = "5d1e";
  StateDelta delta;
  delta.services.push_back(entry);
  EXPECT_EQ(round_trip(SyncPush{delta}).delta.services.at(0).write_id, "5d1e");
  auto round_one = round_trip(SyncRequest{"node-a", 7, {}, 4, {}});
  EXPECT_EQ(round_one.bucket_count, 4u);
  EXPECT_EQ(round_one.summary, 7u);
  auto round_two = round_trip(SyncRequest{"node-a", 7, {{"m/node-a", 3, 0, "node-a"}}, 4, {0, 3}});
  EXPECT_EQ(round_two.scope, (std::vector<std::uint32_t>{0, 3}));
  EXPECT_EQ(round_two.digest.at(0).key, "m/node-a");
  auto sums = round_trip(SyncReply{{}, {}, 4, {1, 2, 3, ~0ULL}});
  EXPECT_EQ(sums.bucket_count, 4u);
  EXPECT_EQ(sums.buckets, (std::vector<std::uint64_t>{1, 2, 3, ~0ULL}));
  EXPECT_EQ(round_trip(LogsRequest{"x", -1, 10, true, 99}).offset, 99u);
  EXPECT_EQ(round_trip(LogsReply{"x", {{1, "n", std::string("a\0b", 3), 3}}}).chunks[0].data,
            std::string("a\0b", 3));
  EXPECT_EQ(round_trip(ErrorReply{Errc::not_found, "nope"}).code, Errc::not_found);
}

// An instance record as gossip carries it.
InstanceStatus gossiped(const InstanceStatus& status) {
  return round_trip(Gossip{"node-a", 1, StateDelta{{}, {}, {}, {InstanceEntry{status, false, Stamp{7, "node-a"}}}}})
      .delta.instances.at(0)
      .status;
}

TEST(Codec, HealthFieldsRoundTrip) {
  InstanceStatus status = sample_instance();
  status.health = Health::unhealthy;
  status.checks = {{"http", false, 1700000000456, 3, "HTTP 500"}, {"tcp", true, 1700000000400, 9, "connected"}};
  auto report = gossiped(status);
  EXPECT_EQ(report.health, Health::unhealthy);
  ASSERT_EQ(report.checks.size(), 2u);
  EXPECT_EQ(report.checks[0].output, "HTTP 500");
  EXPECT_EQ(report.checks[1].in_a_row, 9u);

  Event event;
  event.topic = "instance.unhealthy";
  event.check = "http";
  event.output = "HTTP 500";
  EXPECT_EQ(round_trip(event).check, "http");
}

// ---- malformed input ---------------------------------------------------------------------

std::string pack_raw(const auto&... items) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(sizeof...(items));
  (pk.pack(items), ...);
  return std::string(buffer.data(), buffer.size());
}

TEST(Codec, EmptyInputIsMalformed) {
  auto decoded = decode("");
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, Errc::malformed);
}

TEST(Codec, GarbageBytesAreMalformed) {
  auto decoded = decode("\xc1\xc1\xc1 this is not msgpack");
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, Errc::malformed);
}

TEST(Codec, EveryTruncationIsAnError) {
  auto bytes = encode_message(StatusReply{{ServiceStatus{"echoes", "bash", 1, 1, true, "{}",
                                                         {sample_instance()}, "agent-1", 99, "a problem", 1, "failed: x",
                                                         "rebalancing: a 2, b 1"}}});
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    auto decoded = decode(std::string_view(bytes).substr(0, length));
    ASSERT_FALSE(decoded) << "prefix of " << length << " bytes decoded";
    EXPECT_EQ(decoded.error().code, Errc::malformed);
  }
}

TEST(Codec, TrailingBytesAreRejected) {
  auto bytes = encode_message(PingRequest{}) + "x";
  auto decoded = decode(bytes);
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().message.find("trailing"), std::string::npos);
}

using test::hand_packed;

TEST(Codec, WrongVersionIsNamed) {
  auto decoded = decode(hand_packed(99, 1, [](auto& pk) {
    pk.pack_array(0);
  }));
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, Errc::unsupported_version);
  EXPECT_NE(decoded.error().message.find("99"), std::string::npos);
}

TEST(Codec, UnknownTypeIsNamed) {
  auto decoded = decode(hand_packed(kProtocolVersion, 5000, [](auto& pk) {
    pk.pack_array(0);
  }));
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, Errc::unknown_type);
  EXPECT_NE(decoded.error().message.find("5000"), std::string::npos);
}

// The codes that left the wire for the messages between the threads of one agent: the control
// messages (agent/control.hpp) and the internal ones (bus/internal_messages.hpp). From a client
// or a peer each is refused by name, as an unknown type.
TEST(Codec, ARetiredCodeFromTheWireIsRefusedAsInternal) {
  const std::pair<int, const char*> retired[] = {
      {14, "service_assignment"},  {15, "service_withdrawn"},    {16, "instance_report"},
      {17, "provider_start"},      {18, "provider_stop"},        {19, "provider_event"},
      {20, "provider_logs_request"}, {21, "provider_logs_reply"}, {22, "shutdown_request"},
      {23, "shutdown_done"},       {37, "provider_availability"}, {39, "health_watch"},
      {40, "health_unwatch"},      {41, "health_change"},        {42, "provider_exec_check"},
      {43, "provider_exec_check_result"}, {44, "provider_signal"}};
  for (auto [code, name] : retired) {
    auto decoded = decode(hand_packed(kProtocolVersion, code, [](auto& pk) {
      pk.pack_array(1);
      pk.pack_true();
    }));
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error().code, Errc::unknown_type);
    EXPECT_EQ(decoded.error().message, "message type " + std::to_string(code) + " (" + name +
                                           ") is internal to an agent: no client or peer may send it");
  }
}

// The wire codes did not move when the control and the internal messages left Body.
TEST(Codec, WireCodesAreStable) {
  EXPECT_EQ(type_code(Body{PingRequest{}}), 1);
  EXPECT_EQ(type_code(Body{ErrorReply{}}), 13);
  EXPECT_EQ(type_code(Body{Gossip{}}), 24);
  EXPECT_EQ(type_code(Body{LeaveCommand{}}), 35);
  EXPECT_EQ(type_code(Body{LeaveReply{}}), 36);
  EXPECT_EQ(type_code(Body{Event{}}), 38);
  EXPECT_EQ(type_name(Body{Event{}}), "event");
  EXPECT_EQ(type_code(Body{NodeSettingsRequest{}}), 45);
  EXPECT_EQ(type_code(Body{NodeSettingsReply{}}), 46);
  EXPECT_EQ(type_code(Body{MetricsRequest{}}), 47);
  EXPECT_EQ(type_code(Body{MetricsReply{}}), 48);
}

TEST(Codec, NodeSettingsRequestAndReplyRoundTrip) {
  auto request = round_trip(NodeSettingsRequest{"node-b", Eligibility::ineligible, {{"zone", "east"}},
                                                {"rack"}, true});
  EXPECT_EQ(request.node, "node-b");
  EXPECT_EQ(request.eligibility, Eligibility::ineligible);
  EXPECT_EQ(request.set_tags.at("zone"), "east");
  EXPECT_EQ(request.remove_tags, std::vector<std::string>{"rack"});
  EXPECT_TRUE(request.reset_tags);

  Member member{"node-b", "tcp://127.0.0.1:7000", "tcp://127.0.0.1:7001", MemberState::alive, {"bash"},
                {{"zone", "east"}}, 4, 1.5, "0.3.0", "", "", false};
  auto reply = round_trip(NodeSettingsReply{member, 3});
  EXPECT_EQ(reply.running_instances, 3u);
  EXPECT_FALSE(reply.member.eligible);
  EXPECT_EQ(reply.member.tags.at("zone"), "east");
  EXPECT_EQ(reply.member.incarnation, 4u);
}

TEST(Codec, MetricsReplyRoundTrips) {
  const std::string text = "# HELP mob_members Members by state.\n# TYPE mob_members gauge\nmob_members{state=\"alive\"} 3\n";
  EXPECT_EQ(round_trip(MetricsReply{text}).text, text);
}

// A member record from an agent before drain has no `eligible`: it is eligible.
TEST(Codec, AMemberFromAReleaseBeforeDrainDecodesEligible) {
  auto decoded = decode(hand_packed(kProtocolVersion, type_code(Body{NodeSettingsReply{}}), [](auto& pk) {
    pk.pack_array(2);
    pk.pack_array(11);  // Member as it was: no eligible
    pk.pack(std::string("node-a"));
    pk.pack(std::string("tcp://127.0.0.1:7000"));
    pk.pack(std::string("tcp://127.0.0.1:7001"));
    pk.pack(static_cast<int>(MemberState::alive));
    pk.pack_array(0);
    pk.pack_map(0);
    pk.pack(3);
    pk.pack(0.5);
    pk.pack(std::string("0.2.0"));
    pk.pack(std::string(""));
    pk.pack(std::string(""));
    pk.pack(0);
  }));
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_TRUE(std::get<NodeSettingsReply>(decoded->body).member.eligible);
}

TEST(Codec, AnEligibilityPastTheLastIsRefused) {
  auto decoded = decode(hand_packed(kProtocolVersion, type_code(Body{NodeSettingsRequest{}}), [](auto& pk) {
    pk.pack_array(5);
    pk.pack(std::string("node-a"));
    pk.pack(3);  // unchanged, eligible, ineligible: 0-2
    pk.pack_map(0);
    pk.pack_array(0);
    pk.pack_false();
  }));
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().message.find("eligibility"), std::string::npos) << decoded.error().message;
}

TEST(Codec, WrongFieldTypeNamesTheField) {
  auto decoded = decode(hand_packed(kProtocolVersion, type_code(Body{ControlRequest{}}), [](auto& pk) {
    pk.pack_array(3);
    pk.pack(std::string("echoes"));
    pk.pack(std::string("stop"));  // action must be an integer
    pk.pack(std::string(""));
  }));
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, Errc::malformed);
  EXPECT_NE(decoded.error().message.find("control_request: action: expected integer, got string"),
            std::string::npos)
      << decoded.error().message;
}

TEST(Codec, MissingFieldsAreReported) {
  auto decoded = decode(hand_packed(kProtocolVersion, type_code(Body{ControlRequest{}}), [](auto& pk) {
    pk.pack_array(1);
    pk.pack(std::string("echoes"));
  }));
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().message.find("expected 3 fields, got 1"), std::string::npos)
      << decoded.error().message;
}

// Gossip whose one instance record has the status `pack_status` writes, as an agent of an
// earlier release sends it.
template <class PackStatus>
std::string gossiped_instance(PackStatus pack_status) {
  return hand_packed(kProtocolVersion, type_code(Body{Gossip{}}), [&](auto& pk) {
    pk.pack_array(3);
    pk.pack(std::string("node-a"));
    pk.pack(1);
    pk.pack_array(4);  // StateDelta: members, services, assignments, instances
    pk.pack_array(0);
    pk.pack_array(0);
    pk.pack_array(0);
    pk.pack_array(1);
    pk.pack_array(3);  // InstanceEntry: status, removed, stamp
    pack_status(pk);
    pk.pack_false();
    pk.pack_array(2);
    pk.pack(7);
    pk.pack(std::string("node-a"));
  });
}

const InstanceStatus& instance_of(const Envelope& gossip) {
  return std::get<Gossip>(gossip.body).delta.instances.at(0).status;
}

TEST(Codec, AnInstanceRecordFromAReleaseBeforeHealthChecksDecodesWithoutHealth) {
  auto decoded = decode(gossiped_instance([](auto& pk) {
    pk.pack_array(11);  // InstanceStatus as it was: no health, no checks
    pk.pack(std::string("echoes"));
    pk.pack(2);
    pk.pack(std::string("node-a"));
    pk.pack(static_cast<int>(InstanceState::running));
    pk.pack(0);
    pk.pack(4242);
    pk.pack(1700000000000);
    pk.pack(-1);
    pk.pack(0);
    pk.pack(std::string(""));
    pk.pack(3);
  }));
  ASSERT_TRUE(decoded) << decoded.error().message;
  const auto& status = instance_of(*decoded);
  EXPECT_EQ(status.pid, 4242);
  EXPECT_EQ(status.health, Health::none);
  EXPECT_TRUE(status.checks.empty());

  auto short_of_required = decode(gossiped_instance([](auto& pk) {
    pk.pack_array(10);
    for (int i = 0; i < 10; ++i) pk.pack(std::string("x"));
  }));
  ASSERT_FALSE(short_of_required);
  EXPECT_NE(short_of_required.error().message.find("expected 11 fields, got 10"), std::string::npos)
      << short_of_required.error().message;
}

// Agents before summary-first anti-entropy send the single round: from, summary, digest.
TEST(Codec, ASyncRequestAndReplyFromAReleaseBeforeBucketsDecodeAsTheSingleRound) {
  auto request = decode(hand_packed(kProtocolVersion, type_code(Body{SyncRequest{}}), [](auto& pk) {
    pk.pack_array(3);
    pk.pack(std::string("node-a"));
    pk.pack(99);
    pk.pack_array(0);
  }));
  ASSERT_TRUE(request) << request.error().message;
  const auto& sync = std::get<SyncRequest>(request->body);
  EXPECT_EQ(sync.summary, 99u);
  EXPECT_EQ(sync.bucket_count, 0u);
  EXPECT_TRUE(sync.scope.empty());

  auto reply = decode(hand_packed(kProtocolVersion, type_code(Body{SyncReply{}}), [](auto& pk) {
    pk.pack_array(2);
    pk.pack_array(4);  // StateDelta: members, services, assignments, instances
    for (int i = 0; i < 4; ++i) pk.pack_array(0);
    pk.pack_array(1);
    pk.pack(std::string("s/echoes"));
  }));
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(std::get<SyncReply>(reply->body).wanted_keys.at(0), "s/echoes");
  EXPECT_TRUE(std::get<SyncReply>(reply->body).buckets.empty());
}

TEST(Codec, AControlRequestFromAReleaseBeforeScaleDecodesWithoutInstances) {
  auto decoded = decode(hand_packed(kProtocolVersion, type_code(Body{ControlRequest{}}), [](auto& pk) {
    pk.pack_array(3);
    pk.pack(std::string("echoes"));
    pk.pack(static_cast<int>(ControlAction::restart));
    pk.pack(std::string("w1"));
  }));
  ASSERT_TRUE(decoded) << decoded.error().message;
  const auto& request = std::get<ControlRequest>(decoded->body);
  EXPECT_EQ(request.action, ControlAction::restart);
  EXPECT_EQ(request.write_id, "w1");
  EXPECT_EQ(request.instances, 0u);
}

TEST(Codec, RollingUpdateFieldsRoundTrip) {
  ServiceEntry entry;
  entry.name = "web";
  entry.generation = 3;
  entry.stable_generation = 2;
  entry.stable_spec_json = R"({"name":"web"})";
  entry.rollout = "failed: web/3 unhealthy: http: status 500";
  AssignmentEntry assignment{"web", 3, "node-a", false, Stamp{7, "node-b"}, 3, {}};
  StateDelta delta;
  delta.services.push_back(entry);
  delta.assignments.push_back(assignment);
  auto back = round_trip(Gossip{"node-b", 1, delta}).delta;
  EXPECT_EQ(back.services.at(0).stable_generation, 2u);
  EXPECT_EQ(back.services.at(0).stable_spec_json, entry.stable_spec_json);
  EXPECT_EQ(back.services.at(0).rollout, entry.rollout);
  EXPECT_EQ(back.assignments.at(0).generation, 3u);
  ServiceStatus status;
  status.stable_version = 2;
  status.rollout = "rolling out from version 2: 1 of 4 updated, 4 healthy";
  auto reply = round_trip(StatusReply{{status}});
  EXPECT_EQ(reply.services.at(0).stable_version, 2u);
  EXPECT_EQ(reply.services.at(0).rollout, status.rollout);
}

TEST(Codec, HistoryAndCanaryFieldsOfAServiceRecordRoundTrip) {
  ServiceEntry entry;
  entry.name = "web";
  entry.generation = 4;
  entry.history = {VersionRecord{3, 1700000000000, "node-a", R"({"name":"web"})", "reverted: web/3 unhealthy: x", 0},
                   VersionRecord{4, 1700000001000, "node-b", R"({"name":"web","v":1})", "", 2}};
  entry.canaries = 2;
  entry.promoted = true;
  auto back = round_trip(Gossip{"node-b", 1, StateDelta{{}, {entry}, {}, {}}}).delta.services.at(0);
  ASSERT_EQ(back.history.size(), 2u);
  EXPECT_EQ(back.history[0].outcome, "reverted: web/3 unhealthy: x");
  EXPECT_EQ(back.history[1].through, "node-b");
  EXPECT_EQ(back.history[1].time_ms, 1700000001000);
  EXPECT_EQ(back.history[1].rollback_of, 2u);
  EXPECT_EQ(back.canaries, 2u);
  EXPECT_TRUE(back.promoted);
}

TEST(Codec, HistoryRequestAndReplyRoundTrip) {
  EXPECT_EQ(round_trip(HistoryRequest{"web"}).service, "web");
  auto reply = round_trip(HistoryReply{"web", true, {VersionRecord{2, 5, "node-a", "{}", "healthy", 1}}});
  EXPECT_EQ(reply.service, "web");
  EXPECT_TRUE(reply.removed);
  ASSERT_EQ(reply.versions.size(), 1u);
  EXPECT_EQ(reply.versions[0].version, 2u);
  EXPECT_EQ(reply.versions[0].outcome, "healthy");
}

TEST(Codec, RollbackRequestRoundTrips) {
  auto request = round_trip(RollbackRequest{"web", 3, "w7"});
  EXPECT_EQ(request.service, "web");
  EXPECT_EQ(request.version, 3u);
  EXPECT_EQ(request.write_id, "w7");
}

TEST(Codec, PromoteRequestRoundTrips) {
  auto request = round_trip(PromoteRequest{"web", "w8"});
  EXPECT_EQ(request.service, "web");
  EXPECT_EQ(request.write_id, "w8");
}

TEST(Codec, RebalanceRequestAndReplyRoundTrip) {
  EXPECT_EQ(round_trip(RebalanceRequest{"web"}).service, "web");
  auto reply = round_trip(RebalanceReply{{InstanceMove{"web", 3, "node-a", "node-c"}}, 2, {"web"}});
  ASSERT_EQ(reply.moves.size(), 1u);
  EXPECT_EQ(reply.moves[0].index, 3u);
  EXPECT_EQ(reply.moves[0].from_node, "node-a");
  EXPECT_EQ(reply.moves[0].to_node, "node-c");
  EXPECT_EQ(reply.left, 2u);
  EXPECT_EQ(reply.services, std::vector<std::string>{"web"});
}

TEST(Codec, ARebalanceReplyFromTheReleaseBeforeDecodesWithoutServices) {
  auto decoded = decode(hand_packed(kProtocolVersion, type_code(Body{RebalanceReply{}}), [](auto& pk) {
    pk.pack_array(2);  // moves, left: mob-tool then asks again, batch by batch
    pk.pack_array(0);
    pk.pack(3);
  }));
  ASSERT_TRUE(decoded) << decoded.error().message;
  const auto& reply = std::get<RebalanceReply>(decoded->body);
  EXPECT_EQ(reply.left, 3u);
  EXPECT_TRUE(reply.services.empty());
}

TEST(Codec, AProbeNackRoundTripsWithItsWireCode) {
  EXPECT_EQ(type_code(Body{ProbeNack{}}), 66);
  auto nack = round_trip(ProbeNack{41, "node-b"});
  EXPECT_EQ(nack.seq, 41u);
  EXPECT_EQ(nack.from, "node-b");
  auto request = round_trip(IndirectProbeRequest{41, "node-a", "node-c", "tcp://127.0.0.1:7001", true});
  EXPECT_TRUE(request.wants_nack);
  EXPECT_EQ(request.target_address, "tcp://127.0.0.1:7001");
}

TEST(Codec, AWriteCopyAndItsAnswerRoundTripWithTheirWireCodes) {
  EXPECT_EQ(type_code(Body{WriteCopy{}}), 67);
  EXPECT_EQ(type_code(Body{WriteCopied{}}), 68);
  ServiceEntry entry;
  entry.name = "web";
  entry.generation = 3;
  entry.stamp = Stamp{77, "node-a"};
  auto copy = round_trip(WriteCopy{5, "node-a", StateDelta{{}, {entry}, {}, {}}});
  EXPECT_EQ(copy.id, 5u);
  EXPECT_EQ(copy.from, "node-a");
  ASSERT_EQ(copy.delta.services.size(), 1u);
  EXPECT_EQ(copy.delta.services[0].name, "web");
  EXPECT_EQ(copy.delta.services[0].stamp.hlc, 77u);
  auto copied = round_trip(WriteCopied{5, "node-b", 1});
  EXPECT_EQ(copied.id, 5u);
  EXPECT_EQ(copied.from, "node-b");
  EXPECT_EQ(copied.held, 1u);
  auto deployed = round_trip(DeployReply{"web", 3, false, 9, "node-a", 77, 2, 4});
  EXPECT_EQ(deployed.copies, 2u);
  EXPECT_EQ(deployed.peers, 4u);
  auto controlled = round_trip(ControlReply{"web", 3, 1, 4});
  EXPECT_EQ(controlled.copies, 1u);
  EXPECT_EQ(controlled.peers, 4u);
}

// An agent of the release before answers writes without copies: 0, "not counted".
TEST(Codec, AWriteAnswerFromTheReleaseBeforeSaysNoCopyCount) {
  auto decoded = decode(hand_packed(kProtocolVersion, type_code(Body{DeployReply{}}), [](auto& pk) {
    pk.pack_array(6);  // service, version, created, spec_identity, agent, written_at
    pk.pack(std::string("web"));
    pk.pack(2);
    pk.pack(false);
    pk.pack(9);
    pk.pack(std::string("node-a"));
    pk.pack(77);
  }));
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(std::get<DeployReply>(decoded->body).copies, 0u);
  auto control = decode(hand_packed(kProtocolVersion, type_code(Body{ControlReply{}}), [](auto& pk) {
    pk.pack_array(2);
    pk.pack(std::string("web"));
    pk.pack(2);
  }));
  ASSERT_TRUE(control) << control.error().message;
  EXPECT_EQ(std::get<ControlReply>(control->body).copies, 0u);
}

TEST(Codec, AnIndirectProbeRequestFromTheReleaseBeforeWantsNoNack) {
  auto decoded = decode(hand_packed(kProtocolVersion, type_code(Body{IndirectProbeRequest{}}), [](auto& pk) {
    pk.pack_array(4);  // seq, from, target, target_address: no wants_nack
    pk.pack(9);
    pk.pack(std::string("node-a"));
    pk.pack(std::string("node-c"));
    pk.pack(std::string("tcp://127.0.0.1:7001"));
  }));
  ASSERT_TRUE(decoded) << decoded.error().message;
  const auto& request = std::get<IndirectProbeRequest>(decoded->body);
  EXPECT_EQ(request.seq, 9u);
  EXPECT_FALSE(request.wants_nack) << "its sender would not know the answer";
}

TEST(Codec, TheWishToRebalanceTravelsWithTheServiceRecord) {
  ServiceEntry entry;
  entry.name = "web";
  entry.rebalance = "wanted";
  auto push = round_trip(SyncPush{StateDelta{{}, {entry}, {}, {}}});
  ASSERT_EQ(push.delta.services.size(), 1u);
  EXPECT_EQ(push.delta.services[0].rebalance, "wanted");
}

TEST(Codec, RolloutCommandsHaveTheirWireCodes) {
  EXPECT_EQ(type_code(Body{HistoryRequest{}}), 60);
  EXPECT_EQ(type_code(Body{HistoryReply{}}), 61);
  EXPECT_EQ(type_code(Body{RollbackRequest{}}), 62);
  EXPECT_EQ(type_code(Body{PromoteRequest{}}), 63);
  EXPECT_EQ(type_code(Body{RebalanceRequest{}}), 64);
  EXPECT_EQ(type_code(Body{RebalanceReply{}}), 65);
}

TEST(Codec, RecordsFromAReleaseBeforeRollingUpdatesDecodeWithoutTheirFields) {
  auto decoded = decode(hand_packed(kProtocolVersion, type_code(Body{SyncPush{}}), [](auto& pk) {
    pk.pack_array(1);     // SyncPush
    pk.pack_array(4);     // StateDelta
    pk.pack_array(0);     // members
    pk.pack_array(1);     // services
    pk.pack_array(8);     // ServiceEntry as it was: no stable_*, no rollout
    pk.pack(std::string("web"));
    pk.pack(std::string("{}"));
    pk.pack(4);
    pk.pack(true);
    pk.pack(0);
    pk.pack(false);
    pk.pack_array(2);
    pk.pack(99);
    pk.pack(std::string("node-a"));
    pk.pack(std::string("w1"));
    pk.pack_array(1);     // assignments
    pk.pack_array(5);     // AssignmentEntry as it was: no generation
    pk.pack(std::string("web"));
    pk.pack(1);
    pk.pack(std::string("node-a"));
    pk.pack(false);
    pk.pack_array(2);
    pk.pack(100);
    pk.pack(std::string("node-a"));
    pk.pack_array(0);     // instances
  }));
  ASSERT_TRUE(decoded) << decoded.error().message;
  const auto& delta = std::get<SyncPush>(decoded->body).delta;
  EXPECT_EQ(delta.services.at(0).generation, 4u);
  EXPECT_EQ(delta.services.at(0).write_id, "w1");
  EXPECT_EQ(delta.services.at(0).stable_generation, 0u);
  EXPECT_TRUE(delta.services.at(0).rollout.empty());
  EXPECT_EQ(delta.assignments.at(0).node, "node-a");
  EXPECT_EQ(delta.assignments.at(0).generation, 0u) << "0: the service's current version, as before";
}

TEST(Codec, EnumOutOfRangeIsRejected) {
  auto decoded = decode(hand_packed(kProtocolVersion, type_code(Body{ControlRequest{}}), [](auto& pk) {
    pk.pack_array(3);
    pk.pack(std::string("echoes"));
    pk.pack(200);
    pk.pack(std::string(""));
  }));
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().message.find("out of range"), std::string::npos);
}

TEST(Codec, NegativeNumberForUnsignedFieldIsRejected) {
  auto bytes = pack_raw(kProtocolVersion, 1, -5, std::string("x"), std::vector<int>{});
  auto decoded = decode(bytes);
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().message.find("request_id"), std::string::npos);
}

TEST(Codec, EnvelopeThatIsNotAnArrayIsRejected) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack(std::string("hello"));
  auto decoded = decode(std::string_view(buffer.data(), buffer.size()));
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().message.find("envelope"), std::string::npos);
}

TEST(Codec, OversizedMessageIsRejectedBeforeParsing) {
  std::string big(2000, 'x');
  auto bytes = encode_message(DeployRequest{big, {}});
  auto decoded = decode(bytes, 1000);
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, Errc::too_large);
}

TEST(Codec, HugeClaimedSizesDoNotAllocate) {
  // A 6-byte message claiming an array of 4 billion items.
  std::string bytes("\xdd\xff\xff\xff\xff\x00", 6);
  auto decoded = decode(bytes);
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, Errc::malformed);
}

TEST(Codec, DeepNestingIsBounded) {
  std::string bytes(10000, '\x91');  // arrays nested 10,000 deep
  bytes += '\xc0';
  auto decoded = decode(bytes);
  ASSERT_FALSE(decoded);
}

TEST(Codec, ServiceDiscoveryFieldsRoundTrip) {
  InstanceStatus status;
  status.service = "db";
  status.host = "10.0.0.5";
  status.ports = {{"pg", 31012}, {"metrics", 9100}};
  status.busy_port = 9100;
  auto report = gossiped(status);
  EXPECT_EQ(report.host, "10.0.0.5");
  EXPECT_EQ(report.ports, status.ports);
  EXPECT_EQ(report.busy_port, 9100u);
  auto pushed = round_trip(SyncPush{StateDelta{{}, {}, {AssignmentEntry{"db", 0, "b", false, Stamp{7, "a"}, 0, {"a"}}}, {}}});
  ASSERT_EQ(pushed.delta.assignments.size(), 1u);
  EXPECT_EQ(pushed.delta.assignments[0].avoid, std::vector<std::string>{"a"});
  Event event;
  event.topic = "instance.running";
  event.host = "10.0.0.5";
  event.ports = {{"pg", 31012}};
  EXPECT_EQ(round_trip(event).ports, event.ports);
}

// An agent of the release before service discovery sends instance records of 13 fields and
// assignments of 6: they decode with no endpoints and nothing to avoid.
TEST(Codec, RecordsFromAReleaseBeforeServiceDiscoveryDecodeWithoutEndpoints) {
  auto decoded = decode(gossiped_instance([](auto& pk) {
    pk.pack_array(13);
    pk.pack(std::string("db"));
    pk.pack(0);
    pk.pack(std::string("node-a"));
    pk.pack(static_cast<int>(InstanceState::running));
    pk.pack(0);
    pk.pack(4242);
    pk.pack(1700000000000);
    pk.pack(-1);
    pk.pack(0);
    pk.pack(std::string(""));
    pk.pack(3);
    pk.pack(static_cast<int>(Health::none));
    pk.pack_array(0);
  }));
  ASSERT_TRUE(decoded) << decoded.error().message;
  const auto& status = instance_of(*decoded);
  EXPECT_EQ(status.pid, 4242);
  EXPECT_TRUE(status.host.empty());
  EXPECT_TRUE(status.ports.empty());
  EXPECT_EQ(status.busy_port, 0u);
}

TEST(Codec, NewerSenderWithExtraFieldsIsAccepted) {
  auto decoded = decode(hand_packed(kProtocolVersion, type_code(Body{DeployRequest{}}), [](auto& pk) {
    pk.pack_array(3);
    pk.pack(std::string("{}"));
    pk.pack(std::string("id"));
    pk.pack(std::string("a field from the future"));
  }));
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(std::get<DeployRequest>(decoded->body).spec_json, "{}");
}


// ---- decode_gossip: the copies an agent holds left out before they are decoded -------------

Gossip gossip_of_every_kind() {
  Gossip gossip;
  gossip.sender = "a1";
  gossip.seq = 7;
  MemberEntry suspect;
  suspect.member.name = "a2";
  suspect.member.state = MemberState::suspect;
  suspect.member.incarnation = 4;
  suspect.heartbeat = 55;
  suspect.reported_by = "a6";
  MemberEntry alive;
  alive.member.name = "a7";
  alive.member.incarnation = 1;
  alive.heartbeat = 9;
  alive.reported_by = "a7";
  gossip.delta.members = {suspect, alive};
  for (const char* name : {"web", "db", "cache"}) {
    ServiceEntry service;
    service.name = name;
    service.spec_json = std::string(R"({"name":")") + name + R"("})";
    service.stamp = Stamp{100, "a1"};
    gossip.delta.services.push_back(service);
  }
  for (std::uint32_t index : {0u, 1u}) {
    AssignmentEntry assignment;
    assignment.service = "web";
    assignment.index = index;
    assignment.node = "a3";
    assignment.stamp = Stamp{200 + index, "a4"};
    gossip.delta.assignments.push_back(assignment);
  }
  for (const char* node : {"a3", "a5"}) {
    InstanceEntry instance;
    instance.status.service = "web";
    instance.status.index = 3;
    instance.status.node = node;
    instance.status.reason = "running";
    instance.stamp = Stamp{300, node};
    gossip.delta.instances.push_back(instance);
  }
  return gossip;
}

TEST(DecodeGossip, LeavesOutWhatSkipAnswersTrueForAndDecodesTheRest) {
  const Gossip sent = gossip_of_every_kind();
  const std::string bytes = encode_message(sent, 0, "a1");
  // What each peek said, copied: its views point into the message decode_gossip unpacked,
  // which lives only until it returns.
  struct Peeked {
    RecordPeek::Kind kind;
    std::string service;
    std::uint32_t index;
    std::string node;
    std::uint64_t hlc;
    std::string origin;
    std::string member;
    std::uint64_t incarnation;
    MemberState state;
    std::uint64_t heartbeat;
    std::string reported_by;
  };
  std::vector<Peeked> peeked;
  auto decoded = decode_gossip(bytes, kDefaultMaxMessageBytes, [&](const RecordPeek& record) {
    peeked.push_back({record.kind, std::string(record.service), record.index, std::string(record.node), record.hlc,
                      std::string(record.origin), std::string(record.member), record.incarnation, record.state,
                      record.heartbeat, std::string(record.reported_by)});
    return (record.kind == RecordPeek::Kind::member && record.member == "a7") ||
           (record.kind == RecordPeek::Kind::service && record.service == "db") ||
           (record.kind == RecordPeek::Kind::assignment && record.index == 1) ||
           (record.kind == RecordPeek::Kind::instance && record.node == "a5");
  });
  ASSERT_TRUE(decoded) << decoded.error().message;
  // Every record was peeked, with what it is and how new: members first, then services,
  // assignments and instances.
  ASSERT_EQ(peeked.size(), 9u);
  EXPECT_EQ(peeked[0].kind, RecordPeek::Kind::member);
  EXPECT_EQ(peeked[0].member, "a2");
  EXPECT_EQ(peeked[0].incarnation, 4u);
  EXPECT_EQ(peeked[0].state, MemberState::suspect);
  EXPECT_EQ(peeked[0].heartbeat, 55u);
  EXPECT_EQ(peeked[0].reported_by, "a6");
  EXPECT_EQ(peeked[1].kind, RecordPeek::Kind::member);
  EXPECT_EQ(peeked[1].member, "a7");
  EXPECT_EQ(peeked[1].state, MemberState::alive);
  EXPECT_EQ(peeked[2].kind, RecordPeek::Kind::service);
  EXPECT_EQ(peeked[2].service, "web");
  EXPECT_EQ(peeked[2].hlc, 100u);
  EXPECT_EQ(peeked[2].origin, "a1");
  EXPECT_EQ(peeked[6].kind, RecordPeek::Kind::assignment);
  EXPECT_EQ(peeked[6].service, "web");
  EXPECT_EQ(peeked[6].index, 1u);
  EXPECT_EQ(peeked[6].hlc, 201u);
  EXPECT_EQ(peeked[6].origin, "a4");
  EXPECT_EQ(peeked[8].kind, RecordPeek::Kind::instance);
  EXPECT_EQ(peeked[8].service, "web");
  EXPECT_EQ(peeked[8].index, 3u);
  EXPECT_EQ(peeked[8].node, "a5");
  EXPECT_EQ(peeked[8].hlc, 300u);
  EXPECT_EQ(peeked[8].origin, "a5");
  // What is left is the message without the four records skipped.
  Gossip expected = sent;
  expected.delta.members.pop_back();
  expected.delta.services.erase(expected.delta.services.begin() + 1);
  expected.delta.assignments.pop_back();
  expected.delta.instances.pop_back();
  const auto* got = std::get_if<Gossip>(&decoded->body);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->delta.members.size(), 1u);
  EXPECT_EQ(encode_message(*got, 0, "a1"), encode_message(expected, 0, "a1"));
}

TEST(DecodeGossip, SkippingNothingDecodesAsDecodeDoesAndOtherMessagesAreLeftWhole) {
  const std::string gossip = encode_message(gossip_of_every_kind(), 0, "a1");
  auto whole = decode_gossip(gossip, kDefaultMaxMessageBytes, [](const RecordPeek&) { return false; });
  ASSERT_TRUE(whole);
  EXPECT_EQ(encode(*whole), gossip);
  // A push carries the same records as a gossip, but only a Gossip is pruned.
  SyncPush push{gossip_of_every_kind().delta};
  const std::string pushed = encode_message(push);
  auto kept = decode_gossip(pushed, kDefaultMaxMessageBytes, [](const RecordPeek&) { return true; });
  ASSERT_TRUE(kept);
  EXPECT_EQ(encode(*kept), pushed);
}

// A record not shaped as the peek expects is not skipped: the decode checks it and names what
// is wrong, as decode() does.
TEST(DecodeGossip, ARecordOfAnotherShapeIsKeptAndRefusedByTheDecode) {
  const std::string bytes = hand_packed(kProtocolVersion, 24, [](auto& pk) {
    pk.pack_array(3);
    pk.pack(std::string("a1"));
    pk.pack(std::uint64_t{1});
    pk.pack_array(4);
    pk.pack_array(0);
    pk.pack_array(1);
    pk.pack_array(7);  // a service record whose stamp (its 7th field) is not [hlc, origin]
    pk.pack(std::string("web"));
    for (int i = 0; i < 5; ++i) pk.pack_nil();
    pk.pack(std::string("not a stamp"));
    pk.pack_array(0);
    pk.pack_array(0);
  });
  int asked = 0;
  auto pruned = decode_gossip(bytes, kDefaultMaxMessageBytes, [&](const RecordPeek&) { return ++asked, true; });
  auto plain = decode(bytes);
  EXPECT_EQ(asked, 0);
  ASSERT_FALSE(pruned);
  ASSERT_FALSE(plain);
  EXPECT_EQ(pruned.error().message, plain.error().message);
}

// A member record whose state is no state is not peeked at: the decode refuses it as decode()
// does.
TEST(DecodeGossip, AMemberRecordWithAnUnknownStateIsKeptAndRefusedByTheDecode) {
  Gossip gossip = gossip_of_every_kind();
  std::string bytes = encode_message(gossip, 0, "a1");
  // The suspect's state (1) is packed right after its pub_address; make it 9.
  const std::string marker = std::string("\xa2" "a2", 3);
  auto at = bytes.find(marker);
  ASSERT_NE(at, std::string::npos);
  at += marker.size();
  for (int field = 0; field < 2; ++field) at += 1 + static_cast<unsigned char>(bytes[at]) - 0xa0;  // fixstr
  ASSERT_EQ(bytes[at], '\x01');
  bytes[at] = '\x09';
  int asked_about_members = 0;
  auto pruned = decode_gossip(bytes, kDefaultMaxMessageBytes, [&](const RecordPeek& record) {
    asked_about_members += record.kind == RecordPeek::Kind::member ? 1 : 0;
    return true;
  });
  auto plain = decode(bytes);
  EXPECT_EQ(asked_about_members, 1);  // a7's record only
  ASSERT_FALSE(pruned);
  ASSERT_FALSE(plain);
  EXPECT_EQ(pruned.error().message, plain.error().message);
}

// Bytes that are not a message fail as they fail decode().
TEST(DecodeGossip, GarbageFailsAsInDecode) {
  for (std::string bytes : {std::string(), std::string("\xc1\xc1\xc1", 3), std::string("\x95\x01\x18", 3)}) {
    auto pruned = decode_gossip(bytes, kDefaultMaxMessageBytes, [](const RecordPeek&) { return true; });
    auto plain = decode(bytes);
    ASSERT_FALSE(pruned);
    ASSERT_FALSE(plain);
    EXPECT_EQ(pruned.error().message, plain.error().message);
  }
}

}  // namespace codec_test
}  // namespace mob
