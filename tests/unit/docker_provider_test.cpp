// The docker provider: its params, shell splitting and log demultiplexing (pure), and the
// provider itself against a real engine on DOCKER_HOST (start one with
// `eval "$(scripts/container-engine.sh start DIR)"`).
#include <poll.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "providers/docker/docker_client.hpp"
#include "providers/docker/docker_logs.hpp"
#include "providers/docker/docker_params.hpp"
#include "providers/docker/docker_provider.hpp"
#include "providers/docker/docker_testing.hpp"
#include "tests/support/process.hpp"

namespace mob {
namespace docker_provider_test {

using namespace std::chrono_literals;
using docker::split_shell_words;
using nlohmann::json;

constexpr const char* kImage = "localhost/mob-busybox:latest";
constexpr const char* kLoopArgs = R"(/bin/sh -c "while true; do echo ciao; sleep 1; done")";

std::vector<std::string> words(std::string_view line) {
  auto split = split_shell_words(line);
  EXPECT_TRUE(split.has_value()) << line << ": " << split.error().message;
  return split.value_or(std::vector<std::string>{});
}

std::string params_error(const json& params) {
  auto checked = check_docker_params(params);
  if (checked) return "";
  EXPECT_EQ(checked.error().code, Errc::invalid_argument);
  return checked.error().message;
}

// ---- shell splitting ----------------------------------------------------------------------

TEST(ShellWords, BlanksSeparateWords) {
  EXPECT_EQ(words("  a\tbb \n ccc  "), (std::vector<std::string>{"a", "bb", "ccc"}));
  EXPECT_TRUE(words("").empty());
  EXPECT_TRUE(words(" \t ").empty());
}

TEST(ShellWords, SingleQuotesAreLiteral) {
  EXPECT_EQ(words(R"(echo 'a  b' 'x\"y$z')"), (std::vector<std::string>{"echo", "a  b", R"(x\"y$z)"}));
}

TEST(ShellWords, DoubleQuotesHonourOnlyTheirEscapes) {
  EXPECT_EQ(words(R"("a \"b\" \\ \$x \n")"), (std::vector<std::string>{R"(a "b" \ $x \n)"}));
}

TEST(ShellWords, BackslashOutsideQuotesEscapesTheNextCharacter) {
  EXPECT_EQ(words(R"(a\ b c\'d \\)"), (std::vector<std::string>{"a b", "c'd", "\\"}));
  EXPECT_EQ(words("one\\\ntwo"), (std::vector<std::string>{"onetwo"}));
  EXPECT_EQ(words("end\\"), (std::vector<std::string>{"end\\"}));
}

TEST(ShellWords, QuotedPartsJoinAndEmptyQuotesMakeAnEmptyWord) {
  EXPECT_EQ(words(R"(a'b'"c"d '' "")"), (std::vector<std::string>{"abcd", "", ""}));
}

TEST(ShellWords, TheBusyboxLoopCommandSplitsIntoThreeWords) {
  EXPECT_EQ(words(kLoopArgs), (std::vector<std::string>{
                                  "/bin/sh", "-c", "while true; do echo ciao; sleep 1; done"}));
}

TEST(ShellWords, UnterminatedQuotesAreErrors) {
  for (const char* line : {"echo 'abc", R"(echo "abc)", R"(echo "ab\")"}) {
    auto split = split_shell_words(line);
    ASSERT_FALSE(split.has_value()) << line;
    EXPECT_NE(split.error().message.find("unterminated"), std::string::npos)
        << split.error().message;
  }
}

// ---- params ----------------------------------------------------------------------------

TEST(DockerParams, AnImageAloneIsEnough) {
  EXPECT_EQ(params_error({{"image", "busybox"}}), "");
  auto parsed = docker::parse_docker_params({{"image", "busybox"}});
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->pull, docker::PullPolicy::missing);
  EXPECT_FALSE(parsed->args.has_value());
}

TEST(DockerParams, EveryFieldIsAccepted) {
  json params = {{"image", "busybox:1.36"},
                 {"args", kLoopArgs},
                 {"entrypoint", {"/bin/sh", "-c"}},
                 {"env", {{"A", "1"}, {"B", "two words"}}},
                 {"workdir", "/tmp"},
                 {"ports", {"8080:80", "5353:53/udp"}},
                 {"volumes", {"/srv/data:/data:ro", "cache:/cache"}},
                 {"pull", "never"},
                 {"labels", {{"team", "infra"}}}};
  auto parsed = docker::parse_docker_params(params);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->args->size(), 3u);
  EXPECT_EQ(parsed->pull, docker::PullPolicy::never);
  ASSERT_EQ(parsed->ports.size(), 2u);
  EXPECT_EQ(parsed->ports[1].host, 5353);
  EXPECT_EQ(parsed->ports[1].protocol, "udp");
}

TEST(DockerParams, ArgsAsAnArrayAreTakenVerbatim) {
  auto parsed = docker::parse_docker_params({{"image", "x"}, {"args", {"a b", "'c'"}}});
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed->args, (std::vector<std::string>{"a b", "'c'"}));
}

