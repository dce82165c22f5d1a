// Service specs: defaults, the original Mob forms, and an error naming the field for every
// kind of bad input.
#include "agent/spec.hpp"

#include <csignal>

#include <gtest/gtest.h>

namespace mob {
namespace spec_test {

std::string error_of(std::string_view json_text, const SpecLimits& limits = {}) {
  auto spec = parse_spec(json_text, limits);
  if (spec) return "<accepted>";
  return spec.error().message;
}

constexpr const char* kFull = R"({"name": "echoes", "provider": "bash",
  "params": {"command": "while true; do echo hi; sleep 5; done", "env": {"GREETING": "hi"}, "cwd": "/tmp"},
  "instances": 2,
  "restart": {"policy": "on-failure", "max_restarts": 7, "window_s": 30, "backoff_ms": 50, "backoff_max_ms": 800},
  "depends_on": ["db"], "stop_timeout_s": 2.5})";

TEST(Spec, FullSpecParses) {
  auto spec = parse_spec(kFull);
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->name, "echoes");
  EXPECT_EQ(spec->instances, 2u);
  EXPECT_EQ(spec->restart.policy, RestartPolicy::on_failure);
  EXPECT_EQ(spec->restart.max_restarts, 7u);
  EXPECT_EQ(spec->restart.window_s, 30u);
  EXPECT_EQ(spec->restart.backoff_ms, 50u);
  EXPECT_EQ(spec->restart.backoff_max_ms, 800u);
  EXPECT_EQ(spec->depends_on, std::vector<std::string>{"db"});
  EXPECT_EQ(spec->stop_timeout_ms, 2500u);
  EXPECT_EQ(spec->params["env"]["GREETING"], "hi");
}

TEST(Spec, MinimalSpecGetsDocumentedDefaults) {
  auto spec = parse_spec(R"({"name": "a", "provider": "bash", "params": {"command": "true"}})");
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->instances, 1u);
  EXPECT_EQ(spec->restart.policy, RestartPolicy::always);
  EXPECT_EQ(spec->restart.max_restarts, 5u);
  EXPECT_EQ(spec->restart.window_s, 60u);
  EXPECT_EQ(spec->restart.backoff_ms, 100u);
  EXPECT_EQ(spec->restart.backoff_max_ms, 10000u);
  EXPECT_EQ(spec->stop_timeout_ms, 5000u);
  EXPECT_TRUE(spec->depends_on.empty());
}

TEST(Spec, NormalizedFormParsesToTheSameSpec) {
  auto spec = parse_spec(kFull);
  ASSERT_TRUE(spec);
  auto again = parse_spec(to_json(*spec).dump());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(to_json(*again), to_json(*spec));
}

// may_name_dependencies answers false only for texts that parse to no dependency: every text
// here that names one is caught, and the normalized text of a spec without one is passed over.
TEST(Spec, ATextThatMayNameADependencyIsToldFromOneThatCannot) {
  auto normalized = [](std::string_view text) {
    auto spec = parse_spec(text);
    EXPECT_TRUE(spec) << text;
    return spec ? to_json(*spec).dump() : std::string();
  };
  const std::string none = normalized(R"({"name": "a", "provider": "bash", "params": {"command": "true"}})");
  EXPECT_NE(none.find(R"("depends_on":[])"), std::string::npos) << none;
  EXPECT_FALSE(may_name_dependencies(none)) << none;
  EXPECT_TRUE(may_name_dependencies(normalized(kFull)));

  const std::vector<std::string> naming = {
      normalized(kFull),
      R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "depends_on": ["db"]})",
      R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "requires": ["db"]})",
      R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "depends_on":[], "depends_on": ["db"]})",
      R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "depends_on": ["db"]})",
      R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "requires": ["db"]})",
  };
  for (const auto& text : naming) {
    auto spec = parse_spec(text);
    if (spec && !spec->depends_on.empty()) {
      EXPECT_TRUE(may_name_dependencies(text)) << text;
    }
  }
  EXPECT_TRUE(may_name_dependencies(naming[4])) << "a key spelled with an escape";
  ASSERT_TRUE(parse_spec(naming[4]));
  EXPECT_EQ(parse_spec(naming[4])->depends_on, std::vector<std::string>{"db"});
  // The word elsewhere, or the empty list written another way: parsed to know (none here).
  EXPECT_TRUE(may_name_dependencies(
      normalized(R"({"name": "a", "provider": "bash", "params": {"command": "echo depends_on"}})")));
  EXPECT_TRUE(may_name_dependencies(R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "depends_on": []})"));
}

