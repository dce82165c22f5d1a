// Test support: a fixture that starts real mob-agent processes joined into one network
// (every agent after the first joins through the first), waits on what they see, and at
// the end checks that each exits cleanly and leaves no process behind.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/agent.hpp"

namespace mob::test {

// A bash service running `exec sleep 1000`; `extra` is more JSON fields ("\"a\": 1, ...").
std::string sleeper(const std::string& name, std::uint32_t instances = 1,
                    const std::string& extra = "");

class AgentNetwork : public ::testing::Test {
 protected:
  AgentProcess& start(const std::string& providers = "bash", std::vector<std::string> extra = {});
  // The agents whose process runs.
  std::vector<AgentProcess*> live();
  AgentProcess* by_name(const std::string& name);
  // The agent that runs instance 0 of `service`, as the first agent sees it, once it runs;
  // null if it never does.
  AgentProcess* wait_for_runner(const std::string& service);
  // Every live agent but `name` itself sees `name` in `state`.
  bool everyone_sees(const std::string& name, MemberState state,
                     std::chrono::milliseconds timeout = 15s);
  // Every live agent lists exactly `count` members alive.
  bool everyone_sees_alive(std::size_t count, std::chrono::milliseconds timeout = 15s);
  // Where instance `index` of `service` runs, as `agent` sees it; "" while not running.
  static std::string running_on(AgentProcess& agent, const std::string& service,
                                std::uint32_t index);
  void TearDown() override;

  TempDir dir_;
  std::vector<std::unique_ptr<AgentProcess>> agents_;
};

}  // namespace mob::test
