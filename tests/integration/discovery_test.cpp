// Service discovery between real agents on loopback (docs/spec.md, "Service discovery"): a
// db with a port chosen by its agent, a web that depends on it and reaches it through the
// variables it starts with, db moved by a crash, endpoints read through mob-tool from another
// agent, and a fixed port in use on one agent. Each agent advertises its own loopback address
// (127.0.0.2, .3, ...) as a machine of its own would, and hands out ports from 12000-15999
// (below the test suite's agent ports, 20000-32700, and the kernel's ephemeral range).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/agent.hpp"
#include "tests/support/network.hpp"

namespace mob::test {
namespace discovery_test {

const std::vector<std::string> kPortRange = {"--port-range", "12000-15999"};

// db: a TCP server on $MOB_HOST:$MOB_PORT_PG that records every line it receives with its own
// address, and answers "echo LINE".
constexpr const char* kDbServer = R"(import os, socket
host, port = os.environ["MOB_HOST"], int(os.environ["MOB_PORT_PG"])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((host, port))
server.listen()
print("listening on", host, port, flush=True)
while True:
    connection, _ = server.accept()
    line = connection.recv(4096).decode().strip()
    with open(os.environ["RECEIVED"], "a") as out:
        out.write(f"{host}:{port} got {line}\n")
    connection.sendall(f"echo {line}\n".encode())
    connection.close()
)";

// web: connects to its dependency's address, says hello, records the answer, then stays up.
constexpr const char* kWebClient = R"(import os, socket, time
host, port = os.environ["MOB_DB_HOST"], int(os.environ["MOB_DB_PORT_PG"])
endpoints = os.environ["MOB_DB_ENDPOINTS_PG"]
for attempt in range(100):
    try:
        connection = socket.create_connection((host, port), timeout=2)
        break
    except OSError:
        time.sleep(0.1)
connection.sendall(f"hello from web pid {os.getpid()} to {host}:{port} of {endpoints}\n".encode())
answer = connection.recv(4096).decode().strip()
with open(os.environ["ANSWERS"], "a") as out:
    out.write(f"{host}:{port} {answer}\n")
time.sleep(100000)
)";

// Listens on `host`:`port` (0: any free port) until destroyed; port() is the port.
class Listener {
 public:
  Listener(const std::string& host, std::uint32_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, host.c_str(), &address.sin_addr);
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 && ::listen(fd_, 4) == 0;
    socklen_t size = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
  }
  ~Listener() { ::close(fd_); }
  bool bound() const { return bound_; }
  std::uint32_t port() const { return port_; }

 private:
  int fd_ = -1;
  bool bound_ = false;
  std::uint32_t port_ = 0;
};

class Discovery : public AgentNetwork {
 protected:
  // An agent advertising 127.0.0.`host_byte`, with these tags.
  AgentProcess& start_at(int host_byte, std::vector<std::string> tags = {}) {
    std::vector<std::string> extra = kPortRange;
    extra.push_back("--advertise-host");
    extra.push_back("127.0.0." + std::to_string(host_byte));
    for (auto& tag : tags) {
      extra.push_back("--tag");
      extra.push_back(tag);
    }
    return start("bash", extra);
  }

  CommandResult tool(AgentProcess& agent, std::vector<std::string> args) {
    args.insert(args.begin(), {MOB_TOOL_BIN, "-a", agent.endpoint()});
    return run_command(args, 20s);
  }

  // `mob-tool endpoints SERVICE --json` through `agent`: the addresses listed.
  std::vector<std::string> endpoints(AgentProcess& agent, const std::string& service) {
    auto result = tool(agent, {"endpoints", service, "--json"});
    std::vector<std::string> addresses;
    if (result.exit_code != 0) return addresses;
    auto listed = nlohmann::json::parse(result.out, nullptr, false);
    if (!listed.is_array()) return addresses;
    for (const auto& endpoint : listed) addresses.push_back(endpoint["address"].get<std::string>());
    return addresses;
  }

  std::filesystem::path write(const std::string& name, const std::string& text) {
    auto path = dir_.path() / name;
    std::ofstream(path) << text;
    return path;
  }

