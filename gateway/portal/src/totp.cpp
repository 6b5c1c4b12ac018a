#include "rdpgate/portal/totp.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <stdexcept>

namespace rdpgate::portal {
namespace {

constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

std::string percent_encode(std::string_view text) {
  static constexpr std::string_view hex = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0xF];
    }
  }
  return out;
}

}  // namespace

std::string base32_encode(const std::vector<std::uint8_t>& bytes) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const auto b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(buffer >> (bits - 5)) & 0x1F];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 0x1F];
  return out;
}

std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text) {
  std::vector<std::uint8_t> out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == ' ') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    const auto at = alphabet.find(c);
    if (at == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 5) | static_cast<std::uint32_t>(at);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<std::uint8_t>((buffer >> (bits - 8)) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

std::string hotp(const std::vector<std::uint8_t>& secret, std::uint64_t counter, unsigned digits) {
  std::array<std::uint8_t, 8> message{};  // the counter, big-endian (RFC 4226 §5.2)
  for (int i = 7; i >= 0; --i) {
    message[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(counter & 0xFF);
    counter >>= 8;
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned mac_size = 0;
  if (HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()), message.data(),
           message.size(), mac.data(), &mac_size) == nullptr ||
      mac_size < 20) {
    throw std::runtime_error("HMAC-SHA1 failed");
  }
  // Dynamic truncation (RFC 4226 §5.3).
  const unsigned offset = mac[19] & 0x0F;
  const std::uint32_t binary = (static_cast<std::uint32_t>(mac[offset] & 0x7F) << 24) |
                               (static_cast<std::uint32_t>(mac[offset + 1]) << 16) |
                               (static_cast<std::uint32_t>(mac[offset + 2]) << 8) |
                               static_cast<std::uint32_t>(mac[offset + 3]);
  std::uint32_t modulus = 1;
  for (unsigned i = 0; i < digits; ++i) modulus *= 10;
  std::string code = std::to_string(binary % modulus);
  return std::string(digits - code.size(), '0') + code;
}

std::uint64_t totp_counter(std::chrono::system_clock::time_point now) noexcept {
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  return seconds < 0 ? 0 : static_cast<std::uint64_t>(seconds) / totp_step.count();
}

std::string totp(const std::vector<std::uint8_t>& secret,
                 std::chrono::system_clock::time_point now) {
  return hotp(secret, totp_counter(now));
}

std::optional<std::uint64_t> totp_match(const std::vector<std::uint8_t>& secret,
                                        std::string_view code,
                                        std::chrono::system_clock::time_point now) {
  const auto counter = totp_counter(now);
  std::optional<std::uint64_t> found;
  // Every candidate is computed and compared, so the time taken does not say which matched.
  for (const std::uint64_t step : {counter - 1, counter, counter + 1}) {
    if (equal_constant_time(hotp(secret, step), code) && !found) found = step;
  }
  return found;
}

std::vector<std::uint8_t> new_totp_secret() {
  std::vector<std::uint8_t> secret(totp_secret_bytes);
  if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return secret;
}

std::string otpauth_uri(std::string_view issuer, std::string_view name,
                        const std::vector<std::uint8_t>& secret) {
  const auto i = percent_encode(issuer);
  return "otpauth://totp/" + i + ":" + percent_encode(name) + "?secret=" + base32_encode(secret) +
         "&issuer=" + i + "&algorithm=SHA1&digits=" + std::to_string(totp_digits) +
         "&period=" + std::to_string(totp_step.count());
}

bool equal_constant_time(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace rdpgate::portal
