// Codec throughput: one encode plus one decode of an envelope per iteration, reported as
// messages per second. Runs on the calling thread; owns nothing beyond its sample messages.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "bus/codec.hpp"
#include "bus/messages.hpp"

namespace {

// A spec of the size users write: a command, two env entries, a restart policy.
std::string sample_spec() {
  return R"({"name":"web","provider":"bash","instances":3,)"
         R"("params":{"command":"exec python3 -m http.server $PORT","env":{"PORT":"8080","MODE":"prod"}},)"
         R"("restart":{"policy":"always","max_restarts":5,"window_s":60,"backoff_ms":100}})";
}

mob::Stamp stamp(std::uint64_t hlc) { return {hlc, "bench-07"}; }

// What one agent gossips in a busy moment: ~20 records across the four kinds.
mob::Gossip sample_gossip() {
  mob::Gossip gossip{.sender = "bench-07", .seq = 123456, .delta = {}};
  auto& delta = gossip.delta;
  for (int i = 0; i < 8; ++i) {
    mob::MemberEntry entry;
    entry.member.name = "bench-" + std::to_string(i);
    entry.member.address = "tcp://127.0.0.1:" + std::to_string(21000 + 2 * i);
    entry.member.pub_address = "tcp://127.0.0.1:" + std::to_string(21001 + 2 * i);
    entry.member.providers = {"bash"};
    entry.member.tags = {{"zone", "eu"}};
    entry.member.incarnation = 3;
    entry.member.load = 2.0;
    entry.member.version = "0.1.0";
    entry.heartbeat = 1'700'000'000'000ull + i;
    entry.reported_by = "bench-07";
    delta.members.push_back(std::move(entry));
  }
  for (int i = 0; i < 4; ++i) {
    delta.services.push_back({.name = "svc-" + std::to_string(i),
                              .spec_json = sample_spec(),
                              .generation = 2,
                              .restart_generation = 0,
                              .stamp = stamp(1'700'000'000'000ull + i),
                              .enabled = true,
                              .removed = false});
    delta.assignments.push_back({.service = "svc-" + std::to_string(i),
                                 .index = 0,
                                 .node = "bench-3",
                                 .removed = false,
                                 .stamp = stamp(1'700'000'000'100ull + i)});
    mob::InstanceEntry instance;
    instance.status = {.service = "svc-" + std::to_string(i),
                       .index = 0,
                       .node = "bench-3",
                       .state = mob::InstanceState::running,
                       .restarts = 1,
                       .pid = 40000 + i,
                       .since_ms = 1'700'000'000'000,
                       .exit_code = -1,
                       .signal = 0,
                       .reason = "",
                       .spec_version = 2};
    instance.stamp = stamp(1'700'000'000'200ull + i);
    delta.instances.push_back(std::move(instance));
  }
  return gossip;
}

template <class Message>
void round_trip(benchmark::State& state, const Message& message) {
  const mob::Envelope envelope{mob::kProtocolVersion, 42, "bench-07", mob::Body{message}};
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string frame = mob::encode(envelope);
    auto decoded = mob::decode(frame);
    if (!decoded) {
      state.SkipWithError(decoded.error().message.c_str());
      return;
    }
    bytes = frame.size();
    benchmark::DoNotOptimize(decoded);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.counters["frame_bytes"] = static_cast<double>(bytes);
}

void BM_StatusRequest(benchmark::State& state) {
  round_trip(state, mob::StatusRequest{.service = "web"});
}
void BM_DeployRequest(benchmark::State& state) {
  round_trip(state, mob::DeployRequest{.spec_json = sample_spec()});
}
void BM_Gossip20(benchmark::State& state) { round_trip(state, sample_gossip()); }

void BM_Gossip20_EncodeOnly(benchmark::State& state) {
  const mob::Envelope envelope{mob::kProtocolVersion, 0, "bench-07", mob::Body{sample_gossip()}};
  for (auto _ : state) benchmark::DoNotOptimize(mob::encode(envelope));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
void BM_Gossip20_DecodeOnly(benchmark::State& state) {
  const std::string frame =
      mob::encode(mob::Envelope{mob::kProtocolVersion, 0, "bench-07", mob::Body{sample_gossip()}});
  for (auto _ : state) benchmark::DoNotOptimize(mob::decode(frame));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

BENCHMARK(BM_StatusRequest);
BENCHMARK(BM_DeployRequest);
BENCHMARK(BM_Gossip20);
BENCHMARK(BM_Gossip20_EncodeOnly);
BENCHMARK(BM_Gossip20_DecodeOnly);

}  // namespace

BENCHMARK_MAIN();
