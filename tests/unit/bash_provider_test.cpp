#include "providers/bash/bash_provider.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "providers/bash/log_files.hpp"
#include "tests/support/process.hpp"

namespace mob {
namespace bash_provider_test {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string check_error(const json& params) {
  auto checked = check_bash_params(params);
  if (checked) return "accepted";
  EXPECT_EQ(checked.error().code, Errc::invalid_argument);
  return checked.error().message;
}

// ---- params ---------------------------------------------------------------------------

TEST(BashParams, AcceptsCommandEnvAndCwd) {
  EXPECT_TRUE(check_bash_params({{"command", "echo hi"}}));
  EXPECT_TRUE(check_bash_params(
      {{"command", "echo hi"}, {"env", {{"PORT", "8080"}}}, {"cwd", "/tmp"}}));
  EXPECT_TRUE(check_bash_params({{"command", "echo hi"}, {"env", json::object()}}));
}

TEST(BashParams, RejectsParamsThatAreNotAnObject) {
  EXPECT_EQ(check_error(json::array()), "params: expected an object, got array");
  EXPECT_EQ(check_error("echo hi"), "params: expected an object, got string");
}

TEST(BashParams, RequiresCommand) {
  EXPECT_EQ(check_error(json::object()),
            "params.command: required; the shell command to run, e.g. "
            "\"while true; do echo hi; sleep 5; done\"");
}

TEST(BashParams, RejectsCommandThatIsNotANonEmptyString) {
  EXPECT_EQ(check_error({{"command", 42}}), "params.command: expected a string, got number");
  EXPECT_EQ(check_error({{"command", ""}}),
            "params.command: must not be empty; the shell command to run, e.g. "
            "\"while true; do echo hi; sleep 5; done\"");
}

TEST(BashParams, RejectsEnvValueThatIsNotAStringNamingTheKey) {
  EXPECT_EQ(check_error({{"command", "x"}, {"env", {{"PORT", 8080}}}}),
            "params.env.PORT: expected a string, got number");
  EXPECT_EQ(check_error({{"command", "x"}, {"env", {{"DEBUG", true}}}}),
            "params.env.DEBUG: expected a string, got boolean");
}

TEST(BashParams, RejectsEnvThatIsNotAnObject) {
  EXPECT_EQ(check_error({{"command", "x"}, {"env", json::array({"A=b"})}}),
            "params.env: expected an object, got array");
}

TEST(BashParams, RejectsEnvNamesMobSetsOrThatCannotBeNames) {
  EXPECT_EQ(check_error({{"command", "x"}, {"env", {{"MOB_AGENT_ID", "x"}}}}),
            "params.env.MOB_AGENT_ID: reserved; Mob sets MOB_SERVICE, MOB_INSTANCE and "
            "MOB_AGENT_ID itself");
  EXPECT_EQ(check_error({{"command", "x"}, {"env", {{"A=B", "x"}}}}),
            "params.env.A=B: invalid variable name; names are non-empty and contain no '='");
}

TEST(BashParams, RejectsCwdThatIsNotANonEmptyString) {
  EXPECT_EQ(check_error({{"command", "x"}, {"cwd", ""}}),
            "params.cwd: must not be empty; the directory to run the command in");
  EXPECT_EQ(check_error({{"command", "x"}, {"cwd", 1}}),
            "params.cwd: expected a string, got number");
}

TEST(BashParams, RejectsUnknownField) {
  EXPECT_EQ(check_error({{"command", "x"}, {"foo", 1}}),
            "params.foo: unknown field; bash params are command, env, cwd");
}

// ---- provider -------------------------------------------------------------------------

std::size_t open_fd_count() {
  return static_cast<std::size_t>(
      std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                    std::filesystem::directory_iterator()));
}

// Each test gets its own agent id, so the processes it started can be found by their
// MOB_AGENT_ID and no test can reclaim another's.
std::string unique_agent_id() {
  static int counter = 0;
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  return "bash-test-" + std::to_string(getpid()) + "-" + test->name() + "-" +
         std::to_string(++counter);
}

class BashProviderTest : public ::testing::Test {
 protected:
  BashProviderTest() {
    context_.agent_name = "test-agent";
    context_.agent_id = unique_agent_id();
    context_.data_dir = dir_.path() / "data";
    provider_ = make_bash_provider(context_);
  }

  std::string marker() const { return "MOB_AGENT_ID=" + context_.agent_id; }

