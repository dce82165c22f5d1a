// What the peer store sends, and to whom: the seam between its protocol logic (Store, in
// agent/store.cpp) and the sockets that carry it (ZeroMQ in a real agent, a simulated
// network in a test or in mob-sim). Everything the store receives comes in through the
// Store's own methods; everything it sends goes out here. Called on the store's thread only.
#pragma once

#include <string>
#include <string_view>

#include "agent/actor.hpp"
#include "bus/internal_messages.hpp"
#include "bus/messages.hpp"

namespace mob {

class StoreTransport {
 public:
  virtual ~StoreTransport() = default;

  // A reply (or one of several) to a request from a client or a peer.
  virtual void reply(const Routed& request, Body body) = 0;
  // A request to the agent whose ROUTER is `address` (tcp://HOST:PORT, checked at the
  // door); its replies come back through Store::on_peer_reply(address, ...). A push
  // (`expects_reply` false) gets none.
  virtual void request(const std::string& address, Body body, bool expects_reply) = 0;
  // The member at `address` left: its link may go.
  virtual void forget_peer(const std::string& address) = 0;
  // The member at `address` is back (it was failed): a link that retried while it was down
  // waits out its reconnect backoff (up to a second) before it carries anything, so a link
  // older than its first retry is dropped and the next request makes one that connects at
  // once. A transport without connections has nothing to do.
  virtual void renew_peer(const std::string& /*address*/) {}
  // Gossip or an event on this agent's PUB, under `topic`; `bytes` is an encoded envelope.
  virtual void publish(std::string_view topic, const std::string& bytes) = 0;
  // Gossip from the PUB at `pub_address` reaches this store (Store::on_gossip), or no longer.
  virtual void subscribe(const std::string& pub_address) = 0;
  virtual void unsubscribe(const std::string& pub_address) = 0;
  // To the supervisor (assignments, withdrawals).
  virtual void to_supervisor(InternalBody body) = 0;
  // To main: LeaveAsked when a client asked this agent to leave; and the answer to main's
  // control messages (ShutdownDone to ShutdownRequest, LeaveAnnounced to AnnounceLeave).
  virtual void to_main(ControlBody body) = 0;
};

}  // namespace mob
