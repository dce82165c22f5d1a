// mob-sim's scenarios: each schedules faults on a World (which, when, for how long) and says
// when they stop; the runner then checks that the network converges. `random` draws both
// the faults that are on and their schedule from the seed (swarm testing).
#pragma once

#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "sim/world.hpp"

namespace mob::sim {

// What a scenario leaves behind when its faults stop.
struct FaultPlan {
  Micros faults_end = 0;      // from then on: no fault, the network whole
  std::set<int> dead_for_good;  // agents crashed and never restarted
};

struct Scenario {
  std::string name;
  std::string summary;  // one line, for --list-scenarios
  // Schedules the faults on `world` (after the join and the first deploys, which end at
  // `from`), drawing from `random`.
  std::function<FaultPlan(World& world, Micros from, std::mt19937_64& random)> schedule;
};

const std::vector<Scenario>& scenarios();
const Scenario* find_scenario(const std::string& name);

// A bash spec for service `name` with `instances` copies; `variant` changes its command (a
// different spec under the same name).
std::string service_spec(const std::string& name, int instances, int variant = 0);

}  // namespace mob::sim
