// The event stream (docs/events.md) of real mob-agent processes on loopback: what a plain
// ZeroMQ SUB on one agent sees of changes made through another, failures, filters of
// `mob-tool events`, a subscriber that never reads, and a lost agent.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "bus/transport.hpp"
#include "tests/support/agent.hpp"
#include "tests/support/network.hpp"

namespace mob::test {
namespace events_test {

std::string events_address(AgentProcess& agent) {
  auto reply = agent.request(PingRequest{});
  if (!reply) return {};
  return std::get<PingReply>(*reply).events_address;
}

// How any program reads the stream: a ZeroMQ SUB with prefix subscriptions, then two frames
// per event, [topic, envelope]. It also subscribes to "gossip", which the agents publish every
// 500 ms, only to know when its subscription has taken effect. Used by the test thread alone.
class RawEvents {
 public:
  explicit RawEvents(AgentProcess& agent,
                     const std::vector<std::string>& prefixes = {"member.", "service.", "instance."}) {
    sub_.set(zmq::sockopt::linger, 0);
    for (const auto& prefix : prefixes) sub_.set(zmq::sockopt::subscribe, prefix);
    sub_.set(zmq::sockopt::subscribe, "gossip");
    sub_.connect(events_address(agent));
    EXPECT_TRUE(wait_for([&] { return subscribed_; }, 10s)) << "no gossip from " << agent.name();
  }

  // Reads until `condition` holds over what has arrived, or `timeout`.
  bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 15s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      zmq::pollitem_t item{sub_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(poll_timeout_ms(deadline, 100ms)));
      while (auto frames = recv_frames(sub_)) take(*frames);
    }
    return true;
  }

  const std::vector<Event>& events() const { return events_; }

  // Where the first event of `topic` about `service` (and, if given, `match`) is; -1 if none.
  long find(const std::string& topic, const std::string& service,
            const std::function<bool(const Event&)>& match = {}) const {
    for (std::size_t i = 0; i < events_.size(); ++i)
      if (events_[i].topic == topic && events_[i].service == service && (!match || match(events_[i])))
        return static_cast<long>(i);
    return -1;
  }

 private:
  void take(const std::vector<std::string>& frames) {
    ASSERT_EQ(frames.size(), 2u);
    if (frames[0] == "gossip") {
      subscribed_ = true;
      return;
    }
    auto envelope = decode(frames[1]);
    ASSERT_TRUE(envelope) << envelope.error().message;
    auto* event = std::get_if<Event>(&envelope->body);
    ASSERT_NE(event, nullptr) << type_name(envelope->body);
    EXPECT_EQ(event->topic, frames[0]);
    events_.push_back(*event);
  }

  zmq::context_t context_{1};
  zmq::socket_t sub_{context_, zmq::socket_type::sub};
  bool subscribed_ = false;
  std::vector<Event> events_;
};

// A SUB that connects to an agent's PUB, subscribes to everything and never reads, with the
// smallest queue and socket buffer; it waits for its connection through a socket monitor.
class StalledSubscriber {
 public:
  explicit StalledSubscriber(AgentProcess& agent) {
    sub_.set(zmq::sockopt::linger, 0);
    sub_.set(zmq::sockopt::rcvhwm, 1);
    sub_.set(zmq::sockopt::rcvbuf, 1024);
    sub_.set(zmq::sockopt::subscribe, "");
    const std::string monitor_endpoint = "inproc://stalled-" + agent.name();
    EXPECT_EQ(zmq_socket_monitor(sub_.handle(), monitor_endpoint.c_str(),
                                 ZMQ_EVENT_HANDSHAKE_SUCCEEDED), 0);
    monitor_.set(zmq::sockopt::linger, 0);
    monitor_.connect(monitor_endpoint);
    sub_.connect(events_address(agent));
    zmq::pollitem_t item{monitor_.handle(), 0, ZMQ_POLLIN, 0};
    EXPECT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(10000)), 1)
        << "no connection to " << agent.name();
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t sub_{context_, zmq::socket_type::sub};
  zmq::socket_t monitor_{context_, zmq::socket_type::pair};
};

