// Routing tokens: the compact signed encoding carried in the X.224 routing token
// (`loadbalanceinfo:s:` in a .rdp file).

#include <gtest/gtest.h>

#include <algorithm>

#include "rdpgate/security/base64url.hpp"
#include "rdpgate/security/token_verifier.hpp"
#include "token_support.hpp"

namespace rdpgate::security {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::system_clock::time_point;

using test::cidr;
using test::ip;
using test::t0;
using testing::error_of;

TokenKeyMaterial hs_key(std::string id = "hs1") {
  return testing::hs_key(std::move(id), "routing-token-test-secret-of-enough-length");
}
TokenKeyMaterial ed_key(std::string id = "ed1") { return testing::ed_key(std::move(id)); }
TokenRequest request(std::string route = "finance") {
  return testing::request(std::move(route), 2h);
}
std::string issue(const TokenKeyMaterial& key, const TokenRequest& r) {
  return testing::issue(key, r, true);
}

// What a stock .rdp file line and an X.224 routing token can carry.
void expect_carriable(const std::string& token) {
  EXPECT_LE(token.size(), 200U) << token;
  EXPECT_EQ(token.size() % 2, 0U) << token;
  EXPECT_TRUE(std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7f; }))
      << token;
  EXPECT_TRUE(token.starts_with("rdpgate1.")) << token;
}

class RoutingTokens : public ::testing::Test {
 protected:
  TokenKeyMaterial hs = hs_key();
  TokenKeyMaterial ed = ed_key();
  TokenVerifier verifier{{hs, ed}, 30s, 24h, nullptr};
  config::IpAddress client = ip("203.0.113.7");
};

TEST_F(RoutingTokens, RoundTripBothAlgorithmsAndSources) {
  const std::optional<config::Cidr> sources[] = {
      std::nullopt, cidr("203.0.113.0/24"), cidr("203.0.113.7/32"),
      cidr("2001:db8:ffff:ffff:ffff:ffff:ffff:ff00/120")};
  const config::IpAddress clients[] = {client, client, client,
                                       ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ff42")};
  for (const auto* key : {&hs, &ed}) {
    for (std::size_t i = 0; i < std::size(sources); ++i) {
      auto r = request("finance-eu_1");
      r.source = sources[i];
      const auto token = issue(*key, r);
      expect_carriable(token);
      const auto result = verifier.verify(token, clients[i], t0 + 1min);
      ASSERT_TRUE(std::holds_alternative<TokenClaims>(result))
          << token << ": " << token_to_string(std::get<TokenError>(result));
      const auto& claims = std::get<TokenClaims>(result);
      EXPECT_EQ(claims.format, TokenFormat::routing_token);
      EXPECT_EQ(claims.kid, key->id);
      EXPECT_EQ(claims.route, "finance-eu_1");
      EXPECT_EQ(claims.expires, t0 + 2h);
      EXPECT_EQ(claims.source, sources[i]);
      EXPECT_EQ(claims.jti.size(), 16U);
      EXPECT_FALSE(claims.not_before);
    }
  }
}

TEST_F(RoutingTokens, LayoutIsAsDocumented) {
  auto r = request("hr");
  r.jti = "j1";
  r.source = cidr("198.51.100.0/24");
  const auto token = issue(hs, r);
  // 1700000000 + 7200 = 1700007200 = "s451y8" in base 36.
  const std::string expected_prefix = "rdpgate1.hs1.hr.s451y8.j1.198_51_100_0/24.";
  ASSERT_TRUE(token.starts_with(expected_prefix)) << token;
  std::string sig = token.substr(expected_prefix.size());
  if (sig.ends_with('~')) sig.pop_back();
  const auto raw = base64url_decode(sig);
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->size(), 32U);  // a full HMAC-SHA256
  EXPECT_EQ(*raw, sign_bytes(hs, expected_prefix.substr(0, expected_prefix.size() - 1)));
}

TEST_F(RoutingTokens, LongestAllowedStillFits) {
  // Ed25519 (86 signature characters), a long route and an IPv6 source still fit in 200.
  auto r = request("route-name-of-24-chars-x");
  r.source = cidr("2001:db8:1234:5678::/64");
  const auto token = issue(ed, r);
  expect_carriable(token);
  EXPECT_TRUE(
      std::holds_alternative<TokenClaims>(verifier.verify(token, ip("2001:db8:1234:5678::9"), t0)));
  // Too long to be carried: refused at issue time with a clear message.
  r.route = std::string(64, 'r');
  r.jti = std::string(64, 'j');
  const auto issued = issue_routing_token(ed, r);
  ASSERT_TRUE(std::holds_alternative<std::string>(issued));
  EXPECT_NE(std::get<std::string>(issued).find("more than 200"), std::string::npos);
}

