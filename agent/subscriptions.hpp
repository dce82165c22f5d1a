// Which peers' gossip this agent reads: the `max_subscriptions` live peers with the highest
// rendezvous score for this agent (all of them in a small network). Each agent ranks peers
// by its own name, so every peer is read by about `max_subscriptions` others whatever the
// size of the network, a newcomer gets its share of readers at once, and a change of
// membership moves few subscriptions; relaying carries changes across this random graph.
// Also keeps which members are failed (the store probes them to reconnect).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/cluster_state.hpp"

namespace mob {

class Subscriptions {
 public:
  struct Changes {
    std::vector<std::string> forget;       // ROUTER addresses of members that left
    std::vector<std::string> unsubscribe;  // PUB endpoints no longer read
    std::vector<std::string> subscribe;    // PUB endpoints read from now on
    // The last member newly read: what it published before is fetched from it now.
    std::string sync_first;
    // Members that became live, and that stopped being live or vanished (the failure
    // detector's list of members to probe).
    std::vector<std::string> added, gone;
  };

  Subscriptions(std::string self, std::uint32_t max_subscriptions)
      : self_(std::move(self)), max_subscriptions_(max_subscriptions) {}

  // Looks only at the members named in `changed` (their records in `state`, or their
  // absence): in a network of thousands, a join is one change, not a pass over every member.
  Changes update(const ClusterState& state, const std::set<std::string>& changed);

  bool subscribed(const std::string& pub_address) const { return subscribed_.contains(pub_address); }
  bool has_failed_members() const { return !failed_.empty(); }

 private:
  std::string self_;
  std::uint32_t max_subscriptions_;
  std::set<std::string> subscribed_;  // PUB endpoints
  // The live peers that publish, ranked by their rendezvous score for this agent, highest
  // first, each with a hash of its PUB endpoint (the endpoint itself is read from the state:
  // one small node per member, no copy of its name's record). A member's place is found
  // again by its score, which its name gives.
  using Rank = std::pair<std::uint64_t, std::string>;  // (score, name)
  std::map<Rank, std::uint64_t, std::greater<>> ranked_;
  std::set<std::string> failed_;  // the failed peers
};

}  // namespace mob
