// mob-event-latency: how long a change on one agent takes to reach an event subscriber of
// another agent (docs/events.md, "Latency"). Deploys SERVICES one-instance services through
// DEPLOY_AGENT, one at a time, while a second thread reads the event stream of SUBSCRIBE_AGENT;
// then prints the p50 and p99 of
//   deploy:  the deploy request leaving this program -> its service.deployed read here;
//   change:  a change on an agent other than SUBSCRIBE_AGENT -> its event read here, for every
//            event: the change's time is the wall-clock part of the event's version (a hybrid
//            logical clock), so every agent must share this machine's clock.
// It removes its services at the end. scripts: tools/examples/event_latency.sh starts 5 agents.
//
//   mob-event-latency DEPLOY_AGENT SUBSCRIBE_AGENT [SERVICES]
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tools/client.hpp"

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What the reading thread saw; shared with the deploying thread under `mutex`.
struct Seen {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::string, Clock::time_point> deployed_at;  // service -> its service.deployed read
  std::set<std::string> running;                        // services with an instance running
  std::vector<double> change_ms;                         // change -> read, origin != subscriber
  std::map<std::string, std::vector<double>> change_ms_by_topic;
  std::uint64_t dropped = 0;
};

// Reads `events` until `stop_fd` is readable. Owns the subscriber (and so its sockets).
void read_events(mob::EventSubscriber events, int stop_fd, Seen& seen) {
  events.wake_on(stop_fd);
  while (true) {
    auto event = events.next(std::chrono::seconds(10));
    const auto read_at = Clock::now();
    const std::int64_t read_us = wall_us();
    std::lock_guard lock(seen.mutex);
    seen.dropped = events.dropped();
    if (!event || !*event) {
      std::uint64_t stop = 0;
      if (!event || ::read(stop_fd, &stop, sizeof stop) == sizeof stop) return;
      continue;
    }
    const mob::Event& e = **event;
    if (e.agent != e.publisher) {
      double origin_us = static_cast<double>(e.version >> 16) * 1000.0;
      double ms = (static_cast<double>(read_us) - origin_us) / 1000.0;
      seen.change_ms.push_back(ms);
      seen.change_ms_by_topic[e.topic].push_back(ms);
    }
    if (e.topic == "service.deployed") seen.deployed_at.emplace(e.service, read_at);
    if (e.topic == "instance.running") seen.running.insert(e.service);
    seen.changed.notify_all();
  }
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(rank, values.size() - 1)];
}

void print_row(const std::string& what, const std::vector<double>& ms) {
  std::printf("%-44s n=%-5zu p50=%7.2f ms  p99=%7.2f ms  max=%7.2f ms\n", what.c_str(), ms.size(),
              percentile(ms, 50), percentile(ms, 99),
              ms.empty() ? 0.0 : *std::max_element(ms.begin(), ms.end()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: mob-event-latency DEPLOY_AGENT SUBSCRIBE_AGENT [SERVICES]\n";
    return 2;
  }
  const std::string deploy_agent = argv[1];
  const std::string subscribe_agent = argv[2];
  const int services = argc > 3 ? std::max(1, std::atoi(argv[3])) : 200;
  const auto per_service_timeout = std::chrono::seconds(10);

  auto client = mob::Client::connect(deploy_agent);
  if (!client) {
    std::cerr << "mob-event-latency: " << client.error().message << "\n";
    return 1;
  }
  auto members = client->members();
  if (!members) {
    std::cerr << "mob-event-latency: " << members.error().message << "\n";
    return 1;
  }
  auto events = mob::EventSubscriber::open(subscribe_agent, {"service.", "instance."});
  if (!events) {
    std::cerr << "mob-event-latency: " << events.error().message << "\n";
    return 1;
  }
  const int stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  Seen seen;
  std::jthread reader(read_events, std::move(*events), stop_fd, std::ref(seen));

  // One deploy at a time: the next leaves once the previous one's event has arrived, so the
  // figures are latencies, not queueing.
  std::vector<double> deploy_ms;
  std::vector<std::string> names;
  int failures = 0;
  for (int i = 0; i < services; ++i) {
    const std::string name = "latency-" + std::to_string(i);
    const std::string spec = R"({"name": ")" + name +
                             R"(", "provider": "bash", "params": {"command": "exec sleep 600"}})";
    const auto sent = Clock::now();
    auto deployed = client->deploy(spec);
    if (!deployed) {
      std::cerr << "mob-event-latency: deploy " << name << ": " << deployed.error().message << "\n";
      ++failures;
      continue;
    }
    names.push_back(name);
    std::unique_lock lock(seen.mutex);
    if (!seen.changed.wait_for(lock, per_service_timeout,
                               [&] { return seen.deployed_at.contains(name); })) {
      std::cerr << "mob-event-latency: no service.deployed for " << name << " within 10 s\n";
      ++failures;
      continue;
    }
    deploy_ms.push_back(
        std::chrono::duration<double, std::milli>(seen.deployed_at[name] - sent).count());
  }
  {
    std::unique_lock lock(seen.mutex);
    seen.changed.wait_for(lock, per_service_timeout,
                          [&] { return seen.running.size() >= names.size(); });
  }
  const std::uint64_t one = 1;
  if (::write(stop_fd, &one, sizeof one) != sizeof one) std::cerr << "cannot stop the reader\n";
  reader.join();
  ::close(stop_fd);
  for (const auto& name : names) (void)client->control(name, mob::ControlAction::remove);

  std::printf("%zu agents; deploys through %s, events read on %s; %d services\n",
              members->members.size(), deploy_agent.c_str(), subscribe_agent.c_str(), services);
  print_row("deploy sent -> service.deployed read", deploy_ms);
  print_row("change on another agent -> event read", seen.change_ms);
  for (const auto& [topic, ms] : seen.change_ms_by_topic) print_row("  " + topic, ms);
  std::printf("instances seen running: %zu of %zu; events lost (seq gaps): %llu; failures: %d\n",
              seen.running.size(), names.size(), static_cast<unsigned long long>(seen.dropped),
              failures);
  return failures == 0 ? 0 : 1;
}
