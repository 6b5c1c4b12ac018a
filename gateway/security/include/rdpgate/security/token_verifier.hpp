#pragma once
// Signed access tokens (SPEC §3), in two encodings with the same claims and the same checks.
//
// 1. Compact JWS (RFC 7515 §7.1), carried in the RDP Preconnection PDU (xfreerdp `/pcb:`,
//    `.rdp` file `pcb:s:`):
//
//      BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature)
//      header  {"alg": "HS256" | "EdDSA", "kid": "<key id>", "typ": "JWT"}   `crit` is refused
//      payload {"route": "finance",          required: the route the token opens
//               "jti": "5f0c...",             required: single use (replay cache)
//               "exp": 1700007200,            required: NumericDate (RFC 7519 §2)
//               "nbf": 1700000000,            optional
//               "iat": 1700000000,            optional
//               "src": "203.0.113.0/24",      optional: the client address must be in it
//               "sub": "alice"}               optional: who it was issued to (for the audit)
//
// 2. Routing token, for clients that cannot send a Preconnection PDU: the stock Windows client
//    sends `loadbalanceinfo:s:<text>` from a .rdp file verbatim as the X.224 routing token
//    ([MS-RDPBCGR] 2.2.1.1, `routingToken` ... CR LF). The whole Connection Request must fit
//    in 255 bytes of X.224 LI, so the text stays <= 200 characters, printable ASCII without
//    spaces, and of even length (Microsoft documents LoadBalanceInfo strings as needing an
//    even length; a trailing "~" pads an odd one):
//
//      rdpgate1.<kid>.<route>.<exp>.<jti>.<src>.<sig>[~]
//      rdpgate1  format and version tag
//      kid       key id                      [A-Za-z0-9_-]{1,32}
//      route     route name                  [A-Za-z0-9_-]{1,64}
//      exp       expiry, Unix seconds, base 36, lowercase [0-9a-z]{1,13}
//      jti       single-use id               [A-Za-z0-9_-]{1,64}
//      src       "-" (any) or a CIDR with "." written as "_" ("203_0_113_0/24", "2001:db8::/32")
//      sig       base64url (no padding) of the signature over every byte before ".<sig>":
//                HMAC-SHA256 (32 bytes -> 43 chars) or Ed25519 (64 bytes -> 86 chars)
//
//    A routing token has no nbf: its lifetime counts from the moment it is verified.
//
// Checks, in order; the first that fails is the error (an audit reason under `token_invalid`):
//   malformed          syntax, encoding, JSON, a missing or mistyped claim, a bad `src`
//   unknown_key        no configured key has this kid with this alg (also "alg": "none")
//   bad_signature      the signature does not verify
//   lifetime_too_long  exp - (nbf, else iat, else now) > max_lifetime (+ skew when from now)
//   not_yet_valid      now < nbf - clock_skew
//   expired            now >= exp + clock_skew
//   wrong_source       the client address is outside `src`
//   replayed           the jti was used before (remembered until exp + clock_skew)
//   replay_not_recorded  the replay cache could not write the jti to the state store (disk
//                      full, read-only): refused, since after a restart it could be replayed
//   replay_unavailable the fleet's replay cache (state.redis) was unreachable and
//                      `replay_when_down: refuse`: another instance could not have refused it
// The route claim is returned, not checked: the caller compares it with the chosen route.
// check() does all of that without using the token up; consume() then marks its jti used, so a
// gateway spends a token only on a session that passed every other check (route, grant,
// backend) — a token refused for anything else can be presented again.
//
// Thread-safe: the verifier is immutable; the ReplayCache it shares is thread-safe and
// outlives configuration reloads (the app owns it, verifiers built from each config share it).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rdpgate/config/cidr.hpp"
#include "rdpgate/config/config.hpp"
#include "rdpgate/security/replay_cache.hpp"
#include "rdpgate/security/token_keys.hpp"