TEST(DockerParams, ErrorsNameTheField) {
  EXPECT_EQ(params_error("busybox"), "params: must be an object with at least \"image\"");
  EXPECT_EQ(params_error(json::object()).rfind("params.image: required", 0), 0u);
  EXPECT_EQ(params_error({{"image", ""}}).rfind("params.image: ", 0), 0u);
  EXPECT_EQ(params_error({{"image", 3}}).rfind("params.image: ", 0), 0u);
  EXPECT_EQ(params_error({{"image", "x"}, {"args", 3}}).rfind("params.args: ", 0), 0u);
  EXPECT_EQ(params_error({{"image", "x"}, {"args", {"a", 1}}}).rfind("params.args[1]: ", 0), 0u);
  EXPECT_EQ(params_error({{"image", "x"}, {"args", "sh -c 'oops"}})
                .rfind("params.args: unterminated single quote", 0),
            0u);
  EXPECT_EQ(params_error({{"image", "x"}, {"entrypoint", true}}).rfind("params.entrypoint: ", 0), 0u);
  EXPECT_EQ(params_error({{"image", "x"}, {"env", {"A=1"}}}).rfind("params.env: ", 0), 0u);
  EXPECT_EQ(params_error({{"image", "x"}, {"env", {{"A", 1}}}}).rfind("params.env.A: ", 0), 0u);
  EXPECT_EQ(params_error({{"image", "x"}, {"workdir", 1}}).rfind("params.workdir: ", 0), 0u);
  EXPECT_EQ(params_error({{"image", "x"}, {"labels", {{"k", 1}}}}).rfind("params.labels.k: ", 0), 0u);
  EXPECT_EQ(params_error({{"image", "x"}, {"labels", {{"mob.agent", "me"}}}})
                .rfind("params.labels.mob.agent: ", 0),
            0u);
  EXPECT_EQ(params_error({{"image", "x"}, {"pull", "sometimes"}}),
            "params.pull: must be one of missing, always, never");
}

TEST(DockerParams, PortsMustBeHostColonContainerWithAProtocol) {
  for (const char* bad : {"80", "a:80", "0:80", "80:70000", "80:80/sctp", ":80", "80:"}) {
    EXPECT_EQ(params_error({{"image", "x"}, {"ports", {"1:1", bad}}}).rfind("params.ports[1]: ", 0),
              0u)
        << bad;
  }
  EXPECT_EQ(params_error({{"image", "x"}, {"ports", "80:80"}}).rfind("params.ports: ", 0), 0u);
}

TEST(DockerParams, VolumesMustBeHostColonAbsoluteContainerPathWithAMode) {
  for (const char* bad : {"/data", ":/data", "/a:data", "/a:/b:rx", "/a:/b:ro:x"}) {
    EXPECT_EQ(params_error({{"image", "x"}, {"volumes", {bad}}}).rfind("params.volumes[0]: ", 0), 0u)
        << bad;
  }
}

