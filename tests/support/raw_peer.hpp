// Test support: a DEALER that a test drives by hand against an agent's ROUTER, as a client
// or a peer would connect: sends that wait for no reply, raw bytes that are not an envelope,
// and the connection's own events (handshake, drop) read from a socket monitor.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "bus/codec.hpp"
#include "tests/support/agent.hpp"

namespace mob::test {

class RawPeer {
 public:
  // Connects to `agent` and waits up to 10 s for the handshake (a test failure if none
  // comes). `sender` goes into every envelope that send() writes.
  RawPeer(const AgentProcess& agent, std::string sender);

  void send(Body body, std::uint64_t request_id);
  void send_raw(std::string_view frame);

  // The next reply, or nullopt after `timeout`.
  std::optional<Envelope> receive(std::chrono::milliseconds timeout = 5s);

  // The next event of the connection (ZMQ_EVENT_HANDSHAKE_SUCCEEDED or
  // ZMQ_EVENT_DISCONNECTED), or 0 after `timeout`.
  int next_connection_event(std::chrono::milliseconds timeout);

 private:
  std::string sender_;
  zmq::context_t context_{1};
  zmq::socket_t dealer_{context_, zmq::socket_type::dealer};
  zmq::socket_t monitor_{context_, zmq::socket_type::pair};
};

}  // namespace mob::test
