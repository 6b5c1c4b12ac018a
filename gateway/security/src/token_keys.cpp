// Token keys over OpenSSL 3: HMAC() for HS256, EVP_DigestSign/EVP_DigestVerify for Ed25519
// (Ed25519 is a "one-shot" signature: no digest is set, RFC 8032 hashes internally).

#include "rdpgate/security/token_keys.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "rdpgate/security/secret_file.hpp"

namespace rdpgate::security {
namespace {

constexpr std::size_t min_secret_bytes = 32;

EvpKey own(EVP_PKEY* key) { return EvpKey{key, EVP_PKEY_free}; }

std::variant<std::string, std::string> read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return std::variant<std::string, std::string>{std::in_place_index<1>, std::strerror(errno)};
  std::ostringstream text;
  text << in.rdbuf();
  return std::variant<std::string, std::string>{std::in_place_index<0>, text.str()};
}

// A text secret (`openssl rand -hex 32 > file`) loses the one newline its writer added. A binary
// one (`head -c 32 /dev/urandom`) is kept whole: its last byte is 0x0a once in 256, and dropping
// it would make a different key than every other holder of the file uses.
void drop_trailing_newline(std::string& secret) {
  const bool text = std::all_of(secret.begin(), secret.end(), [](char c) {
    return (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\r' || c == '\t';
  });
  if (!text) return;
  if (!secret.empty() && secret.back() == '\n') secret.pop_back();
  if (!secret.empty() && secret.back() == '\r') secret.pop_back();
}

struct BioDeleter {
  void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};

}  // namespace

std::string_view jws_algorithm_name(config::TokenAlgorithm algorithm) noexcept {
  return algorithm == config::TokenAlgorithm::eddsa ? "EdDSA" : "HS256";
}

std::variant<EvpKey, std::string> ed25519_public_key_from_pem(std::string_view pem) {
  std::unique_ptr<BIO, BioDeleter> bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  if (!bio) return std::string{"out of memory"};
  auto key = own(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return std::string{"not a PEM public key"};
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) return std::string{"not an Ed25519 key"};
  return key;
}

std::variant<EvpKey, std::string> ed25519_private_key_from_pem(std::string_view pem) {
  std::unique_ptr<BIO, BioDeleter> bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  if (!bio) return std::string{"out of memory"};
  auto key = own(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return std::string{"not a PEM private key"};
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) return std::string{"not an Ed25519 key"};
  return key;
}

namespace {
std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? std::string{data, static_cast<std::size_t>(size)} : std::string{};
}
}  // namespace

std::string public_key_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, BioDeleter> bio{BIO_new(BIO_s_mem())};
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) return {};
  return bio_text(bio.get());
}

std::string private_key_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, BioDeleter> bio{BIO_new(BIO_s_mem())};
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return {};
  }
  return bio_text(bio.get());
}

EvpKey generate_ed25519_key() {
  EVP_PKEY* key = nullptr;
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx{
      EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr), EVP_PKEY_CTX_free};
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &key) != 1) {
    return nullptr;
  }
  return own(key);
}

std::variant<TokenKeyMaterial, std::string> load_token_key(const config::TokenKey& key,
                                                           bool for_signing) {
  const std::string where = "token key \"" + key.id + "\": ";
  TokenKeyMaterial out;
  out.id = key.id;
  out.algorithm = key.algorithm;
  if (key.algorithm == config::TokenAlgorithm::hs256) {
    if (!key.secret_file.empty()) {
      auto read = read_secret_file(key.secret_file);
      if (!read.ok()) return where + "secret_file \"" + key.secret_file + "\": " + read.error;
      out.secret = std::move(read.contents);
    } else if (!key.secret_env.empty()) {
      const char* value = std::getenv(key.secret_env.c_str());
      if (value == nullptr) return where + "environment variable " + key.secret_env + " is not set";
      out.secret = value;
    } else {
      return where + "HS256 needs secret_file or secret_env";
    }
    drop_trailing_newline(out.secret);
    if (out.secret.size() < min_secret_bytes) {
      return where + "secret is " + std::to_string(out.secret.size()) +
             " bytes; at least 32 are required";
    }
    return out;
  }

  if (!key.private_key_file.empty()) {
    // Verifying needs only the public key, so an unreadable private key is no error then; one
    // that others may read is, always: the key is leaked whoever uses it.
    auto read = read_secret_file(key.private_key_file);
    if (!read.ok()) {
      if (for_signing || read.too_open) {
        return where + "private_key_file \"" + key.private_key_file + "\": " + read.error;
      }
    } else {
      auto parsed = ed25519_private_key_from_pem(read.contents);
      if (auto* error = std::get_if<std::string>(&parsed)) {
        return where + "private_key_file \"" + key.private_key_file + "\": " + *error;
      }
      out.private_key = std::get<EvpKey>(parsed);
      out.public_key = out.private_key;
    }
  } else if (for_signing) {
    return where + "issuing an EdDSA token needs private_key_file";
  }
  if (!key.public_key_file.empty()) {
    auto read = read_file(key.public_key_file);
    if (read.index() == 1) {
      return where + "public_key_file \"" + key.public_key_file + "\": " + std::get<1>(read);
    }
    auto parsed = ed25519_public_key_from_pem(std::get<0>(read));
    if (auto* error = std::get_if<std::string>(&parsed)) {
      return where + "public_key_file \"" + key.public_key_file + "\": " + *error;
    }
    out.public_key = std::get<EvpKey>(parsed);
  }
  if (!out.public_key) return where + "EdDSA needs public_key_file";
  return out;
}

std::optional<std::string> sign_bytes(const TokenKeyMaterial& key, std::string_view input) {
  if (key.algorithm == config::TokenAlgorithm::hs256) {
    if (key.secret.empty()) return std::nullopt;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    if (HMAC(EVP_sha256(), key.secret.data(), static_cast<int>(key.secret.size()),
             reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
             &mac_size) == nullptr) {
      return std::nullopt;
    }
    return std::string{reinterpret_cast<const char*>(mac), mac_size};
  }
  if (!key.private_key) return std::nullopt;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), EVP_MD_CTX_free};
  std::string signature(64, '\0');  // Ed25519 signatures are 64 bytes (RFC 8032 §5.1.6)
  std::size_t size = signature.size();
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.private_key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return std::nullopt;
  }
  signature.resize(size);
  return signature;
}

bool verify_bytes(const TokenKeyMaterial& key, std::string_view input, std::string_view signature) {
  if (key.algorithm == config::TokenAlgorithm::hs256) {
    const auto expected = sign_bytes(key, input);
    return expected && expected->size() == signature.size() &&
           CRYPTO_memcmp(expected->data(), signature.data(), signature.size()) == 0;
  }
  if (!key.public_key || signature.size() != 64) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), EVP_MD_CTX_free};
  return ctx &&
         EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.public_key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                          input.size()) == 1;
}

}  // namespace rdpgate::security