TEST(DockerParams, UnknownFieldsAreErrorsListingTheKnownOnes) {
  EXPECT_EQ(params_error({{"image", "x"}, {"foo", 1}}),
            "params.foo: unknown field; docker params are image, args, entrypoint, env, "
            "workdir, ports, volumes, pull, labels");
}

TEST(DockerParams, CreateBodyCarriesEverythingAndMobLabels) {
  auto parsed = docker::parse_docker_params({{"image", "busybox"},
                                             {"args", "echo hi"},
                                             {"entrypoint", "/bin/sh -c"},
                                             {"env", {{"A", "1"}}},
                                             {"workdir", "/w"},
                                             {"ports", {"8080:80"}},
                                             {"volumes", {"/h:/c:ro"}},
                                             {"labels", {{"team", "infra"}}}});
  ASSERT_TRUE(parsed);
  auto body = docker::container_create_body(*parsed, {"agent1", "web", 2});
  EXPECT_EQ(body["Image"], "busybox");
  EXPECT_EQ(body["Cmd"], json({"echo", "hi"}));
  EXPECT_EQ(body["Entrypoint"], json({"/bin/sh", "-c"}));
  EXPECT_EQ(body["Env"], json({"A=1"}));
  EXPECT_EQ(body["WorkingDir"], "/w");
  EXPECT_EQ(body["Labels"], json({{"team", "infra"},
                                  {"mob.agent", "agent1"},
                                  {"mob.service", "web"},
                                  {"mob.instance", "2"}}));
  EXPECT_TRUE(body["ExposedPorts"].contains("80/tcp"));
  EXPECT_EQ(body["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
  EXPECT_EQ(body["HostConfig"]["Binds"], json({"/h:/c:ro"}));
}

// Service discovery: the spec's named ports are published from the host port the agent chose
// to the container port, and the container gets the variables (docs/spec.md).
TEST(DockerParams, DiscoveryPublishesTheChosenPortsAndAddsTheVariables) {
  auto parsed = docker::parse_docker_params({{"image", "busybox"}, {"env", {{"A", "1"}}}, {"ports", {"8080:80"}}});
  ASSERT_TRUE(parsed);
  docker::add_discovery(*parsed, {{"MOB_HOST", "10.0.0.5"}, {"MOB_PORT_HTTP", "31012"}},
                        {{"http", 31012, 8000}, {"metrics", 24000, 24000}});
  auto body = docker::container_create_body(*parsed, {"agent1", "web", 0});
  EXPECT_EQ(body["Env"], json({"A=1", "MOB_HOST=10.0.0.5", "MOB_PORT_HTTP=31012"}));
  EXPECT_EQ(body["ExposedPorts"], json({{"80/tcp", json::object()}, {"8000/tcp", json::object()},
                                        {"24000/tcp", json::object()}}));
  const auto& bindings = body["HostConfig"]["PortBindings"];
  EXPECT_EQ(bindings["80/tcp"][0]["HostPort"], "8080");
  EXPECT_EQ(bindings["8000/tcp"][0]["HostPort"], "31012");
  EXPECT_EQ(bindings["24000/tcp"][0]["HostPort"], "24000");
}

TEST(DockerNames, ContainerNamesAreSanitized) {
  EXPECT_EQ(docker::container_name("a1", "web.0"), "mob-a1-web.0");
  EXPECT_EQ(docker::container_name("a/b c", "wé b.1"), "mob-a_b_c-w___b.1");
}

TEST(DockerNames, ImageReferencesSplitIntoRepoAndTag) {
  using Pair = std::pair<std::string, std::string>;
  EXPECT_EQ(docker::split_image_reference("busybox"), (Pair{"busybox", "latest"}));
  EXPECT_EQ(docker::split_image_reference("busybox:1.36"), (Pair{"busybox", "1.36"}));
  EXPECT_EQ(docker::split_image_reference("reg:5000/a/b"), (Pair{"reg:5000/a/b", "latest"}));
  EXPECT_EQ(docker::split_image_reference("reg:5000/a/b:v2"), (Pair{"reg:5000/a/b", "v2"}));
  EXPECT_EQ(docker::split_image_reference("a@sha256:ff"), (Pair{"a@sha256:ff", ""}));
}

TEST(DockerHost, OnlyUnixSocketsAreSupported) {
  EXPECT_EQ(docker::engine_socket_from_docker_host(""), "/var/run/docker.sock");
  EXPECT_EQ(docker::engine_socket_from_docker_host("unix:///tmp/e.sock"), "/tmp/e.sock");
  auto tcp = docker::engine_socket_from_docker_host("tcp://1.2.3.4:2375");
  ASSERT_FALSE(tcp);
  EXPECT_NE(tcp.error().message.find("unix:///"), std::string::npos);
}

// ---- log demultiplexing ----------------------------------------------------------------

std::string frame(char stream, std::string_view payload) {
  std::string out{stream, 0, 0, 0};
  const auto size = static_cast<std::uint32_t>(payload.size());
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((size >> shift) & 0xFF);
  return out + std::string(payload);
}

std::string demux(std::string_view stream, std::size_t piece) {
  docker::LogDemuxer demuxer;
  std::string out;
  for (std::size_t at = 0; at < stream.size(); at += piece)
    demuxer.feed(stream.substr(at, piece), [&](std::string_view bytes) { out += bytes; });
  return out;
}

TEST(LogDemuxer, FramesSplitAnywhereComeOutWhole) {
  const std::string stream = frame(1, "hello\n") + frame(2, "oops\n") + frame(1, "") +
                             frame(1, std::string(300, 'x'));
  const std::string expected = "hello\noops\n" + std::string(300, 'x');
  for (std::size_t piece : {1u, 3u, 7u, 8u, 9u, 1000u}) EXPECT_EQ(demux(stream, piece), expected);
}

TEST(LogDemuxer, AFrameCutShortYieldsWhatArrived) {
  std::string stream = frame(1, "whole\n") + frame(1, "partial line\n");
  stream.resize(stream.size() - 6);
  EXPECT_EQ(demux(stream, 5), "whole\npartial");
  EXPECT_EQ(demux(frame(1, "a").substr(0, 5), 2), "");
}

TEST(LogDemuxer, ANonFrameHeaderPassesTheRestThroughRaw) {
  EXPECT_EQ(demux("plain tty output\n", 4), "plain tty output\n");
  EXPECT_EQ(demux(frame(1, "ok\n") + "garbage!more", 3), "ok\ngarbage!more");
}

std::string select(std::string_view log, std::uint32_t tail, bool from_offset, std::uint64_t offset,
                   std::uint64_t* next, std::size_t cap = docker::kMaxLogChunkBytes) {
  docker::LogSelector selector(tail, from_offset, offset, cap);
  for (char c : log)
    if (!selector.consume(std::string_view(&c, 1))) break;
  auto selection = std::move(selector).finish();
  *next = selection.next_offset;
  return selection.data;
}

TEST(LogSelector, TailKeepsTheLastLinesAndPointsAtTheEnd) {
  std::uint64_t next = 0;
  EXPECT_EQ(select("a\nb\nc\n", 2, false, 0, &next), "b\nc\n");
  EXPECT_EQ(next, 6u);
  EXPECT_EQ(select("a\nb\nc", 1, false, 0, &next), "c");
  EXPECT_EQ(select("a\nb\n", 5, false, 0, &next), "a\nb\n");
  EXPECT_EQ(select("a\nb\n", 0, false, 0, &next), "a\nb\n");
}

TEST(LogSelector, FromOffsetReturnsTheRestUpToTheCap) {
  std::uint64_t next = 0;
  EXPECT_EQ(select("0123456789", 0, true, 4, &next), "456789");
  EXPECT_EQ(next, 10u);
  EXPECT_EQ(select("0123456789", 0, true, 4, &next, 3), "456");
  EXPECT_EQ(next, 7u);
  EXPECT_EQ(select("0123456789", 0, true, 10, &next), "");
  EXPECT_EQ(next, 10u);
}

TEST(LogSelector, TheWholeLogIsCappedToItsEnd) {
  std::uint64_t next = 0;
  EXPECT_EQ(select("0123456789", 0, false, 0, &next, 4), "6789");
  EXPECT_EQ(next, 10u);
}

// ---- the provider ----------------------------------------------------------------------

// Drives a provider as its worker would: poll(2) on its fds until its next deadline.
class Driver {
 public:
  explicit Driver(Provider& provider) : provider_(provider) {}

  void pump(std::chrono::milliseconds most) {
    std::vector<pollfd> fds;
    for (int fd : provider_.watched_fds()) fds.push_back({fd, POLLIN, 0});
    auto timeout = most;
    if (auto deadline = provider_.next_deadline()) {
      auto until = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      timeout = std::clamp(until, 0ms, most);
    }
    ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
    for (auto& event : provider_.poll()) events_.push_back(std::move(event));
  }

  // The first event for `key` of `kind` not taken yet, waiting for it up to `timeout`.
  std::optional<ProviderEvent> wait_for(const std::string& key, ProviderEventKind kind,
                                        std::chrono::milliseconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      for (auto it = events_.begin(); it != events_.end(); ++it) {
        if (it->key == key && it->kind == kind) {
          auto found = std::move(*it);
          events_.erase(it);
          return found;
        }
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      pump(100ms);
    }
  }

  const std::vector<ProviderEvent>& events() const { return events_; }

 private:
  Provider& provider_;
  std::vector<ProviderEvent> events_;
};

std::string describe(const std::vector<ProviderEvent>& events) {
  std::string out;
  for (const auto& e : events)
    out += e.key + ":" + std::to_string(static_cast<int>(e.kind)) + "(" + e.message + ") ";
  return out.empty() ? "no events" : out;
}

TEST(DockerProviderWithoutEngine, ReportsUnavailableAndFailsStartsWithAClearMessage) {
  test::TempDir dir;
  ProviderContext context{"agent", "noengine", dir.path()};
  auto provider = docker::make_docker_provider_for(
      context, "unix://" + (dir.path() / "nobody-listens.sock").string());
  EXPECT_FALSE(provider->available());
  provider->start({"web.0", "web", 0, {{"image", kImage}}, {}, {}});
  Driver driver(*provider);
  auto failed = driver.wait_for("web.0", ProviderEventKind::start_failed, 5s);
  ASSERT_TRUE(failed) << describe(driver.events());
  EXPECT_NE(failed->message.find("no container engine answers at unix://"), std::string::npos)
      << failed->message;
  EXPECT_NE(failed->message.find("scripts/container-engine.sh start"), std::string::npos);
}

TEST(DockerProviderWithoutEngine, ATcpDockerHostIsNamedAsUnsupported) {
  test::TempDir dir;
  auto provider = docker::make_docker_provider_for({"agent", "tcp", dir.path()}, "tcp://127.0.0.1:1");
  EXPECT_FALSE(provider->available());
  EXPECT_TRUE(provider->watched_fds().empty());
  provider->start({"web.0", "web", 0, {{"image", kImage}}, {}, {}});
  auto events = provider->poll();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, ProviderEventKind::start_failed);
  EXPECT_NE(events[0].message.find("DOCKER_HOST=tcp://127.0.0.1:1 is not supported"),
            std::string::npos);
}

// Tests against the real engine at DOCKER_HOST. They fail (never skip) without one.
class DockerEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* docker_host = std::getenv("DOCKER_HOST");
    ASSERT_TRUE(docker_host != nullptr && *docker_host != '\0')
        << "these tests need a container engine: run `eval \"$(scripts/container-engine.sh "
           "start /tmp/mob-engine)\"` (it exports DOCKER_HOST) and run them again";
    auto socket = docker::engine_socket_from_docker_host(docker_host);
    ASSERT_TRUE(socket) << socket.error().message;
    api_ = std::make_unique<docker::EngineClient>(*socket);
    auto pong = api_->send({docker::Method::get, "/_ping"});
    ASSERT_TRUE(pong && pong->status == 200)
        << "DOCKER_HOST=" << docker_host << " does not answer /_ping: "
        << (pong ? pong->body : pong.error().message)
        << "; start it with scripts/container-engine.sh start DIR";
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    agent_id_ = "t" + std::to_string(getpid()) + "-" + info->name();
    provider_ = docker::make_docker_provider_for({"agent", agent_id_, dir_.path()}, docker_host);
    driver_ = std::make_unique<Driver>(*provider_);
    ASSERT_TRUE(provider_->available());
  }

  void TearDown() override {
    driver_.reset();
    provider_.reset();
    if (!api_) return;
    for (const auto& id : labelled_containers(agent_id_)) remove_container(id);
  }

  std::string name_of(const std::string& key) const {
    return docker::container_name(agent_id_, key);
  }

  void start(const std::string& key, json params) {
    auto service = key.substr(0, key.rfind('.'));
    provider_->start({key, service, 0, std::move(params), {}, {}});
  }

  ProviderEvent start_loop(const std::string& key) {
    start(key, {{"image", kImage}, {"args", kLoopArgs}});
    auto started = driver_->wait_for(key, ProviderEventKind::started);
    EXPECT_TRUE(started) << describe(driver_->events());
    return started.value_or(ProviderEvent{});
  }

  // GET /containers/{name}/json: the status and the parsed body.
  std::pair<long, json> inspect(const std::string& name) {
    auto answer = api_->send({docker::Method::get, "/containers/" + name + "/json"});
    if (!answer) return {0, json()};
    return {answer->status, json::parse(answer->body, nullptr, false)};
  }

  std::vector<std::string> labelled_containers(const std::string& agent_id) {
    const auto filters = json{{"label", {"mob.agent=" + agent_id}}}.dump();
    auto listed = api_->send(
        {docker::Method::get, "/containers/json?all=1&filters=" + docker::url_encode(filters)});
    std::vector<std::string> ids;
    if (!listed || listed->status != 200) return ids;
    for (const auto& container : json::parse(listed->body, nullptr, false))
      ids.push_back(container.value("Id", ""));
    return ids;
  }

  void remove_container(const std::string& id) {
    api_->send({docker::Method::del, "/containers/" + id + "?force=1", "", 30s});
  }

  std::string logs(const std::string& key, std::uint32_t tail = 0) {
    return provider_->read_logs(key, tail, false, 0).data;
  }

  test::TempDir dir_;
  std::string agent_id_;
  std::unique_ptr<docker::EngineClient> api_;
  std::unique_ptr<Provider> provider_;
  std::unique_ptr<Driver> driver_;
};

