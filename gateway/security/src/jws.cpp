// Compact JWS (RFC 7515 §7.1) with HS256 (RFC 7518 §3.2) and EdDSA/Ed25519 (RFC 8037 §3.1).

#include <boost/json.hpp>
#include <cmath>

#include "rdpgate/security/base64url.hpp"
#include "rdpgate/security/random.hpp"
#include "rdpgate/security/token_verifier.hpp"

namespace rdpgate::security {
namespace {

namespace json = boost::json;
using TimePoint = std::chrono::system_clock::time_point;

// NumericDates beyond this are refused: system_clock counts nanoseconds in 64 bits and ends in
// 2262; year 2200 is far enough for any token.
constexpr std::int64_t max_numeric_date = 7'258'118'400;  // 2200-01-01T00:00:00Z

std::optional<json::object> parse_object(std::string_view text) {
  try {
    boost::system::error_code ec;
    json::value value = json::parse(text, ec);
    if (ec || !value.is_object()) return std::nullopt;
    return std::move(value.as_object());
  } catch (const std::exception&) {  // allocation failure: treat as bad input
    return std::nullopt;
  }
}

// nullopt: absent. Sets `bad` when present but not a NumericDate in range.
std::optional<TimePoint> numeric_date(const json::object& claims, std::string_view name,
                                      bool& bad) {
  const auto* value = claims.if_contains(name);
  if (value == nullptr) return std::nullopt;
  double seconds = 0;
  if (value->is_int64()) {
    seconds = static_cast<double>(value->get_int64());
  } else if (value->is_uint64()) {
    seconds = static_cast<double>(value->get_uint64());
  } else if (value->is_double()) {
    seconds = std::floor(value->get_double());
  } else {
    bad = true;
    return std::nullopt;
  }
  if (!(seconds >= 0 && seconds <= static_cast<double>(max_numeric_date))) {
    bad = true;
    return std::nullopt;
  }
  return TimePoint{std::chrono::seconds{static_cast<std::int64_t>(seconds)}};
}

// nullopt: absent. Sets `bad` when present but not a non-empty string of at most 256 bytes.
std::optional<std::string> string_claim(const json::object& claims, std::string_view name,
                                        bool& bad) {
  const auto* value = claims.if_contains(name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string() || value->get_string().empty() || value->get_string().size() > 256) {
    bad = true;
    return std::nullopt;
  }
  return std::string{value->get_string()};
}

std::int64_t unix_seconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

TokenResult TokenVerifier::check_jws(std::string_view token, const config::IpAddress& client,
                                     TimePoint now) const {
  if (token.size() > max_jws_size) return TokenError::malformed;
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return TokenError::malformed;
  }
  const auto header_text = base64url_decode(token.substr(0, dot1));
  const auto payload_text = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  const auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!header_text || !payload_text || !signature || signature->empty()) {
    return TokenError::malformed;
  }
  const auto header = parse_object(*header_text);
  if (!header) return TokenError::malformed;
  const auto* alg = header->if_contains("alg");
  const auto* kid = header->if_contains("kid");
  if (alg == nullptr || !alg->is_string()) return TokenError::malformed;
  if (kid != nullptr && !kid->is_string()) return TokenError::malformed;
  // RFC 7515 §4.1.11: extensions we do not understand must make the token invalid.
  if (header->contains("crit")) return TokenError::malformed;

  const auto* key = kid == nullptr ? nullptr : find_key(kid->get_string());
  if (key == nullptr || alg->get_string() != jws_algorithm_name(key->algorithm)) {
    return TokenError::unknown_key;  // also "alg": "none" and algorithm confusion
  }
  if (!verify_bytes(*key, token.substr(0, dot2), *signature)) return TokenError::bad_signature;

  // From here on the payload is authentic: only the issuer's mistakes remain.
  const auto claims = parse_object(*payload_text);
  if (!claims) return TokenError::malformed;
  bool bad = false;
  TokenClaims out;
  out.format = TokenFormat::jws;
  out.kid = key->id;
  const auto exp = numeric_date(*claims, "exp", bad);
  out.not_before = numeric_date(*claims, "nbf", bad);
  const auto iat = numeric_date(*claims, "iat", bad);
  auto jti = string_claim(*claims, "jti", bad);
  auto route = string_claim(*claims, "route", bad);
  out.subject = string_claim(*claims, "sub", bad);
  const auto src = string_claim(*claims, "src", bad);
  if (bad || !exp || !jti || !route) return TokenError::malformed;
  if (src) {
    out.source = config::parse_cidr(*src);
    if (!out.source) return TokenError::malformed;
  }
  out.expires = *exp;
  out.jti = std::move(*jti);
  out.route = std::move(*route);
  const auto start = out.not_before ? out.not_before : iat;
  return check_claims(std::move(out), start, client, now);
}

std::variant<IssuedToken, std::string> issue_jws(const TokenKeyMaterial& key,
                                                 const TokenRequest& request) {
  if (!key.can_sign()) return "token key \"" + key.id + "\": no signing key";
  if (request.route.empty()) return std::string{"token: empty route"};
  if (request.expires <= request.not_before) return std::string{"token: expires before it starts"};
  json::object header;
  header["alg"] = jws_algorithm_name(key.algorithm);
  header["typ"] = "JWT";
  header["kid"] = key.id;
  IssuedToken issued;
  issued.jti = request.jti.empty() ? random_hex(8) : request.jti;
  json::object claims;
  claims["route"] = request.route;
  claims["jti"] = issued.jti;
  claims["iat"] = unix_seconds(request.not_before);
  claims["nbf"] = unix_seconds(request.not_before);
  claims["exp"] = unix_seconds(request.expires);
  if (request.source) claims["src"] = request.source->to_string();
  if (request.subject) claims["sub"] = *request.subject;
  std::string input =
      base64url_encode(json::serialize(header)) + "." + base64url_encode(json::serialize(claims));
  const auto signature = sign_bytes(key, input);
  if (!signature) return "token key \"" + key.id + "\": signing failed";
  issued.token = std::move(input) + "." + base64url_encode(*signature);
  return issued;
}

}  // namespace rdpgate::security
