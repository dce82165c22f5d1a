// The control messages between the threads of one agent: terminate an actor, and the leave
// handshake between main and the store. Their own type (ControlBody), apart from the wire's
// Body: they travel only on inproc pipes, so no client or peer can send one.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "bus/error.hpp"
#include "bus/wire.hpp"

namespace mob {

// An actor's terminate command (main -> io, store, supervisor; supervisor -> provider
// workers, health checker). The supervisor stops every instance first; `now` (a second
// signal): stop what is left at once, with SIGKILL. Answered with ShutdownDone.
struct ShutdownRequest {
  bool now = false;
  MOB_FIELDS(now)
};
struct ShutdownDone {
  MOB_FIELDS()
};

// Main -> store: announce that this agent leaves the network; answered with LeaveAnnounced.
struct AnnounceLeave {
  MOB_FIELDS()
};
struct LeaveAnnounced {
  MOB_FIELDS()
};
// Store -> main: a client asked this agent to leave (mob-tool leave): main stops the agent.
struct LeaveAsked {
  MOB_FIELDS()
};

// The order is the pipe's type code (index): pipes stay inside one process, so codes may
// change between releases.
using ControlBody = std::variant<ShutdownRequest, ShutdownDone, AnnounceLeave, LeaveAnnounced, LeaveAsked>;

std::string_view control_name(const ControlBody& body);

// One frame: a msgpack array [code, body].
std::string encode_control(const ControlBody& body);
Result<ControlBody> decode_control(std::string_view bytes);

}  // namespace mob
