#include "tests/support/raw_peer.hpp"

#include <gtest/gtest.h>

#include "bus/transport.hpp"

namespace mob::test {

RawPeer::RawPeer(const AgentProcess& agent, std::string sender) : sender_(std::move(sender)) {
  dealer_.set(zmq::sockopt::linger, 0);
  const std::string monitor_endpoint = "inproc://raw-peer-monitor";
  EXPECT_EQ(zmq_socket_monitor(dealer_.handle(), monitor_endpoint.c_str(),
                               ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED),
            0);
  monitor_.set(zmq::sockopt::linger, 0);
  monitor_.connect(monitor_endpoint);
  dealer_.connect("tcp://" + agent.endpoint());
  EXPECT_EQ(next_connection_event(10s), ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
      << "no connection to the agent";
}

void RawPeer::send(Body body, std::uint64_t request_id) {
  send_raw(encode(Envelope{kProtocolVersion, request_id, sender_, std::move(body)}));
}

void RawPeer::send_raw(std::string_view frame) {
  EXPECT_TRUE(send_frames(dealer_, {frame}, false));
}

std::optional<Envelope> RawPeer::receive(std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{dealer_.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, timeout);
  auto frames = recv_frames(dealer_);
  if (!frames) return std::nullopt;
  auto envelope = decode(frames->back());
  EXPECT_TRUE(envelope) << envelope.error().message;
  if (!envelope) return std::nullopt;
  return std::move(*envelope);
}

int RawPeer::next_connection_event(std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{monitor_.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, timeout) != 1) return 0;
  auto frames = recv_frames(monitor_);
  if (!frames || frames->front().size() < 2) return 0;
  const auto& head = frames->front();
  return static_cast<unsigned char>(head[0]) | (static_cast<unsigned char>(head[1]) << 8);
}

}  // namespace mob::test
