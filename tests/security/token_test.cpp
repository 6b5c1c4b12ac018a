// Signed access tokens: compact JWS and routing tokens, HS256 and Ed25519, every refusal.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "../common/temp_dir.hpp"
#include "rdpgate/security/base64url.hpp"
#include "rdpgate/security/secret_file.hpp"
#include "rdpgate/security/token_verifier.hpp"
#include "token_support.hpp"

namespace rdpgate::security {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::system_clock::time_point;

using test::t0;
const std::string secret = "0123456789abcdef0123456789abcdef-hs256-test-secret";

using test::cidr;
using test::ip;
using testing::error_of;

TokenKeyMaterial hs_key(std::string id = "k-hs") { return testing::hs_key(std::move(id), secret); }
TokenKeyMaterial ed_key(std::string id = "k-ed") { return testing::ed_key(std::move(id)); }
TokenRequest request(std::string route = "finance") {
  return testing::request(std::move(route), 1h);
}
std::string issue(const TokenKeyMaterial& key, const TokenRequest& r, bool routing = false) {
  return testing::issue(key, r, routing);
}

// A JWS from raw header and payload JSON, signed with `key`: for the malformed-claims cases.
std::string raw_jws(const TokenKeyMaterial& key, std::string_view header,
                    std::string_view payload) {
  const std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  return input + "." + base64url_encode(sign_bytes(key, input).value());
}

std::string header_for(const TokenKeyMaterial& key) {
  return std::string{R"({"alg":")"} + std::string{jws_algorithm_name(key.algorithm)} +
         R"(","kid":")" + key.id + R"("})";
}

class Tokens : public ::testing::Test {
 protected:
  TokenKeyMaterial hs = hs_key();
  TokenKeyMaterial ed = ed_key();
  TokenVerifier verifier{{hs, ed}, 30s, 24h, nullptr};
  config::IpAddress client = ip("203.0.113.7");
};

TEST(TokenErrorNames, AreStableSnakeCase) {
  EXPECT_EQ(token_to_string(TokenError::malformed), "malformed");
  EXPECT_EQ(token_to_string(TokenError::unknown_key), "unknown_key");
  EXPECT_EQ(token_to_string(TokenError::bad_signature), "bad_signature");
  EXPECT_EQ(token_to_string(TokenError::expired), "expired");
  EXPECT_EQ(token_to_string(TokenError::not_yet_valid), "not_yet_valid");
  EXPECT_EQ(token_to_string(TokenError::replayed), "replayed");
  EXPECT_EQ(token_to_string(TokenError::wrong_source), "wrong_source");
  EXPECT_EQ(token_to_string(TokenError::lifetime_too_long), "lifetime_too_long");
}

TEST(Base64url, RoundTripsAndIsStrict) {
  std::string bytes;
  for (int i = 0; i < 70; ++i) {
    EXPECT_EQ(base64url_decode(base64url_encode(bytes)), bytes) << i;
    bytes += static_cast<char>(i * 37 + 250);
  }
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_decode("-_8"), "\xfb\xff");
  EXPECT_FALSE(base64url_decode("-_9"));   // non-zero unused bits: a second spelling
  EXPECT_FALSE(base64url_decode("QQ=="));  // padding
  EXPECT_FALSE(base64url_decode("Q+/A"));  // base64, not base64url
  EXPECT_FALSE(base64url_decode("QUJD R"));
  EXPECT_FALSE(base64url_decode("QUJDR"));  // 4n+1 characters
}

