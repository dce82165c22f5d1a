// mob-sim: N agents' real peer store on one virtual clock over a simulated network, driven
// by one seed; checks the convergence invariants and prints a trace hash per seed.
// docs/simulation.md says how to run, read and replay it.
#include <chrono>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

#include <boost/program_options.hpp>

#include "bus/log.hpp"
#include "sim/runner.hpp"

namespace po = boost::program_options;
using namespace mob::sim;

namespace {

// A directory under `parent` (by default /dev/shm, tmpfs: SQLite's syncs cost nothing
// there), removed with everything in it when this goes.
class TempDir {
 public:
  explicit TempDir(const std::string& parent) {
    std::string pattern = parent + "/mob-sim-XXXXXX";
    if (!mkdtemp(pattern.data()))
      throw std::runtime_error("cannot make a directory " + pattern + ": " + std::strerror(errno) +
                               " (--work-dir names where the agents' data go)");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string hex(std::uint64_t value) {
  std::ostringstream out;
  out << std::hex << std::setw(16) << std::setfill('0') << value;
  return out.str();
}

std::string fixed(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

double seconds(Micros t) { return static_cast<double>(t) / kSecond; }

}  // namespace

int main(int argc, char** argv) {
  po::options_description options("mob-sim: a deterministic simulation of a Mob network (docs/simulation.md)");
  int agents = 5;
  std::uint64_t seed = 1;
  std::uint64_t seeds = 1;
  std::string scenario_name = "random";
  double max_virtual_s = 600;
  std::string log_level = "off";
  long heartbeat_ms = 0;
  std::string work_dir = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
  options.add_options()("help,h", "this help")(
      "agents", po::value(&agents)->default_value(5), "how many agents (2 to 65536)")(
      "seed", po::value(&seed)->default_value(1), "the seed: the same seed gives the same run")(
      "seeds", po::value(&seeds)->default_value(1), "run K seeds: seed, seed+1, ..., seed+K-1")(
      "scenario", po::value(&scenario_name)->default_value("random"), "a scenario (--list-scenarios) or random")(
      "list-scenarios", "name the scenarios, one line each")(
      "max-virtual-s", po::value(&max_virtual_s)->default_value(600), "stop a run at this virtual time")(
      "heartbeat-ms", po::value(&heartbeat_ms), "each agent's --heartbeat-ms (10 to 3600000); unset, mob-agent's default.\n"
      "Kept seeds pin the period they once failed with")(
      "measure", "the scale figures instead of a scenario: join storm, failure detection, partition heal")(
      "measure-deploys", po::value<int>(), "the deploy path's figures instead of a scenario: K one-instance services\n"
      "deployed through a0, 64 in flight, until all run (virtual time, CPU, heap per service)")(
      "log", po::value(&log_level)->default_value("off"), "the agents' log level (debug|info|warn|error|off); other than off, the faults and the client's\n"
      "deploys are told on stderr too, with their virtual time")(
      "work-dir", po::value(&work_dir)->default_value(work_dir), "where the agents' data directories go (a\n"
      "directory of its own inside, removed at the end): a disk for thousands of agents, whose data would fill tmpfs");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, options), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "mob-sim: " << e.what() << "\n" << options;
    return 2;
  }
  if (vm.contains("help")) {
    std::cout << options;
    return 0;
  }
  if (vm.contains("list-scenarios")) {
    for (const auto& scenario : scenarios()) std::cout << std::left << std::setw(22) << scenario.name << scenario.summary << "\n";
    return 0;
  }
  if (vm.contains("heartbeat-ms") && (heartbeat_ms < 10 || heartbeat_ms > 3600000)) {
    std::cerr << "mob-sim: --heartbeat-ms takes 10 to 3600000, got " << heartbeat_ms << "\n";
    return 2;
  }
  if (agents < 2 || agents > 65536) {
    std::cerr << "mob-sim: --agents must be 2 to 65536\n";
    return 2;
  }
  mob::log::Level level{};
  if (!mob::log::parse_level(log_level, level)) {
    std::cerr << "mob-sim: --log takes debug|info|warn|error|off\n";
    return 2;
  }
  mob::log::set_level(level);
  const Scenario* scenario = find_scenario(scenario_name);
  const bool measuring = vm.contains("measure") || vm.contains("measure-deploys");
  if (vm.contains("measure-deploys") && (vm["measure-deploys"].as<int>() < 1 || vm["measure-deploys"].as<int>() > 1000000)) {
    std::cerr << "mob-sim: --measure-deploys takes 1 to 1000000 services\n";
    return 2;
  }
  if (!scenario && !measuring) {
    std::cerr << "mob-sim: no scenario " << scenario_name << " (mob-sim --list-scenarios)\n";
    return 2;
  }

  try {
    TempDir root(work_dir);
    int failed = 0;
    for (std::uint64_t s = seed; s < seed + seeds; ++s) {
      RunOptions run;
      run.agents = agents;
      run.seed = s;
      run.scenario = scenario_name;
      run.max_virtual = static_cast<Micros>(max_virtual_s * kSecond);
      run.data_root = root.path() / std::to_string(s);
      run.narrate = log_level != "off";
      if (vm.contains("heartbeat-ms")) run.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
      const auto wall_start = std::chrono::steady_clock::now();
      if (measuring) {
        std::uint64_t trace = vm.contains("measure-deploys")
                                  ? run_deploy_measurement(run, vm["measure-deploys"].as<int>(), std::cout)
                                  : run_measurement(run, std::cout);
        std::chrono::duration<double> wall = std::chrono::steady_clock::now() - wall_start;
        std::cout << "metric wall_s " << fixed(wall.count(), 2) << "\n" << "trace " << hex(trace) << std::endl;
        std::filesystem::remove_all(run.data_root);
        continue;
      }
      RunResult result = run_scenario(*scenario, run);
      std::chrono::duration<double> wall = std::chrono::steady_clock::now() - wall_start;
      const std::string replay = "mob-sim --agents " + std::to_string(agents) + " --seed " + std::to_string(s) +
                                 " --scenario " + scenario_name;
      if (result.violation) {
        ++failed;
        const Violation& v = *result.violation;
        std::cout << "FAIL invariant " << v.invariant << " seed " << s << " virtual " << fixed(seconds(v.at), 3)
                  << " s: " << v.detail << "\n"
                  << "  replay: " << replay << " --log info\n";
      } else {
        std::cout << "ok seed " << s << " scenario " << scenario_name << " agents " << agents << ": converged "
                  << fixed(seconds(result.converged_after), 0) << " s after the faults stopped at "
                  << fixed(seconds(result.faults_end), 1) << " s; gossip " << result.traffic.gossip_messages
                  << " msgs, peer " << result.traffic.peer_messages << " msgs, dropped " << result.traffic.dropped
                  << "; starts after " << result.starts_after_faults << "; busiest " << result.traffic.busiest_agent_second << "; wall " << fixed(wall.count(), 2) << " s\n";
      }
      std::cout << "trace " << hex(result.trace) << std::endl;
      std::filesystem::remove_all(run.data_root);
    }
    if (seeds > 1) std::cout << "seeds " << seeds << " failed " << failed << std::endl;
    return failed == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "mob-sim: " << e.what() << "\n";
    return 2;
  }
}