  void start(const std::string& key, json params) {
    auto dot = key.rfind('.');
    LaunchRequest request;
    request.key = key;
    request.service = key.substr(0, dot);
    request.index = static_cast<std::uint32_t>(std::stoul(key.substr(dot + 1)));
    request.params = std::move(params);
    provider_->start(request);
  }
  void start_command(const std::string& key, const std::string& command) {
    start(key, {{"command", command}});
  }

  // The worker's loop: poll(2) on the provider's fds until its next deadline, then
  // poll(); until `done` holds. The poll timeout is capped so that conditions outside
  // the provider (a process dying) are seen promptly too.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    const auto give_up = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() >= give_up) return false;
      std::vector<pollfd> fds;
      for (int fd : provider_->watched_fds()) fds.push_back(pollfd{fd, POLLIN, 0});
      auto until = std::min(give_up, Clock::now() + 20ms);
      if (auto deadline = provider_->next_deadline()) until = std::min(until, *deadline);
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
      ::poll(fds.data(), fds.size(), static_cast<int>(std::max<std::int64_t>(wait.count(), 0)));
      for (auto& event : provider_->poll()) events_.push_back(std::move(event));
    }
    return true;
  }

  const ProviderEvent* find_event(const std::string& key, ProviderEventKind kind) const {
    for (const auto& event : events_)
      if (event.key == key && event.kind == kind) return &event;
    return nullptr;
  }

  // Runs the loop until `key` reports `kind`; fails the test on a timeout.
  ProviderEvent wait_for(const std::string& key, ProviderEventKind kind,
                         std::chrono::milliseconds timeout = 10s) {
    bool seen = run_until([&] { return find_event(key, kind) != nullptr; }, timeout);
    EXPECT_TRUE(seen) << key << " reported no event of kind " << static_cast<int>(kind);
    return seen ? *find_event(key, kind) : ProviderEvent{};
  }

  std::string log_text(const std::string& key) {
    return provider_->read_logs(key, 0, false, 0).data;
  }
  bool wait_for_log(const std::string& key, const std::string& text) {
    return run_until([&] { return log_text(key).find(text) != std::string::npos; });
  }

  bool group_gone() {
    return test::wait_until([&] { return test::processes_with_env(marker()).empty(); });
  }

  test::TempDir dir_;
  ProviderContext context_;
  std::unique_ptr<Provider> provider_;
  std::vector<ProviderEvent> events_;
};

TEST_F(BashProviderTest, IsAvailable) { EXPECT_TRUE(provider_->available()); }

TEST_F(BashProviderTest, StartReportsStartedWithALivePid) {
  start_command("web.0", "sleep 1000");
  auto started = wait_for("web.0", ProviderEventKind::started);
  ASSERT_GT(started.pid, 0);
  EXPECT_TRUE(test::process_alive(static_cast<pid_t>(started.pid)));
  EXPECT_EQ(getpgid(static_cast<pid_t>(started.pid)), started.pid);
  EXPECT_FALSE(provider_->watched_fds().empty());
}

TEST_F(BashProviderTest, ReportsExitCodeAndClosesEveryFd) {
  const auto fds_before = open_fd_count();
  start_command("job.0", "echo bye; exit 3");
  auto started = wait_for("job.0", ProviderEventKind::started);
  auto exited = wait_for("job.0", ProviderEventKind::exited);
  EXPECT_EQ(exited.pid, started.pid);
  EXPECT_EQ(exited.exit_code, 3);
  EXPECT_EQ(exited.signal, 0);
  EXPECT_EQ(exited.message, "exited with code 3");
  EXPECT_EQ(log_text("job.0"), "bye\n");
  EXPECT_TRUE(provider_->watched_fds().empty());
  EXPECT_FALSE(provider_->next_deadline().has_value());
  EXPECT_EQ(open_fd_count(), fds_before);
  EXPECT_FALSE(test::process_alive(static_cast<pid_t>(started.pid)));
}

TEST_F(BashProviderTest, ReportsTheSignalThatKilledTheCommand) {
  start_command("job.0", "sleep 1000");
  auto started = wait_for("job.0", ProviderEventKind::started);
  ASSERT_EQ(::kill(static_cast<pid_t>(started.pid), SIGKILL), 0);
  auto exited = wait_for("job.0", ProviderEventKind::exited);
  EXPECT_EQ(exited.signal, SIGKILL);
  EXPECT_EQ(exited.exit_code, -1);
  EXPECT_EQ(exited.message, "killed by signal 9 (Killed)");
}