TEST(Spec, OriginalFormsAreAccepted) {
  auto spec = parse_spec(
      R"({"name": "web", "provider": "bash", "params": {"command": "true"}, "requires": ["db"], "restart": "on_error"})");
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->depends_on, std::vector<std::string>{"db"});
  EXPECT_EQ(spec->restart.policy, RestartPolicy::on_failure);
  auto none = parse_spec(R"({"name": "w", "provider": "bash", "params": {"command": "true"}, "restart": "none"})");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->restart.policy, RestartPolicy::never);
  auto always = parse_spec(R"({"name": "w", "provider": "bash", "params": {"command": "true"}, "restart": "always"})");
  ASSERT_TRUE(always);
  EXPECT_EQ(always->restart.policy, RestartPolicy::always);
}

TEST(Spec, BadPolicyNamesFieldAndChoices) {
  EXPECT_EQ(error_of(R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "restart": {"policy": "sometimes"}})"),
            R"(restart.policy: expected one of always, on-failure, never, got "sometimes")");
}

TEST(Spec, MalformedJsonSaysWhere) {
  auto message = error_of(R"({"name": "a", )");
  EXPECT_EQ(message.rfind("spec is not valid JSON", 0), 0u) << message;
  EXPECT_NE(message.find("line 1"), std::string::npos) << message;
}

TEST(Spec, UnknownFieldsAreErrors) {
  EXPECT_EQ(error_of(R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "instnaces": 3})")
                .rfind("instnaces: unknown field; allowed fields are name, provider", 0),
            0u);
  EXPECT_EQ(error_of(R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "restart": {"polcy": "always"}})")
                .rfind("restart.polcy: unknown field", 0),
            0u);
}

TEST(Spec, RequiredFieldsAreNamed) {
  EXPECT_EQ(error_of(R"({"provider": "bash"})").rfind("name: required", 0), 0u);
  EXPECT_EQ(error_of(R"({"name": "a"})").rfind("provider: required", 0), 0u);
}

TEST(Spec, UnknownProviderListsKnownOnes) {
  auto message = error_of(R"({"name": "a", "provider": "kvm"})");
  EXPECT_EQ(message, R"(provider: unknown provider "kvm"; known providers: bash, docker)");
}

TEST(Spec, WrongTypesAreNamed) {
  EXPECT_EQ(error_of(R"({"name": 5, "provider": "bash"})"), "name: expected a string, got integer");
  EXPECT_EQ(error_of(R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "instances": "3"})"),
            "instances: expected an integer, got string");
  EXPECT_EQ(error_of(R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "instances": -1})"),
            "instances: expected an integer from 0 to 100, got -1");
  EXPECT_EQ(error_of(R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "depends_on": "db"})"),
            "depends_on: expected an array of service names, got string");
  EXPECT_EQ(error_of(R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "stop_timeout_s": "5"})"),
            "stop_timeout_s: expected a number of seconds, got string");
  EXPECT_EQ(error_of(R"([1, 2])"), "spec: expected a JSON object, got array");
}