namespace rdpgate::security {

enum class TokenError {
  malformed,
  unknown_key,
  bad_signature,
  expired,
  not_yet_valid,
  replayed,
  wrong_source,
  lifetime_too_long,
  replay_not_recorded,
  replay_unavailable,
};
// Stable snake_case names: "malformed", "unknown_key", ... (audit reasons; never rename).
[[nodiscard]] std::string_view token_to_string(TokenError error) noexcept;

enum class TokenFormat { jws, routing_token };

struct TokenClaims {
  TokenFormat format = TokenFormat::jws;
  std::string kid;
  std::string route;
  std::string jti;
  std::chrono::system_clock::time_point expires;
  std::optional<std::chrono::system_clock::time_point> not_before;
  std::optional<config::Cidr> source;  // `src`
  std::optional<std::string> subject;  // `sub`
};

using TokenResult = std::variant<TokenClaims, TokenError>;

class TokenVerifier {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  static constexpr std::size_t max_jws_size = 8192;
  static constexpr std::size_t max_routing_token_size = 200;
  static constexpr std::string_view routing_token_prefix = "rdpgate1.";

  // Loads every key of `config` (errors name the key). Without `replay`, the verifier gets
  // its own in-memory cache.
  [[nodiscard]] static std::variant<std::unique_ptr<TokenVerifier>, std::string> create(
      const config::TokensConfig& config, std::shared_ptr<ReplayCache> replay = nullptr);

  TokenVerifier(std::vector<TokenKeyMaterial> keys, std::chrono::milliseconds clock_skew,
                std::chrono::milliseconds max_lifetime, std::shared_ptr<ReplayCache> replay);

  // Either encoding, told apart by the "rdpgate1." prefix; the token is not used up.
  [[nodiscard]] TokenResult check(std::string_view token, const config::IpAddress& client,
                                  TimePoint now) const;
  // Uses up a checked token's jti: nullopt the first time; `replayed` when another connection
  // used it since check(), or when the replay cache cannot take it (full: fail closed);
  // `replay_not_recorded` when the state store could not record the use (fail closed too).
  [[nodiscard]] std::optional<TokenError> consume(const TokenClaims& claims, TimePoint now) const;
  // consume() without waiting for the disk: `done` gets the answer, at once or on the state
  // store's writer thread (replay_cache.hpp).
  void consume(const TokenClaims& claims, TimePoint now,
               std::function<void(std::optional<TokenError>)> done) const;
  // check() for one encoding.
  [[nodiscard]] TokenResult check_jws(std::string_view token, const config::IpAddress& client,
                                      TimePoint now) const;
  [[nodiscard]] TokenResult check_routing_token(std::string_view token,
                                                const config::IpAddress& client,
                                                TimePoint now) const;
  // check() then consume().
  [[nodiscard]] TokenResult verify(std::string_view token, const config::IpAddress& client,
                                   TimePoint now) const;
  [[nodiscard]] static bool is_routing_token(std::string_view text) noexcept {
    return text.starts_with(routing_token_prefix);
  }

  [[nodiscard]] const std::shared_ptr<ReplayCache>& replay_cache() const noexcept {
    return replay_;
  }

 private:
  [[nodiscard]] const TokenKeyMaterial* find_key(std::string_view kid) const noexcept;
  // The checks after the signature, shared by both encodings. `start` is nbf or iat if any.
  [[nodiscard]] TokenResult check_claims(TokenClaims claims, std::optional<TimePoint> start,
                                         const config::IpAddress& client, TimePoint now) const;

  std::vector<TokenKeyMaterial> keys_;
  std::chrono::milliseconds clock_skew_;
  std::chrono::milliseconds max_lifetime_;
  std::shared_ptr<ReplayCache> replay_;
};

// What `rdpgate token issue` asks for.
struct TokenRequest {
  std::string route;
  std::string jti;                                   // "" = 16 random hex characters
  std::chrono::system_clock::time_point not_before;  // JWS `nbf` and `iat`
  std::chrono::system_clock::time_point expires;     // `exp`, whole seconds
  std::optional<config::Cidr> source;
  std::optional<std::string> subject;  // JWS only
};

struct IssuedToken {
  std::string token;
  std::string jti;
};

// Both need a key that can_sign(). Errors: a missing signing key, a route, kid or jti with
// characters the routing token cannot carry, or a routing token longer than 200 characters.
[[nodiscard]] std::variant<IssuedToken, std::string> issue_jws(const TokenKeyMaterial& key,
                                                               const TokenRequest& request);
[[nodiscard]] std::variant<IssuedToken, std::string> issue_routing_token(
    const TokenKeyMaterial& key, const TokenRequest& request);

}  // namespace rdpgate::security