// `mob-tool ... events ARGS` as a child process writing stdout and stderr to one file.
class EventsCommand {
 public:
  EventsCommand(const std::filesystem::path& dir, const std::string& name, AgentProcess& agent,
                std::vector<std::string> args)
      : path_(dir / (name + ".out")) {
    std::vector<std::string> argv = {MOB_TOOL_BIN, "-a", agent.endpoint(), "events"};
    argv.insert(argv.end(), args.begin(), args.end());
    child_ = Child(argv, path_);
  }

  // Whether it has connected to the agent's event stream.
  bool watching() { return shows("mob-tool: watching the events of agent at "); }
  std::string output() const { return read_file(path_); }
  bool shows(const std::string& text, std::chrono::milliseconds timeout = 15s) {
    return wait_until([&] { return output().find(text) != std::string::npos; }, timeout);
  }
  // The JSON objects it printed (stderr lines start with "mob-tool:").
  std::vector<nlohmann::json> objects() const {
    std::vector<nlohmann::json> out;
    std::istringstream lines(output());
    for (std::string line; std::getline(lines, line);)
      if (line.starts_with("{")) out.push_back(nlohmann::json::parse(line));
    return out;
  }
  // SIGTERM; its exit code, or -1 if it did not exit.
  int stop() {
    child_.signal(SIGTERM);
    int status = child_.wait(10s);
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  std::filesystem::path path_;
  Child child_;
};

class EventStream : public AgentNetwork {};

TEST_F(EventStream, SubscriberOfAnotherAgentSeesDeployedAssignedRunningInOrderWithoutGaps) {
  for (int i = 0; i < 3; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(3));
  AgentProcess& through = *agents_[0];
  AgentProcess& watched = *agents_[1];
  RawEvents stream(watched);

  ASSERT_TRUE(through.deploy(sleeper("ordered")));
  ASSERT_TRUE(stream.wait_for([&] { return stream.find("instance.running", "ordered") >= 0; }));

  long deployed = stream.find("service.deployed", "ordered");
  long assigned = stream.find("instance.assigned", "ordered");
  long starting = stream.find("instance.starting", "ordered");
  long running = stream.find("instance.running", "ordered");
  ASSERT_GE(deployed, 0);
  EXPECT_LT(deployed, assigned);
  EXPECT_LT(assigned, starting);
  EXPECT_LT(starting, running);
  const auto& events = stream.events();
  EXPECT_EQ(events[deployed].agent, through.name());  // where it happened
  EXPECT_EQ(events[deployed].generation, 1u);
  const Event& up = events[running];
  EXPECT_EQ(up.instance, 0);
  EXPECT_EQ(up.agent, up.node);
  EXPECT_EQ(up.state, "running");
  EXPECT_EQ(up.generation, 1u);
  EXPECT_EQ(up.node, events[assigned].node);
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].publisher, watched.name());
    if (i > 0) {
      EXPECT_EQ(events[i].seq, events[i - 1].seq + 1) << events[i].topic;
    }
    EXPECT_GE(events[i].version >> 16, events[i].time_ms - 60000);  // a hybrid clock: ms << 16
  }
}

