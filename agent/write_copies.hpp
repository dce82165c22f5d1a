// The client writes an agent took and has not answered yet: each waits until a peer says it
// holds the write on its disk too (WriteCopied), or until its round's deadline. The answer
// then says how many agents held the write (DeployReply/ControlReply `copies`): a write held
// by one agent alone is lost with that agent, and its writer is told so.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "agent/actor.hpp"
#include "bus/messages.hpp"

namespace mob {

class WriteCopies {
 public:
  using Clock = std::chrono::steady_clock;
  using Reply = std::variant<DeployReply, ControlReply>;
  // An answer held back: the client request, the reply (its `copies` and `peers` filled in
  // when it is released) and the write id it is remembered under.
  struct Held {
    Routed request;
    Reply reply;
    std::string write_id;
  };

  // Opens a round for `held`, whose writes travel in one WriteCopy of `records` records to
  // the peers at `asked` (1 or more); `peers` is what each answer says of this agent's
  // network. Returns the round's id, for the WriteCopy.
  std::uint64_t open(std::vector<Held> held, std::size_t records, std::vector<std::string> asked,
                     std::uint32_t peers, Clock::time_point deadline);
  // A peer's answer. The round's answers when it decides the round: the peer holds every
  // record (two copies), or it is the last asked peer to decline (one copy). An unknown or
  // already decided round, or an answer from a peer not asked, decides nothing.
  std::vector<Held> answered(const WriteCopied& copied, const std::string& peer_address);
  // The answers of the rounds whose deadline passed, with one copy.
  std::vector<Held> expired(Clock::time_point now);
  // Every answer still held, with one copy (the agent stops).
  std::vector<Held> drain();
  // The earliest deadline of a round, if any is open.
  std::optional<Clock::time_point> next_deadline() const;
  std::size_t open_rounds() const { return rounds_.size(); }

  // Fills in what an answer says of its copies.
  static Reply with_copies(Reply reply, std::uint32_t copies, std::uint32_t peers);

 private:
  struct Round {
    std::vector<Held> held;
    std::size_t records = 0;
    std::vector<std::string> asked;  // the addresses of the peers that have not answered yet
    std::uint32_t peers = 0;
    Clock::time_point deadline;
  };
  std::vector<Held> release(std::map<std::uint64_t, Round>::iterator round, std::uint32_t copies);

  std::map<std::uint64_t, Round> rounds_;
  std::uint64_t next_id_ = 1;
};

}  // namespace mob
