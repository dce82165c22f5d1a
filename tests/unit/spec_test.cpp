// Service specs: defaults, the original Mob forms, and an error naming the field for every
// kind of bad input.
#include "agent/spec.hpp"

#include <gtest/gtest.h>

namespace mob {
namespace {

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

}  // namespace
}  // namespace mob