TEST_F(EventStream, CrashOfTheAgentRunningAnInstanceShowsMemberFailedThenInstanceMoved) {
  for (int i = 0; i < 3; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(3));
  ASSERT_TRUE(agents_[0]->deploy(sleeper("mover")));
  AgentProcess* victim = wait_for_runner("mover");
  ASSERT_NE(victim, nullptr);
  const std::string node = victim->name();
  AgentProcess* observer = victim == agents_[1].get() ? agents_[2].get() : agents_[1].get();
  RawEvents stream(*observer);

  victim->crash();

  auto member_failed = [&] {
    for (std::size_t i = 0; i < stream.events().size(); ++i)
      if (stream.events()[i].topic == "member.failed" && stream.events()[i].member == node)
        return static_cast<long>(i);
    return -1L;
  };
  auto moved_away = [&](const Event& e) { return e.from_node == node && e.node != node; };
  auto on_new_node = [&](const Event& e) { return e.node != node; };
  ASSERT_TRUE(stream.wait_for([&] {
    return stream.find("instance.running", "mover", on_new_node) >= 0;
  }, 20s));
  long failed = member_failed();
  long moved = stream.find("instance.moved", "mover", moved_away);
  long running = stream.find("instance.running", "mover", on_new_node);
  ASSERT_GE(failed, 0);
  ASSERT_GE(moved, 0);
  EXPECT_LT(failed, moved);
  EXPECT_LT(moved, running);
  const Event& move = stream.events()[moved];
  EXPECT_EQ(move.instance, 0);
  EXPECT_EQ(move.node, stream.events()[running].node);
  EXPECT_EQ(stream.events()[failed].state, "failed");
}

