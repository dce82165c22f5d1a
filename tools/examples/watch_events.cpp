// mob-watch-events: the smallest program on Mob's event stream (docs/events.md). Subscribes
// through one agent, prints every event of the network until Ctrl-C, and says when events
// were lost or the agent went away.
//
//   mob-watch-events [HOST:PORT] [TOPIC_PREFIX...]
//   mob-watch-events 127.0.0.1:6666 instance. member.failed
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "bus/instance_id.hpp"
#include "tools/client.hpp"

namespace {

volatile sig_atomic_t stop_requested = 0;

void request_stop(int) { stop_requested = 1; }

// What the event is about: "echoes/0", "echoes", or a member's name.
std::string subject(const mob::Event& event) {
  if (event.instance >= 0)
    return mob::InstanceId{event.service, static_cast<std::uint32_t>(event.instance)}.display_name();
  if (!event.service.empty()) return event.service;
  return event.member;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string agent = argc > 1 ? argv[1] : "127.0.0.1:6666";
  const std::vector<std::string> topics(argv + std::min(argc, 2), argv + argc);

  // A signal interrupts next(), which then returns without an event.
  struct sigaction action {};
  action.sa_handler = request_stop;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  auto events = mob::EventSubscriber::open(agent, topics);
  if (!events) {
    std::cerr << "mob-watch-events: " << events.error().message << "\n";
    return 1;
  }
  std::cerr << "watching the events of agent at " << agent << " (" << events->events_address()
            << ")\n";
  bool connected = true;
  std::uint64_t dropped = 0;
  while (!stop_requested) {
    auto event = events->next(std::chrono::seconds(1));
    if (!event) {
      std::cerr << "mob-watch-events: " << event.error().message << "\n";
      return 1;
    }
    if (events->connected() != connected) {
      connected = events->connected();
      std::cerr << (connected ? "agent is back\n" : "lost the agent; reconnecting...\n");
    }
    if (events->dropped() != dropped) {
      std::cerr << "lost " << events->dropped() - dropped << " event(s)\n";
      dropped = events->dropped();
    }
    if (!*event) continue;
    const mob::Event& e = **event;
    std::cout << e.publisher << " #" << e.seq << "  " << e.topic << "  " << subject(e);
    if (!e.node.empty()) std::cout << " on " << e.node;
    if (!e.reason.empty()) std::cout << ": " << e.reason;
    std::cout << std::endl;
  }
  return 0;
}