TEST_F(DockerEngine, DeployedLoopRunsAndItsOutputIsInTheLogs) {
  auto started = start_loop("loop.0");
  EXPECT_GT(started.pid, 0);
  auto [status, body] = inspect(name_of("loop.0"));
  ASSERT_EQ(status, 200);
  EXPECT_TRUE(body["State"]["Running"].get<bool>());
  EXPECT_EQ(body["Config"]["Labels"]["mob.agent"], agent_id_);
  EXPECT_EQ(body["Config"]["Labels"]["mob.service"], "loop");
  EXPECT_EQ(body["Config"]["Labels"]["mob.instance"], "0");

  ASSERT_TRUE(test::wait_until([&] { return logs("loop.0").find("ciao\nciao\n") != std::string::npos; }))
      << logs("loop.0");
  auto tail = provider_->read_logs("loop.0", 1, false, 0);
  EXPECT_EQ(tail.data, "ciao\n");
  EXPECT_EQ(tail.instance, 0u);
  EXPECT_EQ(tail.node, "agent");
  EXPECT_GE(tail.next_offset, 10u);
  EXPECT_EQ(tail.next_offset % 5, 0u);

  // Following from next_offset yields only what came after it.
  std::string followed;
  std::uint64_t offset = tail.next_offset;
  ASSERT_TRUE(test::wait_until([&] {
    auto chunk = provider_->read_logs("loop.0", 0, true, offset);
    followed += chunk.data;
    offset = chunk.next_offset;
    return followed.find("ciao\n") != std::string::npos;
  }));
  EXPECT_EQ(followed.substr(0, 5), "ciao\n");
  EXPECT_EQ(offset, tail.next_offset + followed.size());
}

