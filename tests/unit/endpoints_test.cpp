// Service discovery's pure parts (agent/endpoints.hpp): port ranges, the host ports an
// instance gets, its variables, and its dependencies' addresses read from a cluster state.
#include "agent/endpoints.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/support/records.hpp"

namespace mob {
namespace endpoints_test {

const auto kAllFree = [](std::uint32_t) { return true; };

TEST(PortRange, ParsesFirstDashLastAndRefusesTheRest) {
  EXPECT_EQ(parse_port_range("20000-32000"), (PortRange{20000, 32000}));
  EXPECT_EQ(parse_port_range("9100-9100"), (PortRange{9100, 9100}));
  for (const char* bad : {"", "20000", "-1", "0-10", "10-5", "1-65536", "a-b", "1-2-3", "20000 - 32000"}) {
    auto range = parse_port_range(bad);
    ASSERT_FALSE(range) << bad;
    EXPECT_NE(range.error().message.find("is not a port range FIRST-LAST"), std::string::npos);
  }
}

TEST(ChoosePorts, AFixedPortIsTakenAsGivenAndAZeroPortComesFromTheRange) {
  auto choice = choose_ports("a/web.0", {{"http", {0, 0}}, {"metrics", {9100, 0}}}, {}, {}, {12000, 12009}, kAllFree);
  ASSERT_TRUE(choice) << choice.error().message;
  EXPECT_EQ(choice->busy_port, 0u);
  EXPECT_EQ(choice->ports.at("metrics"), 9100u);
  EXPECT_GE(choice->ports.at("http"), 12000u);
  EXPECT_LE(choice->ports.at("http"), 12009u);
}

TEST(ChoosePorts, AFixedPortInUseOrHeldByAnotherInstanceIsNamedAndNothingIsChosen) {
  auto in_use = choose_ports("a/x.0", {{"http", {0, 0}}, {"metrics", {9100, 0}}}, {}, {}, {12000, 12009},
                             [](std::uint32_t port) { return port != 9100; });
  ASSERT_TRUE(in_use);
  EXPECT_EQ(in_use->busy_port, 9100u);
  EXPECT_TRUE(in_use->ports.empty());
  auto held = choose_ports("a/x.1", {{"metrics", {9100, 0}}}, {}, {9100}, {12000, 12009}, kAllFree);
  ASSERT_TRUE(held);
  EXPECT_EQ(held->busy_port, 9100u);
}

TEST(ChoosePorts, ZeroPortsAreDistinctSkipPortsInUseAndKeepTheirPreviousPortWhenFree) {
  std::set<std::uint32_t> taken;
  for (int i = 0; i < 10; ++i) {  // the whole range of 10, one instance at a time
    auto choice = choose_ports("a/web." + std::to_string(i), {{"http", {0, 0}}}, {}, taken, {12000, 12009},
                               [](std::uint32_t port) { return port != 12003; });
    if (i == 9) {
      ASSERT_FALSE(choice) << "12003 is in use: nine ports for ten instances";
      EXPECT_EQ(choice.error().message, "no free port left in --port-range 12000-12009 for ports.http");
      break;
    }
    ASSERT_TRUE(choice) << choice.error().message;
    auto port = choice->ports.at("http");
    EXPECT_NE(port, 12003u);
    EXPECT_TRUE(taken.insert(port).second) << port << " given twice";
  }
  auto again = choose_ports("a/web.0", {{"http", {0, 0}}}, {{"http", 12007}}, {}, {12000, 12009}, kAllFree);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->ports.at("http"), 12007u);
  auto moved = choose_ports("a/web.0", {{"http", {0, 0}}}, {{"http", 12007}}, {12007}, {12000, 12009}, kAllFree);
  ASSERT_TRUE(moved);
  EXPECT_NE(moved->ports.at("http"), 12007u);
}

TEST(ChoosePorts, TwoAgentsStartTheirSearchAtDifferentPlaces) {
  std::set<std::uint32_t> first_ports;
  for (const char* agent : {"a", "b", "c", "d"})
    first_ports.insert(choose_ports(std::string(agent) + "/db.0", {{"pg", {0, 0}}}, {}, {}, {12000, 15999}, kAllFree)
                           ->ports.at("pg"));
  EXPECT_GT(first_ports.size(), 1u);
}

TEST(InstanceEnv, NamesTheHostAndEachPortInUpperCase) {
  auto env = instance_env("10.0.0.5", {{"http", 31012}, {"admin_ui", 9000}});
  EXPECT_EQ(env, (std::map<std::string, std::string>{
                     {"MOB_HOST", "10.0.0.5"}, {"MOB_PORT_HTTP", "31012"}, {"MOB_PORT_ADMIN_UI", "9000"}}));
  EXPECT_TRUE(instance_env("10.0.0.5", {}).empty());
  EXPECT_EQ(env_name_part("web-db.1"), "WEB_DB_1");
}

TEST(TcpPortIsFree, APortSomeoneListensOnIsNotFree) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t size = sizeof address;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size), 0);
  const std::uint32_t port = ntohs(address.sin_port);
  EXPECT_FALSE(tcp_port_is_free("127.0.0.1", port));
  EXPECT_TRUE(tcp_port_is_free("127.0.0.2", port)) << "another address of this machine";
  EXPECT_FALSE(tcp_port_is_free("192.0.2.1", port)) << "not an address here: checked at every address";
  ::close(fd);
  EXPECT_TRUE(tcp_port_is_free("127.0.0.1", port));
}

class DependencyEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"a", "b", "c"}) member(name, MemberState::alive);
    member("dead", MemberState::failed);
  }
  void member(const std::string& name, MemberState state) {
    MemberEntry node;
    node.member.name = name;
    node.member.state = state;
    node.member.incarnation = ++stamp_;
    node.reported_by = name;
    node.heartbeat = 1;
    state_.merge(node);
  }
  void assign(const std::string& service, std::uint32_t index, const std::string& node) {
    state_.merge(AssignmentEntry{service, index, node, false, Stamp{++stamp_, "x"}, 0, {}});
  }
  void runs(const std::string& service, std::uint32_t index, const std::string& node, const std::string& host,
            std::map<std::string, std::uint32_t> ports, InstanceState state = InstanceState::running,
            Health health = Health::none) {
    InstanceEntry entry;
    entry.status.service = service;
    entry.status.index = index;
    entry.status.node = node;
    entry.status.state = state;
    entry.status.health = health;
    entry.status.host = host;
    entry.status.ports = std::move(ports);
    entry.stamp = Stamp{++stamp_, node};
    state_.merge(entry);
  }
  static ServiceSpec web() {
    ServiceSpec spec;
    spec.name = "web";
    spec.provider = "bash";
    spec.depends_on = {"db"};
    return spec;
  }

  ClusterState state_;
  std::uint64_t stamp_ = 0;
};

TEST_F(DependencyEnv, OneChosenInstanceAndEveryInstanceThatServes) {
  runs("db", 1, "b", "10.0.0.6", {{"pg", 12001}});
  runs("db", 0, "a", "10.0.0.5", {{"pg", 12000}, {"metrics", 9100}});
  runs("db", 2, "c", "10.0.0.7", {{"pg", 12002}}, InstanceState::running, Health::unhealthy);
  runs("db", 3, "dead", "10.0.0.8", {{"pg", 12003}});
  runs("db", 4, "c", "10.0.0.7", {{"pg", 12004}}, InstanceState::exited);
  EXPECT_EQ(dependency_env(state_, web()), (std::map<std::string, std::string>{
                                               {"MOB_DB_HOST", "10.0.0.5"},
                                               {"MOB_DB_PORT_PG", "12000"},
                                               {"MOB_DB_PORT_METRICS", "9100"},
                                               {"MOB_DB_ENDPOINTS_PG", "10.0.0.5:12000,10.0.0.6:12001"},
                                               {"MOB_DB_ENDPOINTS_METRICS", "10.0.0.5:9100"}}));
}

TEST_F(DependencyEnv, NothingWhileNoInstanceServesAndTheAssignedCopyDuringAHandover) {
  EXPECT_TRUE(dependency_env(state_, web()).empty());
  runs("db", 0, "a", "10.0.0.5", {{"pg", 12000}}, InstanceState::starting);
  EXPECT_TRUE(dependency_env(state_, web()).empty());
  runs("db", 0, "a", "10.0.0.5", {{"pg", 12000}});
  runs("db", 0, "b", "10.0.0.6", {{"pg", 12009}});  // the new copy runs; the old one still does
  assign("db", 0, "b");
  auto env = dependency_env(state_, web());
  EXPECT_EQ(env["MOB_DB_PORT_PG"], "12009");
  EXPECT_EQ(env["MOB_DB_ENDPOINTS_PG"], "10.0.0.6:12009");
}

}  // namespace endpoints_test
}  // namespace mob
