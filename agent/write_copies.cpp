#include "agent/write_copies.hpp"

#include <algorithm>

namespace mob {

std::uint64_t WriteCopies::open(std::vector<Held> held, std::size_t records, std::vector<std::string> asked,
                                std::uint32_t peers, Clock::time_point deadline) {
  const std::uint64_t id = next_id_++;
  rounds_.emplace(id, Round{std::move(held), records, std::move(asked), peers, deadline});
  return id;
}

std::vector<WriteCopies::Held> WriteCopies::answered(const WriteCopied& copied, const std::string& peer_address) {
  auto round = rounds_.find(copied.id);
  if (round == rounds_.end()) return {};
  auto& asked = round->second.asked;
  auto peer = std::find(asked.begin(), asked.end(), peer_address);
  if (peer == asked.end()) return {};
  asked.erase(peer);  // one answer per asked peer
  if (copied.held >= round->second.records) return release(round, 2);
  if (asked.empty()) return release(round, 1);  // every asked peer answered short
  return {};
}

std::vector<WriteCopies::Held> WriteCopies::expired(Clock::time_point now) {
  std::vector<Held> out;
  for (auto round = rounds_.begin(); round != rounds_.end();) {
    auto next = std::next(round);
    if (round->second.deadline <= now) {
      auto released = release(round, 1);
      std::move(released.begin(), released.end(), std::back_inserter(out));
    }
    round = next;
  }
  return out;
}

std::vector<WriteCopies::Held> WriteCopies::drain() {
  std::vector<Held> out;
  while (!rounds_.empty()) {
    auto released = release(rounds_.begin(), 1);
    std::move(released.begin(), released.end(), std::back_inserter(out));
  }
  return out;
}

std::optional<WriteCopies::Clock::time_point> WriteCopies::next_deadline() const {
  std::optional<Clock::time_point> earliest;
  for (const auto& [id, round] : rounds_)
    if (!earliest || round.deadline < *earliest) earliest = round.deadline;
  return earliest;
}

WriteCopies::Reply WriteCopies::with_copies(Reply reply, std::uint32_t copies, std::uint32_t peers) {
  std::visit(
      [&](auto& answer) {
        answer.copies = copies;
        answer.peers = peers;
      },
      reply);
  return reply;
}

std::vector<WriteCopies::Held> WriteCopies::release(std::map<std::uint64_t, Round>::iterator round,
                                                    std::uint32_t copies) {
  std::vector<Held> out = std::move(round->second.held);
  for (auto& held : out) held.reply = with_copies(std::move(held.reply), copies, round->second.peers);
  rounds_.erase(round);
  return out;
}

}  // namespace mob