// Service discovery: the variables the supervisor hands over reach the process, and a
// signal (on_dependency_change "signal:SIGHUP") reaches its process group.
TEST_F(BashProviderTest, DiscoveryVariablesReachTheProcessAndASignalItsGroup) {
  LaunchRequest request;
  request.key = "web.0";
  request.service = "web";
  request.params = {{"command", "trap 'echo reloaded' HUP; echo \"at $MOB_HOST:$MOB_PORT_HTTP, db $MOB_DB_PORT_PG\"; "
                                "while true; do sleep 0.05; done"}};
  request.env = {{"MOB_HOST", "10.0.0.5"}, {"MOB_PORT_HTTP", "31012"}, {"MOB_DB_PORT_PG", "24000"}};
  provider_->start(request);
  wait_for("web.0", ProviderEventKind::started);
  ASSERT_TRUE(wait_for_log("web.0", "at 10.0.0.5:31012, db 24000\n"));
  provider_->signal("web.0", SIGHUP);
  EXPECT_TRUE(wait_for_log("web.0", "reloaded\n"));
  EXPECT_EQ(find_event("web.0", ProviderEventKind::exited), nullptr) << "the trap kept it running";
  provider_->signal("nothing.0", SIGHUP);  // not running: left alone
}

TEST_F(BashProviderTest, OutputLandsInTheLogAndReadLogsTailsIt) {
  start_command("web.7", "for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2");
  wait_for("web.7", ProviderEventKind::exited);
  const std::string all = "line1\nline2\nline3\nline4\nline5\noops\n";

  auto whole = provider_->read_logs("web.7", 0, false, 0);
  EXPECT_EQ(whole.data, all);
  EXPECT_EQ(whole.next_offset, all.size());
  EXPECT_EQ(whole.instance, 7u);
  EXPECT_TRUE(whole.node.empty());

  auto tail = provider_->read_logs("web.7", 2, false, 0);
  EXPECT_EQ(tail.data, "line5\noops\n");
  EXPECT_EQ(tail.next_offset, all.size());
  EXPECT_EQ(provider_->read_logs("web.7", 100, false, 0).data, all);
}

TEST_F(BashProviderTest, ReadLogsFromAnOffsetFollowsTheLiveFile) {
  auto go = dir_.path() / "go";
  start_command("web.0", "echo first; while [ ! -e " + go.string() +
                             " ]; do sleep 0.01; done; echo second; sleep 1000");
  ASSERT_TRUE(wait_for_log("web.0", "first\n"));

  auto first = provider_->read_logs("web.0", 0, true, 0);
  EXPECT_EQ(first.data, "first\n");
  EXPECT_EQ(first.next_offset, 6u);
  auto nothing_new = provider_->read_logs("web.0", 0, true, first.next_offset);
  EXPECT_EQ(nothing_new.data, "");
  EXPECT_EQ(nothing_new.next_offset, 6u);

  std::ofstream(go).put('\n');
  LogChunk second;
  ASSERT_TRUE(run_until([&] {
    second = provider_->read_logs("web.0", 0, true, first.next_offset);
    return second.data == "second\n";
  }));
  EXPECT_EQ(second.next_offset, 13u);

  // An offset past the end means the file rotated under the follower: start over.
  auto restarted = provider_->read_logs("web.0", 0, true, 1000);
  EXPECT_EQ(restarted.data, "first\nsecond\n");
  EXPECT_EQ(restarted.next_offset, 13u);
}

TEST_F(BashProviderTest, ReadLogsOfAnUnknownKeyIsEmpty) {
  auto chunk = provider_->read_logs("ghost.3", 10, false, 0);
  EXPECT_EQ(chunk.data, "");
  EXPECT_EQ(chunk.next_offset, 0u);
  EXPECT_EQ(chunk.instance, 3u);
  EXPECT_EQ(provider_->read_logs("ghost.3", 0, true, 50).next_offset, 0u);
}

TEST_F(BashProviderTest, LogsSurviveExitAndAProviderRestart) {
  start_command("job.1", "echo kept");
  wait_for("job.1", ProviderEventKind::exited);
  provider_ = make_bash_provider(context_);
  events_.clear();
  EXPECT_EQ(log_text("job.1"), "kept\n");

  start_command("job.1", "echo again");
  wait_for("job.1", ProviderEventKind::exited);
  EXPECT_EQ(log_text("job.1"), "kept\nagain\n");
}