TEST_F(Tokens, Hs256ValidGivesClaims) {
  auto r = request();
  r.jti = "ticket-1234-a";
  r.subject = "alice";
  r.source = cidr("203.0.113.0/24");
  const auto token = issue(hs, r);
  const auto result = verifier.verify(token, client, t0 + 1min);
  ASSERT_TRUE(std::holds_alternative<TokenClaims>(result))
      << token_to_string(std::get<TokenError>(result));
  const auto& claims = std::get<TokenClaims>(result);
  EXPECT_EQ(claims.format, TokenFormat::jws);
  EXPECT_EQ(claims.kid, "k-hs");
  EXPECT_EQ(claims.route, "finance");
  EXPECT_EQ(claims.jti, "ticket-1234-a");
  EXPECT_EQ(claims.subject, "alice");
  EXPECT_EQ(claims.source, cidr("203.0.113.0/24"));
  EXPECT_EQ(claims.expires, t0 + 1h);
  EXPECT_EQ(claims.not_before, t0);
  // It is really HS256 over the first two segments.
  const auto last_dot = token.rfind('.');
  unsigned char mac[32];
  unsigned int size = 0;
  const std::string input = token.substr(0, last_dot);
  ASSERT_NE(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                 reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &size),
            nullptr);
  EXPECT_EQ(token.substr(last_dot + 1),
            base64url_encode({reinterpret_cast<const char*>(mac), size}));
}

TEST_F(Tokens, Ed25519ValidGivesClaims) {
  const auto token = issue(ed, request("hr"));
  const auto result = verifier.verify(token, client, t0);
  ASSERT_TRUE(std::holds_alternative<TokenClaims>(result))
      << token_to_string(std::get<TokenError>(result));
  EXPECT_EQ(std::get<TokenClaims>(result).route, "hr");
  EXPECT_EQ(std::get<TokenClaims>(result).kid, "k-ed");
  EXPECT_EQ(std::get<TokenClaims>(result).jti.size(), 16U);  // random when not given
  // The header names the algorithm and the key.
  const auto header = base64url_decode(token.substr(0, token.find('.'))).value();
  const auto parsed = boost::json::parse(header).as_object();
  EXPECT_EQ(parsed.at("alg").as_string(), "EdDSA");
  EXPECT_EQ(parsed.at("kid").as_string(), "k-ed");
}

TEST_F(Tokens, ExpiryAndNotBeforeWithClockSkew) {
  auto r = request();
  EXPECT_TRUE(std::holds_alternative<TokenClaims>(
      verifier.verify(issue(hs, r), client, t0 + 1h + 29s)));  // inside the 30 s skew
  EXPECT_EQ(error_of(verifier.verify(issue(hs, r), client, t0 + 1h + 30s)), TokenError::expired);
  EXPECT_EQ(error_of(verifier.verify(issue(ed, r), client, t0 + 2h)), TokenError::expired);

  r.not_before = t0 + 10min;
  r.expires = t0 + 1h;
  EXPECT_EQ(error_of(verifier.verify(issue(hs, r), client, t0)), TokenError::not_yet_valid);
  EXPECT_EQ(error_of(verifier.verify(issue(ed, r), client, t0 + 9min)), TokenError::not_yet_valid);
  EXPECT_TRUE(
      std::holds_alternative<TokenClaims>(verifier.verify(issue(hs, r), client, t0 + 10min - 29s)));
}

TEST_F(Tokens, BadSignatureAndTamperedPayload) {
  for (const auto* key : {&hs, &ed}) {
    const auto token = issue(*key, request());
    // Flip one signature character to another base64url character.
    std::string flipped = token;
    const auto sig = flipped.rfind('.') + 1;
    flipped[sig] = flipped[sig] == 'A' ? 'B' : 'A';
    EXPECT_EQ(error_of(verifier.verify(flipped, client, t0)), TokenError::bad_signature);

    // Re-encode the payload with another route, keep header and signature.
    const auto dot1 = token.find('.');
    const auto dot2 = token.rfind('.');
    auto payload =
        boost::json::parse(base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1)).value())
            .as_object();
    payload["route"] = "admin";
    const std::string tampered = token.substr(0, dot1) + "." +
                                 base64url_encode(boost::json::serialize(payload)) +
                                 token.substr(dot2);
    EXPECT_EQ(error_of(verifier.verify(tampered, client, t0)), TokenError::bad_signature);

    // A signature from another key with the same kid.
    TokenKeyMaterial other = key == &hs ? hs_key() : ed_key();
    other.secret = std::string(40, 'x');
    EXPECT_EQ(error_of(verifier.verify(issue(other, request()), client, t0)),
              TokenError::bad_signature);
  }
}

