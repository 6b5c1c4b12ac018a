#pragma once
// Key material for signed access tokens: HS256 secrets and Ed25519 keys (OpenSSL 3 EVP).
//
// Secrets (HS256) are raw bytes from `secret_file` or the environment variable `secret_env`;
// a text secret loses one trailing "\n" or "\r\n", so `openssl rand -base64 48 > file` works
// as expected, while a binary one (`head -c 32 /dev/urandom`) is kept byte for byte. At least
// 32 bytes are required (RFC 7518 §3.2: a key at least as long as the hash). Ed25519 keys are
// PEM files: `public_key_file` (SubjectPublicKeyInfo) to verify, `private_key_file` (PKCS#8) to
// issue; a private key also verifies. A `secret_file` or `private_key_file` that others may
// read is refused (secret_file.hpp), even when only verifying: the key is exposed whoever uses
// it.

#include <openssl/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "rdpgate/config/config.hpp"

namespace rdpgate::security {

using EvpKey = std::shared_ptr<EVP_PKEY>;

struct TokenKeyMaterial {
  std::string id;  // the JWS "kid"
  config::TokenAlgorithm algorithm = config::TokenAlgorithm::hs256;
  std::string secret;  // HS256
  EvpKey public_key;   // EdDSA: verifies (may be the private key itself)
  EvpKey private_key;  // EdDSA: signs; null when only the public key is known

  [[nodiscard]] bool can_sign() const noexcept {
    return algorithm == config::TokenAlgorithm::hs256 ? !secret.empty() : private_key != nullptr;
  }
};

// "HS256" | "EdDSA", the JWS `alg` values (RFC 7518 §3.2, RFC 8037 §3.1).
[[nodiscard]] std::string_view jws_algorithm_name(config::TokenAlgorithm algorithm) noexcept;

// Loads what config::TokenKey names. `for_signing` requires the secret or the private key
// (for `rdpgate token issue`); otherwise what is needed to verify. Errors name the key:
// `token key "k1": secret_file "...": No such file or directory`.
[[nodiscard]] std::variant<TokenKeyMaterial, std::string> load_token_key(
    const config::TokenKey& key, bool for_signing = false);

// PEM text -> an Ed25519 key, or an error message.
[[nodiscard]] std::variant<EvpKey, std::string> ed25519_public_key_from_pem(std::string_view pem);
[[nodiscard]] std::variant<EvpKey, std::string> ed25519_private_key_from_pem(std::string_view pem);
// An EVP_PKEY as PEM (for tests and `rdpgate token keygen`).
[[nodiscard]] std::string public_key_pem(EVP_PKEY* key);
[[nodiscard]] std::string private_key_pem(EVP_PKEY* key);
// A fresh Ed25519 key pair from EVP_PKEY_keygen.
[[nodiscard]] EvpKey generate_ed25519_key();

// Signs `input` (HMAC-SHA256: 32 bytes; Ed25519: 64 bytes), or nullopt without a signing key.
[[nodiscard]] std::optional<std::string> sign_bytes(const TokenKeyMaterial& key,
                                                    std::string_view input);
// Constant-time for HMAC; EVP_DigestVerify for Ed25519.
[[nodiscard]] bool verify_bytes(const TokenKeyMaterial& key, std::string_view input,
                                std::string_view signature);

}  // namespace rdpgate::security
