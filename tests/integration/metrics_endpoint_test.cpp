// The agent's metrics, as a Prometheus server and an operator read them: scraped over HTTP
// (libcurl) from a real agent started with --metrics-addr, every line checked against the
// text exposition format, counters that move with a deploy and with a second agent,
// `mob-tool metrics` printing the same metric names, and a bad --metrics-addr refused in one
// line with exit 1.
#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/support/network.hpp"

namespace mob::test {
namespace metrics_endpoint_test {

struct Scrape {
  long status = 0;
  std::string body;
  std::string content_type;
};

std::size_t append(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// GET http://127.0.0.1:PORT/PATH; status 0 when nothing answered.
Scrape get(int port, const std::string& path = "/metrics") {
  Scrape scrape;
  CURL* curl = curl_easy_init();
  if (!curl) return scrape;
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &scrape.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &scrape.status);
    char* type = nullptr;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    if (type) scrape.content_type = type;
  }
  curl_easy_cleanup(curl);
  return scrape;
}

// The text parsed as the exposition format wants it: `# HELP name text`, `# TYPE name type`
// before a family's samples, then `name{label="value",...} number` lines whose name is the
// family's (a histogram's with _bucket, _sum or _count). Every broken line is an error.
struct Parsed {
  std::map<std::string, double> samples;  // "name{labels}" -> value
  std::set<std::string> families;         // from the # TYPE lines
  std::vector<std::string> errors;
};

Parsed parse_exposition(const std::string& text) {
  static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+)");
  static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  static const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? ([-+]?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|NaN|\+Inf|-Inf))");
  Parsed parsed;
  std::map<std::string, std::string> type_of;
  std::string helped;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  if (text.empty() || text.back() != '\n') parsed.errors.push_back("the text does not end with a newline");
  while (std::getline(lines, line)) {
    ++number;
    std::smatch match;
    const std::string where = "line " + std::to_string(number) + " \"" + line + "\": ";
    if (std::regex_match(line, match, help)) {
      helped = match[1];
    } else if (std::regex_match(line, match, type)) {
      if (match[1] != helped) parsed.errors.push_back(where + "# TYPE without its # HELP");
      if (!parsed.families.insert(match[1]).second) parsed.errors.push_back(where + "a family declared twice");
      type_of[match[1]] = match[2];
    } else if (std::regex_match(line, match, sample)) {
      std::string name = match[1];
      std::string family = name;
      for (const char* suffix : {"_bucket", "_sum", "_count"})
        if (!type_of.contains(family) && name.ends_with(suffix)) family = name.substr(0, name.size() - std::strlen(suffix));
      if (!type_of.contains(family)) parsed.errors.push_back(where + "a sample of no declared family");
      else if (family != name && type_of[family] != "histogram") parsed.errors.push_back(where + "a suffix on a " + type_of[family]);
      parsed.samples[name + std::string(match[2])] = std::stod(match[3] == "+Inf" ? "inf" : std::string(match[3]));
    } else {
      parsed.errors.push_back(where + "not a comment, a type or a sample");
    }
  }
  return parsed;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

class MetricsEndpoint : public AgentNetwork {
 protected:
  // The value of `key` ("name{labels}") in a fresh scrape; -1 when absent or unscraped.
  double scraped(int port, const std::string& key) {
    auto scrape = get(port);
    auto parsed = parse_exposition(scrape.body);
    auto found = parsed.samples.find(key);
    return scrape.status == 200 && found != parsed.samples.end() ? found->second : -1;
  }
};