  static std::vector<std::string> lines_of(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  std::string db_spec() {
    return R"({"name": "db", "provider": "bash", "stop_timeout_s": 1, "ports": {"pg": 0},
        "constraints": {"tags": {"role": "db"}},
        "params": {"command": "exec python3 )" + write("db.py", kDbServer).string() + R"(",
                   "env": {"RECEIVED": ")" + received_.string() + R"("}}})";
  }
  std::string web_spec() {
    return R"({"name": "web", "provider": "bash", "stop_timeout_s": 1, "depends_on": ["db"],
        "constraints": {"tags": {"role": "web"}},
        "params": {"command": "exec python3 )" + write("web.py", kWebClient).string() + R"(",
                   "env": {"ANSWERS": ")" + answers_.string() + R"("}}})";
  }

  std::filesystem::path received_ = dir_.path() / "received";
  std::filesystem::path answers_ = dir_.path() / "answers";
};

TEST_F(Discovery, WebReachesDbThroughItsVariablesAndAgainAfterDbsAgentIsKilled) {
  AgentProcess& first_db_host = start_at(2, {"role=db"});
  start_at(3, {"role=db"});
  AgentProcess& web_host = start_at(4, {"role=web"});
  ASSERT_TRUE(everyone_sees_alive(3));
  ASSERT_TRUE(first_db_host.deploy(db_spec()));
  ASSERT_TRUE(first_db_host.deploy(web_spec()));

  // web connected to the address endpoints lists for db, and db got its line.
  std::vector<std::string> before;
  ASSERT_TRUE(wait_until([&] { return (before = endpoints(web_host, "db")).size() == 1; }, 20s));
  const std::string old_address = before[0];
  ASSERT_TRUE(wait_until([&] { return lines_of(answers_).size() == 1; }, 20s)) << web_host.log();
  EXPECT_EQ(lines_of(answers_)[0].substr(0, old_address.size() + 1), old_address + " ");
  ASSERT_EQ(lines_of(received_).size(), 1u);
  EXPECT_EQ(lines_of(received_)[0].find(old_address + " got hello from web pid"), 0u) << lines_of(received_)[0];
  EXPECT_NE(lines_of(received_)[0].find("of " + old_address), std::string::npos) << "MOB_DB_ENDPOINTS_PG";
  const auto web_before = web_host.instance("web", 0);
  ASSERT_TRUE(web_before);

  // db's agent dies with db; db runs on the other db agent, on another address.
  const std::string db_node = running_on(web_host, "db", 0);
  AgentProcess* victim = by_name(db_node);
  ASSERT_NE(victim, nullptr);
  const auto killed_at = std::chrono::steady_clock::now();
  victim->crash();
  AgentProcess* survivor = nullptr;
  for (auto* agent : live())
    if (agent->name() != db_node && agent != &web_host) survivor = agent;
  ASSERT_NE(survivor, nullptr);
  std::optional<InstanceStatus> moved;
  ASSERT_TRUE(wait_until(
      [&] {
        moved = survivor->instance("db", 0);
        return moved && moved->node == survivor->name() && moved->state == InstanceState::running;
      },
      20s));
  const std::string new_address = moved->host + ":" + std::to_string(moved->ports.at("pg"));
  EXPECT_NE(new_address, old_address);
  // The third agent lists it within 2 s of db running at its new address.
  const auto running_seen = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return endpoints(web_host, "db") == std::vector<std::string>{new_address}; }, 10s));
  const auto listed_after = std::chrono::steady_clock::now() - running_seen;
  EXPECT_LT(listed_after, 2s) << "listed after "
                              << std::chrono::duration_cast<std::chrono::milliseconds>(listed_after).count() << " ms";
  std::cout << "[ figure ] endpoints --json on a third agent listed db's new address "
            << std::chrono::duration_cast<std::chrono::milliseconds>(listed_after).count()
            << " ms after the new instance's agent reported it running, "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed_at).count()
            << " ms after db's agent was killed\n";

  // web was restarted (a new process) with the new address and reached db there.
  ASSERT_TRUE(wait_until([&] { return lines_of(answers_).size() == 2; }, 20s)) << web_host.log();
  EXPECT_EQ(lines_of(answers_)[1], new_address + " echo hello from web pid " +
                                       std::to_string(web_host.instance("web", 0)->pid) + " to " + new_address +
                                       " of " + new_address);
  EXPECT_NE(web_host.instance("web", 0)->pid, web_before->pid);
  EXPECT_EQ(web_host.instance("web", 0)->restarts, web_before->restarts) << "a restart asked for, not a failure";
  auto received = lines_of(received_);
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[1].find(new_address + " got hello from web pid"), 0u) << received[1];
}

