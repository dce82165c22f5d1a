// The codec of the messages between an agent's threads: every internal message round-trips,
// with its fields, and a frame that is not one is an error value.
#include "bus/internal_codec.hpp"

#include <gtest/gtest.h>

#include "agent/spec.hpp"
#include "bus/codec.hpp"

namespace mob {
namespace internal_codec_test {

template <std::size_t I = 0>
void round_trip_every_default_message() {
  if constexpr (I < std::variant_size_v<InternalBody>) {
    InternalEnvelope original{42 + I, InternalBody{std::in_place_index<I>}};
    auto bytes = encode_internal(original);
    auto decoded = decode_internal(bytes);
    ASSERT_TRUE(decoded) << internal_name(original.body) << ": " << decoded.error().message;
    EXPECT_EQ(decoded->body.index(), I);
    EXPECT_EQ(decoded->request_id, 42 + I);
    EXPECT_EQ(encode_internal(*decoded), bytes);
    round_trip_every_default_message<I + 1>();
  }
}

TEST(InternalCodec, EveryMessageTypeRoundTrips) { round_trip_every_default_message(); }

template <class Message>
Message round_trip(const Message& message) {
  auto bytes = encode_internal(InternalEnvelope{7, InternalBody{message}});
  auto decoded = decode_internal(bytes);
  EXPECT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(decoded->request_id, 7u);
  EXPECT_EQ(encode_internal(*decoded), bytes);
  return std::get<Message>(decoded->body);
}

InstanceStatus sample_instance() {
  InstanceStatus status;
  status.service = "db";
  status.index = 2;
  status.node = "node-a";
  status.state = InstanceState::running;
  status.pid = 4242;
  status.health = Health::unhealthy;
  status.checks = {{"http", false, 1700000000456, 3, "HTTP 500"}};
  status.host = "10.0.0.5";
  status.ports = {{"pg", 31012}};
  status.busy_port = 9100;
  return status;
}

// A spec with every field set, as the store parses it.
constexpr const char* kFullSpec = R"({"name": "web", "provider": "docker",
    "params": {"image": "nginx", "env": {"A": "1"}, "args": ["-g", "daemon off;"]},
    "instances": 3, "restart": {"policy": "on-failure", "max_restarts": 2, "window_s": 30,
    "backoff_ms": 50, "backoff_max_ms": 800}, "depends_on": ["db"], "stop_timeout_s": 2.5,
    "constraints": {"tags": {"zone": "a"}},
    "ports": {"http": {"port": 0, "container_port": 80}},
    "checks": [{"name": "up", "type": "http", "port": "http", "path": "/", "interval_s": 2}],
    "update": {"max_parallel": 2, "canary": 1},
    "on_dependency_change": "signal:SIGHUP"})";

TEST(InternalCodec, AParsedSpecRoundTripsWithEveryField) {
  auto spec = parse_spec(kFullSpec);
  ASSERT_TRUE(spec) << spec.error().message;
  ServiceAssignment assignment;
  assignment.spec = *spec;
  assignment.stable_spec = *spec;
  assignment.stable_spec->instances = 1;
  auto back = round_trip(assignment);
  EXPECT_EQ(to_json(back.spec), to_json(*spec));
  ASSERT_TRUE(back.stable_spec);
  EXPECT_EQ(back.stable_spec->instances, 1u);
  EXPECT_EQ(back.spec.update, spec->update);
  EXPECT_EQ(back.spec.ports, spec->ports);
  EXPECT_EQ(back.spec.on_dependency_change, spec->on_dependency_change);
  EXPECT_EQ(back.spec.check_ports, spec->check_ports);
  EXPECT_EQ(back.spec.params, spec->params);
}

