// Which commands the bash provider execs without bash (providers/bash/direct_exec.hpp), and
// that one exec'd so runs with the same argv, environment and exit as under bash -c.
#include "providers/bash/direct_exec.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "providers/bash/process_group.hpp"
#include "tests/support/process.hpp"

namespace mob::bash {
namespace direct_exec_test {

const std::vector<std::string> kEnv = {"HOME=/root", "PATH=/usr/local/bin:/usr/bin:/bin"};

// Where `name` is on kEnv's PATH, as bash's lookup would find it.
std::string on_path(const std::string& name) {
  for (const char* directory : {"/usr/local/bin/", "/usr/bin/", "/bin/"}) {
    std::string candidate = std::string(directory) + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

TEST(DirectExec, APlainCommandIsFoundOnThePathWithItsWordsAsArgv) {
  auto direct = direct_exec_of("sleep 100000", kEnv);
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->path, on_path("sleep"));
  EXPECT_EQ(direct->argv, (std::vector<std::string>{"sleep", "100000"}));
  auto spaced = direct_exec_of("  exec\tsleep   5 --x=a,b:c@d%e+f  ", kEnv);
  ASSERT_TRUE(spaced) << "a leading exec is dropped, blanks are separators";
  EXPECT_EQ(spaced->argv, (std::vector<std::string>{"sleep", "5", "--x=a,b:c@d%e+f"}));
  auto absolute = direct_exec_of("/bin/sleep 1", kEnv);
  ASSERT_TRUE(absolute);
  EXPECT_EQ(absolute->path, "/bin/sleep");
}

TEST(DirectExec, AnythingTheShellWouldInterpretGoesToBash) {
  for (const char* command :
       {"sleep 1; echo x", "sleep $X", "sleep \"1\"", "sleep '1'", "ls *", "ls ?", "ls [ab]", "ls ~", "echo {a,b}",
        "sleep 1 # comment", "sleep 1 > out", "sleep 1 < in", "sleep 1 | cat", "sleep 1 &", "(sleep 1)",
        "sleep `x`", "sleep \\1", "sleep 1\nsleep 2", "!x", ""}) {
    EXPECT_FALSE(direct_exec_of(command, kEnv)) << command;
  }
}

TEST(DirectExec, BuiltinsKeywordsAndAssignmentsGoToBash) {
  for (const char* command : {"echo hi", "true", "kill 1", "printf x", "test -f x", "read x", "cd /tmp", "exec",
                              "exec echo hi", "time sleep 1", "while", "X=1 sleep 1", "source f", ". f",
                              "-sleep 1"}) {
    EXPECT_FALSE(direct_exec_of(command, kEnv)) << command;
  }
}

TEST(DirectExec, AnEnvironmentThatChangesBashOrAPathBashWouldReadOtherwiseGoesToBash) {
  EXPECT_FALSE(direct_exec_of("sleep 1", {"PATH=/bin", "BASH_ENV=/etc/profile"}));
  EXPECT_FALSE(direct_exec_of("sleep 1", {"PATH=/bin", "BASH_FUNC_sleep%%=() { :; }"}));
  EXPECT_FALSE(direct_exec_of("sleep 1", {"PATH=/bin", "SHELLOPTS=xtrace"}));
  EXPECT_FALSE(direct_exec_of("sleep 1", {"PATH=/bin", "BASHOPTS=expand_aliases"}));
  EXPECT_FALSE(direct_exec_of("sleep 1", {"HOME=/root"})) << "no PATH: bash searches its own default";
  EXPECT_FALSE(direct_exec_of("sleep 1", {"PATH=bin:/bin"})) << "a relative directory is the child's cwd";
  EXPECT_FALSE(direct_exec_of("sleep 1", {"PATH=:/bin"})) << "an empty one too";
  EXPECT_FALSE(direct_exec_of("./run 1", kEnv)) << "a relative path is the child's cwd";
  EXPECT_FALSE(direct_exec_of("no-such-command-anywhere 1", kEnv)) << "bash says why";
  EXPECT_FALSE(direct_exec_of("/etc/passwd", kEnv)) << "not executable";
  EXPECT_FALSE(direct_exec_of("/usr/bin", kEnv)) << "a directory";
  EXPECT_TRUE(direct_exec_of("sleep 1", {"PATH=/bin", "MOB_INSTANCE=web.0", "ENV=/x"}));
}

TEST(DirectExec, TheFirstExecutableOnThePathWinsAsInBash) {
  test::TempDir first, second;
  auto write = [](const std::filesystem::path& path, const char* text, mode_t mode) {
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
  };
  write(first.path() / "tool", "#!/bin/sh\nexit 3\n", 0644);  // not executable: skipped
  write(second.path() / "tool", "#!/bin/sh\nexit 4\n", 0755);
  auto direct = direct_exec_of("tool", {"PATH=" + first.path().string() + ":" + second.path().string()});
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->path, (second.path() / "tool").string());
}

// The exit status and output of `command` run by spawn_group.
std::pair<int, std::string> run(const std::string& command, std::vector<std::string> environment,
                                std::optional<std::filesystem::path> cwd = std::nullopt) {
  auto spawned = spawn_group(SpawnRequest{command, std::move(environment), std::move(cwd)});
  EXPECT_TRUE(spawned) << (spawned ? "" : spawned.error().message);
  if (!spawned) return {-1, ""};
  int status = 0;
  waitpid(spawned->leader, &status, 0);
  std::string output;
  char buffer[4096];
  ssize_t got;
  while ((got = read(spawned->output.get(), buffer, sizeof buffer)) > 0) output.append(buffer, static_cast<std::size_t>(got));
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), output};
}

TEST(DirectExec, ACommandRunDirectlyGetsItsArgvEnvironmentCwdAndExitAsUnderBash) {
  test::TempDir dir;
  std::ofstream(dir.path() / "args.sh") << "#!/bin/sh\necho \"$0|$1|$2|$MOB_X|$(pwd)\"\nexit 7\n";
  chmod((dir.path() / "args.sh").c_str(), 0755);
  const std::vector<std::string> environment = {"PATH=" + dir.path().string() + ":/usr/bin:/bin", "MOB_X=x1"};
  ASSERT_TRUE(direct_exec_of("args.sh a b", environment));
  auto [code, output] = run("args.sh a b", environment, dir.path());
  EXPECT_EQ(code, 7);
  EXPECT_EQ(output, (dir.path() / "args.sh").string() + "|a|b|x1|" + dir.path().string() + "\n");
  // The same under bash (a character that needs it): the same line.
  auto [bash_code, bash_output] = run("args.sh a b;", environment, dir.path());
  EXPECT_EQ(bash_code, 7);
  EXPECT_EQ(bash_output, output);
}

TEST(DirectExec, AFileFoundThatCannotBeExecdRunsUnderBashAsWritten) {
  test::TempDir dir;
  std::ofstream(dir.path() / "script") << "echo from a script without a shebang\nexit 5\n";
  chmod((dir.path() / "script").c_str(), 0755);
  const std::vector<std::string> environment = {"PATH=" + dir.path().string() + ":/usr/bin:/bin"};
  ASSERT_TRUE(direct_exec_of("script", environment));
  auto [code, output] = run("script", environment);
  EXPECT_EQ(code, 5) << "execve said ENOEXEC; bash ran it as a script, as bash -c does";
  EXPECT_EQ(output, "from a script without a shebang\n");
}

}  // namespace direct_exec_test
}  // namespace mob::bash
