// The agent's metrics in the Prometheus text exposition format (version 0.0.4): a writer of
// metric families and a latency histogram. Pure; the store thread owns the counters and
// writes the text (agent/store.cpp), answering MetricsRequest from mob-tool and from the
// HTTP endpoint (agent/metrics_http.hpp). Metric names and meanings: docs/operations.md.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mob {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Exposition {
 public:
  enum class Type { counter, gauge, histogram };
  // Starts a family: its # HELP and # TYPE lines. Each name once per text.
  void family(std::string_view name, Type type, std::string_view help);
  // One sample of the family just started (a histogram's with its _bucket, _sum, _count).
  void sample(std::string_view name, const MetricLabels& labels, double value);
  void sample(std::string_view name, double value) { sample(name, {}, value); }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// Request handling time, in seconds, in fixed buckets (cumulative in the exposition).
class LatencyHistogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                     0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
  void observe(double seconds);
  // Writes name_bucket{labels..., le="..."}, name_sum and name_count.
  void write(Exposition& out, std::string_view name, const MetricLabels& labels) const;
  std::uint64_t count() const { return count_; }

 private:
  std::array<std::uint64_t, kBounds.size() + 1> counts_{};  // the last: above every bound
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// A label value escaped as the format wants (backslash, double quote, newline).
std::string escape_label_value(std::string_view value);

}  // namespace mob