TEST_F(BashProviderTest, LogFilesArePrivate) {
  start_command("job.0", "echo secret");
  wait_for("job.0", ProviderEventKind::exited);
  struct stat info {};
  ASSERT_EQ(::stat((context_.data_dir / "logs").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((context_.data_dir / "logs" / "job.0.log").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST_F(BashProviderTest, RotatesLogsKeepingTheConfiguredNumberOfFiles) {
  context_.log_max_bytes = 100;
  context_.log_keep_files = 2;
  provider_ = make_bash_provider(context_);
  std::string expected;
  for (int i = 10; i < 60; ++i) expected += "line-" + std::to_string(i) + "\n";

  start_command("chatty.0", "for i in $(seq 10 59); do echo line-$i; done");
  wait_for("chatty.0", ProviderEventKind::exited);

  const auto live = context_.data_dir / "logs" / "chatty.0.log";
  auto rotated = [&](int generation) {
    return std::filesystem::path(live.string() + "." + std::to_string(generation));
  };
  ASSERT_TRUE(std::filesystem::exists(rotated(1)));
  ASSERT_TRUE(std::filesystem::exists(rotated(2)));
  EXPECT_FALSE(std::filesystem::exists(rotated(3)));
  for (const auto& file : {live, rotated(1), rotated(2)}) {
    auto text = test::read_file(file);
    EXPECT_LE(text.size(), 100u) << file;
    EXPECT_EQ(text.back(), '\n') << file << " holds whole lines";
  }
  auto kept = test::read_file(rotated(2)) + test::read_file(rotated(1)) + test::read_file(live);
  ASSERT_LE(kept.size(), expected.size());
  EXPECT_EQ(kept, expected.substr(expected.size() - kept.size()));
  EXPECT_EQ(log_text("chatty.0"), test::read_file(live));
}

TEST_F(BashProviderTest, AppliesEnvCwdAndMobVariables) {
  auto work = dir_.path() / "work";
  std::filesystem::create_directory(work);
  start("api.2", {{"command",
                   "echo \"$GREETING\"; echo $MOB_SERVICE/$MOB_INSTANCE/$MOB_AGENT_ID; pwd -P"},
                  {"env", {{"GREETING", "hello there"}}},
                  {"cwd", work.string()}});
  auto exited = wait_for("api.2", ProviderEventKind::exited);
  EXPECT_EQ(exited.exit_code, 0);
  EXPECT_EQ(log_text("api.2"), "hello there\napi/2/" + context_.agent_id + "\n" +
                                   std::filesystem::canonical(work).string() + "\n");
}

TEST_F(BashProviderTest, CommandStartsWithDefaultSignalsNullStdinAndNoInheritedFds) {
  // The agent blocks these in every thread; a service must not inherit that.
  sigset_t blocked, previous_mask;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGCHLD);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &blocked, &previous_mask), 0);
  auto previous_hup = ::signal(SIGHUP, SIG_IGN);
  int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC, on purpose
  ASSERT_GE(leaked, 0);

  start_command("env.0", "readlink /proc/$$/fd/0; if [ -e /proc/$$/fd/" + std::to_string(leaked) +
                             " ]; then echo fd-leaked; else echo fd-closed; fi; "
                             "exec grep -E '^Sig(Blk|Ign)' /proc/self/status");
  ::close(leaked);
  ::signal(SIGHUP, previous_hup);
  pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);

  wait_for("env.0", ProviderEventKind::exited);
  EXPECT_EQ(log_text("env.0"),
            "/dev/null\nfd-closed\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

TEST_F(BashProviderTest, BadCwdReportsStartFailedWithTheReason) {
  start("api.0", {{"command", "true"}, {"cwd", "/nonexistent-mob-dir"}});
  auto failed = wait_for("api.0", ProviderEventKind::start_failed);
  EXPECT_EQ(failed.message, "cwd \"/nonexistent-mob-dir\": No such file or directory");
  EXPECT_EQ(find_event("api.0", ProviderEventKind::started), nullptr);
  EXPECT_TRUE(provider_->watched_fds().empty());
}

TEST_F(BashProviderTest, InvalidParamsReportStartFailed) {
  start("api.0", {{"command", "true"}, {"foo", 1}});
  auto failed = wait_for("api.0", ProviderEventKind::start_failed);
  EXPECT_EQ(failed.message, "params.foo: unknown field; bash params are command, env, cwd");
}

TEST_F(BashProviderTest, StartingARunningKeyAgainFails) {
  start_command("web.0", "sleep 1000");
  auto started = wait_for("web.0", ProviderEventKind::started);
  start_command("web.0", "sleep 1000");
  auto failed = wait_for("web.0", ProviderEventKind::start_failed);
  EXPECT_EQ(failed.message, "already running as pid " + std::to_string(started.pid));
}

TEST_F(BashProviderTest, StopReportsStoppedWithTheSigtermExit) {
  start_command("web.0", "sleep 1000");
  auto started = wait_for("web.0", ProviderEventKind::started);
  provider_->stop("web.0", 10s);
  auto stopped = wait_for("web.0", ProviderEventKind::stopped);
  EXPECT_EQ(stopped.pid, started.pid);
  EXPECT_EQ(stopped.signal, SIGTERM);
  EXPECT_EQ(find_event("web.0", ProviderEventKind::exited), nullptr);
  EXPECT_FALSE(provider_->next_deadline().has_value());
}

TEST_F(BashProviderTest, StopKillsACommandIgnoringSigtermAfterTheGrace) {
  start_command("stubborn.0", "trap '' TERM; echo ready; while true; do sleep 0.05; done");
  ASSERT_TRUE(wait_for_log("stubborn.0", "ready\n"));
  const auto stop_at = Clock::now();
  provider_->stop("stubborn.0", 200ms);
  ASSERT_TRUE(provider_->next_deadline().has_value());
  auto stopped = wait_for("stubborn.0", ProviderEventKind::stopped);
  EXPECT_GE(Clock::now() - stop_at, 200ms);
  EXPECT_EQ(stopped.signal, SIGKILL);
  EXPECT_EQ(stopped.message, "stopped: still running 200 ms after SIGTERM, killed with SIGKILL");
  EXPECT_TRUE(group_gone());
}

TEST_F(BashProviderTest, StopLeavesNoProcessOfTheGroupAlive) {
  start_command("web.0", "sleep 1000 & sleep 1000 & wait");
  wait_for("web.0", ProviderEventKind::started);
  ASSERT_TRUE(test::wait_until([&] { return test::processes_with_env(marker()).size() == 3; }));
  provider_->stop("web.0", 5s);
  wait_for("web.0", ProviderEventKind::stopped);
  EXPECT_TRUE(group_gone());
}

TEST_F(BashProviderTest, StopOfAnUnknownKeyReportsStoppedAtOnce) {
  provider_->stop("ghost.0", 5s);
  auto deadline = provider_->next_deadline();
  ASSERT_TRUE(deadline.has_value());
  EXPECT_LE(*deadline, Clock::now());
  auto events = provider_->poll();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].key, "ghost.0");
  EXPECT_EQ(events[0].kind, ProviderEventKind::stopped);
}

