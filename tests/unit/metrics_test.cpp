// The Prometheus text writer: families, escaped labels, cumulative histogram buckets.
#include "agent/metrics.hpp"

#include <gtest/gtest.h>

namespace mob {
namespace metrics_test {

TEST(Metrics, AFamilyHasHelpTypeAndSamplesWithEscapedLabels) {
  Exposition out;
  out.family("mob_members", Exposition::Type::gauge, "Members by state.\nas seen here");
  out.sample("mob_members", {{"state", "alive"}}, 3);
  out.sample("mob_members", {{"state", "a\"b\\c\nd"}}, 0.5);
  out.family("mob_services", Exposition::Type::gauge, "Services deployed.");
  out.sample("mob_services", 7);
  EXPECT_EQ(out.text(),
            "# HELP mob_members Members by state. as seen here\n"
            "# TYPE mob_members gauge\n"
            "mob_members{state=\"alive\"} 3\n"
            "mob_members{state=\"a\\\"b\\\\c\\nd\"} 0.5\n"
            "# HELP mob_services Services deployed.\n"
            "# TYPE mob_services gauge\n"
            "mob_services 7\n");
}

TEST(Metrics, HistogramBucketsAreCumulativeAndEndWithInf) {
  LatencyHistogram latency;
  latency.observe(0.0001);  // first bucket
  latency.observe(0.003);   // le 0.005
  latency.observe(10);      // only +Inf
  Exposition out;
  out.family("mob_request_seconds", Exposition::Type::histogram, "Time.");
  latency.write(out, "mob_request_seconds", {{"type", "status_request"}});
  const auto& text = out.text();
  EXPECT_NE(text.find("mob_request_seconds_bucket{type=\"status_request\",le=\"0.0005\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mob_request_seconds_bucket{type=\"status_request\",le=\"0.0025\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mob_request_seconds_bucket{type=\"status_request\",le=\"0.005\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mob_request_seconds_bucket{type=\"status_request\",le=\"2.5\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mob_request_seconds_bucket{type=\"status_request\",le=\"+Inf\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mob_request_seconds_count{type=\"status_request\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mob_request_seconds_sum{type=\"status_request\"} 10.0031\n"), std::string::npos) << text;
  EXPECT_EQ(latency.count(), 3u);
}

}  // namespace metrics_test
}  // namespace mob
