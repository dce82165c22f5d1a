// What this agent runs, decided from the replicated state: the instances assigned to it,
// and those moved away that keep running until their new copy runs (a handover, for at most
// kHandoverLimit). The store sends the supervisor what changed and tombstones the records
// of instances this agent no longer runs.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "agent/cluster_state.hpp"
#include "agent/key_order.hpp"
#include "agent/scheduling.hpp"
#include "bus/internal_messages.hpp"
#include "bus/messages.hpp"

namespace mob {

inline constexpr auto kHandoverLimit = std::chrono::seconds(30);

class LocalAssignments {
 public:
  using Clock = std::chrono::steady_clock;

  struct Changes {
    std::vector<InternalBody> to_supervisor;   // ServiceAssignment or ServiceWithdrawn, in order
    std::vector<InstanceEntry> stale;  // this agent's records to tombstone: removed, unstamped
  };

  // Looks at the services in `targets` (and, with `everything`, forgets those the state no
  // longer holds at all). `runs_nothing`: this agent follows the network no longer (its
  // clock is off), so every assignment it holds is emptied. The assignments carry the specs
  // parsed: `spec_of` a record's current one, `stable_spec_of` its stable one (during a
  // rollout), so that the supervisor parses none.
  Changes update(const ClusterState& state, const std::vector<std::string>& targets, bool everything,
                 const std::string& self, bool runs_nothing, const SpecOf& spec_of, const SpecOf& stable_spec_of,
                 Clock::time_point now);

  // Instances the supervisor was last told to run (the load this agent advertises).
  std::size_t local_instances() const { return local_instances_; }
  // Some instance runs here while its new copy starts elsewhere: look again before long.
  bool has_handovers() const { return !handovers_.empty(); }

 private:
  // Does some assignment of `service` name this agent?
  static bool assigned_here(const ClusterState& state, const std::string& service, const std::string& self);
  std::vector<InstanceEntry> stale_instances(const ClusterState& state, const std::vector<std::string>& targets,
                                             const std::string& self) const;

  // What the supervisor was last told of a service: the assignment without its parsed specs
  // (the texts say which), so that an agent running thousands of services keeps a few
  // hundred bytes for each, not two ServiceSpecs.
  struct Told {
    std::uint64_t version = 0;
    SpecText spec_json;  // the record's texts, shared with it
    std::vector<std::uint32_t> instances;
    bool enabled = true;
    std::uint64_t restart_generation = 0;
    bool dependencies_ready = true;
    std::string waiting_reason;
    std::uint64_t stable_version = 0;
    SpecText stable_spec_json;
    std::vector<std::uint32_t> stable_instances;
    std::map<std::string, std::string> dependency_env;
    // `a` as made from `record`, whose texts it names.
    Told(const ServiceAssignment& a, const ServiceEntry& record)
        : version(a.version), spec_json(record.spec_json), instances(a.instances), enabled(a.enabled),
          restart_generation(a.restart_generation), dependencies_ready(a.dependencies_ready),
          waiting_reason(a.waiting_reason), stable_version(a.stable_version),
          stable_spec_json(a.stable_spec_json.empty() ? SpecText() : record.stable_spec_json),
          stable_instances(a.stable_instances), dependency_env(a.dependency_env) {}
    bool same_as(const ServiceAssignment& a) const;
    bool runs(std::uint32_t index) const;  // instance `index`, under either spec
  };
  // By service: what the supervisor holds.
  std::map<std::string, Told, KeyOrder> sent_;
  // Erases what the supervisor was told of a service, and its instances from the count.
  std::map<std::string, Told, KeyOrder>::iterator forget_sent(std::map<std::string, Told, KeyOrder>::iterator sent);
  std::map<std::string, Clock::time_point> handovers_;  // by assignment key: since when
  std::size_t local_instances_ = 0;
};

}  // namespace mob