TEST_F(BashProviderTest, StopOfAnExitedKeyReportsStopped) {
  start_command("job.0", "exit 0");
  wait_for("job.0", ProviderEventKind::exited);
  provider_->stop("job.0", 5s);
  wait_for("job.0", ProviderEventKind::stopped, 1s);
}

TEST_F(BashProviderTest, KillsWhatAnExitedCommandLeftInTheBackground) {
  start_command("job.0", "sleep 1000 & echo bg=$!");
  auto exited = wait_for("job.0", ProviderEventKind::exited);
  EXPECT_EQ(exited.exit_code, 0);
  auto text = log_text("job.0");
  ASSERT_EQ(text.rfind("bg=", 0), 0u) << text;
  const pid_t background = static_cast<pid_t>(std::stol(text.substr(3)));
  EXPECT_TRUE(test::wait_until([&] { return !test::process_alive(background); }));
  EXPECT_TRUE(group_gone());
}

TEST_F(BashProviderTest, ReclaimKillsProcessesAnEarlierLifeLeft) {
  // Processes carrying the agent id that no provider owns, as after an agent's SIGKILL.
  const std::map<std::string, std::string> ours = {{"MOB_AGENT_ID", context_.agent_id}};
  test::Child lone({"/bin/sleep", "1000"}, dir_.path() / "lone.out", ours);
  test::Child shell({"/bin/bash", "-c", "sleep 1000 & sleep 1000 & wait"},
                    dir_.path() / "shell.out", ours);
  test::Child stranger({"/bin/sleep", "1000"}, dir_.path() / "stranger.out",
                       {{"MOB_AGENT_ID", context_.agent_id + "-other"}});
  ASSERT_TRUE(test::wait_until([&] { return test::processes_with_env(marker()).size() == 4; }));
  ASSERT_TRUE(test::wait_until([&] {
    return test::processes_with_env("MOB_AGENT_ID=" + context_.agent_id + "-other").size() == 1;
  }));

  auto next_life = make_bash_provider(context_);
  next_life->reclaim_leftovers();
  EXPECT_TRUE(group_gone());
  EXPECT_TRUE(test::process_alive(stranger.pid()));
  EXPECT_TRUE(test::process_alive(getpid()));
}