TEST_F(Tokens, UnknownKeyAlgorithmConfusionAndNone) {
  EXPECT_EQ(error_of(verifier.verify(issue(hs_key("nope"), request()), client, t0)),
            TokenError::unknown_key);
  // HS256 signed with the Ed25519 key's id: the key only accepts EdDSA.
  auto confused = hs_key("k-ed");
  EXPECT_EQ(error_of(verifier.verify(issue(confused, request()), client, t0)),
            TokenError::unknown_key);
  const std::string payload = R"({"route":"finance","jti":"n1","exp":1700003600})";
  const std::string none = base64url_encode(R"({"alg":"none","kid":"k-hs"})") + "." +
                           base64url_encode(payload) + ".AAAA";
  EXPECT_EQ(error_of(verifier.verify(none, client, t0)), TokenError::unknown_key);
  const std::string no_kid = raw_jws(hs, R"({"alg":"HS256"})", payload);
  EXPECT_EQ(error_of(verifier.verify(no_kid, client, t0)), TokenError::unknown_key);
}

TEST_F(Tokens, ReplayIsRefused) {
  const auto token = issue(hs, request());
  EXPECT_TRUE(std::holds_alternative<TokenClaims>(verifier.verify(token, client, t0)));
  EXPECT_EQ(error_of(verifier.verify(token, client, t0 + 1s)), TokenError::replayed);
  // Another token with the same jti is a replay too.
  auto r = request();
  r.jti = std::get<TokenClaims>(verifier.verify(issue(ed, request()), client, t0)).jti;
  EXPECT_EQ(error_of(verifier.verify(issue(hs, r), client, t0)), TokenError::replayed);
}

TEST_F(Tokens, CheckDoesNotUseATokenUpConsumeDoesOnce) {
  const auto token = issue(hs, request());
  // Checked twice (a session refused later by its route, or whose hosts were down): still good.
  ASSERT_TRUE(std::holds_alternative<TokenClaims>(verifier.check(token, client, t0)));
  const auto checked = verifier.check(token, client, t0 + 1s);
  ASSERT_TRUE(std::holds_alternative<TokenClaims>(checked));
  // Two connections that both checked it: the first to consume wins, the other is a replay.
  EXPECT_FALSE(verifier.consume(std::get<TokenClaims>(checked), t0 + 2s));
  EXPECT_EQ(verifier.consume(std::get<TokenClaims>(checked), t0 + 2s), TokenError::replayed);
  // Once used, check() already refuses it.
  EXPECT_EQ(error_of(verifier.check(token, client, t0 + 3s)), TokenError::replayed);
}

TEST_F(Tokens, RefusedTokenDoesNotUseUpItsJti) {
  auto r = request();
  r.source = cidr("198.51.100.0/24");
  const auto token = issue(ed, r);
  EXPECT_EQ(error_of(verifier.verify(token, client, t0)), TokenError::wrong_source);
  EXPECT_TRUE(std::holds_alternative<TokenClaims>(verifier.verify(token, ip("198.51.100.9"), t0)));
}

TEST_F(Tokens, WrongSourceV4AndV6) {
  auto r = request();
  r.source = cidr("2001:db8::/32");
  EXPECT_EQ(error_of(verifier.verify(issue(hs, r), client, t0)), TokenError::wrong_source);
  EXPECT_TRUE(
      std::holds_alternative<TokenClaims>(verifier.verify(issue(hs, r), ip("2001:db8::1"), t0)));
  r.source = cidr("203.0.113.8/32");
  EXPECT_EQ(error_of(verifier.verify(issue(hs, r), client, t0)), TokenError::wrong_source);
}

