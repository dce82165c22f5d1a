// The parsed specs of the services the store holds: each spec text that a service's record
// names (its current version's and, during a rollout, its stable version's) is parsed the
// first time it is asked for or handed in by a deploy, and kept while the record names it and
// it is asked for again between two sweeps (the store sweeps every 10 s): an agent at rest
// holds parsed only the specs its duties read, not one per service of the network.
// Part of the store's thread (not thread-safe).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "agent/spec.hpp"
#include "bus/messages.hpp"

namespace mob {

class SpecCache {
 public:
  explicit SpecCache(SpecLimits limits) : limits_(limits) {}

  // The spec of `entry.spec_json`, or of `entry.stable_spec_json` (null when the record has
  // none, or when it does not parse: logged once). REQUIRED: `entry` is the record the store
  // holds for its service (changed() was told of each new one).
  const ServiceSpec* current(const ServiceEntry& entry);
  const ServiceSpec* stable(const ServiceEntry& entry);
  // A new record of a service was merged: the specs it no longer names go (a new version's
  // stable spec is the version before it: kept, not parsed again).
  void changed(const ServiceEntry& entry);
  // The spec that a deploy parsed from its request, for the record it writes (`entry`): kept as
  // that record's current spec, never parsed again (told before the record is merged, so that
  // the merge finds it; changed() then drops it if another record wins the merge).
  void remember(const ServiceEntry& entry, ServiceSpec spec);

  // Drops the parsed specs not asked for since the last sweep (a spec that does not parse is
  // kept: its error is logged once). A pointer current() or stable() returned is valid until
  // the next sweep or the next changed() of its service.
  void sweep();

  // How many spec texts it parsed (the store's metrics; tests count them).
  std::uint64_t parses() const { return parses_; }
  // How many services' specs it holds parsed now.
  std::size_t held() const { return by_service_.size(); }

 private:
  struct Parsed {
    std::uint64_t identity = 0;        // spec_identity() of its text
    std::optional<ServiceSpec> spec;   // none: the text does not parse
  };
  // Held by pointer: a ServiceSpec is 312 bytes, and most services have no stable spec (no
  // rollout under way); two spec-sized slots in every entry cost ~0.3 MiB per 1,000 services.
  struct Specs {
    std::unique_ptr<Parsed> current;
    std::unique_ptr<Parsed> stable;
    bool asked = true;  // since the last sweep
  };

  std::unique_ptr<Parsed> parse(const std::string& name, std::string_view text);
  // What of `had` the record `entry` names (its current and its stable spec).
  static Specs named_by(Specs had, const ServiceEntry& entry);

  SpecLimits limits_;
  // By hash: current() runs for every service at every change the store plans for, and a
  // tree of thousands of names was a tenth of the store's time while 10,000 were deployed.
  std::unordered_map<std::string, Specs> by_service_;
  std::uint64_t parses_ = 0;
};

}  // namespace mob
