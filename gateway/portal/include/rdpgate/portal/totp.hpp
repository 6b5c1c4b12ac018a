#pragma once
// Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP, HMAC-SHA1, 6 digits, 30 s steps:
// what every authenticator app implements) and the base32 of RFC 4648 §6 their secrets are
// written in. Pure functions: the time is passed in.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rdpgate::portal {

inline constexpr std::chrono::seconds totp_step{30};
inline constexpr unsigned totp_digits = 6;
inline constexpr std::size_t totp_secret_bytes = 20;  // 160 bits, RFC 4226 §4 R6

// RFC 4648 §6, upper case, without padding.
[[nodiscard]] std::string base32_encode(const std::vector<std::uint8_t>& bytes);
// Accepts upper and lower case, ignores '=' padding and spaces; nullopt on any other character.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text);

// RFC 4226 §5.3: the `digits`-digit code for `counter`, zero-padded.
[[nodiscard]] std::string hotp(const std::vector<std::uint8_t>& secret, std::uint64_t counter,
                               unsigned digits = totp_digits);
// The step number of `now` (RFC 6238 §4.2, T0 = 0).
[[nodiscard]] std::uint64_t totp_counter(std::chrono::system_clock::time_point now) noexcept;
[[nodiscard]] std::string totp(const std::vector<std::uint8_t>& secret,
                               std::chrono::system_clock::time_point now);

// Checks `code` against the steps now-1, now and now+1 (RFC 6238 §5.2: one step of clock drift
// either way), comparing in constant time. Returns the matching step, so the caller can refuse
// a code that was used before (a step at or below the last accepted one).
[[nodiscard]] std::optional<std::uint64_t> totp_match(const std::vector<std::uint8_t>& secret,
                                                      std::string_view code,
                                                      std::chrono::system_clock::time_point now);

// A new random secret of totp_secret_bytes (OpenSSL RAND_bytes).
[[nodiscard]] std::vector<std::uint8_t> new_totp_secret();

// otpauth://totp/ISSUER:NAME?secret=...&issuer=ISSUER&algorithm=SHA1&digits=6&period=30 (the
// Key Uri Format of Google Authenticator), with ISSUER and NAME percent-encoded.
[[nodiscard]] std::string otpauth_uri(std::string_view issuer, std::string_view name,
                                      const std::vector<std::uint8_t>& secret);

// Constant-time equality of two strings of the same length (false when the lengths differ;
// the length is not secret).
[[nodiscard]] bool equal_constant_time(std::string_view a, std::string_view b) noexcept;

}  // namespace rdpgate::portal
