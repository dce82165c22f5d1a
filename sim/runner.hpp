// Runs one seed of one scenario on a fresh World: the join, the first deploys, the
// scenario's faults, then the invariants until the network converges or the bound passes.
// Also the scale measurement (--measure): join storm, failure detection, partition heal.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>

#include "sim/scenarios.hpp"
#include "sim/world.hpp"

namespace mob::sim {

struct RunOptions {
  int agents = 5;
  std::uint64_t seed = 1;
  std::string scenario = "random";
  Micros max_virtual = 600 * kSecond;     // the run stops there, converged or not
  Micros convergence_bound = 60 * kSecond;  // after the faults stop
  std::filesystem::path data_root;        // REQUIRED: an empty directory for the agents' data
  bool narrate = false;                   // the story of the run on stderr (WorldConfig::narrate)
  std::optional<std::chrono::milliseconds> heartbeat_interval;  // WorldConfig::heartbeat_interval
};

struct RunResult {
  std::optional<Violation> violation;
  std::uint64_t trace = 0;
  Micros faults_end = 0;
  Micros converged_after = -1;  // after the faults stopped; -1: did not
  Micros virtual_end = 0;
  std::uint64_t starts_after_faults = 0;  // processes started once the network was whole
  TrafficCounts traffic;
};

RunResult run_scenario(const Scenario& scenario, const RunOptions& options);

// Prints "metric NAME VALUE" lines to `out`; returns the trace hash.
std::uint64_t run_measurement(const RunOptions& options, std::ostream& out);

// The deploy path at scale (--measure-deploys K): once the agents have joined, K
// one-instance services deployed through a0 with 64 requests in flight (as `mob-tool deploy
// --detach` sends them), until every instance runs; then the CPU time of the process and the
// heap the records added per service on every agent. The same "metric" lines; the trace hash.
std::uint64_t run_deploy_measurement(const RunOptions& options, int services, std::ostream& out);

}  // namespace mob::sim