TEST(Spec, RangesAreChecked) {
  EXPECT_EQ(error_of(R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "instances": 101})"),
            "instances: expected an integer from 0 to 100, got 101 (the agent's limit, --max-instances)");
  EXPECT_EQ(error_of(R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "restart": {"backoff_ms": 500, "backoff_max_ms": 100}})"),
            "restart.backoff_max_ms: must be at least restart.backoff_ms (500), got 100");
  EXPECT_EQ(error_of(R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "restart": {"window_s": 0}})"),
            "restart.window_s: expected an integer from 1 to 604800, got 0");
}

TEST(Spec, BadNamesAreRejected) {
  EXPECT_NE(error_of(R"({"name": "../etc", "provider": "bash", "params": {"command": "true"}})").find("name: \"../etc\" is not valid"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"name": "", "provider": "bash", "params": {"command": "true"}})").find("is not valid"),
            std::string::npos);
}

TEST(Spec, SelfDependencyIsRejected) {
  EXPECT_EQ(error_of(R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "depends_on": ["a"]})"),
            "depends_on[0]: a service cannot depend on itself");
}

TEST(Spec, BothDependencyFormsAtOnceIsAnError) {
  EXPECT_EQ(error_of(R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "depends_on": [], "requires": []})")
                .rfind("requires: give either depends_on or requires", 0),
            0u);
}

TEST(Spec, OversizedSpecIsRejected) {
  SpecLimits limits;
  limits.max_spec_bytes = 100;
  std::string big = R"({"name": "a", "provider": "bash", "params": {"command": ")" + std::string(200, 'x') + "\"}}";
  auto spec = parse_spec(big, limits);
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code, Errc::too_large);
}

TEST(Spec, ProviderParamsAreChecked) {
  EXPECT_EQ(error_of(R"({"name": "a", "provider": "bash", "params": {}})").rfind("params.command: required", 0), 0u);
}

TEST(Spec, ConstraintsAreParsed) {
  auto spec = parse_spec(R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "constraints": {"tags": {"zone": "a"}}})");
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->constraint_tags.at("zone"), "a");
  EXPECT_EQ(error_of(R"({"name": "a", "provider": "bash", "params": {"command": "true"}, "constraints": {"tags": {"zone": 1}}})"),
            "constraints.tags.zone: expected a string, got integer");
}

// ---- health checks ------------------------------------------------------------------------

std::string with_checks(const std::string& checks, const std::string& provider = "bash") {
  std::string params = provider == "bash" ? R"({"command": "true"})" : R"({"image": "busybox"})";
  return R"({"name": "db", "provider": ")" + provider + R"(", "params": )" + params + R"(, "checks": )" + checks + "}";
}

TEST(Spec, ChecksParseWithTheirDefaults) {
  auto spec = parse_spec(with_checks(R"([
    {"name": "http", "type": "http", "port": 8080, "path": "/healthz", "interval_s": 5, "timeout_s": 2, "failures": 3, "grace_s": 10},
    {"type": "tcp", "port": 5432, "interval_s": 0.5, "host": "127.0.0.2"},
    {"name": "cmd", "type": "exec", "command": "pg_isready -q", "on_failure": "none", "successes": 2}])"));
  ASSERT_TRUE(spec) << spec.error().message;
  ASSERT_EQ(spec->checks.size(), 3u);
  const auto& http = spec->checks[0];
  EXPECT_EQ(http.type, CheckType::http);
  EXPECT_EQ(http.path, "/healthz");
  EXPECT_EQ(http.interval_ms, 5000u);
  EXPECT_EQ(http.grace_ms, 10000u);
  EXPECT_EQ(http.host, "") << "empty: the agent's own address";
  EXPECT_TRUE(http.restart_on_failure) << "on_failure defaults to restart";
  const auto& tcp = spec->checks[1];
  EXPECT_EQ(tcp.name, "tcp") << "a check without a name is named after its type";
  EXPECT_EQ(tcp.interval_ms, 500u);
  EXPECT_EQ(tcp.timeout_ms, 500u) << "the default timeout (2 s) is cut to the interval";
  EXPECT_EQ(tcp.failures, 3u);
  EXPECT_EQ(tcp.successes, 1u);
  EXPECT_EQ(tcp.host, "127.0.0.2");
  const auto& exec = spec->checks[2];
  EXPECT_EQ(exec.command, "pg_isready -q");
  EXPECT_EQ(exec.interval_ms, 10000u);
  EXPECT_EQ(exec.timeout_ms, 2000u);
  EXPECT_FALSE(exec.restart_on_failure);
  EXPECT_EQ(exec.successes, 2u);

  auto again = parse_spec(to_json(*spec).dump());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(to_json(*again), to_json(*spec));
  EXPECT_FALSE(to_json(*parse_spec(R"({"name": "a", "provider": "bash", "params": {"command": "true"}})")).contains("checks"))
      << "a spec without checks normalizes as before (its identity does not change)";
}