TEST(InternalCodec, ServiceAssignmentRoundTrips) {
  ServiceAssignment assignment{"web", 3, R"({"name":"web"})", {0}, true, 4, false, "waiting for db",
                               2, R"({"v":1})", {1, 2}, {{"MOB_DB_PORT_PG", "31012"}}, {}, std::nullopt};
  auto back = round_trip(assignment);
  EXPECT_EQ(back.name, "web");
  EXPECT_EQ(back.version, 3u);
  EXPECT_EQ(back.spec_json, assignment.spec_json);
  EXPECT_EQ(back.instances, (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(back.restart_generation, 4u);
  EXPECT_FALSE(back.dependencies_ready);
  EXPECT_EQ(back.waiting_reason, "waiting for db");
  EXPECT_EQ(back.stable_version, 2u);
  EXPECT_EQ(back.stable_spec_json, R"({"v":1})");
  EXPECT_EQ(back.stable_instances, (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(back.dependency_env, assignment.dependency_env);
}

TEST(InternalCodec, ServiceWithdrawnRoundTrips) { EXPECT_EQ(round_trip(ServiceWithdrawn{"web"}).name, "web"); }

TEST(InternalCodec, InstanceReportRoundTrips) {
  auto back = round_trip(InstanceReport{sample_instance()}).status;
  EXPECT_EQ(back.pid, 4242);
  EXPECT_EQ(back.health, Health::unhealthy);
  ASSERT_EQ(back.checks.size(), 1u);
  EXPECT_EQ(back.checks[0].output, "HTTP 500");
  EXPECT_EQ(back.ports.at("pg"), 31012u);
  EXPECT_EQ(back.busy_port, 9100u);
}

TEST(InternalCodec, ProviderAvailabilityRoundTrips) {
  auto back = round_trip(ProviderAvailability{"docker", true});
  EXPECT_EQ(back.provider, "docker");
  EXPECT_TRUE(back.available);
}

TEST(InternalCodec, ProviderStartRoundTrips) {
  auto params = nlohmann::json::parse(R"({"image": "postgres", "args": ["-c", "fsync=off"], "pull": false})");
  auto back = round_trip(ProviderStart{"db.0", "db", 0, params, {{"MOB_PORT_PG", "31012"}}, {{"pg", 31012, 5432}}});
  EXPECT_EQ(back.key, "db.0");
  EXPECT_EQ(back.params, params);
  EXPECT_EQ(back.env.at("MOB_PORT_PG"), "31012");
  ASSERT_EQ(back.ports.size(), 1u);
  EXPECT_EQ(back.ports[0].container_port, 5432u);
}

TEST(InternalCodec, ProviderStopRoundTrips) {
  auto back = round_trip(ProviderStop{"web.1", 2500});
  EXPECT_EQ(back.key, "web.1");
  EXPECT_EQ(back.timeout_ms, 2500u);
}

TEST(InternalCodec, ProviderSignalRoundTrips) { EXPECT_EQ(round_trip(ProviderSignal{"web.0", 1}).signal, 1); }

TEST(InternalCodec, ProviderEventRoundTrips) {
  auto back = round_trip(ProviderEvent{"x.0", ProviderEventKind::exited, 12, -1, 9, "killed"});
  EXPECT_EQ(back.kind, ProviderEventKind::exited);
  EXPECT_EQ(back.pid, 12);
  EXPECT_EQ(back.signal, 9);
  EXPECT_EQ(back.message, "killed");
}

TEST(InternalCodec, ProviderLogsRequestAndReplyRoundTrip) {
  auto request = round_trip(ProviderLogsRequest{{"x.0", "x.1"}, 5, true, 99});
  EXPECT_EQ(request.keys.size(), 2u);
  EXPECT_EQ(request.tail_lines, 5u);
  EXPECT_EQ(request.offset, 99u);
  auto reply = round_trip(ProviderLogsReply{{"x.0"}, {{0, "", std::string("a\0b", 3), 3}}});
  ASSERT_EQ(reply.chunks.size(), 1u);
  EXPECT_EQ(reply.chunks[0].data, std::string("a\0b", 3));
}

TEST(InternalCodec, HealthMessagesRoundTrip) {
  CheckSpec check{"db", CheckType::exec, "", 0, "", 0, "pg_isready -q", 10000, 2000, 3, 1, 5000, false};
  auto watch = round_trip(HealthWatch{"db.0", 4, "db", 0, {check}, {{"PGPORT", "5433"}}, "/srv", true});
  ASSERT_EQ(watch.checks.size(), 1u);
  EXPECT_EQ(watch.checks[0].command, "pg_isready -q");
  EXPECT_FALSE(watch.checks[0].restart_on_failure);
  EXPECT_EQ(watch.env.at("PGPORT"), "5433");
  EXPECT_TRUE(watch.exec_in_provider);
  EXPECT_EQ(round_trip(HealthUnwatch{"db.0"}).key, "db.0");
  auto change = round_trip(HealthChange{"db.0", 4, Health::healthy, "db", true, {{"db", true, 1, 1, ""}}});
  EXPECT_EQ(change.health, Health::healthy);
  EXPECT_EQ(change.launch, 4u);
  EXPECT_TRUE(change.restart);
  EXPECT_EQ(change.checks.at(0).name, "db");
}

TEST(InternalCodec, ExecCheckAndResultRoundTrip) {
  auto check = round_trip(ProviderExecCheck{11, "db.0", "pg_isready", 2000});
  EXPECT_EQ(check.token, 11u);
  EXPECT_EQ(check.command, "pg_isready");
  EXPECT_EQ(check.timeout_ms, 2000u);
  auto result = round_trip(ProviderExecCheckResult{11, "db.0", true, "accepting connections"});
  EXPECT_EQ(result.token, 11u);
  EXPECT_TRUE(result.passed);
  EXPECT_EQ(result.output, "accepting connections");
}

TEST(InternalCodec, EveryMessageHasItsOwnName) {
  EXPECT_EQ(internal_name(InternalBody{ServiceAssignment{}}), "service_assignment");
  EXPECT_EQ(internal_name(InternalBody{ProviderExecCheckResult{}}), "provider_exec_check_result");
}

// ---- what is not an internal message ------------------------------------------------------

TEST(InternalCodec, GarbageIsMalformed) {
  auto decoded = decode_internal("\xc1\xc1");
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, Errc::malformed);
}

TEST(InternalCodec, AnUnknownCodeIsNamed) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(3);
  pk.pack(500);
  pk.pack(0);
  pk.pack_array(0);
  auto decoded = decode_internal(std::string_view(buffer.data(), buffer.size()));
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, Errc::unknown_type);
  EXPECT_NE(decoded.error().message.find("500"), std::string::npos);
}

// A wire envelope is no internal message: the two codecs never read each other's frames.
TEST(InternalCodec, AWireEnvelopeIsNoInternalMessage) {
  auto decoded = decode_internal(encode_message(PingRequest{}, 3, "tool"));
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, Errc::malformed);
  EXPECT_FALSE(decode(encode_internal(InternalEnvelope{3, ServiceWithdrawn{"web"}})));
}

TEST(InternalCodec, ParamsThatAreNotMsgpackJsonAreRefused) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  ProviderStart start;
  pk.pack_array(3);
  pk.pack(InternalBody{start}.index());
  pk.pack(0);
  pk.pack_array(6);
  pk.pack(std::string("web.0"));
  pk.pack(std::string("web"));
  pk.pack(0);
  pk.pack_bin(2);
  pk.pack_bin_body("\xc1\xc1", 2);  // never-used msgpack bytes
  pk.pack_map(0);
  pk.pack_array(0);
  auto decoded = decode_internal(std::string_view(buffer.data(), buffer.size()));
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().message.find("params"), std::string::npos) << decoded.error().message;
}

TEST(InternalCodec, AWrongFieldTypeNamesTheMessage) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(3);
  pk.pack(InternalBody{ServiceWithdrawn{}}.index());
  pk.pack(0);
  pk.pack_array(1);
  pk.pack(17);  // name: a number
  auto decoded = decode_internal(std::string_view(buffer.data(), buffer.size()));
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().message.find("service_withdrawn"), std::string::npos) << decoded.error().message;
}

}  // namespace internal_codec_test
}  // namespace mob