// on_dependency_change "signal:SIGHUP": when db is scaled (its endpoints change) web's
// process gets SIGHUP and keeps running (same pid); with "none" nothing happens to it.
TEST_F(Discovery, ADependentIsSignalledOrLeftAloneAsItsSpecSays) {
  AgentProcess& agent = start_at(2);
  ASSERT_TRUE(agent.deploy(sleeper("db", 1, R"("ports": {"pg": 0})")));
  ASSERT_TRUE(agent.wait_state("db", 0, InstanceState::running));
  auto dependent = [&](const std::string& name, const std::string& on_change) {
    const auto marks = dir_.path() / (name + ".marks");
    return R"({"name": ")" + name + R"(", "provider": "bash", "depends_on": ["db"], "stop_timeout_s": 1,
        "on_dependency_change": ")" + on_change + R"(",
        "params": {"command": "trap 'echo hup $MOB_DB_ENDPOINTS_PG >> )" + marks.string() +
           R"('  HUP; echo started $MOB_DB_ENDPOINTS_PG >> )" + marks.string() +
           R"(; while true; do sleep 0.05; done"}})";
  };
  ASSERT_TRUE(agent.deploy(dependent("reloader", "signal:SIGHUP")));
  ASSERT_TRUE(agent.deploy(dependent("steady", "none")));
  ASSERT_TRUE(agent.wait_state("reloader", 0, InstanceState::running));
  ASSERT_TRUE(agent.wait_state("steady", 0, InstanceState::running));
  const auto db0 = endpoints(agent, "db");
  ASSERT_EQ(db0.size(), 1u);
  ASSERT_TRUE(wait_until([&] {
    return lines_of(dir_.path() / "reloader.marks") == std::vector<std::string>{"started " + db0[0]} &&
           lines_of(dir_.path() / "steady.marks") == std::vector<std::string>{"started " + db0[0]};
  }));
  const auto reloader_pid = agent.instance("reloader", 0)->pid;
  const auto steady_pid = agent.instance("steady", 0)->pid;

  auto scaled = tool(agent, {"scale", "db", "2"});
  ASSERT_EQ(scaled.exit_code, 0) << scaled.err;
  ASSERT_TRUE(wait_until([&] { return lines_of(dir_.path() / "reloader.marks").size() == 2; }))
      << agent.log();
  // The environment of a signalled process stays as it started: it asks where db is now.
  EXPECT_EQ(lines_of(dir_.path() / "reloader.marks")[1], "hup " + db0[0]);
  EXPECT_EQ(endpoints(agent, "db").size(), 2u);
  EXPECT_EQ(agent.instance("reloader", 0)->pid, reloader_pid);
  EXPECT_EQ(agent.instance("steady", 0)->pid, steady_pid);
  EXPECT_EQ(lines_of(dir_.path() / "steady.marks").size(), 1u);
  EXPECT_NE(agent.log().find("reloader.0 signalled (1): the endpoints of its dependencies changed"), std::string::npos);
  EXPECT_EQ(agent.log().find("steady.0 restarting"), std::string::npos);
  EXPECT_EQ(agent.log().find("steady.0 signalled"), std::string::npos);
}