TEST_F(EventStream, TopicAndServiceFiltersOfMobToolEventsShowExactlyWhatTheyName) {
  AgentProcess& through = start();
  AgentProcess& watched = start();
  ASSERT_TRUE(everyone_sees_alive(2));
  EventsCommand alpha_running(dir_.path(), "alpha-running", watched,
                              {"--json", "--topic", "instance.running", "--service", "alpha"});
  EventsCommand services(dir_.path(), "services", watched, {"--json", "--topic", "service."});
  ASSERT_TRUE(alpha_running.watching()) << alpha_running.output();
  ASSERT_TRUE(services.watching()) << services.output();

  // A subscription takes effect a moment after the connection: until both show something,
  // deploy alpha (again: each deploy is a new version whose instance runs again).
  int version = 0;
  ASSERT_TRUE(wait_until([&] {
    ++version;
    if (!through.deploy(sleeper("alpha"))) return false;
    return alpha_running.shows(R"("service":"alpha")", 3s) &&
           services.shows(R"("generation":)" + std::to_string(version), 3s);
  }, 30s)) << alpha_running.output() << services.output();

  // beta runs as far as the watched agent knows, so it has published beta's events...
  ASSERT_TRUE(through.deploy(sleeper("beta", 2)));
  ASSERT_TRUE(wait_until([&] {
    return !running_on(watched, "beta", 0).empty() && !running_on(watched, "beta", 1).empty();
  }));
  // ...before those of alpha's next version, which the filtered command shows.
  ASSERT_TRUE(through.deploy(sleeper("alpha")));
  ++version;
  ASSERT_TRUE(alpha_running.shows(R"("generation":)" + std::to_string(version)))
      << alpha_running.output();
  ASSERT_TRUE(services.shows(R"("service":"beta")")) << services.output();

  EXPECT_EQ(alpha_running.stop(), 0);
  EXPECT_EQ(services.stop(), 0);
  const std::regex iso_time(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  auto shown = alpha_running.objects();
  ASSERT_FALSE(shown.empty());
  for (const auto& line : shown) {
    EXPECT_EQ(line["topic"], "instance.running") << line.dump();
    EXPECT_EQ(line["service"], "alpha") << line.dump();
    EXPECT_EQ(line["instance"], 0) << line.dump();
    EXPECT_TRUE(std::regex_match(line["time"].get<std::string>(), iso_time)) << line.dump();
    EXPECT_EQ(line["agent"], line["node"]) << line.dump();
    EXPECT_EQ(line["publisher"], watched.name()) << line.dump();
    EXPECT_GT(line["version"].get<std::uint64_t>(), 0u) << line.dump();
    EXPECT_FALSE(line.contains("signal")) << line.dump();
  }
  bool saw_beta = false;
  for (const auto& line : services.objects()) {
    EXPECT_TRUE(line["topic"].get<std::string>().starts_with("service.")) << line.dump();
    EXPECT_FALSE(line.contains("instance")) << line.dump();
    saw_beta = saw_beta || (line["topic"] == "service.deployed" && line["service"] == "beta" &&
                            line["agent"] == through.name() && line["generation"] == 1);
  }
  EXPECT_TRUE(saw_beta) << services.output();
}

TEST_F(EventStream, SubscriberThatNeverReadsDoesNotStallDeployments) {
  for (int i = 0; i < 3; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(3));
  std::vector<std::unique_ptr<StalledSubscriber>> stalled;
  for (auto* agent : live()) stalled.push_back(std::make_unique<StalledSubscriber>(*agent));
  RawEvents reader(*agents_[2]);

  constexpr int kServices = 50;
  for (int i = 0; i < kServices; ++i) {
    auto reply = agents_[0]->deploy(sleeper("load" + std::to_string(i)));
    ASSERT_TRUE(reply) << "deploy " << i << ": " << reply.error().message;
  }
  ASSERT_TRUE(wait_until([&] {
    auto reply = agents_[1]->request(StatusRequest{}, 2s);
    if (!reply) return false;
    int running = 0;
    for (const auto& service : std::get<StatusReply>(*reply).services)
      for (const auto& instance : service.instance_list)
        running += instance.state == InstanceState::running ? 1 : 0;
    return running == kServices;
  }, 60s));
  // And a reader beside the stalled one still gets every event.
  ASSERT_TRUE(reader.wait_for([&] {
    for (int i = 0; i < kServices; ++i)
      if (reader.find("instance.running", "load" + std::to_string(i)) < 0) return false;
    return true;
  }, 30s));
  const auto& events = reader.events();
  for (std::size_t i = 1; i < events.size(); ++i)
    EXPECT_EQ(events[i].seq, events[i - 1].seq + 1) << events[i].topic;
}

TEST_F(EventStream, MobToolEventsReportsALostAgentKeepsGoingAndExitsZeroOnSigterm) {
  AgentProcess& agent = start();
  EventsCommand watcher(dir_.path(), "watcher", agent, {});
  ASSERT_TRUE(watcher.watching()) << watcher.output();

  ASSERT_TRUE(wait_until([&] {
    return agent.deploy(sleeper("before")) && watcher.shows("service.", 3s);
  }, 30s)) << watcher.output();
  agent.sigkill();
  ASSERT_TRUE(watcher.shows("mob-tool: lost agent at " + agent.endpoint() + "; reconnecting...\n"))
      << watcher.output();
  agent.restart();
  ASSERT_TRUE(watcher.shows("mob-tool: agent at " + agent.endpoint() + " is back"))
      << watcher.output();
  ASSERT_TRUE(wait_until([&] {
    return agent.deploy(sleeper("after")) && watcher.shows("after version", 3s);
  }, 30s)) << watcher.output();

  EXPECT_EQ(watcher.stop(), 0) << watcher.output();
}

TEST_F(EventStream, MobToolDeployFollowsTheEventsUntilEveryInstanceRunsOrOneFails) {
  for (int i = 0; i < 3; ++i) start();
  ASSERT_TRUE(everyone_sees_alive(3));
  const std::string agent = agents_[1]->endpoint();

  auto ok = run_command({MOB_TOOL_BIN, "-a", agent, "deploy", "-"}, 30s, sleeper("web", 3));
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("deployed web version 1\n"), std::string::npos) << ok.out;
  for (int i = 0; i < 3; ++i)
    EXPECT_NE(ok.out.find("web/" + std::to_string(i) + "  running on agent-"), std::string::npos)
        << ok.out;
  EXPECT_NE(ok.out.find("web version 1: 3 of 3 instance(s) running\n"), std::string::npos) << ok.out;

  const std::string crash = R"({"name": "crash", "provider": "bash",
      "params": {"command": "exit 3"}, "restart": {"policy": "on-failure", "max_restarts": 1}})";
  auto failed = run_command({MOB_TOOL_BIN, "-a", agent, "-d", crash}, 30s);
  EXPECT_EQ(failed.exit_code, 1) << failed.out << failed.err;
  EXPECT_NE(failed.err.find("mob-tool: crash/0 failed: exited with code 3"), std::string::npos)
      << failed.err;
}

}  // namespace events_test
}  // namespace mob::test
