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
#include <string_view>
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
  // How many live peers publish (the candidates ranked).
  std::size_t live_publishers() const { return ranked_.size(); }

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

// Which senders' gossip every reader of this agent reads already, as this agent's view tells:
// every agent reads the `max_subscriptions` live peers that rank highest for it (Subscriptions
// above, run the same at every agent), so this agent can tell who reads whom. What it learned
// from `sender`'s gossip reached every reader of `sender` from `sender` itself; relaying it
// helps only the readers of this agent that do not read `sender`. In a network of ten agents
// each reading eight, a change otherwise reached every agent eight times. Worked out only for
// networks of at most `max_members` live members (the pass is quadratic; in a larger network
// a reader seldom reads a given sender, so nothing is left out). A reader that this agent
// takes for a reader of `sender` while it is not (their views differ during a change of
// membership) gets the record from `sender`'s next message's gap or from anti-entropy.
class RelayCoverage {
 public:
  RelayCoverage(std::string self, std::uint32_t max_subscriptions, std::size_t max_members = 64)
      : self_(std::move(self)), max_subscriptions_(max_subscriptions), max_members_(max_members) {}

  // Works the readers out again from the live members of `state` (after a change of them).
  void update(const ClusterState& state);
  // Leaves nothing out (past max_members, without walking the members).
  void clear() { covered_.clear(); }
  std::size_t max_members() const { return max_members_; }

  // Does every live member that reads this agent (but `sender`) read `sender` too?
  bool readers_read(std::string_view sender) const { return covered_.contains(sender); }

 private:
  std::string self_;
  std::uint32_t max_subscriptions_;
  std::size_t max_members_;
  std::set<std::string, std::less<>> covered_;  // the senders whose gossip need not be relayed
};

}  // namespace mob
