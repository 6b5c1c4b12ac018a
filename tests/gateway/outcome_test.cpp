// Outcome names are an interface (SPEC §8: the `outcome` label and the audit record).

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "rdpgate/gateway/outcome.hpp"

namespace rdpgate::gateway {
namespace {

TEST(Outcome, EveryKindHasADistinctSnakeCaseName) {
  std::set<std::string> names;
  for (auto kind : all_outcomes()) {
    const std::string name(to_string(kind));
    EXPECT_FALSE(name.empty());
    for (char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), outcome_count);
}

TEST(Outcome, SpecNamesAreSpelledExactly) {
  const std::set<std::string> spec = {
      "completed",   "denied_source",        "banned",          "rate_limited",
      "too_many_connections", "not_rdp",     "malformed",       "inspect_timeout",
      "protocol_not_allowed", "username_denied", "token_invalid", "no_route",
      "backend_unreachable",  "idle_timeout", "shutdown"};
  std::set<std::string> have;
  for (auto kind : all_outcomes()) have.insert(std::string(to_string(kind)));
  for (const auto& name : spec) EXPECT_TRUE(have.count(name)) << name;
  EXPECT_EQ(to_string(OutcomeKind::completed), "completed");
  EXPECT_EQ(to_string(OutcomeKind::auth_failed), "auth_failed");
  EXPECT_EQ(to_string(OutcomeKind::killed), "killed");
  EXPECT_EQ(to_string(OutcomeKind::max_duration), "max_duration");
}

TEST(Outcome, AllOutcomesIndexesTheEnum) {
  // Metrics index a per-outcome array by the enum value.
  const auto& all = all_outcomes();
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(static_cast<std::size_t>(all[i]), i);
}

TEST(Outcome, RefusedMeansTheGatewaySaidNo) {
  for (auto kind : {OutcomeKind::completed, OutcomeKind::auth_failed, OutcomeKind::idle_timeout,
                    OutcomeKind::max_duration, OutcomeKind::shutdown, OutcomeKind::killed}) {
    EXPECT_FALSE((Outcome{Phase::relay, kind, {}}.refused())) << to_string(kind);
  }
  for (auto kind : {OutcomeKind::denied_source, OutcomeKind::not_rdp, OutcomeKind::malformed,
                    OutcomeKind::protocol_not_allowed, OutcomeKind::no_route,
                    OutcomeKind::backend_unreachable, OutcomeKind::rate_limited}) {
    EXPECT_TRUE((Outcome{Phase::admission, kind, {}}.refused())) << to_string(kind);
  }
}

TEST(Outcome, PhaseNames) {
  EXPECT_EQ(to_string(Phase::admission), "admission");
  EXPECT_EQ(to_string(Phase::inspection), "inspection");
  EXPECT_EQ(to_string(Phase::policy), "policy");
  EXPECT_EQ(to_string(Phase::routing), "routing");
  EXPECT_EQ(to_string(Phase::relay), "relay");
}

}  // namespace
}  // namespace rdpgate::gateway
