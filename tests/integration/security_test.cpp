// Real mob-agent and mob-tool processes with CURVE keys on loopback: keyed agents form a
// network and deploy; a wrong key cannot join, command or subscribe; a keyless listener on a
// non-loopback address refuses to start; SIGHUP reloads the operators' keys.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "bus/security.hpp"
#include "bus/transport.hpp"
#include "tests/support/agent.hpp"

namespace mob::test {
namespace security_integration_test {

std::string sleeper(const std::string& name) {
  return nlohmann::json{{"name", name},
                        {"provider", "bash"},
                        {"params", {{"command", "echo started; exec sleep 1000"}}}}
      .dump();
}

mode_t mode_of(const std::filesystem::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

class Security : public ::testing::Test {
 protected:
  void SetUp() override {
    network_ = keygen("network");
    operator_ = keygen("operator");
    stranger_ = keygen("stranger");
    std::ofstream(authorized_) << "# operators\n" << read_file(operator_ / "mob.pub");
  }

  void TearDown() override {
    for (auto& agent : agents_) agent->crash();
  }

  // `mob-tool keygen --out DIR/NAME`; the directory holding mob.key and mob.pub.
  std::filesystem::path keygen(const std::string& name) {
    auto out = dir_.path() / name;
    auto result = run_command({MOB_TOOL_BIN, "keygen", "--out", out.string()});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return out;
  }

  std::vector<std::string> keyed(const std::filesystem::path& keys = {}) {
    return {"--key-file", ((keys.empty() ? network_ : keys) / "mob.key").string(),
            "--authorized-keys", authorized_.string()};
  }

  AgentProcess& start(std::vector<std::string> extra) {
    auto dir = dir_.path() / ("agent" + std::to_string(agents_.size()));
    agents_.push_back(std::make_unique<AgentProcess>(dir, "bash", std::move(extra)));
    return *agents_.back();
  }

  // mob-tool against `agent`, with `key_args` placed before the command. A refusal ends the
  // call as soon as it arrives, so the long timeout costs nothing unless the agent is silent.
  CommandResult tool(AgentProcess& agent, std::vector<std::string> key_args,
                     std::vector<std::string> command) {
    std::vector<std::string> argv = {MOB_TOOL_BIN, "-a", agent.endpoint(), "--timeout", "10000"};
    argv.insert(argv.end(), key_args.begin(), key_args.end());
    argv.insert(argv.end(), command.begin(), command.end());
    return run_command(argv, 20s);
  }

  std::vector<std::string> as_operator() {
    return {"--key-file", (operator_ / "mob.key").string(), "--server-key",
            (network_ / "mob.pub").string()};
  }

  std::vector<std::string> as_stranger() {
    return {"--key-file", (stranger_ / "mob.key").string(), "--server-key",
            (network_ / "mob.pub").string()};
  }

  std::filesystem::path write_spec(const std::string& name) {
    auto path = dir_.path() / (name + ".json");
    std::ofstream(path) << sleeper(name);
    return path;
  }

  static std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }

  TempDir dir_;
  std::filesystem::path network_, operator_, stranger_;
  std::filesystem::path authorized_ = dir_.path() / "authorized-keys";
  std::vector<std::unique_ptr<AgentProcess>> agents_;
};

TEST_F(Security, KeyedAgentsFormANetworkAndAnOperatorKeyDeploys) {
  auto& a = start(keyed());
  auto& b = start([&] {
    auto args = keyed();
    args.insert(args.end(), {"-j", a.endpoint()});
    return args;
  }());
  auto& c = start([&] {
    auto args = keyed();
    args.insert(args.end(), {"-j", a.endpoint()});
    return args;
  }());
  ASSERT_TRUE(wait_until(
      [&] {
        for (auto* agent : {&a, &b, &c}) {
          std::size_t alive = 0;
          for (const auto& member : agent->members()) alive += member.state == MemberState::alive;
          if (alive != 3) return false;
        }
        return true;
      },
      20s))
      << a.log();

  auto deployed = tool(b, as_operator(), {"deploy", write_spec("keyed").string()});
  EXPECT_EQ(deployed.exit_code, 0) << deployed.out << deployed.err;
  ASSERT_TRUE(a.wait_state("keyed", 0, InstanceState::running)) << a.log();
  auto status = tool(c, {"--key-file", (network_ / "mob.key").string()}, {"status", "keyed"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("running"), std::string::npos) << status.out;

  // The data dir and what the agent writes in it are for its user alone.
  auto node = a.instance("keyed", 0)->node;
  for (auto& agent : agents_) {
    EXPECT_EQ(mode_of(agent->data_dir()), 0700u);
    EXPECT_EQ(mode_of(agent->data_dir() / "agent-id"), 0600u);
    EXPECT_EQ(mode_of(agent->data_dir() / "lock"), 0600u);
    EXPECT_EQ(mode_of(agent->data_dir() / "state.db"), 0600u);
    if (std::filesystem::exists(agent->data_dir() / "state.db-wal")) {
      EXPECT_EQ(mode_of(agent->data_dir() / "state.db-wal"), 0600u);
    }
    if (agent->name() != node) continue;
    EXPECT_EQ(mode_of(agent->data_dir() / "logs"), 0700u);
    for (const auto& file : std::filesystem::directory_iterator(agent->data_dir() / "logs"))
      EXPECT_EQ(mode_of(file.path()), 0600u) << file.path();
  }
}

TEST_F(Security, AnAgentWithTheWrongKeyCannotJoin) {
  auto& a = start(keyed());
  auto& b = start([&] {
    auto args = keyed();
    args.insert(args.end(), {"-j", a.endpoint()});
    return args;
  }());
  ASSERT_TRUE(wait_until([&] { return a.sees(b.name()) == MemberState::alive; }, 15s));
  auto& intruder = start({"--key-file", (stranger_ / "mob.key").string(), "-j", a.endpoint()});
  // The intruder keeps retrying its join: give it a few rounds, then neither agent may know it.
  EXPECT_FALSE(wait_until(
      [&] { return a.sees(intruder.name()).has_value() || b.sees(intruder.name()).has_value(); },
      4s));
  EXPECT_EQ(intruder.members().size(), 1u);  // only itself: it learned nothing from A
  EXPECT_NE(a.log().find("wrong server key"), std::string::npos) << a.log();
}

TEST_F(Security, AToolWithoutAnAuthorizedKeyIsNotAuthorizedAndDeploysNothing) {
  auto& a = start(keyed());
  auto spec = write_spec("refused").string();

  auto keyless = tool(a, {}, {"deploy", spec});
  EXPECT_EQ(keyless.exit_code, 1);
  EXPECT_NE(keyless.err.find("not authorized"), std::string::npos) << keyless.err;
  EXPECT_NE(keyless.err.find("requires a key"), std::string::npos) << keyless.err;

  for (int attempt = 0; attempt < 3; ++attempt) {
    auto stranger = tool(a, as_stranger(), {"deploy", spec});
    EXPECT_EQ(stranger.exit_code, 1);
    EXPECT_NE(stranger.err.find("not authorized"), std::string::npos) << stranger.err;
    EXPECT_NE(stranger.err.find("refused this key"), std::string::npos) << stranger.err;
  }
  auto members = tool(a, as_stranger(), {"members"});
  EXPECT_EQ(members.exit_code, 1);
  EXPECT_NE(members.err.find("not authorized"), std::string::npos) << members.err;

  auto status = a.request(StatusRequest{}, 3s);
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_TRUE(std::get<StatusReply>(*status).services.empty());
  // Every refusal of the stranger's key is one source: logged once, not once per attempt.
  auto stranger_key = read_file(stranger_ / "mob.pub");
  stranger_key.pop_back();
  EXPECT_EQ(count(a.log(), "refused key " + stranger_key), 1u) << a.log();
}

TEST_F(Security, AToolWithTheWrongServerKeyIsToldToCheckIt) {
  auto& a = start(keyed());
  // The agent cannot decrypt the handshake and drops it silently: the tool says so after
  // its timeout.
  auto result = run_command({MOB_TOOL_BIN, "-a", a.endpoint(), "--timeout", "1000", "--key-file",
                             (operator_ / "mob.key").string(), "--server-key",
                             (stranger_ / "mob.pub").string(), "members"},
                            20s);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("not authorized"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("--server-key"), std::string::npos) << result.err;
}

TEST_F(Security, ASubscriberWithoutAKeyReceivesNoEvent) {
  auto& a = start(keyed());
  const std::string events = "tcp://127.0.0.1:" + std::to_string(a.port() + 1);
  zmq::context_t context;
  zmq::socket_t keyless(context, zmq::socket_type::sub);
  zmq::socket_t keyed_sub(context, zmq::socket_type::sub);
  auto network = load_key_file(network_ / "mob.key");
  ASSERT_TRUE(network);
  make_curve_client(keyed_sub, ClientKeys{*network, network->public_key});
  for (auto* socket : {&keyless, &keyed_sub}) {
    socket->set(zmq::sockopt::linger, 0);
    socket->set(zmq::sockopt::subscribe, "");
    socket->connect(events);
  }
  // Deploy until the keyed subscriber hears of it (its subscription may arrive late).
  int deploys = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        a.deploy(sleeper("evented-" + std::to_string(deploys++)));
        zmq::pollitem_t item{keyed_sub.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::chrono::milliseconds(500));
        return recv_frames(keyed_sub).has_value();
      },
      15s));
  // What reached the keyed subscriber was published to every connected subscriber.
  zmq::pollitem_t item{keyless.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(1000));
  EXPECT_FALSE(recv_frames(keyless).has_value());
}