TEST_F(RoutingTokens, IssueRefusesCharactersItCannotCarry) {
  for (const char* route : {"fin.ance", "fin ance", "", "route/x"}) {
    auto issued = issue_routing_token(hs, request(route));
    EXPECT_TRUE(std::holds_alternative<std::string>(issued)) << route;
  }
  auto r = request();
  r.jti = "a.b";
  EXPECT_TRUE(std::holds_alternative<std::string>(issue_routing_token(hs, r)));
  TokenKeyMaterial no_secret = hs_key();
  no_secret.secret.clear();
  EXPECT_TRUE(std::holds_alternative<std::string>(issue_routing_token(no_secret, request())));
}

TEST_F(RoutingTokens, Refusals) {
  auto r = request();
  // expired
  EXPECT_EQ(error_of(verifier.verify(issue(hs, r), client, t0 + 2h + 30s)), TokenError::expired);
  // lifetime too long (from now: a routing token has no nbf)
  r.expires = t0 + 25h;
  EXPECT_EQ(error_of(verifier.verify(issue(ed, r), client, t0)), TokenError::lifetime_too_long);
  r.expires = t0 + 2h;
  // wrong source
  r.source = cidr("198.51.100.0/24");
  EXPECT_EQ(error_of(verifier.verify(issue(hs, r), client, t0)), TokenError::wrong_source);
  r.source.reset();
  // unknown key
  EXPECT_EQ(error_of(verifier.verify(issue(hs_key("other"), r), client, t0)),
            TokenError::unknown_key);
  // replayed
  const auto once = issue(ed, r);
  EXPECT_TRUE(std::holds_alternative<TokenClaims>(verifier.verify(once, client, t0)));
  EXPECT_EQ(error_of(verifier.verify(once, client, t0)), TokenError::replayed);
}

TEST_F(RoutingTokens, TamperingBreaksTheSignature) {
  for (const auto* key : {&hs, &ed}) {
    auto r = request("finance");
    r.jti = "tamper-" + key->id;
    const auto token = issue(*key, r);
    auto swap = [&](std::string_view from, std::string_view to) {
      std::string t = token;
      t.replace(t.find(from), from.size(), to);
      return t;
    };
    EXPECT_EQ(error_of(verifier.verify(swap(".finance.", ".payroll."), client, t0)),
              TokenError::bad_signature);
    EXPECT_EQ(error_of(verifier.verify(swap(".s451y8.", ".s451y9."), client, t0)),
              TokenError::bad_signature);  // a later expiry
    EXPECT_EQ(error_of(verifier.verify(swap(".-.", ".0_0_0_0/0."), client, t0)),
              TokenError::bad_signature);
    std::string flipped = token;
    const auto sig = flipped.rfind('.') + 1;
    flipped[sig] = flipped[sig] == 'A' ? 'B' : 'A';
    EXPECT_EQ(error_of(verifier.verify(flipped, client, t0)), TokenError::bad_signature);
  }
}

TEST_F(RoutingTokens, Malformed) {
  const auto good = issue(hs, request());
  const auto last = good.rfind('.');
  const std::string cases[] = {
      "rdpgate1.",
      "rdpgate1.hs1.finance.s451y8.j1.-",                                // no signature
      good.substr(0, last) + ".",                                        // empty signature
      good.substr(0, last) + ".!!!!",                                    // signature not base64url
      good.substr(0, last) + ".AAAA.AAAA",                               // one field too many
      "rdpgate1.hs1.finance.S451Y8.j1.-" + good.substr(last),            // upper-case base 36
      "rdpgate1.hs1.finance.0s451y8.j1.-" + good.substr(last),           // leading zero
      "rdpgate1.hs1.finance.zzzzzzzzzzzzzz.j1.-" + good.substr(last),    // too many digits
      "rdpgate1.hs1.fin ance.s451y8.j1.-" + good.substr(last),           // space in route
      "rdpgate1.hs1..s451y8.j1.-" + good.substr(last),                   // empty route
      "rdpgate1.hs1.finance.s451y8.j1.300_0_0_0/8" + good.substr(last),  // bad CIDR
      "rdpgate1.hs1.finance.s451y8.j1.203_0_113_7/24" + good.substr(last),  // host bits
      "rdpgate1." + std::string(200, 'a'),                                  // too long
  };
  for (const auto& token : cases) {
    EXPECT_EQ(error_of(verifier.check_routing_token(token, client, t0)), TokenError::malformed)
        << token;
  }
  // A JWS is not a routing token, and a routing token is not a JWS.
  EXPECT_EQ(error_of(verifier.check_jws(good, client, t0)), TokenError::malformed);
}

}  // namespace
}  // namespace rdpgate::security