TEST(Spec, ADockerServiceTakesExecChecksRunInItsContainer) {
  auto spec = parse_spec(with_checks(R"([{"type": "exec", "command": "pg_isready -q"}])", "docker"));
  ASSERT_TRUE(spec) << spec.error().message;
  ASSERT_EQ(spec->checks.size(), 1u);
  EXPECT_EQ(spec->checks[0].type, CheckType::exec);
  EXPECT_EQ(spec->checks[0].command, "pg_isready -q");
}

TEST(Spec, BadChecksNameTheFieldAndTheFix) {
  EXPECT_EQ(error_of(with_checks(R"([{"type": "tcp", "port": 1}, {"type": "grpc", "port": 2}])")),
            "checks[1].type: expected one of exec, tcp, http, got \"grpc\"");
  EXPECT_EQ(error_of(with_checks(R"([{"type": "tcp"}])")),
            "checks[0].port: required for tcp; the port to connect to, e.g. 8080");
  EXPECT_EQ(error_of(with_checks(R"([{"port": 80}])")), "checks[0].type: required; one of exec, tcp, http");
  EXPECT_EQ(error_of(with_checks(R"([{"type": "exec"}])")),
            "checks[0].command: required for exec; a shell command whose exit code 0 means healthy, e.g. \"pg_isready -q\"");
  EXPECT_EQ(error_of(with_checks(R"([{"type": "tcp", "port": 70000}])")),
            "checks[0].port: expected an integer from 1 to 65535, got 70000");
  EXPECT_EQ(error_of(with_checks(R"([{"type": "tcp", "port": 80, "interval_s": 0.01}])")),
            "checks[0].interval_s: expected seconds from 0.1 to 3600, got 0.01");
  EXPECT_EQ(error_of(with_checks(R"([{"type": "tcp", "port": 80, "interval_s": 1, "timeout_s": 5}])")),
            "checks[0].timeout_s: must be at most interval_s (1): a check runs one at a time; lower it or raise interval_s");
  EXPECT_EQ(error_of(with_checks(R"([{"type": "tcp", "port": 80, "failures": 0}])")),
            "checks[0].failures: expected an integer from 1 to 100, got 0");
  EXPECT_EQ(error_of(with_checks(R"([{"type": "tcp", "port": 80, "on_failure": "kill"}])")),
            "checks[0].on_failure: expected one of restart, none, got \"kill\"");
  EXPECT_EQ(error_of(with_checks(R"([{"type": "tcp", "port": 80, "path": "/"}])")),
            "checks[0].path: only http checks take it; this check is tcp");
  EXPECT_EQ(error_of(with_checks(R"([{"type": "http", "port": 80, "path": "healthz"}])")),
            "checks[0].path: expected a path starting with '/', without spaces, at most 1024 bytes, got \"healthz\"");
  EXPECT_EQ(error_of(with_checks(R"([{"type": "http", "port": 80, "expect_status": 99}])")),
            "checks[0].expect_status: expected an integer from 100 to 599, got 99");
  EXPECT_EQ(error_of(with_checks(R"([{"type": "tcp", "port": 80}, {"type": "tcp", "port": 81}])")),
            "checks[1].name: \"tcp\" is already the name of checks[0]; give each check its own name");
  EXPECT_NE(error_of(with_checks(R"([{"type": "tcp", "port": 80, "host": "db.example"}])"))
                .find("checks[0].host: expected an IPv4 or IPv6 address (or localhost), got \"db.example\""),
            std::string::npos);
  EXPECT_NE(error_of(with_checks(R"([{"type": "tcp", "port": 80, "retries": 3}])")).find("checks[0].retries: unknown field"),
            std::string::npos);
  EXPECT_EQ(error_of(with_checks(R"({"type": "tcp"})")),
            "checks: expected an array of checks such as [{\"type\": \"tcp\", \"port\": 8080}], got object");
  EXPECT_EQ(error_of(with_checks(R"([{"type":"tcp","port":1,"name":"a"},{"type":"tcp","port":1,"name":"b"},{"type":"tcp","port":1,"name":"c"},
    {"type":"tcp","port":1,"name":"d"},{"type":"tcp","port":1,"name":"e"},{"type":"tcp","port":1,"name":"f"},
    {"type":"tcp","port":1,"name":"g"},{"type":"tcp","port":1,"name":"h"},{"type":"tcp","port":1,"name":"i"}])")),
            "checks: 9 checks; at most 8 are allowed");
  EXPECT_EQ(parse_spec(with_checks(R"([{"type": "tcp", "port": 80, "host": "localhost"}])"))->checks[0].host, "127.0.0.1");
}