TEST_F(DockerEngine, AContainerKilledFromOutsideExitsWith137AndSignal9) {
  start_loop("victim.0");
  auto killed = api_->send({docker::Method::post, "/containers/" + name_of("victim.0") + "/kill"});
  ASSERT_TRUE(killed && killed->status == 204) << (killed ? killed->body : killed.error().message);
  auto exited = driver_->wait_for("victim.0", ProviderEventKind::exited);
  ASSERT_TRUE(exited) << describe(driver_->events());
  EXPECT_EQ(exited->exit_code, 137);
  EXPECT_EQ(exited->signal, 9);
}

TEST_F(DockerEngine, ExitCodeIsReported) {
  start("exit3.0", {{"image", kImage}, {"args", "sh -c 'echo bye; exit 3'"}});
  ASSERT_TRUE(driver_->wait_for("exit3.0", ProviderEventKind::started)) << describe(driver_->events());
  auto exited = driver_->wait_for("exit3.0", ProviderEventKind::exited);
  ASSERT_TRUE(exited) << describe(driver_->events());
  EXPECT_EQ(exited->exit_code, 3);
  EXPECT_EQ(exited->signal, 0);
  EXPECT_EQ(logs("exit3.0"), "bye\n");  // the exited container is kept for its logs
}

TEST_F(DockerEngine, EnvWorkdirAndEntrypointReachTheContainer) {
  start("env.0", {{"image", kImage},
                  {"entrypoint", "/bin/sh -c"},
                  {"args", {"echo \"$GREETING from $(pwd)\""}},
                  {"env", {{"GREETING", "hello there"}}},
                  {"workdir", "/tmp"}});
  auto exited = driver_->wait_for("env.0", ProviderEventKind::exited);
  ASSERT_TRUE(exited) << describe(driver_->events());
  EXPECT_EQ(exited->exit_code, 0);
  EXPECT_EQ(logs("env.0"), "hello there from /tmp\n");
}

