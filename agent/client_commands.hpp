// Client commands decided from the replicated state alone: what a deploy or a control
// action writes, what status and members answer. They change nothing; the store keeps the
// write on disk, applies and gossips it, then answers.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>

#include "agent/cluster_state.hpp"
#include "agent/scheduling.hpp"
#include "agent/spec.hpp"
#include "bus/error.hpp"
#include "bus/messages.hpp"

namespace mob {

// What the commands read besides a request.
struct CommandView {
  const ClusterState& state;
  const SpecOf& spec_of;
  std::string_view self;           // this agent's name, which answers
  const SpecLimits& limits;        // what a client's spec may ask for
  std::uint32_t max_services;      // deployed services the network may hold (--max-services)
  std::string_view write_refusal;  // why this agent takes no writes now (its clock), or empty
  std::uint32_t history;           // versions kept per service (--history)
};

// A client write decided: the record to keep, then `reply` once it is kept; or, for a retry
// of a write the state already holds (its write id is on the record), `reply` alone. A write
// of a new spec (a deploy, a scale) hands over that spec parsed (`spec`, of entry->spec_json):
// the store keeps it and never parses that text again.
template <class Reply>
struct ClientWrite {
  std::optional<ServiceEntry> entry;
  Reply reply;
  std::optional<ServiceSpec> spec = {};
};

// A new version of a service (or its first). `stamp` is called once, for the write only.
Result<ClientWrite<DeployReply>> decide_deploy(const CommandView& view, const DeployRequest& request,
                                               const std::function<Stamp()>& stamp);

// stop, start, restart, remove (refused while others depend on it) and remove --force.
Result<ClientWrite<ControlReply>> decide_control(const CommandView& view, const ControlRequest& request,
                                                 const std::function<Stamp()>& stamp);

// A new version with the spec of an earlier one (docs/spec.md, "History and rollback"),
// under the rules of a deploy of that spec; answered like a deploy.
Result<ClientWrite<DeployReply>> decide_rollback(const CommandView& view, const RollbackRequest& request,
                                                 const std::function<Stamp()>& stamp);

// Lets a rollout paused on its canaries go on (docs/spec.md, "Canaries").
Result<ClientWrite<ControlReply>> decide_promote(const CommandView& view, const PromoteRequest& request,
                                                 const std::function<Stamp()>& stamp);

// A rebalance asked for (docs/spec.md, "Rebalance"): the records of the services named (every
// one when none is) that are not spread evenly over `alive`, with the wish to rebalance
// (ServiceEntry.rebalance), for their owners to carry out; a record that holds it already is
// not written again. `reply.left` counts the moves wanted now.
struct RebalanceWrite {
  std::vector<ServiceEntry> entries;
  RebalanceReply reply;
};
Result<RebalanceWrite> decide_rebalance(const CommandView& view, const RebalanceRequest& request,
                                        const std::vector<Member>& alive, const std::function<Stamp()>& stamp);

// The versions of a service, newest first; a removed one's while its tombstone is kept.
Result<HistoryReply> service_history(const CommandView& view, const HistoryRequest& request);

// Every deployed service (or the one asked for) with each wanted instance: its record,
// or why it is not running yet, or why it stays where it can no longer run (drained, its
// tags changed). `fit_members` (the members that may run instances) is called only for
// such instances, once per unplaced service and once per instance that must move.
Result<StatusReply> service_statuses(const CommandView& view, const StatusRequest& request,
                                     const std::function<std::vector<Member>()>& fit_members);

MembersReply member_list(const ClusterState& state);

// Services deployed and not removed.
std::size_t deployed_count(const ClusterState& state);

// The answers to the client writes this agent took, by write id, for `life` or the last
// `capacity` writes: a retried write gets its first answer again.
class RecentWrites {
 public:
  using Clock = std::chrono::steady_clock;
  RecentWrites(std::size_t capacity, Clock::duration life) : capacity_(capacity), life_(life) {}

  // The first answer to `write_id`, when this agent remembers one (forgets expired ones).
  std::optional<Body> answer_to(const std::string& write_id, Clock::time_point now);
  // Remembers `answer` to `write_id` (unless empty or known) and returns it.
  template <class Reply>
  Reply remember(const std::string& write_id, Reply answer, Clock::time_point now) {
    forget_expired(now);
    if (write_id.empty() || answers_.contains(write_id)) return answer;
    answers_.emplace(write_id, Answer{answer});
    order_.emplace_back(now, write_id);
    return answer;
  }
  // Forgets the answers past their life or beyond the capacity (also done by each call above).
  void forget_expired(Clock::time_point now);
  std::size_t size() const { return answers_.size(); }

 private:
  // Only the replies to writes: a Body would cost the size of the largest message each.
  using Answer = std::variant<DeployReply, ControlReply>;
  std::size_t capacity_;
  Clock::duration life_;
  std::unordered_map<std::string, Answer> answers_;
  std::deque<std::pair<Clock::time_point, std::string>> order_;
};

}  // namespace mob