TEST_F(Tokens, LifetimeTooLong) {
  auto r = request();
  r.expires = t0 + 24h + 1s;
  EXPECT_EQ(error_of(verifier.verify(issue(hs, r), client, t0)), TokenError::lifetime_too_long);
  r.expires = t0 + 24h;
  EXPECT_TRUE(std::holds_alternative<TokenClaims>(verifier.verify(issue(hs, r), client, t0)));
  // Without nbf or iat the lifetime counts from now.
  const std::string far = raw_jws(
      hs, header_for(hs),
      R"({"route":"r","jti":"far","exp":)" + std::to_string(1'700'000'000 + 25 * 3600) + "}");
  EXPECT_EQ(error_of(verifier.verify(far, client, t0)), TokenError::lifetime_too_long);
}

TEST_F(Tokens, MalformedSegments) {
  const auto token = issue(hs, request());
  const auto dot1 = token.find('.');
  const auto dot2 = token.rfind('.');
  // Each base64 segment broken in turn, by a character outside base64url.
  for (const std::size_t at : {std::size_t{1}, dot1 + 2, dot2 + 2}) {
    std::string broken = token;
    broken[at] = '!';
    EXPECT_EQ(error_of(verifier.verify(broken, client, t0)), TokenError::malformed) << at;
  }
  EXPECT_EQ(error_of(verifier.verify(token + "=", client, t0)), TokenError::malformed);
  EXPECT_EQ(error_of(verifier.verify(token.substr(0, dot2), client, t0)), TokenError::malformed);
  EXPECT_EQ(error_of(verifier.verify(token + ".AAAA", client, t0)), TokenError::malformed);
  EXPECT_EQ(error_of(verifier.verify(token.substr(0, dot2 + 1), client, t0)),
            TokenError::malformed);  // empty signature
  EXPECT_EQ(error_of(verifier.verify("", client, t0)), TokenError::malformed);
  EXPECT_EQ(error_of(verifier.verify("..", client, t0)), TokenError::malformed);
  EXPECT_EQ(error_of(verifier.verify(std::string(9000, 'A'), client, t0)), TokenError::malformed);
  // A header that is not a JSON object.
  EXPECT_EQ(error_of(verifier.verify(base64url_encode("[1]") + token.substr(dot1), client, t0)),
            TokenError::malformed);
  EXPECT_EQ(error_of(verifier.verify(base64url_encode("{") + token.substr(dot1), client, t0)),
            TokenError::malformed);
  // A header with extensions we do not understand (RFC 7515 §4.1.11).
  EXPECT_EQ(
      error_of(verifier.verify(raw_jws(hs, R"({"alg":"HS256","kid":"k-hs","crit":["x"],"x":1})",
                                       R"({"route":"r","jti":"c","exp":1700003600})"),
                               client, t0)),
      TokenError::malformed);
}

TEST_F(Tokens, MalformedOrMissingClaims) {
  const std::string header = header_for(ed);
  const char* payloads[] = {
      R"({"jti":"a","exp":1700003600})",                                     // no route
      R"({"route":"r","exp":1700003600})",                                   // no jti
      R"({"route":"r","jti":"a"})",                                          // no exp
      R"({"route":"r","jti":"a","exp":"1700003600"})",                       // exp as a string
      R"({"route":"r","jti":"a","exp":-5})",                                 // before 1970
      R"({"route":"r","jti":"a","exp":1e300})",                              // out of range
      R"({"route":"r","jti":"a","exp":1700003600,"nbf":true})",              // nbf not a number
      R"({"route":"","jti":"a","exp":1700003600})",                          // empty route
      R"({"route":"r","jti":7,"exp":1700003600})",                           // jti not a string
      R"({"route":"r","jti":"a","exp":1700003600,"src":"x"})",               // src not a CIDR
      R"({"route":"r","jti":"a","exp":1700003600,"src":"203.0.113.7/24"})",  // host bits
      R"({"route":"r","jti":"a","exp":1700003600,"sub":null})",              // sub not a string
      R"(["route","r"])",                                                    // not an object
      R"({"route":"r","jti":"a","exp":1700003600)",                          // truncated JSON
  };
  for (const char* payload : payloads) {
    EXPECT_EQ(error_of(verifier.verify(raw_jws(ed, header, payload), client, t0)),
              TokenError::malformed)
        << payload;
  }
  // The same shape with everything present is accepted (the cases above fail for their reason).
  EXPECT_TRUE(std::holds_alternative<TokenClaims>(verifier.verify(
      raw_jws(ed, header, R"({"route":"r","jti":"ok","exp":1700003600.9,"nbf":1700000000})"),
      client, t0)));
}

// A secret as an operator should write it: readable by its owner only.
void write_secret(const std::string& path, const std::string& text) {
  std::ofstream{path} << text;
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(TokenVerifierCreate, LoadsKeysFromFilesAndEnvironment) {
  test::TempDir tmp;
  const auto pair = generate_ed25519_key();
  ASSERT_TRUE(pair);
  std::ofstream{tmp.sub("ed.pub")} << public_key_pem(pair.get());  // public: may stay 0644
  write_secret(tmp.sub("ed.key"), private_key_pem(pair.get()));
  write_secret(tmp.sub("hs.secret"), secret + "\n");
  ::setenv("RDPGATE_TEST_TOKEN_SECRET", secret.c_str(), 1);

  config::TokensConfig config;
  config.keys.push_back({"file", config::TokenAlgorithm::hs256, tmp.sub("hs.secret"), "", "", ""});
  config.keys.push_back(
      {"env", config::TokenAlgorithm::hs256, "", "RDPGATE_TEST_TOKEN_SECRET", "", ""});
  config.keys.push_back({"ed", config::TokenAlgorithm::eddsa, "", "", tmp.sub("ed.pub"), ""});
  auto created = TokenVerifier::create(config);
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<TokenVerifier>>(created))
      << std::get<std::string>(created);
  auto& verifier = *std::get<std::unique_ptr<TokenVerifier>>(created);

  // Issue with keys loaded for signing, as `rdpgate token issue` does.
  auto signing = config.keys[2];
  signing.private_key_file = tmp.sub("ed.key");
  for (const auto& key : {config.keys[0], config.keys[1], signing}) {
    auto loaded = load_token_key(key, /*for_signing=*/true);
    ASSERT_TRUE(std::holds_alternative<TokenKeyMaterial>(loaded)) << std::get<std::string>(loaded);
    const auto token = issue(std::get<TokenKeyMaterial>(loaded), request());
    const auto result = verifier.verify(token, ip("192.0.2.1"), t0);
    ASSERT_TRUE(std::holds_alternative<TokenClaims>(result))
        << key.id << ": " << token_to_string(std::get<TokenError>(result));
    EXPECT_EQ(std::get<TokenClaims>(result).kid, key.id);
  }
  // A public key cannot sign.
  auto public_only = load_token_key(config.keys[2], /*for_signing=*/true);
  ASSERT_TRUE(std::holds_alternative<std::string>(public_only));
  EXPECT_NE(std::get<std::string>(public_only).find("private_key_file"), std::string::npos);
  ::unsetenv("RDPGATE_TEST_TOKEN_SECRET");
}

// A secret from `head -c 32 /dev/urandom` ends in a 0x0a byte once in 256: it is key material,
// not a line, and is kept whole. Only a text secret (`openssl rand -hex 32 > file`) loses the
// newline its writer added.
TEST(TokenVerifierCreate, BinarySecretKeepsATrailingNewlineByte) {
  test::TempDir tmp;
  std::string binary;
  for (int i = 0; i < 31; ++i) binary.push_back(static_cast<char>(0x80 + i * 3));
  binary.push_back('\n');
  write_secret(tmp.sub("binary"), binary);
  write_secret(tmp.sub("text"), std::string(64, 'a') + "\r\n");
  auto loaded = load_token_key({"b", config::TokenAlgorithm::hs256, tmp.sub("binary"), "", "", ""},
                               /*for_signing=*/true);
  ASSERT_TRUE(std::holds_alternative<TokenKeyMaterial>(loaded)) << std::get<std::string>(loaded);
  EXPECT_EQ(std::get<TokenKeyMaterial>(loaded).secret, binary);
  loaded = load_token_key({"t", config::TokenAlgorithm::hs256, tmp.sub("text"), "", "", ""},
                          /*for_signing=*/true);
  ASSERT_TRUE(std::holds_alternative<TokenKeyMaterial>(loaded)) << std::get<std::string>(loaded);
  EXPECT_EQ(std::get<TokenKeyMaterial>(loaded).secret, std::string(64, 'a'));
}

TEST(TokenVerifierCreate, ClearErrors) {
  test::TempDir tmp;
  write_secret(tmp.sub("short"), "too short\n");
  std::ofstream{tmp.sub("not.pem")} << "hello";
  const auto rsa_free_pem = public_key_pem(generate_ed25519_key().get());
  auto error_for = [](config::TokenKey key) {
    config::TokensConfig config;
    config.keys.push_back(std::move(key));
    auto created = TokenVerifier::create(config);
    return std::holds_alternative<std::string>(created) ? std::get<std::string>(created)
                                                        : std::string{"accepted"};
  };
  auto e = error_for({"k1", config::TokenAlgorithm::hs256, tmp.sub("missing"), "", "", ""});
  EXPECT_NE(e.find("token key \"k1\": secret_file"), std::string::npos) << e;
  EXPECT_NE(e.find("No such file"), std::string::npos) << e;
  e = error_for({"k2", config::TokenAlgorithm::hs256, tmp.sub("short"), "", "", ""});
  EXPECT_NE(e.find("at least 32"), std::string::npos) << e;
  e = error_for({"k3", config::TokenAlgorithm::hs256, "", "RDPGATE_TEST_UNSET_VARIABLE", "", ""});
  EXPECT_NE(e.find("RDPGATE_TEST_UNSET_VARIABLE is not set"), std::string::npos) << e;
  e = error_for({"k4", config::TokenAlgorithm::eddsa, "", "", tmp.sub("not.pem"), ""});
  EXPECT_NE(e.find("not a PEM public key"), std::string::npos) << e;
  e = error_for({"k5", config::TokenAlgorithm::eddsa, "", "", "", ""});
  EXPECT_NE(e.find("needs public_key_file"), std::string::npos) << e;
  EXPECT_FALSE(rsa_free_pem.empty());
}

// Secret files that others may read are refused, as ssh refuses an unprotected private key;
// the error names the key, the file and its mode. Public keys may be world-readable.
TEST(TokenVerifierCreate, RefusesSecretFilesOthersMayRead) {
  namespace fs = std::filesystem;
  test::TempDir tmp;
  const auto pair = generate_ed25519_key();
  ASSERT_TRUE(pair);
  write_secret(tmp.sub("hs.secret"), secret + "\n");
  write_secret(tmp.sub("ed.key"), private_key_pem(pair.get()));
  std::ofstream{tmp.sub("ed.pub")} << public_key_pem(pair.get());
  fs::permissions(tmp.sub("ed.pub"), fs::perms::owner_read | fs::perms::owner_write |
                                         fs::perms::group_read | fs::perms::others_read);
  const config::TokenKey hs{"k-hs", config::TokenAlgorithm::hs256, tmp.sub("hs.secret"), "", "",
                            ""};
  const config::TokenKey ed{
      "k-ed", config::TokenAlgorithm::eddsa, "", "", tmp.sub("ed.pub"), tmp.sub("ed.key")};
  auto error_for = [](const config::TokenKey& key, bool for_signing = false) {
    auto loaded = load_token_key(key, for_signing);
    return std::holds_alternative<std::string>(loaded) ? std::get<std::string>(loaded)
                                                       : std::string{"accepted"};
  };
  EXPECT_EQ(error_for(hs), "accepted");
  EXPECT_EQ(error_for(ed), "accepted");  // 0644 public key, 0600 private key

  fs::permissions(tmp.sub("hs.secret"), fs::perms::others_read, fs::perm_options::add);
  EXPECT_EQ(error_for(hs), "token key \"k-hs\": secret_file \"" + tmp.sub("hs.secret") +
                               "\": permissions 0604 are too open: group or others may read it "
                               "(chmod 600; root-owned 0640 is accepted)");
  // A private key is a secret even when only verifying with the public key beside it.
  fs::permissions(tmp.sub("ed.key"), fs::perms::group_read | fs::perms::others_read,
                  fs::perm_options::add);
  for (const bool signing : {false, true}) {
    const auto e = error_for(ed, signing);
    EXPECT_NE(e.find("token key \"k-ed\": private_key_file \"" + tmp.sub("ed.key") + "\""),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("permissions 0644 are too open"), std::string::npos) << e;
  }
  config::TokensConfig config;
  config.keys.push_back(hs);
  auto created = TokenVerifier::create(config);
  ASSERT_TRUE(std::holds_alternative<std::string>(created));
  EXPECT_NE(std::get<std::string>(created).find("0604"), std::string::npos);
}

// The mode rule itself: nothing for others; for the group, read only and only when root owns
// the file (root:rdpgate 0640, a Kubernetes Secret volume's 0440 with fsGroup).
TEST(SecretFile, ModeRule) {
  const unsigned user = 1000;
  const unsigned root = 0;
  for (const unsigned ok : {0600U, 0400U, 0700U}) {
    EXPECT_FALSE(secret_mode_error(ok, user)) << std::oct << ok;
    EXPECT_FALSE(secret_mode_error(ok, root)) << std::oct << ok;
  }
  EXPECT_FALSE(secret_mode_error(0640, root));
  EXPECT_FALSE(secret_mode_error(0440, root));
  EXPECT_TRUE(secret_mode_error(0640, user));
  EXPECT_TRUE(secret_mode_error(0660, root));  // group write
  EXPECT_TRUE(secret_mode_error(0650, root));
  for (const unsigned loose : {0644U, 0604U, 0602U, 0601U, 0666U, 0777U}) {
    EXPECT_TRUE(secret_mode_error(loose, user)) << std::oct << loose;
    EXPECT_TRUE(secret_mode_error(loose, root)) << std::oct << loose;
  }
  EXPECT_EQ(secret_mode_error(0100644, user).value_or(""),
            "permissions 0644 are too open: group or others may read it (chmod 600; root-owned "
            "0640 is accepted)");
}

TEST(TokenReplay, SurvivesRestartThroughTheStore) {
  test::TempDir tmp;
  const auto key = hs_key();
  const auto token = issue(key, request());
  {
    state::StateHealth health;
    auto opened = state::StateStore::open(tmp.path(), &health);
    ASSERT_TRUE(std::holds_alternative<std::unique_ptr<state::StateStore>>(opened));
    auto store = std::move(std::get<std::unique_ptr<state::StateStore>>(opened));
    TokenVerifier verifier{{key}, 30s, 24h, std::make_shared<ReplayCache>(store.get())};
    EXPECT_TRUE(std::holds_alternative<TokenClaims>(verifier.verify(token, ip("192.0.2.1"), t0)));
    EXPECT_EQ(health.snapshot().failures, 0U);
    const auto rows = store->load_replays();
    ASSERT_EQ(rows.size(), 1U);
    EXPECT_EQ(rows[0].expires, t0 + 1h + 30s);  // exp + skew
  }
  auto opened = state::StateStore::open(tmp.path());
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<state::StateStore>>(opened));
  auto store = std::move(std::get<std::unique_ptr<state::StateStore>>(opened));
  TokenVerifier verifier{{key}, 30s, 24h, std::make_shared<ReplayCache>(store.get())};
  EXPECT_EQ(error_of(verifier.verify(token, ip("192.0.2.1"), t0 + 1min)), TokenError::replayed);
}

TEST(TokenReplay, CacheIsBoundedAndFailsClosed) {
  using Use = ReplayCache::Use;
  ReplayCache cache{nullptr, 3};
  EXPECT_EQ(cache.first_use("a", t0 + 1min, t0), Use::first);
  EXPECT_EQ(cache.first_use("b", t0 + 1min, t0), Use::first);
  EXPECT_EQ(cache.first_use("c", t0 + 2min, t0), Use::first);
  EXPECT_EQ(cache.first_use("d", t0 + 1min, t0), Use::full);  // full of live entries
  EXPECT_EQ(cache.first_use("a", t0 + 1min, t0), Use::replayed);
  EXPECT_EQ(cache.first_use("d", t0 + 5min, t0 + 1min), Use::first);  // a, b expired: room
  EXPECT_EQ(cache.size(), 2U);
  EXPECT_TRUE(cache.contains("c", t0 + 1min));
  EXPECT_FALSE(cache.contains("a", t0 + 1min));
}

// With a fleet (state.redis) the shared answer decides after the local reservation: another
// instance's use is a replay here too; an unreachable fleet refuses and forgets the jti, so the
// same token passes once the fleet answers again.
TEST(TokenReplay, TheFleetsAnswerDecides) {
  using Use = ReplayCache::Use;
  using Fleet = ReplayCache::Fleet;
  ReplayCache cache;
  Fleet next = Fleet::replayed;
  std::vector<std::string> asked;
  cache.share(
      [&](const std::string& jti, ReplayCache::TimePoint, std::function<void(Fleet)> answer) {
        asked.push_back(jti);
        answer(next);
      });
  EXPECT_EQ(cache.first_use("used-on-b", t0 + 1min, t0), Use::replayed);
  EXPECT_EQ(cache.first_use("used-on-b", t0 + 1min, t0), Use::replayed);
  EXPECT_EQ(asked.size(), 1U) << "a replay known here was asked of the fleet again";
  next = Fleet::unavailable;
  EXPECT_EQ(cache.first_use("new", t0 + 1min, t0), Use::unavailable);
  EXPECT_FALSE(cache.contains("new", t0));
  next = Fleet::first;
  EXPECT_EQ(cache.first_use("new", t0 + 1min, t0), Use::first);
  EXPECT_EQ(cache.first_use("new", t0 + 1min, t0), Use::replayed);
}

// A use the store could not write is refused: after a restart the jti would be forgotten and
// the token could pass again. The token is not used up: once the store writes again it
// passes, once. (The write fails because its table was dropped behind the store's back, which
// even root cannot write through.)
TEST(TokenReplay, FailedStoreWriteRefusesTheToken) {
  test::TempDir tmp;
  const auto key = hs_key();
  const auto token = issue(key, request());
  state::StateHealth health;
  auto opened = state::StateStore::open(tmp.path(), &health);
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<state::StateStore>>(opened));
  auto store = std::move(std::get<std::unique_ptr<state::StateStore>>(opened));
  TokenVerifier verifier{{key}, 30s, 24h, std::make_shared<ReplayCache>(store.get())};

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((tmp.path() + "/rdpgate.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "DROP TABLE replay_cache", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_EQ(error_of(verifier.verify(token, ip("192.0.2.1"), t0)), TokenError::replay_not_recorded);
  EXPECT_EQ(token_to_string(TokenError::replay_not_recorded), "replay_not_recorded");
  EXPECT_EQ(health.snapshot().failures, 1U);
  EXPECT_EQ(verifier.replay_cache()->size(), 0U);

  ASSERT_EQ(sqlite3_exec(other,
                         "CREATE TABLE replay_cache (jti TEXT PRIMARY KEY, expires INTEGER "
                         "NOT NULL)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(other);
  EXPECT_TRUE(std::holds_alternative<TokenClaims>(verifier.verify(token, ip("192.0.2.1"), t0)));
  EXPECT_EQ(error_of(verifier.verify(token, ip("192.0.2.1"), t0)), TokenError::replayed);
  EXPECT_EQ(store->load_replays().size(), 1U);
}

}  // namespace
}  // namespace rdpgate::security