TEST_F(DockerEngine, StopRemovesTheContainerWithoutBlockingTheWorker) {
  start_loop("stopme.0");
  // The loop runs as PID 1, which ignores SIGTERM: the engine kills it after the grace.
  const auto before = std::chrono::steady_clock::now();
  provider_->stop("stopme.0", 1500ms);
  EXPECT_LT(std::chrono::steady_clock::now() - before, 500ms);
  auto stopped = driver_->wait_for("stopme.0", ProviderEventKind::stopped);
  ASSERT_TRUE(stopped) << describe(driver_->events());
  EXPECT_TRUE(stopped->message.empty()) << stopped->message;
  EXPECT_EQ(inspect(name_of("stopme.0")).first, 404);
  for (const auto& event : driver_->events()) EXPECT_NE(event.kind, ProviderEventKind::exited);
}

TEST_F(DockerEngine, AnUnknownImageFailsWithTheEnginesMessage) {
  start("nope.0", {{"image", "localhost/nope:1"}});
  auto failed = driver_->wait_for("nope.0", ProviderEventKind::start_failed, 60s);
  ASSERT_TRUE(failed) << describe(driver_->events());
  EXPECT_EQ(failed->message.rfind("image \"localhost/nope:1\" not found: ", 0), 0u) << failed->message;

  start("never.0", {{"image", "localhost/nope:1"}, {"pull", "never"}});
  failed = driver_->wait_for("never.0", ProviderEventKind::start_failed);
  ASSERT_TRUE(failed) << describe(driver_->events());
  EXPECT_EQ(failed->message.rfind("image \"localhost/nope:1\" not found: ", 0), 0u) << failed->message;
  EXPECT_NE(failed->message.find("localhost/nope:1", 30), std::string::npos) << failed->message;
  EXPECT_EQ(inspect(name_of("never.0")).first, 404);
}

