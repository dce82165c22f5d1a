#include "agent/admission.hpp"

#include <limits>

#include <gtest/gtest.h>

#include "bus/codec.hpp"

namespace mob {
namespace admission_test {

MemberEntry good_member(std::string name = "agent-1") {
  MemberEntry entry;
  entry.member.name = std::move(name);
  entry.member.address = "tcp://127.0.0.1:7000";
  entry.member.pub_address = "tcp://127.0.0.1:7001";
  entry.member.providers = {"bash"};
  entry.reported_by = entry.member.name;
  return entry;
}

// The refusal's message, or "" when admitted.
std::string refusal(const Body& body) {
  auto admitted = admit_request(body);
  return admitted ? "" : admitted.error().message;
}

TEST(Admission, EndpointsAreTcpHostAndPortOnly) {
  for (const char* good : {"tcp://127.0.0.1:1", "tcp://10.0.0.5:65535", "tcp://node-1.example.com:6666",
                           "tcp://localhost:6666", "tcp://[::1]:6666", "tcp://[fe80::1]:80"})
    EXPECT_TRUE(check_endpoint(good)) << good;
  for (const char* bad : {"", "garbage", "tcp://", "tcp://127.0.0.1", "tcp://127.0.0.1:0",
                          "tcp://127.0.0.1:65536", "tcp://127.0.0.1:99999", "tcp://127.0.0.1:-1",
                          "tcp://127.0.0.1:80x", "ipc:///tmp/x", "inproc://zeromq.zap.01",
                          "udp://127.0.0.1:1", "pgm://eth0;239.0.0.1:5555", "tcp://a;b:1",
                          "tcp://127.0.0.1:6000;127.0.0.2:1", "tcp://*:1", "tcp://256.1.1.1:1",
                          "tcp://1.2.3:1", "tcp://a b:1", "tcp://-a:1", "tcp://a..b:1", "tcp://[::1:1",
                          "tcp://[zz::1]:1", "TCP://127.0.0.1:1", " tcp://127.0.0.1:1"})
    EXPECT_FALSE(check_endpoint(bad)) << bad;
  EXPECT_FALSE(check_endpoint("tcp://" + std::string(254, 'a') + ":1"));
  EXPECT_FALSE(check_endpoint(std::string("tcp://127.0.0.1:1\0", 19)));
}

TEST(Admission, AnEndpointErrorSaysWhatIsWrong) {
  auto port = check_endpoint("tcp://127.0.0.1:99999");
  ASSERT_FALSE(port);
  EXPECT_NE(port.error().message.find("port must be a number from 1 to 65535"), std::string::npos);
  auto scheme = check_endpoint("ipc:///tmp/x");
  ASSERT_FALSE(scheme);
  EXPECT_NE(scheme.error().message.find("only tcp is accepted"), std::string::npos);
}

TEST(Admission, SeedsTakeHostPortWithOrWithoutTheScheme) {
  EXPECT_EQ(seed_endpoint("127.0.0.1:6666").value(), "tcp://127.0.0.1:6666");
  EXPECT_EQ(seed_endpoint("tcp://db.local:6666").value(), "tcp://db.local:6666");
  EXPECT_FALSE(seed_endpoint("ipc:///tmp/x"));
  EXPECT_FALSE(seed_endpoint("127.0.0.1"));
  EXPECT_FALSE(seed_endpoint("tcp://tcp://127.0.0.1:1"));
}

TEST(Admission, AgentNames) {
  for (const char* good : {"a", "vm:6666", "node-127.0.0.2", "agent_1@rack[3]"})
    EXPECT_TRUE(is_valid_agent_name(good)) << good;
  for (const char* bad : {"", "a/b", "a b", "../x", "é"}) EXPECT_FALSE(is_valid_agent_name(bad)) << bad;
  EXPECT_FALSE(is_valid_agent_name(std::string("a\0b", 3)));
  EXPECT_TRUE(is_valid_agent_name(std::string(253, 'a')));
  EXPECT_FALSE(is_valid_agent_name(std::string(254, 'a')));
}

TEST(Admission, PrintableEscapesControlBytesAndCuts) {
  EXPECT_EQ(printable(std::string("a\0\n\"", 4)), "\"a\\x00\\x0a\\x22\"");
  EXPECT_EQ(printable(std::string(100, 'x')), "\"" + std::string(80, 'x') + "...(100 bytes)\"");
}

TEST(Admission, TheIndirectProbeOfAGarbageAddressIsRefusedNamingTheField) {
  auto message = refusal(IndirectProbeRequest{1, "agent-1", "agent-2", "garbage"});
  EXPECT_NE(message.find("indirect_probe_request refused: target_address: \"garbage\""), std::string::npos)
      << message;
  EXPECT_EQ(refusal(IndirectProbeRequest{1, "agent-1", "agent-2", "tcp://127.0.0.1:7000"}), "");
  EXPECT_NE(refusal(IndirectProbeRequest{1, "agent-1", "agent-2", ""}), "");
}

TEST(Admission, EveryRequestNamesTheFieldItRefuses) {
  struct Case {
    Body body;
    std::string field;
  };
  MemberEntry ipc = good_member();
  ipc.member.address = "ipc:///tmp/x";
  MemberEntry slash = good_member("a/b");
  MemberEntry huge = good_member();
  huge.member.incarnation = 1ULL << 48;
  MemberEntry nan = good_member();
  nan.member.load = std::numeric_limits<double>::quiet_NaN();
  ServiceEntry dots;
  dots.name = "../etc";
  ServiceEntry not_json;
  not_json.name = "web";
  not_json.spec_json = "{\"name\": \"web\xff\"}";
  InstanceEntry nul;
  nul.status.service = "web";
  nul.status.node = std::string("a\0b", 3);
  AssignmentEntry far;
  far.service = "web";
  far.node = "agent-1";
  far.index = kMaxInstanceIndex;
  ServiceEntry stable_ahead;
  stable_ahead.name = "web";
  stable_ahead.generation = 2;
  stable_ahead.stable_generation = 3;
  ServiceEntry stable_not_json = stable_ahead;
  stable_not_json.stable_generation = 1;
  stable_not_json.stable_spec_json = "{";
  AssignmentEntry far_version;
  far_version.service = "web";
  far_version.node = "agent-1";
  far_version.generation = 1ULL << 53;
  ServiceEntry history_ahead;
  history_ahead.name = "web";
  history_ahead.generation = 2;
  const std::string web_spec = R"({"name":"web"})";
  history_ahead.history = {VersionRecord{3, 0, "agent-1", web_spec, "", 0}};
  ServiceEntry history_unordered = history_ahead;
  history_unordered.history = {VersionRecord{2, 0, "agent-1", web_spec, "", 0},
                               VersionRecord{1, 0, "agent-1", web_spec, "", 0}};
  ServiceEntry history_not_json = history_ahead;
  history_not_json.history = {VersionRecord{1, 0, "agent-1", "{", "", 0}};
  ServiceEntry history_bad_agent = history_ahead;
  history_bad_agent.history = {VersionRecord{1, 0, "a/b", web_spec, "", 0}};
  // Specs kept in a record name that record's service (a rollback of web once deployed "a").
  ServiceEntry history_other_service = history_ahead;
  history_other_service.history = {VersionRecord{1, 0, "agent-1", R"({"name":"a"})", "", 0}};
  ServiceEntry spec_other_service;
  spec_other_service.name = "web";
  spec_other_service.spec_json = R"({"name":"a","instances":1})";
  ServiceEntry spec_not_object = spec_other_service;
  spec_not_object.spec_json = R"(["web"])";
  ServiceEntry spec_unnamed = spec_other_service;
  spec_unnamed.spec_json = R"({"instances":1})";
  ServiceEntry stable_other_service = stable_ahead;
  stable_other_service.stable_generation = 1;
  stable_other_service.stable_spec_json = R"({"name":"web2"})";
  ServiceEntry too_many_canaries = history_ahead;
  too_many_canaries.history.clear();
  too_many_canaries.canaries = kMaxInstanceIndex;
  std::vector<Case> cases = {
      {SyncPush{StateDelta{{}, {history_ahead}, {}, {}}}, "delta.services[0].history[0].version"},
      {SyncPush{StateDelta{{}, {history_unordered}, {}, {}}}, "delta.services[0].history[1].version"},
      {SyncPush{StateDelta{{}, {history_not_json}, {}, {}}}, "delta.services[0].history[0].spec_json"},
      {SyncPush{StateDelta{{}, {history_bad_agent}, {}, {}}}, "delta.services[0].history[0].through"},
      {SyncPush{StateDelta{{}, {history_other_service}, {}, {}}}, "delta.services[0].history[0].spec_json"},
      {SyncPush{StateDelta{{}, {spec_other_service}, {}, {}}}, "delta.services[0].spec_json"},
      {SyncPush{StateDelta{{}, {spec_not_object}, {}, {}}}, "delta.services[0].spec_json"},
      {SyncPush{StateDelta{{}, {spec_unnamed}, {}, {}}}, "delta.services[0].spec_json"},
      {SyncPush{StateDelta{{}, {stable_other_service}, {}, {}}}, "delta.services[0].stable_spec_json"},
      {SyncPush{StateDelta{{}, {too_many_canaries}, {}, {}}}, "delta.services[0].canaries"},
      {HistoryRequest{"a/b"}, "service"},
      {RollbackRequest{"", 0, {}}, "service"},
      {RollbackRequest{"web", 1ULL << 53, {}}, "version"},
      {RollbackRequest{"web", 1, "id with spaces"}, "write_id"},
      {PromoteRequest{"../web", {}}, "service"},
      {PromoteRequest{"web", std::string("a\0b", 3)}, "write_id"},
      {RebalanceRequest{std::string(300, 'a')}, "service"},
      {SyncPush{StateDelta{{}, {stable_ahead}, {}, {}}}, "delta.services[0].stable_generation"},
      {SyncPush{StateDelta{{}, {stable_not_json}, {}, {}}}, "delta.services[0].stable_spec_json"},
      {SyncPush{StateDelta{{}, {}, {far_version}, {}}}, "delta.assignments[0].generation"},
      {StatusRequest{"a/b"}, "service"},
      {StatusRequest{std::string(300, 'a')}, "service"},
      {ControlRequest{"", ControlAction::stop, {}}, "service"},
      {LogsRequest{"web", -2, 0, false, 0}, "instance"},
      {LogsRequest{"web", -1, kMaxTailLines + 1, false, 0}, "tail_lines"},
      {LogsRequest{"we/b", -1, 0, false, 0}, "service"},
      {ProbeRequest{1, "agent-1", "", 0, 0}, "target"},
      {ProbeRequest{1, std::string("x\0", 2), "agent-2", 0, 0}, "from"},
      {ProbeRequest{1, "agent-1", "agent-2", ~0ULL, 0}, "suspected_at"},
      {IndirectProbeRequest{1, "agent-1", "agent-2", "tcp://a;b:1"}, "target_address"},
      {JoinRequest{ipc}, "joiner.member.address"},
      {JoinRequest{slash}, "joiner.member.name"},
      {JoinRequest{huge}, "joiner.member.incarnation"},
      {JoinRequest{nan}, "joiner.member.load"},
      {SyncRequest{"agent-1", 0, {DigestEntry{"x/1", 0, 0, ""}}, 0, {}}, "digest[0].key"},
      {SyncRequest{"agent-1", 0, {DigestEntry{"m/a", 0, 0, std::string(300, 'a')}}, 0, {}}, "digest[0].tiebreak"},
      {SyncRequest{"agent-1", 0, {}, 3, {}}, "bucket_count"},
      {SyncRequest{"agent-1", 0, {}, 512, {}}, "bucket_count"},
      {SyncRequest{"agent-1", 0, {}, 4, {4}}, "scope[0]"},
      {SyncRequest{"agent-1", 0, {}, 4, {1, 1}}, "scope[1]"},
      {SyncRequest{"agent-1", 0, {}, 0, {0}}, "scope"},
      {SyncPush{StateDelta{{good_member(), ipc}, {}, {}, {}}}, "delta.members[1].member.address"},
      {SyncPush{StateDelta{{}, {dots}, {}, {}}}, "delta.services[0].name"},
      {SyncPush{StateDelta{{}, {not_json}, {}, {}}}, "delta.services[0].spec_json"},
      {SyncPush{StateDelta{{}, {}, {far}, {}}}, "delta.assignments[0].index"},
      {SyncPush{StateDelta{{}, {}, {}, {nul}}}, "delta.instances[0].status.node"},
      {DeployRequest{"{}", std::string(kMaxWriteIdBytes + 1, 'a')}, "write_id"},
      {DeployRequest{"{}", "id with spaces"}, "write_id"},
      {ControlRequest{"web", ControlAction::stop, std::string("a\0b", 3)}, "write_id"},
      {ControlRequest{"web", ControlAction::scale, "", kMaxInstanceIndex}, "instances"},
      {JoinCommand{{"127.0.0.1:6666", "ipc:///tmp/x"}}, "seeds[1]"},
      {JoinCommand{{"tcp://127.0.0.1:99999"}}, "seeds[0]"},
      {JoinCommand{std::vector<std::string>(kMaxJoinSeeds + 1, "127.0.0.1:1")}, "seeds"},
      {NodeSettingsRequest{"", Eligibility::ineligible, {}, {}, false}, "node"},
      {NodeSettingsRequest{"a/b", Eligibility::ineligible, {}, {}, false}, "node"},
      {NodeSettingsRequest{"agent-1", Eligibility::unchanged, {{"", "x"}}, {}, false}, "set_tags"},
      {NodeSettingsRequest{"agent-1", Eligibility::unchanged, {{"zone=a", "x"}}, {}, false}, "set_tags"},
      {NodeSettingsRequest{"agent-1", Eligibility::unchanged, {{std::string(kMaxTagKeyBytes + 1, 'k'), "x"}}, {}, false},
       "set_tags"},
      {NodeSettingsRequest{"agent-1", Eligibility::unchanged, {{"zone", "a\nb"}}, {}, false}, "set_tags.zone"},
      {NodeSettingsRequest{"agent-1", Eligibility::unchanged, {{"zone", std::string(kMaxTagValueBytes + 1, 'v')}}, {}, false},
       "set_tags.zone"},
      {NodeSettingsRequest{"agent-1", Eligibility::unchanged, {}, {"rack", "has space"}, false}, "remove_tags[1]"},
      {NodeSettingsRequest{"agent-1", Eligibility::unchanged, {}, std::vector<std::string>(kMaxTags + 1, "k"), false},
       "remove_tags"},
  };
  for (const auto& c : cases) {
    auto message = refusal(c.body);
    EXPECT_NE(message.find(std::string(type_name(c.body)) + " refused: " + c.field + ": "), std::string::npos)
        << "expected a refusal of " << c.field << ", got: " << message;
  }
}

// The door reads only a kept spec's top-level "name", and the last one when the key repeats,
// as the spec parser does: a "name" inside another value does not count.
TEST(Admission, AKeptSpecIsNamedByItsLastTopLevelName) {
  auto refusal_of_spec = [](const std::string& spec_json) {
    ServiceEntry entry;
    entry.name = "web";
    entry.spec_json = spec_json;
    return refusal(SyncPush{StateDelta{{}, {entry}, {}, {}}});
  };
  for (const char* named_web : {R"({"name":"web"})", R"({"image":{"name":"db"},"name":"web"})",
                                R"({"name":"db","name":"web"})", R"( {"deps":[{"name":"x"}],"name":"web","x":null} )",
                                R"({"name":{"a":1},"name":"web"})", R"({"name":"web","x":{"name":"db"}})",
                                R"({"a":[1,{"name":"db"}],"name":"web"})", R"({"name":[1,[2]],"name":"web"})"})
    EXPECT_EQ(refusal_of_spec(named_web), "") << named_web;
  for (const char* not_web : {R"({"name":"web","name":"db"})", R"({"name":"web","name":1})",
                              R"({"name":"web","name":["web"]})", R"({"inner":{"name":"web"}})",
                              R"({"name":null})", R"([{"name":"web"}])", R"("web")", "{}",
                              R"({"name":"web","name":{"name":"web"}})", R"({"x":{"name":"web"},"y":[{"name":"web"}]})"})
    EXPECT_NE(refusal_of_spec(not_web).find("delta.services[0].spec_json: not a spec of the service \"web\""),
              std::string::npos)
        << not_web;
  for (const char* not_json : {R"({"name":"web"} {})", R"({"name":"web")", R"({"name":"web",})",
                               "{\"name\":\"web\",\"x\":\"\xff\"}"})
    EXPECT_NE(refusal_of_spec(not_json).find("delta.services[0].spec_json: not JSON text"), std::string::npos)
        << not_json;
}

TEST(Admission, WellFormedRequestsPass) {
  for (const Body& body :
       {Body{PingRequest{}}, Body{DeployRequest{"not even json", {}}}, Body{StatusRequest{}},
        Body{DeployRequest{"{}", "3f0c9d2a-7e6b_41c8"}}, Body{ControlRequest{"web", ControlAction::stop, "77e0"}},
        Body{StatusRequest{"web"}}, Body{ControlRequest{"web", ControlAction::remove, {}}},
        Body{LogsRequest{"web", 3, 100, false, 0}}, Body{MembersRequest{}},
        Body{ProbeRequest{7, "agent-1", "agent-2", 3, 0}}, Body{JoinRequest{good_member()}},
        Body{SyncRequest{"agent-1", 0, {DigestEntry{"i/web/0/agent-1", 1, 0, "agent-1"}}, 0, {}}},
        Body{SyncRequest{"agent-1", 10, {}, 4, {}}},
        Body{SyncRequest{"agent-1", 10, {DigestEntry{"i/web/0/agent-1", 1, 0, "agent-1"}}, 256, {0, 255}}},
        Body{SyncPush{StateDelta{{good_member()}, {}, {}, {}}}}, Body{JoinCommand{{"10.0.0.1:6666"}}},
        Body{LeaveCommand{}},
        Body{NodeSettingsRequest{"agent-1", Eligibility::ineligible, {{"zone", "east"}, {"k8s.io/role", ""}}, {"rack"}, true}},
        Body{MetricsRequest{}}, Body{HistoryRequest{"web"}}, Body{RollbackRequest{"web", 0, "77e0"}},
        Body{RollbackRequest{"web", 3, {}}}, Body{PromoteRequest{"web", {}}}, Body{RebalanceRequest{}},
        Body{RebalanceRequest{"web"}}})
    EXPECT_EQ(refusal(body), "") << type_name(body);
}

TEST(Admission, ASyncReplyCarriesOneSummaryABucket) {
  EXPECT_TRUE(admit_sync_reply(SyncReply{{}, {}, 4, {0, 1, 2, 3}}));
  EXPECT_TRUE(admit_sync_reply(SyncReply{}));
  auto short_of = admit_sync_reply(SyncReply{{}, {}, 8, {1, 2}});
  ASSERT_FALSE(short_of);
  EXPECT_NE(short_of.error().message.find("buckets: 2 summaries for a bucket_count of 8"), std::string::npos)
      << short_of.error().message;
  auto odd = admit_sync_reply(SyncReply{{}, {}, 6, {}});
  ASSERT_FALSE(odd);
  EXPECT_NE(odd.error().message.find("bucket_count: 6 is not 0 or a power of two up to 256"), std::string::npos)
      << odd.error().message;
  MemberEntry bad = good_member();
  bad.member.address = "ipc:///tmp/x";
  auto state = admit_sync_reply(SyncReply{StateDelta{{bad}, {}, {}, {}}, {}, 0, {}});
  ASSERT_FALSE(state);
  EXPECT_NE(state.error().message.find("newer.members[0].member.address"), std::string::npos) << state.error().message;
}

TEST(Admission, ADeltaWithOneBadEntryIsRefusedWhole) {
  MemberEntry bad = good_member();
  bad.member.pub_address = "inproc://zeromq.zap.01";
  auto admitted = admit_delta(StateDelta{{good_member("a"), bad, good_member("b")}, {}, {}, {}}, "state");
  ASSERT_FALSE(admitted);
  EXPECT_NE(admitted.error().message.find("state.members[1].member.pub_address"), std::string::npos);
  EXPECT_TRUE(admit_delta(StateDelta{{good_member("a"), good_member("b")}, {}, {}, {}}, "state"));
}

// Service discovery's fields in gossiped records: a host, named ports, a busy port, the
// agents an assignment avoids.
TEST(Admission, EndpointsInRecordsAreCheckedNamingTheField) {
  auto instance = [](auto change) {
    InstanceEntry entry;
    entry.status.service = "db";
    entry.status.node = "agent-1";
    entry.status.host = "10.0.0.5";
    entry.status.ports = {{"pg", 31012}};
    entry.stamp = Stamp{1, "agent-1"};
    change(entry.status);
    return admit_delta(StateDelta{{}, {}, {}, {entry}}, "state");
  };
  auto refusal = [&](auto change) {
    auto admitted = instance(change);
    return admitted ? std::string("<admitted>") : admitted.error().message;
  };
  EXPECT_TRUE(instance([](InstanceStatus&) {}));
  EXPECT_EQ(refusal([](InstanceStatus& s) { s.ports["pg"] = 70000; }),
            "state.instances[0].status.ports.pg: 70000 is not a port (1-65535)");
  EXPECT_EQ(refusal([](InstanceStatus& s) { s.ports["pg"] = 0; }),
            "state.instances[0].status.ports.pg: 0 is not a port (1-65535)");
  EXPECT_NE(refusal([](InstanceStatus& s) { s.ports["P G"] = 1; }).find("status.ports: \"P G\" is not a port name"),
            std::string::npos);
  EXPECT_NE(refusal([](InstanceStatus& s) { s.host = "a b"; }).find("status.host:"), std::string::npos);
  EXPECT_NE(refusal([](InstanceStatus& s) { s.host = std::string(300, 'h'); }).find("status.host:"), std::string::npos);
  EXPECT_NE(refusal([](InstanceStatus& s) {
              s.ports.clear();
              for (int i = 0; i < 17; ++i) s.ports["p" + std::to_string(i)] = 1000 + i;
            }).find("17 ports, more than 16"),
            std::string::npos);
  EXPECT_EQ(refusal([](InstanceStatus& s) { s.busy_port = 65536; }),
            "state.instances[0].status.busy_port: 65536 is not a port (0 or 1-65535)");

  AssignmentEntry assignment{"db", 0, "agent-1", false, Stamp{1, "agent-1"}, 0, {"agent-2"}};
  EXPECT_TRUE(admit_delta(StateDelta{{}, {}, {assignment}, {}}, "state"));
  assignment.avoid = {"bad/name"};
  auto bad_name = admit_delta(StateDelta{{}, {}, {assignment}, {}}, "state");
  ASSERT_FALSE(bad_name);
  EXPECT_NE(bad_name.error().message.find("state.assignments[0].avoid[0]"), std::string::npos);
  assignment.avoid = std::vector<std::string>(65, "agent-2");
  auto too_many = admit_delta(StateDelta{{}, {}, {assignment}, {}}, "state");
  ASSERT_FALSE(too_many);
  EXPECT_NE(too_many.error().message.find("65 agents, more than 64"), std::string::npos);
}

// Whatever others say of a member stays refutable: the member answers a claim at incarnation n
// with n + 1, so only its own word, alive, may take the last incarnation (2^48 - 1).
TEST(Admission, OnlyAMembersOwnWordMayTakeItsLastIncarnation) {
  const std::uint64_t last = kMaxIncarnation - 1;
  MemberEntry own = good_member();
  own.member.incarnation = last;
  EXPECT_TRUE(check_incarnation(own));
  MemberEntry failed = own;
  failed.member.state = MemberState::failed;
  failed.reported_by = "agent-2";
  EXPECT_FALSE(check_incarnation(failed));
  MemberEntry forged_alive = own;
  forged_alive.reported_by = "agent-2";
  EXPECT_FALSE(check_incarnation(forged_alive));
  MemberEntry left = own;
  left.member.state = MemberState::left;
  EXPECT_FALSE(check_incarnation(left));
  failed.member.incarnation = last - 1;
  EXPECT_TRUE(check_incarnation(failed));
  own.member.incarnation = kMaxIncarnation;
  EXPECT_FALSE(check_incarnation(own));
  EXPECT_NE(refusal(JoinRequest{own}), "");
}

// suspected_at is the suspected incarnation + 1: the member refutes with one more, which must
// stay below 2^48.
TEST(Admission, ASuspicionCarriedByAProbeStaysRefutable) {
  EXPECT_EQ(refusal(ProbeRequest{1, "agent-1", "agent-2", kMaxIncarnation - 1, 0}), "");
  EXPECT_NE(refusal(ProbeRequest{1, "agent-1", "agent-2", kMaxIncarnation, 0}).find("suspected_at"),
            std::string::npos);
}

}  // namespace admission_test
}  // namespace mob