TEST_F(BashProviderTest, StopAllLeavesNothingRunning) {
  start_command("a.0", "sleep 1000");
  start_command("b.0", "trap '' TERM; echo ready; while true; do sleep 0.05; done");
  start_command("c.0", "sleep 1000 & sleep 1000 & wait");
  ASSERT_TRUE(wait_for_log("b.0", "ready\n"));
  ASSERT_TRUE(test::wait_until([&] { return test::processes_with_env(marker()).size() >= 5; }));

  provider_->stop_all(200ms);
  EXPECT_TRUE(provider_->watched_fds().empty());
  EXPECT_TRUE(group_gone());
  auto events = provider_->poll();
  EXPECT_EQ(std::count_if(events.begin(), events.end(),
                          [](const auto& e) { return e.kind == ProviderEventKind::stopped; }),
            3);

  provider_->stop_all(200ms);
  EXPECT_TRUE(provider_->poll().empty());
}

TEST_F(BashProviderTest, DestroyingTheProviderKillsWhatItRuns) {
  start_command("a.0", "sleep 1000 & sleep 1000 & wait");
  ASSERT_TRUE(test::wait_until([&] { return test::processes_with_env(marker()).size() == 3; }));
  provider_.reset();
  EXPECT_TRUE(group_gone());
}

// ---- line length limit ------------------------------------------------------------------

class LogLineLimit : public ::testing::Test {
 protected:
  bash::LogWriter open(std::uint64_t max_line_bytes, std::uint64_t max_bytes = 1 << 20,
                       std::uint32_t keep_files = 2) {
    auto writer = bash::LogWriter::open(file_, max_bytes, keep_files, max_line_bytes);
    EXPECT_TRUE(writer) << writer.error().message;
    return std::move(*writer);
  }
  std::string written() const { return test::read_file(file_); }

  test::TempDir dir_;
  std::filesystem::path file_ = dir_.path() / "job.0.log";
};

// A writer makes its file and holds a descriptor only once the instance prints: the agent's
// descriptors are inherited, and closed, by every process it starts, and making a file
// costs an inode, so thousands of silent instances must hold and make none. Output then
// goes on after what an earlier run of the instance wrote.
TEST_F(LogLineLimit, TheFileIsMadeAndHeldOpenOnlyOnceTheInstancePrints) {
  auto open_descriptors = [] {
    return std::distance(std::filesystem::directory_iterator("/proc/self/fd"), std::filesystem::directory_iterator{});
  };
  const auto before = open_descriptors();
  {
    auto silent = open(100);
    EXPECT_FALSE(std::filesystem::exists(file_)) << "a silent instance makes no file";
    EXPECT_EQ(open_descriptors(), before) << "and holds no descriptor";
  }
  auto writer = open(100);
  writer.append("hello\n");
  EXPECT_EQ(written(), "hello\n");
  EXPECT_EQ(open_descriptors(), before + 1) << "one that prints keeps its file open";
  writer.append("again\n");
  auto restarted = open(100);  // the instance's next run appends
  restarted.append("third\n");
  EXPECT_EQ(written(), "hello\nagain\nthird\n");
}

// With nothing made at open, a logs dir that is not there (or cannot be written) still fails
// the open, so the start fails at once and says why.
TEST_F(LogLineLimit, ALogsDirThatIsNotThereFailsTheOpen) {
  auto writer = bash::LogWriter::open(dir_.path() / "gone" / "job.0.log", 1 << 20, 2, 100);
  ASSERT_FALSE(writer);
  EXPECT_NE(writer.error().message.find("logs dir"), std::string::npos) << writer.error().message;
  EXPECT_NE(writer.error().message.find("gone"), std::string::npos) << writer.error().message;
}