TEST_F(Discovery, EndpointsListsOnlyWhatServesAndWatchPrintsEveryChange) {
  AgentProcess& a = start_at(2);
  AgentProcess& b = start_at(3);
  ASSERT_TRUE(everyone_sees_alive(2));
  Child watch({MOB_TOOL_BIN, "-a", b.endpoint(), "endpoints", "api", "--watch", "--json"}, dir_.path() / "watch.out");
  ASSERT_TRUE(a.deploy(sleeper("api", 2, R"("ports": {"http": 0, "admin": 0})")));
  ASSERT_TRUE(a.wait_state("api", 0, InstanceState::running) && a.wait_state("api", 1, InstanceState::running));
  std::set<std::string> hosts;
  std::vector<std::string> listed;
  ASSERT_TRUE(wait_until([&] { return (listed = endpoints(b, "api")).size() == 4; }));
  for (const auto& address : listed) {
    auto port = std::stoul(address.substr(address.find(':') + 1));
    EXPECT_TRUE(port >= 12000 && port <= 15999) << address;
    hosts.insert(address.substr(0, address.find(':')));
  }
  EXPECT_EQ(hosts, (std::set<std::string>{"127.0.0.2", "127.0.0.3"})) << "spread, each at its agent's address";

  auto table = tool(b, {"endpoints", "api", "--port", "http"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  std::istringstream rows(table.out);
  int row_count = 0;
  for (std::string row; std::getline(rows, row); ++row_count)
    EXPECT_NE(row.find("  running"), std::string::npos) << row;
  EXPECT_EQ(row_count, 2) << table.out;
  auto unknown = tool(b, {"endpoints", "api", "--port", "web"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("service api has no port named \"web\"; its ports: admin, http"), std::string::npos)
      << unknown.err;

  // Stopped: nothing serves; --all still lists the instances.
  auto stopped = tool(a, {"stop", "api"});
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err;
  ASSERT_TRUE(wait_until([&] { return endpoints(b, "api").empty(); }));
  ASSERT_TRUE(wait_until([&] { return tool(b, {"endpoints", "api", "--all"}).out.find("stopped") != std::string::npos; }));
  // --watch printed the full set (perhaps an empty one before it, if it looked before the
  // deploy, and sets between) and the empty set once stopped.
  ASSERT_TRUE(wait_until([&] {
    std::istringstream lines(watch.output());
    std::vector<std::size_t> sizes;
    for (std::string line; std::getline(lines, line);) {
      auto set = nlohmann::json::parse(line, nullptr, false);
      if (set.is_array()) sizes.push_back(set.size());
    }
    return sizes.size() >= 2 && sizes.back() == 0 && std::find(sizes.begin(), sizes.end(), 4u) != sizes.end();
  })) << watch.output();
  watch.signal(SIGTERM);
  EXPECT_NE(watch.wait(5s), -1);
}

TEST_F(Discovery, AFixedPortInUseOnOneAgentFailsThereAndRunsOnAnother) {
  AgentProcess& busy = start_at(2);
  Listener squatter("127.0.0.2", 0);  // something else listens on the port at busy's address
  ASSERT_TRUE(squatter.bound());
  const std::string port = std::to_string(squatter.port());
  ASSERT_TRUE(busy.deploy(sleeper("fixed", 1, R"("ports": {"api": )" + port + "}")));
  ASSERT_TRUE(busy.wait_state("fixed", 0, InstanceState::failed));
  EXPECT_EQ(busy.instance("fixed", 0)->reason, "port " + port + " is in use on " + busy.name());

  AgentProcess& free_one = start_at(3);
  ASSERT_TRUE(everyone_sees_alive(2));
  ASSERT_TRUE(wait_until([&] { return running_on(busy, "fixed", 0) == free_one.name(); }, 15s));
  EXPECT_EQ(endpoints(busy, "fixed"), std::vector<std::string>{"127.0.0.3:" + port});
  ASSERT_EQ(free_one.service_processes().size(), 1u);
  EXPECT_TRUE(busy.service_processes().empty());
}

TEST_F(Discovery, TwoInstancesOfAFixedPortSpreadAndAThirdWaitsSayingWhy) {
  AgentProcess& a = start_at(2);
  start_at(3);
  ASSERT_TRUE(everyone_sees_alive(2));
  ASSERT_TRUE(a.deploy(sleeper("metrics", 3, R"("ports": {"metrics": 15999})")));
  ASSERT_TRUE(wait_until([&] { return endpoints(a, "metrics").size() == 2; }));
  auto listed = endpoints(a, "metrics");
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed, (std::vector<std::string>{"127.0.0.2:15999", "127.0.0.3:15999"}));
  ASSERT_TRUE(wait_until([&] {
    for (std::uint32_t index = 0; index < 3; ++index) {
      auto instance = a.instance("metrics", index);
      if (instance && instance->state == InstanceState::pending &&
          instance->reason.find("already runs an instance listening on port 15999") != std::string::npos)
        return true;
    }
    return false;
  }));
}

}  // namespace discovery_test
}  // namespace mob::test
