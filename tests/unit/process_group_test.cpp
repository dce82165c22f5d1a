// Starting commands (providers/bash/process_group.hpp): a child made while the agent holds
// thousands of descriptors inherits none of them, whichever way it was started, and the
// output pipe reaches its end of file once the command is gone (the Spawner's slots let go).
#include "providers/bash/process_group.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mob::bash {
namespace process_group_test {

const std::vector<std::string> kEnv = {"PATH=/usr/bin:/bin"};

// Everything the command wrote, read until end of file; fails the test if the pipe is still
// open (some descriptor of its write end held) 10 s after the command ended.
std::string output_until_end_of_file(const SpawnedGroup& spawned) {
  int status = 0;
  waitpid(spawned.leader, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  std::string output;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd readable{spawned.output.get(), POLLIN, 0};
    poll(&readable, 1, 100);
    char buffer[4096];
    ssize_t got = read(spawned.output.get(), buffer, sizeof buffer);
    if (got == 0) return output;
    if (got > 0) output.append(buffer, static_cast<std::size_t>(got));
  }
  ADD_FAILURE() << "no end of file on the output: a write end is still open; read so far: " << output;
  return output;
}

// `count` descriptors of /dev/null, half of them without O_CLOEXEC (as a careless library's).
std::vector<int> open_many(int count) {
  std::vector<int> opened;
  for (int i = 0; i < count; ++i) {
    int fd = open("/dev/null", O_RDONLY | (i % 2 == 0 ? O_CLOEXEC : 0));
    EXPECT_GE(fd, 0);
    opened.push_back(fd);
  }
  return opened;
}

void close_all(const std::vector<int>& fds) {
  for (int fd : fds) close(fd);
}

TEST(Spawner, ACommandStartedBesideThousandsOfDescriptorsInheritsOnlyStdio) {
  // Below the slots too: a descriptor opened before the Spawner, without O_CLOEXEC.
  auto below = open_many(4);
  Spawner spawner;
  auto above = open_many(3000);
  for (int round = 0; round < 3; ++round) {
    auto spawned = spawner.spawn(SpawnRequest{"exec ls /proc/self/fd", kEnv, std::nullopt});
    ASSERT_TRUE(spawned) << spawned.error().message;
    // ls lists its own descriptors: stdio and the one it reads the directory with.
    EXPECT_EQ(output_until_end_of_file(*spawned), "0\n1\n2\n3\n") << "round " << round;
  }
  close_all(above);
  close_all(below);
}

TEST(Spawner, FailuresComeBackAndTheNextStartStillWorks) {
  Spawner spawner;
  auto bad_cwd = spawner.spawn(SpawnRequest{"true", kEnv, std::filesystem::path("/nonexistent-mob-dir")});
  ASSERT_FALSE(bad_cwd);
  EXPECT_EQ(bad_cwd.error().message, "cwd \"/nonexistent-mob-dir\": No such file or directory");
  auto spawned = spawner.spawn(SpawnRequest{"echo after", kEnv, std::nullopt});
  ASSERT_TRUE(spawned) << spawned.error().message;
  EXPECT_EQ(output_until_end_of_file(*spawned), "after\n");
}

TEST(Spawner, StartsWithoutCopyingTheTableWhereTheKernelAllows) {
  // Linux 5.9 brought CLOSE_RANGE_UNSHARE; every kernel Debian ships since bookworm has it.
  // ThreadSanitizer builds start with vfork (its interceptors would take the child's calls
  // for the agent's), and say so.
#if defined(__SANITIZE_THREAD__)
  constexpr bool kExpected = false;
#else
  constexpr bool kExpected = true;
#endif
  Spawner spawner;
  auto spawned = spawner.spawn(SpawnRequest{"echo started", kEnv, std::nullopt});
  ASSERT_TRUE(spawned) << spawned.error().message;
  EXPECT_EQ(output_until_end_of_file(*spawned), "started\n");
  EXPECT_EQ(spawner.copies_low_descriptors_only(), kExpected);
}

}  // namespace process_group_test
}  // namespace mob::bash
