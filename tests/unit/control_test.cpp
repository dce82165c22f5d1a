// The control messages of an agent's actors: each round-trips through its one-frame
// encoding, malformed ones are errors, and a pipe that carries both kinds tells them apart.
#include "agent/control.hpp"

#include <gtest/gtest.h>

#include "agent/actor.hpp"

namespace mob {
namespace control_test {

template <class Message>
Message round_trip(const Message& message) {
  auto bytes = encode_control(ControlBody{message});
  auto decoded = decode_control(bytes);
  EXPECT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(encode_control(*decoded), bytes);
  return std::get<Message>(*decoded);
}

template <std::size_t I = 0>
void round_trip_every_default_control() {
  if constexpr (I < std::variant_size_v<ControlBody>) {
    ControlBody original{std::in_place_index<I>};
    auto decoded = decode_control(encode_control(original));
    ASSERT_TRUE(decoded) << control_name(original) << ": " << decoded.error().message;
    EXPECT_EQ(decoded->index(), I);
    round_trip_every_default_control<I + 1>();
  }
}

TEST(Control, EveryControlMessageRoundTrips) { round_trip_every_default_control(); }

TEST(Control, ShutdownRequestRoundTrips) {
  EXPECT_TRUE(round_trip(ShutdownRequest{true}).now);
  EXPECT_FALSE(round_trip(ShutdownRequest{}).now);
}

TEST(Control, ShutdownDoneRoundTrips) { round_trip(ShutdownDone{}); }
TEST(Control, AnnounceLeaveRoundTrips) { round_trip(AnnounceLeave{}); }
TEST(Control, LeaveAnnouncedRoundTrips) { round_trip(LeaveAnnounced{}); }
TEST(Control, LeaveAskedRoundTrips) { round_trip(LeaveAsked{}); }

TEST(Control, NamesEachMessage) {
  EXPECT_EQ(control_name(ShutdownRequest{}), "shutdown_request");
  EXPECT_EQ(control_name(ShutdownDone{}), "shutdown_done");
  EXPECT_EQ(control_name(AnnounceLeave{}), "announce_leave");
  EXPECT_EQ(control_name(LeaveAnnounced{}), "leave_announced");
  EXPECT_EQ(control_name(LeaveAsked{}), "leave_asked");
}

TEST(Control, MalformedInputIsAnError) {
  EXPECT_EQ(decode_control("\xc1").error().code, Errc::malformed);
  EXPECT_EQ(decode_control("").error().code, Errc::malformed);
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(2);
  pk.pack(99);
  pk.pack_array(0);
  auto unknown = decode_control(std::string_view(buffer.data(), buffer.size()));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::unknown_type);
  EXPECT_EQ(unknown.error().message, "unknown control message type 99");
}

TEST(Control, APipeCarryingBothKindsTellsThemApart) {
  zmq::context_t context(1);
  Pipe pipe = make_pipe(context, "control-test");
  send_internal(pipe.first, ProviderAvailability{"bash", true}, "client-7", 9);
  send_control(pipe.first, ShutdownRequest{true});
  auto first = receive_any(pipe.second);
  ASSERT_TRUE(first);
  const auto* internal = std::get_if<InternalMessage>(&*first);
  ASSERT_NE(internal, nullptr);
  EXPECT_EQ(internal->route, "client-7");
  EXPECT_EQ(internal->envelope.request_id, 9u);
  EXPECT_TRUE(std::get<ProviderAvailability>(internal->envelope.body).available);
  auto second = receive_any(pipe.second);
  ASSERT_TRUE(second);
  ASSERT_TRUE(std::holds_alternative<ControlBody>(*second));
  EXPECT_TRUE(std::get<ShutdownRequest>(std::get<ControlBody>(*second)).now);
  EXPECT_FALSE(receive_any(pipe.second));
}

TEST(Control, AControlOnlyPipeDropsOtherMessages) {
  zmq::context_t context(1);
  Pipe pipe = make_pipe(context, "control-only-test");
  send_internal(pipe.first, ProviderAvailability{"bash", true});
  send_body(pipe.first, PingRequest{});
  send_control(pipe.first, LeaveAsked{});
  auto control = receive_control(pipe.second);
  ASSERT_TRUE(control);
  EXPECT_TRUE(std::holds_alternative<LeaveAsked>(*control));
  EXPECT_FALSE(receive_control(pipe.second));
}

// Pipes are typed: a wire message on an internal pipe, or an internal one on a wire pipe, does
// not decode there and is dropped (a bug, logged), never taken for a message of the other kind.
TEST(Control, APipeDropsMessagesOfTheOtherKind) {
  zmq::context_t context(1);
  Pipe pipe = make_pipe(context, "typed-pipe-test");
  send_body(pipe.first, PingRequest{});
  send_internal(pipe.first, ServiceWithdrawn{"web"});
  auto internal = receive_internal(pipe.second);
  ASSERT_TRUE(internal);
  EXPECT_EQ(std::get<ServiceWithdrawn>(internal->envelope.body).name, "web");
  EXPECT_FALSE(receive_internal(pipe.second));

  send_internal(pipe.first, ServiceWithdrawn{"web"});
  send_body(pipe.first, PingRequest{}, "client-1", 4);
  auto wire = receive_routed(pipe.second);
  ASSERT_TRUE(wire);
  EXPECT_EQ(wire->route, "client-1");
  EXPECT_TRUE(std::holds_alternative<PingRequest>(wire->envelope.body));
  EXPECT_FALSE(receive_routed(pipe.second));
}

}  // namespace control_test
}  // namespace mob
