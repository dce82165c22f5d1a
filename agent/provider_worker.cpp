#include "agent/provider_worker.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <vector>

#include "agent/actor.hpp"
#include "agent/time_source.hpp"
#include "bus/log.hpp"
#include "bus/transport.hpp"

namespace mob {
namespace {

using Clock = std::chrono::steady_clock;

class Worker {
 public:
  Worker(std::string name, std::unique_ptr<Provider> provider, zmq::socket_t supervisor,
         const TimeSource& time)
      : name_(std::move(name)), time_(time), provider_(std::move(provider)), supervisor_(std::move(supervisor)) {}

  void run() {
    provider_->reclaim_leftovers();
    while (!finished_) {
      check_availability();
      std::vector<zmq::pollitem_t> items = {{supervisor_.handle(), 0, ZMQ_POLLIN, 0}};
      for (int fd : provider_->watched_fds()) items.push_back({nullptr, fd, ZMQ_POLLIN, 0});
      // Wakes for the availability check (a provider such as docker comes and goes with its
      // engine), the provider's own deadlines (a stop's timeout), a message or an fd.
      auto deadline = next_availability_check_;
      if (auto next = provider_->next_deadline()) deadline = std::min(deadline, *next);
      poll_sockets(items.data(), items.size(), poll_wait(time_, deadline, kIdleWait));
      handle_waiting(
          supervisor_, guard_, [&](const ControlBody& control) { handle_control(control); },
          [&](const InternalMessage& message) { handle(message); });
      guard_.run("the provider's events", [&] {
        for (auto& event : provider_->poll()) send_internal(supervisor_, std::move(event));
        for (auto& result : provider_->take_exec_results()) send_internal(supervisor_, std::move(result));
      });
    }
  }

 private:
  void check_availability() {
    auto now = time_.steady_now();
    if (now < next_availability_check_) return;
    next_availability_check_ = now + std::chrono::seconds(2);
    bool available = provider_->available();
    if (reported_available_ == available) return;
    reported_available_ = available;
    send_internal(supervisor_, ProviderAvailability{name_, available});
  }

  void handle(const InternalMessage& message) {
    const InternalBody& body = message.envelope.body;
    if (const auto* start = std::get_if<ProviderStart>(&body)) {
      LaunchRequest request{start->key, start->service, start->index, start->params, start->env, start->ports};
      provider_->start(request);
    } else if (const auto* signal = std::get_if<ProviderSignal>(&body)) {
      provider_->signal(signal->key, signal->signal);
    } else if (const auto* stop = std::get_if<ProviderStop>(&body)) {
      provider_->stop(stop->key, std::chrono::milliseconds(stop->timeout_ms));
    } else if (const auto* check = std::get_if<ProviderExecCheck>(&body)) {
      provider_->start_exec_check(*check);
    } else if (const auto* logs = std::get_if<ProviderLogsRequest>(&body)) {
      ProviderLogsReply reply{logs->keys, {}};
      for (const auto& key : logs->keys)
        reply.chunks.push_back(
            provider_->read_logs(key, logs->tail_lines, logs->from_offset, logs->offset));
      reply_to(supervisor_, message, std::move(reply));
    }
  }

  void handle_control(const ControlBody& body) {
    if (const auto* shutdown = std::get_if<ShutdownRequest>(&body)) {
      provider_->stop_all(shutdown->now ? std::chrono::milliseconds(0) : std::chrono::seconds(2));
      for (auto& event : provider_->poll()) send_internal(supervisor_, std::move(event));
      send_control(supervisor_, ShutdownDone{});
      finished_ = true;
    }
  }

  std::string name_;
  const TimeSource& time_;
  StepGuard guard_{"worker"};
  std::unique_ptr<Provider> provider_;
  zmq::socket_t supervisor_;
  bool finished_ = false;
  std::optional<bool> reported_available_;
  Clock::time_point next_availability_check_{};
};

}  // namespace

void run_provider_worker(ActorStartup& startup, std::string name, std::unique_ptr<Provider> provider,
                         zmq::socket_t supervisor, const TimeSource* time) {
  Worker worker(std::move(name), std::move(provider), std::move(supervisor), time ? *time : system_time());
  startup.ready();
  worker.run();
}

}  // namespace mob