TEST_F(Security, ANonLoopbackListenerWithoutAKeyRefusesToStart) {
  const int port = free_port_pair();
  // Refused before anything listens: no listener is ever opened on 0.0.0.0 here.
  auto refused = run_command({MOB_AGENT_BIN, "-p", std::to_string(port), "-P", "bash", "--bind",
                              "0.0.0.0", "--data-dir", (dir_.path() / "open").string()},
                             20s);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("refusing to listen on 0.0.0.0 without a key"), std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("--key-file"), std::string::npos);
  EXPECT_NE(refused.err.find("--insecure"), std::string::npos);

  auto half =
      run_command({MOB_AGENT_BIN, "-p", std::to_string(port), "-P", "bash", "--authorized-keys",
                   authorized_.string(), "--data-dir", (dir_.path() / "half").string()},
                  20s);
  EXPECT_EQ(half.exit_code, 1);
  EXPECT_NE(half.err.find("--authorized-keys needs --key-file"), std::string::npos) << half.err;
}

TEST_F(Security, AKeyFileOthersMayReadIsRefused) {
  auto key = network_ / "mob.key";
  ::chmod(key.c_str(), 0644);
  auto result =
      run_command({MOB_AGENT_BIN, "-p", std::to_string(free_port_pair()), "-P", "bash",
                   "--key-file", key.string(), "--data-dir", (dir_.path() / "loose").string()},
                  20s);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("chmod 600"), std::string::npos) << result.err;
}

TEST_F(Security, SighupReloadsTheAuthorizedKeys) {
  auto& a = start(keyed());
  auto before = tool(a, as_stranger(), {"members"});
  ASSERT_EQ(before.exit_code, 1) << a.log();
  EXPECT_NE(before.err.find("not authorized"), std::string::npos) << before.err << a.log();

  std::ofstream(authorized_, std::ios::app) << read_file(stranger_ / "mob.pub");
  ASSERT_EQ(::kill(a.pid(), SIGHUP), 0);
  EXPECT_TRUE(wait_until([&] { return tool(a, as_stranger(), {"members"}).exit_code == 0; }, 10s))
      << a.log();
  EXPECT_NE(a.log().find("reloaded"), std::string::npos);
  EXPECT_TRUE(a.answers());  // SIGHUP does not stop the agent
}

}  // namespace security_integration_test
}  // namespace mob::test
