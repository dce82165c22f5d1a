// A provider worker: the thread that owns one Provider, turns the supervisor's commands
// into calls on it, polls the fds it names, and sends back what happened.
#pragma once

#include <memory>
#include <string>

#include <zmq.hpp>

#include "agent/actor.hpp"
#include "providers/provider.hpp"

namespace mob {

// The body of the worker's Actor: ready once it holds the provider, then runs until
// ShutdownRequest; then stops whatever the provider still runs and answers.
// Reports the provider's availability at start and whenever it changes. `time`: the clocks
// its timers read, the provider's own (ProviderContext::time); null: the machine's.
void run_provider_worker(ActorStartup& startup, std::string name, std::unique_ptr<Provider> provider,
                         zmq::socket_t supervisor, const TimeSource* time);

}  // namespace mob
