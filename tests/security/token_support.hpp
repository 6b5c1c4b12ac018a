#pragma once
// Keys, requests and issuing for the signed-token tests (JWS and routing tokens).

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>
#include <variant>

#include "../common/addresses.hpp"
#include "rdpgate/security/token_verifier.hpp"

namespace rdpgate::security::testing {

inline TokenKeyMaterial hs_key(std::string id, std::string secret) {
  TokenKeyMaterial key;
  key.id = std::move(id);
  key.algorithm = config::TokenAlgorithm::hs256;
  key.secret = std::move(secret);
  return key;
}

inline TokenKeyMaterial ed_key(std::string id) {
  TokenKeyMaterial key;
  key.id = std::move(id);
  key.algorithm = config::TokenAlgorithm::eddsa;
  key.private_key = generate_ed25519_key();
  key.public_key = key.private_key;
  EXPECT_TRUE(key.private_key);
  return key;
}

// A token for `route`, valid from test::t0 for `lifetime`.
inline TokenRequest request(std::string route, std::chrono::seconds lifetime) {
  TokenRequest r;
  r.route = std::move(route);
  r.not_before = rdpgate::test::t0;
  r.expires = rdpgate::test::t0 + lifetime;
  return r;
}

// A JWS, or a routing token; empty (and the test failed) when issuing failed.
inline std::string issue(const TokenKeyMaterial& key, const TokenRequest& r, bool routing) {
  auto issued = routing ? issue_routing_token(key, r) : issue_jws(key, r);
  if (auto* error = std::get_if<std::string>(&issued)) {
    ADD_FAILURE() << *error;
    return {};
  }
  return std::get<IssuedToken>(issued).token;
}

inline TokenError error_of(const TokenResult& result) {
  if (const auto* error = std::get_if<TokenError>(&result)) return *error;
  ADD_FAILURE() << "the token was accepted";
  return TokenError::malformed;
}

}  // namespace rdpgate::security::testing
