// TokenVerifier: creation and the claim checks shared by both token encodings.

#include "rdpgate/security/token_verifier.hpp"

namespace rdpgate::security {

std::string_view token_to_string(TokenError error) noexcept {
  switch (error) {
    case TokenError::malformed: return "malformed";
    case TokenError::unknown_key: return "unknown_key";
    case TokenError::bad_signature: return "bad_signature";
    case TokenError::expired: return "expired";
    case TokenError::not_yet_valid: return "not_yet_valid";
    case TokenError::replayed: return "replayed";
    case TokenError::wrong_source: return "wrong_source";
    case TokenError::lifetime_too_long: return "lifetime_too_long";
    case TokenError::replay_not_recorded: return "replay_not_recorded";
    case TokenError::replay_unavailable: return "replay_unavailable";
  }
  return "malformed";
}

std::variant<std::unique_ptr<TokenVerifier>, std::string> TokenVerifier::create(
    const config::TokensConfig& config, std::shared_ptr<ReplayCache> replay) {
  std::vector<TokenKeyMaterial> keys;
  for (const auto& key : config.keys) {
    auto loaded = load_token_key(key);
    if (auto* error = std::get_if<std::string>(&loaded)) return std::move(*error);
    keys.push_back(std::move(std::get<TokenKeyMaterial>(loaded)));
  }
  return std::make_unique<TokenVerifier>(std::move(keys), config.clock_skew, config.max_lifetime,
                                         std::move(replay));
}

TokenVerifier::TokenVerifier(std::vector<TokenKeyMaterial> keys,
                             std::chrono::milliseconds clock_skew,
                             std::chrono::milliseconds max_lifetime,
                             std::shared_ptr<ReplayCache> replay)
    : keys_(std::move(keys)),
      clock_skew_(clock_skew),
      max_lifetime_(max_lifetime),
      replay_(replay ? std::move(replay) : std::make_shared<ReplayCache>()) {}

const TokenKeyMaterial* TokenVerifier::find_key(std::string_view kid) const noexcept {
  for (const auto& key : keys_) {
    if (key.id == kid) return &key;
  }
  return nullptr;
}

TokenResult TokenVerifier::check(std::string_view token, const config::IpAddress& client,
                                 TimePoint now) const {
  return is_routing_token(token) ? check_routing_token(token, client, now)
                                 : check_jws(token, client, now);
}

namespace {

std::optional<TokenError> refusal_of(ReplayCache::Use use) {
  switch (use) {
    case ReplayCache::Use::first: return std::nullopt;
    case ReplayCache::Use::replayed:
    case ReplayCache::Use::full: return TokenError::replayed;
    case ReplayCache::Use::not_recorded: return TokenError::replay_not_recorded;
    case ReplayCache::Use::unavailable: return TokenError::replay_unavailable;
  }
  return TokenError::replayed;
}

}  // namespace

std::optional<TokenError> TokenVerifier::consume(const TokenClaims& claims, TimePoint now) const {
  return refusal_of(replay_->first_use(claims.jti, claims.expires + clock_skew_, now));
}

void TokenVerifier::consume(const TokenClaims& claims, TimePoint now,
                            std::function<void(std::optional<TokenError>)> done) const {
  replay_->first_use(claims.jti, claims.expires + clock_skew_, now,
                     [done = std::move(done)](ReplayCache::Use use) { done(refusal_of(use)); });
}

TokenResult TokenVerifier::verify(std::string_view token, const config::IpAddress& client,
                                  TimePoint now) const {
  auto result = check(token, client, now);
  if (const auto* claims = std::get_if<TokenClaims>(&result)) {
    if (auto error = consume(*claims, now)) return *error;
  }
  return result;
}

TokenResult TokenVerifier::check_claims(TokenClaims claims, std::optional<TimePoint> start,
                                        const config::IpAddress& client, TimePoint now) const {
  // Without nbf or iat the lifetime counts from now; the issuer's clock may be ahead by the
  // skew, so allow it there.
  const auto lifetime_limit = start ? max_lifetime_ : max_lifetime_ + clock_skew_;
  if (claims.expires - start.value_or(now) > lifetime_limit) return TokenError::lifetime_too_long;
  if (claims.not_before && now < *claims.not_before - clock_skew_) {
    return TokenError::not_yet_valid;
  }
  if (now >= claims.expires + clock_skew_) return TokenError::expired;
  if (claims.source && !claims.source->contains(client)) return TokenError::wrong_source;
  // Last; only a look: consume() uses the jti up.
  if (replay_->contains(claims.jti, now)) return TokenError::replayed;
  return claims;
}

}  // namespace rdpgate::security
