#include "sim/network_model.hpp"

#include <algorithm>
#include <set>

namespace mob::sim {

std::vector<Micros> delivery_delays(const LinkFaults& link, std::mt19937_64& random) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<Micros> latency(link.latency_min, std::max(link.latency_min, link.latency_max));
  std::uniform_int_distribution<Micros> hold(0, std::max<Micros>(0, link.reorder_delay));
  const double lost = unit(random);
  const double doubled = unit(random);
  const double held = unit(random);
  const Micros first = latency(random);
  const Micros second = latency(random);
  const Micros extra = hold(random);
  if (lost < link.loss) return {};
  std::vector<Micros> delays{first + (held < link.reorder ? extra : 0)};
  if (doubled < link.duplicate) delays.push_back(second);
  return delays;
}

void Partitions::cut(const std::vector<int>& from, const std::vector<int>& to, bool both_ways) {
  Cut cut{from, to, both_ways};
  std::sort(cut.from.begin(), cut.from.end());
  std::sort(cut.to.begin(), cut.to.end());
  // An agent is never cut from itself: a cut of one agent from itself cuts nothing.
  std::set<int> agents(cut.from.begin(), cut.from.end());
  agents.insert(cut.to.begin(), cut.to.end());
  if (!cut.from.empty() && !cut.to.empty() && agents.size() >= 2) cuts_.push_back(std::move(cut));
}

bool Partitions::blocked(int from, int to) const {
  if (from == to) return false;
  auto in = [](const std::vector<int>& group, int agent) { return std::binary_search(group.begin(), group.end(), agent); };
  for (const auto& cut : cuts_)
    if ((in(cut.from, from) && in(cut.to, to)) || (cut.both_ways && in(cut.to, from) && in(cut.from, to))) return true;
  return false;
}

void EventQueue::schedule(Micros at, Action action) {
  heap_.push_back(Entry{at, next_order_++, std::move(action)});
  std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
}

std::pair<Micros, EventQueue::Action> EventQueue::pop() {
  std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
  Entry top = std::move(heap_.back());
  heap_.pop_back();
  return {top.at, std::move(top.action)};
}

void TraceHash::add(std::string_view bytes) {
  for (unsigned char c : bytes) hash_ = (hash_ ^ c) * 1099511628211ULL;
}

void TraceHash::add(std::uint64_t number) {
  for (int i = 0; i < 8; ++i) hash_ = (hash_ ^ ((number >> (8 * i)) & 0xff)) * 1099511628211ULL;
}

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace mob::sim