TEST_F(MetricsEndpoint, AScrapeIsValidExpositionTextAndInstancesRunningGoFromZeroToThreeAfterADeploy) {
  const int port = free_port_pair();
  AgentProcess& agent = start("bash", {"--metrics-addr", "127.0.0.1:" + std::to_string(port)});

  auto scrape = get(port);
  ASSERT_EQ(scrape.status, 200) << agent.log();
  EXPECT_EQ(scrape.content_type, "text/plain; version=0.0.4; charset=utf-8");
  auto before = parse_exposition(scrape.body);
  EXPECT_TRUE(before.errors.empty()) << joined(before.errors) << scrape.body;
  EXPECT_EQ(before.samples.at("mob_instances{state=\"running\"}"), 0);
  EXPECT_EQ(before.samples.at("mob_services"), 0);
  EXPECT_EQ(before.samples.at("mob_members{state=\"alive\"}"), 1);
  EXPECT_EQ(before.samples.at("mob_eligible"), 1);
  for (const char* family : {"mob_members", "mob_services", "mob_instances", "mob_instance_restarts",
                             "mob_probes_sent_total", "mob_probes_failed_total", "mob_suspicions_total",
                             "mob_gossip_messages_total", "mob_gossip_bytes_total", "mob_sync_sent_messages_total",
                             "mob_sync_sent_bytes_total", "mob_sync_received_messages_total",
                             "mob_sync_received_bytes_total", "mob_events_published_total", "mob_specs_parsed_total",
                             "mob_pub_connections", "mob_request_seconds"})
    EXPECT_TRUE(before.families.contains(family)) << family << " missing from:\n" << scrape.body;

  ASSERT_TRUE(agent.deploy(sleeper("three", 3)));
  ASSERT_TRUE(wait_until([&] { return scraped(port, "mob_instances{state=\"running\"}") == 3; }, 20s))
      << get(port).body;
  auto after = parse_exposition(get(port).body);
  EXPECT_TRUE(after.errors.empty()) << joined(after.errors);
  EXPECT_EQ(after.samples.at("mob_services"), 1);
  EXPECT_EQ(agent.service_processes().size(), 3u);
  EXPECT_GE(after.samples.at("mob_request_seconds_count{type=\"deploy_request\"}"), 1);
  EXPECT_EQ(after.samples.at("mob_request_seconds_bucket{type=\"deploy_request\",le=\"+Inf\"}"),
            after.samples.at("mob_request_seconds_count{type=\"deploy_request\"}"));
  EXPECT_GT(after.samples.at("mob_events_published_total"), before.samples.at("mob_events_published_total"));
  // The agent that took the deploy parsed its request's spec only: the store kept that parse
  // and the supervisor got the spec parsed, with each of its 3 instances' assignments.
  EXPECT_EQ(after.samples.at("mob_specs_parsed_total"), 0);

  // mob-tool metrics prints the same families, through the request socket.
  auto printed = run_command({MOB_TOOL_BIN, "-a", agent.endpoint(), "metrics"});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  auto through_tool = parse_exposition(printed.out);
  EXPECT_TRUE(through_tool.errors.empty()) << joined(through_tool.errors);
  std::set<std::string> http_families = after.families;
  EXPECT_EQ(through_tool.families, http_families);
  EXPECT_EQ(through_tool.samples.at("mob_instances{state=\"running\"}"), 3);

  auto elsewhere = get(port, "/");
  EXPECT_EQ(elsewhere.status, 404);
  EXPECT_NE(elsewhere.body.find("/metrics"), std::string::npos);
}

TEST_F(MetricsEndpoint, MembershipAndGossipCountersMoveWithASecondAgent) {
  const int port = free_port_pair();
  start("bash", {"--metrics-addr", ":" + std::to_string(port)});  // ":PORT" listens on loopback
  start();
  ASSERT_TRUE(everyone_sees_alive(2));
  ASSERT_TRUE(wait_until([&] {
    return scraped(port, "mob_members{state=\"alive\"}") == 2 &&
           scraped(port, "mob_gossip_messages_total{direction=\"received\"}") > 0 &&
           scraped(port, "mob_gossip_messages_total{direction=\"sent\"}") > 0 &&
           scraped(port, "mob_probes_sent_total") > 0 && scraped(port, "mob_sync_sent_messages_total") > 0 &&
           scraped(port, "mob_pub_connections") >= 1;
  }, 15s)) << get(port).body;
  EXPECT_GT(scraped(port, "mob_gossip_bytes_total{direction=\"received\"}"), 0);
}

TEST_F(MetricsEndpoint, ABadMetricsAddressIsOneClearLineAndExitOne) {
  AgentProcess& running = start();
  struct Case {
    std::string address;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"nonsense", "--metrics-addr \"nonsense\": the port must be a number from 1 to 65535; expected HOST:PORT"},
      {"127.0.0.1:70000", "the port must be a number from 1 to 65535"},
      {"example.org:9100", "\"example.org\" is not an IPv4 address"},
      {"127.0.0.1:" + std::to_string(running.port()), "cannot listen: Address already in use"},
  };
  for (const auto& c : cases) {
    const int port = free_port_pair();
    auto result = run_command({MOB_AGENT_BIN, "--config", "", "-p", std::to_string(port), "-P", "bash", "--data-dir",
                               (dir_.path() / ("bad-" + std::to_string(port))).string(), "--metrics-addr", c.address},
                              15s);
    EXPECT_EQ(result.exit_code, 1) << c.address << ": " << result.err;
    EXPECT_NE(result.err.find(c.says), std::string::npos) << c.address << ": " << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << "one line: " << result.err;
  }
}

}  // namespace metrics_endpoint_test
}  // namespace mob::test
