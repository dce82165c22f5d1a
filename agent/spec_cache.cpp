#include "agent/spec_cache.hpp"

#include "bus/log.hpp"

namespace mob {

std::unique_ptr<SpecCache::Parsed> SpecCache::parse(const std::string& name, std::string_view text) {
  ++parses_;
  auto spec = parse_spec(text, limits_);
  if (!spec) {
    log::error("store", log::about_service(name), "cannot parse the spec of ", name, ": ", spec.error().message);
    return std::make_unique<Parsed>(Parsed{spec_identity(text), std::nullopt});
  }
  return std::make_unique<Parsed>(Parsed{spec_identity(text), std::move(*spec)});
}

const ServiceSpec* SpecCache::current(const ServiceEntry& entry) {
  auto& specs = by_service_[entry.name];
  specs.asked = true;
  if (!specs.current) specs.current = parse(entry.name, entry.spec_json);
  return specs.current->spec ? &*specs.current->spec : nullptr;
}

const ServiceSpec* SpecCache::stable(const ServiceEntry& entry) {
  if (entry.stable_spec_json.empty()) return nullptr;
  auto& specs = by_service_[entry.name];
  specs.asked = true;
  if (!specs.stable) specs.stable = parse(entry.name, entry.stable_spec_json);
  return specs.stable->spec ? &*specs.stable->spec : nullptr;
}

void SpecCache::changed(const ServiceEntry& entry) {
  auto found = by_service_.find(entry.name);
  if (found == by_service_.end()) return;
  if (!entry.removed) found->second = named_by(std::move(found->second), entry);
  if (entry.removed || (!found->second.current && !found->second.stable)) by_service_.erase(found);
}

void SpecCache::remember(const ServiceEntry& entry, ServiceSpec spec) {
  Specs& specs = by_service_[entry.name];
  specs = named_by(std::move(specs), entry);
  specs.current = std::make_unique<Parsed>(Parsed{spec_identity(entry.spec_json), std::move(spec)});
}

void SpecCache::sweep() {
  for (auto it = by_service_.begin(); it != by_service_.end();) {
    Specs& specs = it->second;
    const bool unparsable = (specs.current && !specs.current->spec) || (specs.stable && !specs.stable->spec);
    const bool drop = !specs.asked && !unparsable;
    specs.asked = false;
    it = drop ? by_service_.erase(it) : std::next(it);
  }
}

SpecCache::Specs SpecCache::named_by(Specs had, const ServiceEntry& entry) {
  Specs now;
  const std::uint64_t current = spec_identity(entry.spec_json);
  const bool has_stable = !entry.stable_spec_json.empty();
  const std::uint64_t stable = has_stable ? spec_identity(entry.stable_spec_json) : 0;
  for (auto* kept : {&had.current, &had.stable}) {
    if (!*kept) continue;
    // One parsed text may be both (a revert makes the stable spec current): moved to one,
    // copied to the other.
    const bool is_current = !now.current && (*kept)->identity == current;
    const bool is_stable = !now.stable && has_stable && (*kept)->identity == stable;
    if (is_current && is_stable) now.stable = std::make_unique<Parsed>(**kept);
    if (is_current) now.current = std::move(*kept);
    else if (is_stable) now.stable = std::move(*kept);
  }
  return now;
}

}  // namespace mob