TEST_F(LogLineLimit, MarkerSaysHowManyBytesWereDropped) {
  EXPECT_EQ(bash::truncation_marker(1), " [mob: line truncated, 1 byte dropped]");
  EXPECT_EQ(bash::truncation_marker(95904), " [mob: line truncated, 95904 bytes dropped]");
}

TEST_F(LogLineLimit, LinesUpToTheLimitAreKeptWhole) {
  auto writer = open(10);
  writer.append("0123456789\nshort\n\n0123");
  writer.append("456789\n");
  writer.end_of_output();
  EXPECT_EQ(written(), "0123456789\nshort\n\n0123456789\n");
}

TEST_F(LogLineLimit, ALongerLineKeepsItsFirstBytesThenTheMarkerAndTheNextLineIsIntact) {
  auto writer = open(10);
  writer.append("0123456789ABCDEF\nnext\n");
  EXPECT_EQ(written(), "0123456789" + bash::truncation_marker(6) + "\nnext\n");
}

TEST_F(LogLineLimit, ALineArrivingInPiecesIsCountedAcrossAppendsWithoutBeingKept) {
  auto writer = open(10);
  writer.append("01234");
  writer.append("56789");  // exactly at the limit: nothing dropped yet
  writer.append("X");
  EXPECT_EQ(written(), "0123456789");
  const std::string piece(4096, 'y');
  for (int i = 0; i < 1000; ++i) writer.append(piece);
  // Nothing of the long line is held: the file has not grown.
  EXPECT_EQ(written(), "0123456789");
  writer.append("\nafter\n");
  EXPECT_EQ(written(), "0123456789" + bash::truncation_marker(1 + 4096 * 1000) + "\nafter\n");
}

TEST_F(LogLineLimit, ANewlineAloneEndsACutLine) {
  auto writer = open(4);
  writer.append("abcdefgh");
  writer.append("\n");
  writer.append("ij\n");
  EXPECT_EQ(written(), "abcd" + bash::truncation_marker(4) + "\nij\n");
}

TEST_F(LogLineLimit, EndOfOutputMarksACutLineThatNeverEnded) {
  auto writer = open(4);
  writer.append("ok\nabcdefgh");
  writer.end_of_output();
  writer.end_of_output();
  EXPECT_EQ(written(), "ok\nabcd" + bash::truncation_marker(4) + "\n");

  auto short_line = open(4);
  short_line.append("xy");
  short_line.end_of_output();
  EXPECT_EQ(written(), "ok\nabcd" + bash::truncation_marker(4) + "\nxy");
}

TEST_F(LogLineLimit, CutLinesStillRotateAsWholeLines) {
  auto writer = open(10, 64, 1);
  for (int i = 0; i < 20; ++i) writer.append(std::string(30, static_cast<char>('a' + i)) + "\n");
  const std::string cut_line = std::string(10, 't') + bash::truncation_marker(20) + "\n";
  EXPECT_EQ(written(), cut_line);
  auto rotated = test::read_file(file_.string() + ".1");
  EXPECT_EQ(rotated, std::string(10, 's') + bash::truncation_marker(20) + "\n");
}

TEST_F(BashProviderTest, OutputLinesLongerThanTheLimitAreCutAndMarked) {
  context_.max_log_line_bytes = 1000;
  provider_ = make_bash_provider(context_);
  start_command("long.0", "head -c 100000 /dev/zero | tr '\\0' x; echo; echo after");
  wait_for("long.0", ProviderEventKind::exited);
  EXPECT_EQ(log_text("long.0"),
            std::string(1000, 'x') + bash::truncation_marker(99000) + "\nafter\n");
}

TEST_F(BashProviderTest, AnUnfinishedCutLineIsMarkedWhenTheCommandExits) {
  context_.max_log_line_bytes = 1000;
  provider_ = make_bash_provider(context_);
  start_command("endless.0", "head -c 5000 /dev/zero | tr '\\0' z");
  wait_for("endless.0", ProviderEventKind::exited);
  EXPECT_EQ(log_text("endless.0"), std::string(1000, 'z') + bash::truncation_marker(4000) + "\n");
}

}  // namespace bash_provider_test
}  // namespace mob
