// Outcome names are an interface (SPEC §8: the `outcome` label and the audit record).

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "rdpgate/gateway/outcome.hpp"
#include "rdpgate/protocol/rdp.hpp"
#include "rdpgate/security/token_verifier.hpp"

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

TEST(Reason, EveryGatewayReasonHasADistinctSnakeCaseName) {
  std::set<std::string> names;
  const auto last = static_cast<int>(Why::exception);
  for (int i = 1; i <= last; ++i) {
    const Reason reason{static_cast<Why>(i)};
    const std::string name(reason.name());
    EXPECT_FALSE(name.empty()) << i;
    for (char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(last));
  EXPECT_TRUE(Reason{}.empty());
  EXPECT_EQ(Reason{}.name(), "");
}

TEST(Reason, ParserAndTokenErrorsKeepTheirOwnNames) {
  const Reason parser{protocol::errc::bad_tpkt_reserved};
  EXPECT_EQ(parser.name(), "bad_tpkt_reserved");
  EXPECT_FALSE(parser.empty());
  const Reason token{security::TokenError::expired};
  EXPECT_EQ(token.name(), security::token_to_string(security::TokenError::expired));
  // Same code, different source: different reasons (the metric cache keys on them).
  EXPECT_NE(Reason{static_cast<Why>(1)}.key(), Reason{static_cast<protocol::errc>(1)}.key());
  EXPECT_TRUE(parser == "bad_tpkt_reserved");
}

TEST(Reason, BackendSelectedNamesAreThoseTheAuditRecordAlwaysUsed) {
  namespace p = protocol::proto;
  EXPECT_EQ(Reason{backend_selected(p::rdp)}.name(), "backend_selected_rdp");
  EXPECT_EQ(Reason{backend_selected(p::ssl)}.name(), "backend_selected_ssl");
  EXPECT_EQ(Reason{backend_selected(p::hybrid)}.name(), "backend_selected_hybrid");
  EXPECT_EQ(Reason{backend_selected(p::hybrid_ex)}.name(), "backend_selected_hybrid_ex");
  for (std::uint32_t single : {p::rdp, p::ssl, p::hybrid, p::rdstls, p::hybrid_ex, p::rdsaad}) {
    EXPECT_EQ(Reason{backend_selected(single)}.name(),
              "backend_selected_" + std::string(protocol::protocol_name(single)));
  }
}

}  // namespace
}  // namespace rdpgate::gateway