std::string with_update(const std::string& update) {
  return R"({"name": "web", "provider": "bash", "params": {"command": "true"}, "update": )" + update + "}";
}

TEST(Spec, NoUpdateBlockMeansAllAtOnce) {
  auto spec = parse_spec(R"({"name": "a", "provider": "bash", "params": {"command": "true"}})");
  ASSERT_TRUE(spec);
  EXPECT_FALSE(spec->update);
  EXPECT_FALSE(to_json(*spec).contains("update"));
}

TEST(Spec, UpdateBlockParsesWithDefaultsAndRoundTrips) {
  auto spec = parse_spec(with_update("{}"));
  ASSERT_TRUE(spec) << spec.error().message;
  ASSERT_TRUE(spec->update);
  EXPECT_EQ(*spec->update, UpdateSpec{});
  spec = parse_spec(with_update(R"({"max_parallel": 3, "min_healthy_s": 0.5, "healthy_deadline_s": 30, "auto_revert": false, "canary": 0})"));
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(*spec->update, (UpdateSpec{3, 500, 30'000, false, 0}));
  auto again = parse_spec(to_json(*spec).dump());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->update, spec->update);
  EXPECT_EQ(to_json(*again), to_json(*spec));
}

TEST(Spec, ACanaryCountRoundTripsAndZeroIsLeftOut) {
  auto spec = parse_spec(with_update(R"({"canary": 1})"));
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->update->canary, 1u);
  EXPECT_EQ(to_json(*spec)["update"]["canary"], 1);
  auto none = parse_spec(with_update(R"({"canary": 0})"));
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(to_json(*none)["update"].contains("canary"));
}

TEST(Spec, TheUpdateBlockIsNotPartOfWhatAnInstanceRuns) {
  auto plain = parse_spec(R"({"name": "web", "provider": "bash", "params": {"command": "true"}, "instances": 2})");
  auto rolled = parse_spec(with_update(R"({"max_parallel": 2})"));
  ASSERT_TRUE(plain && rolled);
  EXPECT_EQ(run_spec_of(*plain), run_spec_of(*rolled));
}

TEST(Spec, BadUpdateBlocksNameTheField) {
  EXPECT_EQ(error_of(with_update(R"({"max_parallel": 0})")),
            "update.max_parallel: expected an integer from 1 to 1000, got 0");
  EXPECT_EQ(error_of(with_update(R"({"max_parallel": 1001})")),
            "update.max_parallel: expected an integer from 1 to 1000, got 1001");
  EXPECT_EQ(error_of(with_update(R"({"min_healthy_s": -1})")),
            "update.min_healthy_s: expected seconds from 0 to 3600, got -1");
  EXPECT_EQ(error_of(with_update(R"({"healthy_deadline_s": 0.5})")),
            "update.healthy_deadline_s: expected seconds from 1 to 86400, got 0.5");
  EXPECT_EQ(error_of(with_update(R"({"min_healthy_s": 10, "healthy_deadline_s": 10})")),
            "update.healthy_deadline_s: must be more than min_healthy_s (10), got 10; a new instance could never "
            "be healthy in time");
  EXPECT_EQ(error_of(with_update(R"({"auto_revert": "yes"})")),
            "update.auto_revert: expected true or false, got string");
  EXPECT_EQ(error_of(with_update(R"({"canary": 3})")),
            "update.canary: expected an integer from 0 to instances (1), got 3");
  EXPECT_EQ(error_of(with_update(R"({"canary": -1})")),
            "update.canary: expected an integer from 0 to 1000, got -1");
  EXPECT_EQ(error_of(with_update(R"({"batch": 1})")),
            "update.batch: unknown field; allowed fields are max_parallel, min_healthy_s, healthy_deadline_s, "
            "auto_revert, canary");
  EXPECT_EQ(error_of(with_update("5")), "update: expected an object such as {\"max_parallel\": 1, \"min_healthy_s\": 5}, got integer");
}

}  // namespace spec_test
}  // namespace mob

