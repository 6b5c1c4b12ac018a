// The compact routing-token encoding of a signed token; the format is drawn in
// token_verifier.hpp.

#include <algorithm>
#include <array>

#include "rdpgate/security/base64url.hpp"
#include "rdpgate/security/random.hpp"
#include "rdpgate/security/token_verifier.hpp"

namespace rdpgate::security {
namespace {

using TimePoint = std::chrono::system_clock::time_point;

constexpr std::size_t max_kid = 32;
constexpr std::size_t max_route = 64;
constexpr std::size_t max_jti = 64;
constexpr std::size_t max_exp_digits = 13;        // 36^13 > 2^64
constexpr std::uint64_t max_exp = 7'258'118'400;  // 2200-01-01: as for JWS NumericDates
constexpr char pad = '~';

bool is_name_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool is_name(std::string_view text, std::size_t max) noexcept {
  return !text.empty() && text.size() <= max && std::all_of(text.begin(), text.end(), is_name_char);
}

std::string to_base36(std::uint64_t value) {
  std::string out;
  do {
    const auto digit = static_cast<char>(value % 36);
    out += digit < 10 ? static_cast<char>('0' + digit) : static_cast<char>('a' + digit - 10);
    value /= 36;
  } while (value != 0);
  std::reverse(out.begin(), out.end());
  return out;
}

std::optional<std::uint64_t> from_base36(std::string_view text) {
  if (text.empty() || text.size() > max_exp_digits) return std::nullopt;
  if (text.size() > 1 && text.front() == '0') return std::nullopt;  // one spelling per value
  std::uint64_t value = 0;
  for (const char c : text) {
    unsigned digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'z') {
      digit = static_cast<unsigned>(c - 'a') + 10;
    } else {
      return std::nullopt;
    }
    value = value * 36 + digit;
    if (value > max_exp) return std::nullopt;
  }
  return value;
}

// "203.0.113.0/24" <-> "203_0_113_0/24": the dots of IPv4 would clash with the separator.
std::string encode_source(const std::optional<config::Cidr>& source) {
  if (!source) return "-";
  std::string text = source->to_string();
  std::replace(text.begin(), text.end(), '.', '_');
  return text;
}

}  // namespace

TokenResult TokenVerifier::check_routing_token(std::string_view token,
                                               const config::IpAddress& client,
                                               TimePoint now) const {
  if (token.size() > max_routing_token_size || !is_routing_token(token)) {
    return TokenError::malformed;
  }
  if (token.ends_with(pad)) token.remove_suffix(1);
  std::array<std::string_view, 7> fields;  // tag kid route exp jti src sig
  std::size_t count = 0;
  std::size_t start = 0;
  for (;;) {
    const auto dot = token.find('.', start);
    if (count == fields.size()) return TokenError::malformed;
    fields[count++] = token.substr(start, dot - start);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (count != fields.size()) return TokenError::malformed;
  const auto [tag, kid, route, exp, jti, src, sig] = fields;
  if (!is_name(kid, max_kid) || !is_name(route, max_route) || !is_name(jti, max_jti)) {
    return TokenError::malformed;
  }
  const auto expires = from_base36(exp);
  const auto signature = base64url_decode(sig);
  if (!expires || !signature || signature->empty()) return TokenError::malformed;
  TokenClaims claims;
  if (src != "-") {
    std::string text{src};
    if (text.find('.') != std::string::npos) return TokenError::malformed;
    std::replace(text.begin(), text.end(), '_', '.');
    claims.source = config::parse_cidr(text);
    if (!claims.source) return TokenError::malformed;
  }

  const auto* key = find_key(kid);
  if (key == nullptr) return TokenError::unknown_key;
  const std::size_t signed_size = token.size() - sig.size() - 1;
  if (!verify_bytes(*key, token.substr(0, signed_size), *signature)) {
    return TokenError::bad_signature;
  }
  claims.format = TokenFormat::routing_token;
  claims.kid = key->id;
  claims.route = std::string{route};
  claims.jti = std::string{jti};
  claims.expires = TimePoint{std::chrono::seconds{static_cast<std::int64_t>(*expires)}};
  return check_claims(std::move(claims), std::nullopt, client, now);
}

std::variant<IssuedToken, std::string> issue_routing_token(const TokenKeyMaterial& key,
                                                           const TokenRequest& request) {
  if (!key.can_sign()) return "token key \"" + key.id + "\": no signing key";
  IssuedToken issued;
  issued.jti = request.jti.empty() ? random_hex(8) : request.jti;
  if (!is_name(key.id, max_kid)) {
    return "routing token: key id \"" + key.id + "\" must be 1-32 of A-Z a-z 0-9 _ -";
  }
  if (!is_name(request.route, max_route)) {
    return "routing token: route \"" + request.route + "\" must be 1-64 of A-Z a-z 0-9 _ -";
  }
  if (!is_name(issued.jti, max_jti)) {
    return "routing token: jti \"" + issued.jti + "\" must be 1-64 of A-Z a-z 0-9 _ -";
  }
  const auto exp =
      std::chrono::duration_cast<std::chrono::seconds>(request.expires.time_since_epoch()).count();
  if (exp <= 0 || static_cast<std::uint64_t>(exp) > max_exp) {
    return std::string{"routing token: expiry out of range"};
  }
  std::string input = std::string{TokenVerifier::routing_token_prefix} + key.id + "." +
                      request.route + "." + to_base36(static_cast<std::uint64_t>(exp)) + "." +
                      issued.jti + "." + encode_source(request.source);
  const auto signature = sign_bytes(key, input);
  if (!signature) return "token key \"" + key.id + "\": signing failed";
  issued.token = std::move(input) + "." + base64url_encode(*signature);
  if (issued.token.size() % 2 != 0) issued.token += pad;
  if (issued.token.size() > TokenVerifier::max_routing_token_size) {
    return "routing token: " + std::to_string(issued.token.size()) +
           " characters, more than 200 (use shorter key id, route or jti)";
  }
  return issued;
}

}  // namespace rdpgate::security
