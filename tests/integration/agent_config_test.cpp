// mob-agent's settings from a config file (--config): errors name FILE:LINE and the key,
// flags win over the file, --print-config feeds back; --log-format json lines parse as JSON;
// under a service manager ($NOTIFY_SOCKET) the agent says READY=1 once it serves and
// STOPPING=1 when it stops. Real mob-agent processes on loopback.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/agent.hpp"

namespace mob::test {
namespace agent_config_test {

class AgentConfig : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& name, const std::string& text) {
    auto path = dir_.path() / name;
    std::ofstream(path) << text;
    return path;
  }
  // mob-agent with these arguments, which must end before it starts an agent.
  CommandResult agent(std::vector<std::string> args) {
    args.insert(args.begin(), MOB_AGENT_BIN);
    return run_command(args, 10s);
  }
  // The value of `key` in --print-config output ("" when absent or commented out).
  static std::vector<std::string> values_of(const std::string& printed, const std::string& key) {
    std::vector<std::string> found;
    std::istringstream lines(printed);
    for (std::string line; std::getline(lines, line);)
      if (line.starts_with(key + " = ")) found.push_back(line.substr(key.size() + 3));
    return found;
  }

  TempDir dir_;
};

TEST_F(AgentConfig, AnUnknownKeyIsAnErrorNamingTheFileTheLineAndTheKey) {
  auto file = write("agent.conf", "# settings\nport = 7000\n\nprovders = bash\n");
  auto result = agent({"--config", file.string(), "--print-config"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find(file.string() + ":4: unknown key 'provders' (did you mean 'providers'?)"),
            std::string::npos) << result.err;
  EXPECT_EQ(result.out, "");
}

TEST_F(AgentConfig, ABadValueIsAnErrorNamingTheFileTheLineAndTheKey) {
  const std::pair<std::string, std::string> cases[] = {
      {"port = abc", ":2: key 'port': bad value \"abc\""},
      {"port = 70000", ":2: key 'port': expected 1 to 65535, got 70000"},
      {"providers = bash,podman", ":2: key 'providers': unknown provider \"podman\""},
      {"tag = rack", ":2: key 'tag': expected KEY=VALUE, got \"rack\""},
      {"log-format = yaml", ":2: key 'log-format': expected text or json"},
      {"probe-interval-ms = 5", ":2: key 'probe-interval-ms' must be at least 10, got 5"},
      {"port 7000", ":2: expected KEY = VALUE, got \"port 7000\""},
      {"config = /etc/other.conf", ":2: unknown key 'config' (--config is for the command line only)"},
  };
  for (const auto& [line, expected] : cases) {
    auto file = write("bad.conf", "tag = a=b\n" + line + "\n");
    auto result = agent({"--config", file.string(), "--print-config"});
    EXPECT_EQ(result.exit_code, 2) << line;
    EXPECT_NE(result.err.find(file.string() + expected), std::string::npos) << line << ": " << result.err;
  }
}

TEST_F(AgentConfig, AKeyGivenTwiceIsAnErrorButJoinAndTagAddUp) {
  auto twice = write("twice.conf", "port = 7000\nport = 7002\n");
  auto result = agent({"--config", twice.string(), "--print-config"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find(twice.string() + ":2: key 'port' is given again (first on line 1)"), std::string::npos)
      << result.err;

  auto lists = write("lists.conf", "tag = rack=r1\ntag = zone=eu\njoin = 127.0.0.1:7000,127.0.0.1:7002\n"
                                   "join = 127.0.0.1:7004\n");
  auto printed = agent({"--config", lists.string(), "--print-config"});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_EQ(values_of(printed.out, "tag"), (std::vector<std::string>{"rack=r1", "zone=eu"}));
  EXPECT_EQ(values_of(printed.out, "join"),
            (std::vector<std::string>{"127.0.0.1:7000,127.0.0.1:7002", "127.0.0.1:7004"}));
}

TEST_F(AgentConfig, AFlagWinsOverTheFile) {
  auto file = write("agent.conf", "port = 7000\nlog-level = debug\ntag = rack=r1\ntag = zone=eu\n"
                                  "suspicion-mult = 5.5   # a comment after the value\n");
  auto printed = agent({"--config", file.string(), "-p", "7100", "--tag", "rack=r9", "--print-config"});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_EQ(values_of(printed.out, "port"), std::vector<std::string>{"7100"});
  EXPECT_EQ(values_of(printed.out, "tag"), std::vector<std::string>{"rack=r9"}) << "the flag's tags replace the file's";
  EXPECT_EQ(values_of(printed.out, "log-level"), std::vector<std::string>{"debug"});
  EXPECT_EQ(values_of(printed.out, "suspicion-mult"), std::vector<std::string>{"5.5"});
  // A flag also wins over a value the file gets wrong: only the settings in effect are checked.
  auto wrong = write("wrong-port.conf", "port = abc\n");
  EXPECT_EQ(agent({"--config", wrong.string(), "-p", "7100", "--print-config"}).exit_code, 0);
}

TEST_F(AgentConfig, PrintConfigFedBackGivesTheSameSettings) {
  auto file = write("agent.conf", "port = 7000\nproviders = bash,docker\njoin = 127.0.0.1:7100\n"
                                  "tag = rack=r1\nname = node-a\ninsecure = true\nsuspicion-mult = 4.25\n"
                                  "log-format = json\nmax-log-line-bytes = 1000\n");
  auto first = agent({"--config", file.string(), "--heartbeat-ms", "500", "--print-config"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(values_of(first.out, "heartbeat-ms"), std::vector<std::string>{"500"});
  EXPECT_EQ(values_of(first.out, "insecure"), std::vector<std::string>{"true"});
  auto printed = write("printed.conf", first.out);
  auto second = agent({"--config", printed.string(), "--print-config"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out, first.out);
  // Unset settings are printed commented out, so the file reads back.
  EXPECT_NE(first.out.find("\n# data-dir =\n"), std::string::npos) << first.out;
}

TEST_F(AgentConfig, AMissingConfigFileIsAnError) {
  auto result = agent({"--config", (dir_.path() / "nope.conf").string(), "--print-config"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("cannot read the config file " + (dir_.path() / "nope.conf").string()),
            std::string::npos) << result.err;
}

TEST_F(AgentConfig, AnAgentRunsFromItsConfigFileAndLogsJsonLines) {
  int port = free_port_pair();
  auto data = dir_.path() / "data";
  auto file = write("agent.conf", "port = " + std::to_string(port) + "\ndata-dir = " + data.string() +
                                      "\nname = from-config\nlog-format = json\nlog-level = debug\n");
  Child child({MOB_AGENT_BIN, "--config", file.string()}, dir_.path() / "agent.log");
  auto version = [&] { return run_command({MOB_TOOL_BIN, "-p", std::to_string(port), "--timeout", "300", "version"}); };
  ASSERT_TRUE(wait_until([&] { return version().exit_code == 0 || !child.running(); }, 15s) && child.running())
      << child.output();
  EXPECT_NE(version().out.find("agent from-config"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(data / "state.db"));
  child.signal(SIGTERM);
  ASSERT_NE(child.wait(20s), -1);

  std::istringstream lines(child.output());
  int parsed = 0;
  std::set<std::string> components;
  for (std::string line; std::getline(lines, line);) {
    nlohmann::json object;
    ASSERT_NO_THROW(object = nlohmann::json::parse(line)) << "not JSON: " << line;
    for (const char* field : {"time", "level", "component", "message"})
      ASSERT_TRUE(object.contains(field) && object[field].is_string()) << field << " missing in " << line;
    components.insert(object["component"].get<std::string>());
    ++parsed;
  }
  EXPECT_GE(parsed, 3) << child.output();
  EXPECT_TRUE(components.contains("agent")) << child.output();
}

// Under systemd, stderr is the journal ($JOURNAL_STREAM names it): each line starts with its
// syslog priority, which journald strips and keeps as the entry's priority.
TEST_F(AgentConfig, LinesToTheJournalStartWithTheirPriority) {
  for (bool journal : {true, false}) {
    auto log = dir_.path() / (journal ? "journal.log" : "redirected.log");
    std::ofstream(log).flush();
    struct stat file {};
    ASSERT_EQ(::stat(log.c_str(), &file), 0);
    // A JOURNAL_STREAM that names another stream (stderr redirected by a shell) is not the journal.
    std::string stream = std::to_string(file.st_dev) + ":" + std::to_string(file.st_ino + (journal ? 0 : 1));
    int port = free_port_pair();
    Child child({MOB_AGENT_BIN, "--config", "", "-p", std::to_string(port), "--log-format", "json", "--data-dir",
                 (dir_.path() / ("data-" + std::to_string(journal))).string()},
                log, {{"JOURNAL_STREAM", stream}});
    ASSERT_TRUE(wait_until([&] { return child.output().find("listening on") != std::string::npos || !child.running(); }, 15s))
        << child.output();
    child.signal(SIGTERM);
    ASSERT_NE(child.wait(20s), -1);
    std::istringstream lines(child.output());
    for (std::string line; std::getline(lines, line);) {
      if (!journal) {
        EXPECT_TRUE(line.starts_with("{")) << line;
        continue;
      }
      ASSERT_TRUE(line.starts_with("<6>{") || line.starts_with("<4>{") || line.starts_with("<3>{")) << line;
      auto object = nlohmann::json::parse(line.substr(3));
      const std::map<std::string, std::string> priority = {{"info", "<6>"}, {"warn", "<4>"}, {"error", "<3>"}};
      EXPECT_EQ(line.substr(0, 3), priority.at(object["level"].get<std::string>())) << line;
    }
  }
}

// --log-format json: lines about a service or an instance carry them as fields, so a log
// pipeline can select one service's lines without parsing messages.
TEST_F(AgentConfig, JsonLogLinesNameTheServiceAndInstanceTheyAreAbout) {
  AgentProcess agent(dir_.path() / "json-fields", "bash", {"--log-format", "json"});
  ASSERT_TRUE(agent.deploy(R"({"name": "jsonlog", "provider": "bash", "instances": 1,
                               "params": {"command": "exec sleep 1000"}})"));
  ASSERT_TRUE(agent.wait_state("jsonlog", 0, InstanceState::running));
  bool deployed = false, running = false, started = false;
  ASSERT_TRUE(wait_until([&] {
    std::istringstream lines(agent.log());
    for (std::string line; std::getline(lines, line);) {
      if (!line.starts_with("{")) continue;
      auto object = nlohmann::json::parse(line);
      const std::string message = object["message"];
      if (message == "deployed jsonlog version 1")
        deployed = object.value("service", "") == "jsonlog" && !object.contains("instance");
      if (message.starts_with("jsonlog.0 running, pid"))
        running = object.value("service", "") == "jsonlog" && object.value("instance", "") == "jsonlog.0" &&
                  object["component"] == "supervisor";
      if (message.starts_with("jsonlog.0: started as pid"))
        started = object.value("instance", "") == "jsonlog.0" && object["component"] == "bash";
    }
    return deployed && running && started;
  }, 10s)) << "deployed " << deployed << ", running " << running << ", started " << started << "\n" << agent.log();
}

// A datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
      ADD_FAILURE() << "cannot bind " << path << ": " << std::strerror(errno);
  }
  ~NotifySocket() { ::close(fd_); }
  // Every message received so far, concatenated with newlines.
  std::string received() {
    char buffer[4096];
    for (ssize_t n; (n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT)) > 0;) text_.append(buffer, n).append("\n");
    return text_;
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::string text_;
};

TEST_F(AgentConfig, UnderAServiceManagerTheAgentSaysReadyOnceItServesAndStoppingWhenItStops) {
  NotifySocket notify(dir_.path() / "notify.sock");
  int port = free_port_pair();
  Child child({MOB_AGENT_BIN, "--config", "", "-p", std::to_string(port), "--data-dir", (dir_.path() / "data").string()},
              dir_.path() / "agent.log", {{"NOTIFY_SOCKET", (dir_.path() / "notify.sock").string()}});
  ASSERT_TRUE(wait_until([&] { return notify.received().find("READY=1") != std::string::npos || !child.running(); }, 15s))
      << child.output();
  // READY=1 comes after the bind: the agent answers at once.
  EXPECT_EQ(run_command({MOB_TOOL_BIN, "-p", std::to_string(port), "--timeout", "2000", "version"}).exit_code, 0);
  // libsystemd was loaded for the message and unloaded after it.
  auto maps = read_file("/proc/" + std::to_string(child.pid()) + "/maps");
  EXPECT_NE(maps.find("libc"), std::string::npos);
  EXPECT_EQ(maps.find("libsystemd"), std::string::npos) << "libsystemd stays mapped after READY=1";
  EXPECT_EQ(notify.received().find("STOPPING=1"), std::string::npos);
  child.signal(SIGTERM);
  ASSERT_NE(child.wait(20s), -1);
  EXPECT_NE(notify.received().find("STOPPING=1"), std::string::npos) << notify.received();
  EXPECT_EQ(child.output().find("WARN"), std::string::npos) << child.output();
}

TEST_F(AgentConfig, WithoutAServiceManagerNothingIsSentAndNothingIsLoaded) {
  AgentProcess agent(dir_.path() / "data", "bash");
  std::ifstream maps("/proc/" + std::to_string(agent.pid()) + "/maps");
  std::string text((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("libc"), std::string::npos);
  EXPECT_EQ(text.find("libsystemd"), std::string::npos) << "libsystemd is loaded only to notify";
}

}  // namespace agent_config_test
}  // namespace mob::test