TEST_F(DockerEngine, AMissingExecutableFailsTheStartWithTheEnginesMessageAndLeavesNothing) {
  start("noexec.0", {{"image", kImage}, {"args", "/no/such/program"}});
  auto failed = driver_->wait_for("noexec.0", ProviderEventKind::start_failed);
  ASSERT_TRUE(failed) << describe(driver_->events());
  EXPECT_EQ(failed->message.rfind("starting container " + name_of("noexec.0") + ": ", 0), 0u)
      << failed->message;
  EXPECT_NE(failed->message.find("/no/such/program"), std::string::npos) << failed->message;
  EXPECT_TRUE(test::wait_until([&] { return inspect(name_of("noexec.0")).first == 404; }));
}

TEST_F(DockerEngine, AStartReplacesAStaleContainerOfTheSameName) {
  auto body = json{{"Image", kImage}, {"Cmd", {"sleep", "1000"}}}.dump();
  auto created = api_->send({docker::Method::post, "/containers/create?name=" + name_of("stale.0"), body});
  ASSERT_TRUE(created && created->status == 201);
  start_loop("stale.0");
  auto [status, inspected] = inspect(name_of("stale.0"));
  ASSERT_EQ(status, 200);
  EXPECT_EQ(inspected["Config"]["Labels"]["mob.agent"], agent_id_);
}

