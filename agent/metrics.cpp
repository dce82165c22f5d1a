#include "agent/metrics.hpp"

#include <charconv>
#include <cmath>

namespace mob {
namespace {

std::string number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) return std::to_string(static_cast<long long>(value));
  char buffer[32];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general);
  return error == std::errc{} ? std::string(buffer, end) : "NaN";
}

std::string_view type_word(Exposition::Type type) {
  switch (type) {
    case Exposition::Type::counter: return "counter";
    case Exposition::Type::gauge: return "gauge";
    case Exposition::Type::histogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void Exposition::family(std::string_view name, Type type, std::string_view help) {
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  for (char c : help) text_ += c == '\n' ? ' ' : c;
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type_word(type);
  text_ += '\n';
}

void Exposition::sample(std::string_view name, const MetricLabels& labels, double value) {
  text_ += name;
  if (!labels.empty()) {
    text_ += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i) text_ += ',';
      text_ += labels[i].first + "=\"" + escape_label_value(labels[i].second) + "\"";
    }
    text_ += '}';
  }
  text_ += ' ';
  text_ += number(value);
  text_ += '\n';
}

void LatencyHistogram::observe(double seconds) {
  std::size_t bucket = 0;
  while (bucket < kBounds.size() && seconds > kBounds[bucket]) ++bucket;
  ++counts_[bucket];
  sum_ += seconds;
  ++count_;
}

void LatencyHistogram::write(Exposition& out, std::string_view name, const MetricLabels& labels) const {
  const std::string base(name);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= kBounds.size(); ++i) {
    cumulative += counts_[i];
    MetricLabels with_bound = labels;
    with_bound.emplace_back("le", i < kBounds.size() ? number(kBounds[i]) : "+Inf");
    out.sample(base + "_bucket", with_bound, static_cast<double>(cumulative));
  }
  out.sample(base + "_sum", labels, sum_);
  out.sample(base + "_count", labels, static_cast<double>(count_));
}

}  // namespace mob