namespace mob {
namespace spec_test {

TEST(Spec, PortsAndOnDependencyChangeParseAndRoundTrip) {
  auto spec = parse_spec(R"({"name": "web", "provider": "bash", "params": {"command": "x"},
      "ports": {"http": 0, "metrics": 9100}, "depends_on": ["db"], "on_dependency_change": "signal:SIGHUP"})");
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->ports, (std::map<std::string, PortSpec>{{"http", {0, 0}}, {"metrics", {9100, 0}}}));
  EXPECT_EQ(spec->on_dependency_change, (OnDependencyChange{DependencyChange::signal, SIGHUP}));
  auto again = parse_spec(to_json(*spec).dump());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->ports, spec->ports);
  EXPECT_EQ(again->on_dependency_change, spec->on_dependency_change);
  EXPECT_EQ(to_json(*again), to_json(*spec));

  auto docker = parse_spec(R"({"name": "box", "provider": "docker", "params": {"image": "busybox"},
      "ports": {"http": {"port": 0, "container_port": 80}}})");
  ASSERT_TRUE(docker) << docker.error().message;
  EXPECT_EQ(docker->ports.at("http"), (PortSpec{0, 80}));
  EXPECT_EQ(parse_spec(to_json(*docker).dump())->ports, docker->ports);
}

TEST(Spec, WithoutPortsOrOnDependencyChangeTheNormalizedSpecIsAsBefore) {
  auto spec = parse_spec(R"({"name": "a", "provider": "bash", "params": {"command": "true"}})");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->on_dependency_change.action, DependencyChange::restart);
  EXPECT_FALSE(to_json(*spec).contains("ports"));
  EXPECT_FALSE(to_json(*spec).contains("on_dependency_change"));
  auto none = parse_spec(R"({"name": "a", "provider": "bash", "params": {"command": "true"},
      "on_dependency_change": "none"})");
  ASSERT_TRUE(none);
  EXPECT_EQ(to_json(*none)["on_dependency_change"], "none");
}

