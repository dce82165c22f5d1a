#include "tests/support/network.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

namespace mob::test {

std::string sleeper(const std::string& name, std::uint32_t instances, const std::string& extra) {
  nlohmann::json spec = {{"name", name}, {"provider", "bash"},
                         {"params", {{"command", "exec sleep 1000"}}}, {"instances", instances}};
  std::string text = spec.dump();
  if (!extra.empty()) text = text.substr(0, text.size() - 1) + ", " + extra + "}";
  return text;
}

AgentProcess& AgentNetwork::start(const std::string& providers, std::vector<std::string> extra) {
  if (!agents_.empty()) {
    extra.push_back("-j");
    extra.push_back(agents_.front()->endpoint());
  }
  auto dir = dir_.path() / ("agent" + std::to_string(agents_.size()));
  agents_.push_back(std::make_unique<AgentProcess>(dir, providers, extra));
  return *agents_.back();
}

std::vector<AgentProcess*> AgentNetwork::live() {
  std::vector<AgentProcess*> out;
  for (auto& agent : agents_)
    if (agent && agent->pid() > 0) out.push_back(agent.get());
  return out;
}

AgentProcess* AgentNetwork::by_name(const std::string& name) {
  for (auto* agent : live())
    if (agent->name() == name) return agent;
  return nullptr;
}

AgentProcess* AgentNetwork::wait_for_runner(const std::string& service) {
  std::string node;
  if (!wait_until([&] { return !(node = running_on(*agents_.front(), service, 0)).empty(); }))
    return nullptr;
  return by_name(node);
}

bool AgentNetwork::everyone_sees(const std::string& name, MemberState state,
                                 std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        for (auto* agent : live())
          if (agent->name() != name && agent->sees(name) != state) return false;
        return true;
      },
      timeout);
}

bool AgentNetwork::everyone_sees_alive(std::size_t count, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        for (auto* agent : live()) {
          std::size_t alive = 0;
          for (const auto& member : agent->members())
            alive += member.state == MemberState::alive ? 1 : 0;
          if (alive != count) return false;
        }
        return true;
      },
      timeout);
}

std::string AgentNetwork::running_on(AgentProcess& agent, const std::string& service,
                                     std::uint32_t index) {
  auto instance = agent.instance(service, index);
  return instance && instance->state == InstanceState::running ? instance->node : "";
}

void AgentNetwork::TearDown() {
  for (auto& agent : agents_) {
    if (!agent || agent->pid() <= 0) continue;
    int status = agent->terminate();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << agent->name() << " exit status " << status << "\n" << agent->log();
    for (pid_t pid : agent->service_processes()) {
      ADD_FAILURE() << "process " << pid << " of " << agent->name() << " outlived it";
      ::kill(-pid, SIGKILL);
    }
  }
}

}  // namespace mob::test