TEST_F(DockerEngine, ReclaimLeftoversRemovesContainersLabelledWithTheAgentId) {
  const std::string other_agent = agent_id_ + "-other";
  auto create = [&](const std::string& name, const std::string& agent) {
    auto body = json{{"Image", kImage},
                     {"Cmd", {"sleep", "1000"}},
                     {"Labels", {{"mob.agent", agent}}}}.dump();
    auto created = api_->send({docker::Method::post, "/containers/create?name=" + name, body});
    EXPECT_TRUE(created && created->status == 201) << (created ? created->body : "");
    api_->send({docker::Method::post, "/containers/" + name + "/start"});
  };
  create(name_of("old.0"), agent_id_);
  create(name_of("old.1"), agent_id_);
  create("mob-" + other_agent + "-keep.0", other_agent);

  provider_->reclaim_leftovers();
  EXPECT_EQ(inspect(name_of("old.0")).first, 404);
  EXPECT_EQ(inspect(name_of("old.1")).first, 404);
  EXPECT_EQ(inspect("mob-" + other_agent + "-keep.0").first, 200);
  for (const auto& id : labelled_containers(other_agent)) remove_container(id);
}

TEST_F(DockerEngine, StopAllAndTheDestructorLeaveNothingRunning) {
  start_loop("a.0");
  start_loop("b.0");
  provider_->stop_all(0ms);
  EXPECT_TRUE(labelled_containers(agent_id_).empty());
  auto events = provider_->poll();
  EXPECT_EQ(std::count_if(events.begin(), events.end(),
                          [](const auto& e) { return e.kind == ProviderEventKind::stopped; }),
            2);

  start_loop("c.0");
  driver_.reset();
  provider_.reset();
  EXPECT_TRUE(labelled_containers(agent_id_).empty());
}

TEST_F(DockerEngine, StoppingWhileStartingReportsStoppedAndLeavesNothing) {
  start("quick.0", {{"image", kImage}, {"args", kLoopArgs}});
  provider_->stop("quick.0", 0ms);
  auto stopped = driver_->wait_for("quick.0", ProviderEventKind::stopped);
  ASSERT_TRUE(stopped) << describe(driver_->events());
  EXPECT_EQ(inspect(name_of("quick.0")).first, 404);
  for (const auto& event : driver_->events()) EXPECT_NE(event.kind, ProviderEventKind::started);
}

}  // namespace docker_provider_test
}  // namespace mob