TEST(Spec, ACheckMayConnectToANamedPort) {
  auto spec = parse_spec(R"({"name": "api", "provider": "bash", "params": {"command": "x"},
      "ports": {"http": 0}, "checks": [{"type": "tcp", "port": 22}, {"type": "http", "port": "http"}]})");
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->check_ports, (std::vector<std::string>{"", "http"}));
  EXPECT_EQ(spec->checks[1].port, 0u) << "the supervisor puts in the instance's port";
  auto json = to_json(*spec);
  EXPECT_EQ(json["checks"][1]["port"], "http");
  EXPECT_EQ(json["checks"][0]["port"], 22);
  EXPECT_EQ(parse_spec(json.dump())->check_ports, spec->check_ports);
  EXPECT_EQ(error_of(R"({"name": "api", "provider": "bash", "params": {"command": "x"},
      "ports": {"http": 0, "admin": 0}, "checks": [{"type": "tcp", "port": "web"}]})"),
            "checks[0].port: \"web\" is not a port of this spec (its ports: admin, http)");
  EXPECT_EQ(error_of(R"({"name": "api", "provider": "bash", "params": {"command": "x"},
      "checks": [{"type": "tcp", "port": "web"}]})"),
            "checks[0].port: \"web\" is not a port of this spec; give a number, or name the port in ports");
  // Found by the spec fuzzer: an empty name was taken as "no name", leaving a tcp check without a port.
  EXPECT_EQ(error_of(R"({"name": "api", "provider": "bash", "params": {"command": "x"},
      "ports": {"http": 0}, "checks": [{"type": "tcp", "port": ""}]})"),
            "checks[0].port: expected a port number 1-65535 or the name of one of ports, got \"\"");
}

TEST(Spec, BadPortsNameTheFieldAndWhatIsAllowed) {
  auto with = [](const std::string& fields, const std::string& provider = "bash") {
    std::string params = provider == "bash" ? R"({"command": "x"})" : R"({"image": "busybox"})";
    return error_of(R"({"name": "a", "provider": ")" + provider + R"(", "params": )" + params + ", " + fields + "}");
  };
  EXPECT_EQ(with(R"("ports": {"http": 70000})"), "ports.http: must be 0 or 1-65535, got 70000");
  EXPECT_EQ(with(R"("ports": {"http": -1})"), "ports.http: must be 0 or 1-65535, got -1");
  EXPECT_EQ(with(R"("ports": {"http": "80"})"), "ports.http: must be 0 or 1-65535, got \"80\"");
  EXPECT_EQ(with(R"("ports": {"HTTP!": 0})"), "ports: name \"HTTP!\" may contain a-z, 0-9 and _ (1-32 of them)");
  EXPECT_EQ(with(R"("ports": [80])"),
            "ports: expected an object of names and port numbers such as {\"http\": 0}, got array");
  EXPECT_EQ(with(R"("ports": {"a": 9100, "b": 9100})"), "ports.b: port 9100 is also ports.a");
  EXPECT_EQ(with(R"("ports": {"a": {"port": 0, "container_port": 80}})"),
            "ports.a.container_port: only a docker service publishes a container port; give the port alone");
  EXPECT_EQ(with(R"("ports": {"a": {"port": 0, "container_port": 0}})", "docker"),
            "ports.a.container_port: must be 1-65535, got 0");
  EXPECT_EQ(with(R"("ports": {"a": {"prot": 0}})", "docker"),
            "ports.a.prot: unknown field; allowed fields are port, container_port");
  EXPECT_EQ(with(R"("on_dependency_change": "reload")"),
            "on_dependency_change: expected restart, none or signal:NAME (NAME one of SIGHUP, SIGUSR1, SIGUSR2, "
            "SIGINT, SIGQUIT, SIGTERM, SIGWINCH), got \"reload\"");
  EXPECT_EQ(with(R"("on_dependency_change": "signal:SIGKILL")").substr(0, 44),
            "on_dependency_change: expected restart, none");
}

}  // namespace spec_test
}  // namespace mob
