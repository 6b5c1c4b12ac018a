#include "rdpgate/portal/totp.hpp"

#include <gtest/gtest.h>

namespace rdpgate::portal {
namespace {

using std::chrono::seconds;
using TimePoint = std::chrono::system_clock::time_point;

// RFC 6238 Appendix B: the SHA-1 seed "12345678901234567890", 8 digits.
const std::vector<std::uint8_t> rfc_secret{'1', '2', '3', '4', '5', '6', '7', '8', '9', '0',
                                           '1', '2', '3', '4', '5', '6', '7', '8', '9', '0'};

TEST(Totp, Rfc6238Vectors) {
  const std::pair<std::int64_t, const char*> vectors[] = {
      {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
      {1234567890, "89005924"}, {2000000000, "69279037"}};
  for (const auto& [t, code] : vectors) {
    EXPECT_EQ(hotp(rfc_secret, totp_counter(TimePoint{seconds{t}}), 8), code) << t;
  }
  // T = 20000000000 is beyond system_clock's nanosecond range: its counter, T / 30, directly.
  EXPECT_EQ(hotp(rfc_secret, 20000000000 / 30, 8), "65353130");
}

TEST(Totp, Rfc4226Vectors) {
  // RFC 4226 Appendix D, 6 digits, counters 0..3.
  EXPECT_EQ(hotp(rfc_secret, 0), "755224");
  EXPECT_EQ(hotp(rfc_secret, 1), "287082");
  EXPECT_EQ(hotp(rfc_secret, 2), "359152");
  EXPECT_EQ(hotp(rfc_secret, 3), "969429");
}

TEST(Totp, MatchAcceptsOneStepOfDriftOnly) {
  const TimePoint now{seconds{1'700'000'000}};
  const auto secret = new_totp_secret();
  EXPECT_EQ(totp_match(secret, totp(secret, now), now), totp_counter(now));
  EXPECT_TRUE(totp_match(secret, totp(secret, now - seconds{30}), now));
  EXPECT_TRUE(totp_match(secret, totp(secret, now + seconds{30}), now));
  EXPECT_FALSE(totp_match(secret, totp(secret, now - seconds{90}), now));  // expired
  EXPECT_FALSE(totp_match(secret, totp(secret, now + seconds{90}), now));
  EXPECT_FALSE(totp_match(secret, "", now));
  EXPECT_FALSE(totp_match(secret, "12345", now));
}

TEST(Base32, RoundTripAndRfc4648Vectors) {
  const std::string foobar = "foobar";
  EXPECT_EQ(base32_encode({foobar.begin(), foobar.end()}), "MZXW6YTBOI");
  EXPECT_EQ(base32_encode({'f'}), "MY");
  const auto decoded = base32_decode("mzxw6ytboi======");
  ASSERT_TRUE(decoded);
  EXPECT_EQ(std::string(decoded->begin(), decoded->end()), "foobar");
  EXPECT_FALSE(base32_decode("MZXW1"));  // '1' is not in the alphabet
  const auto secret = new_totp_secret();
  EXPECT_EQ(base32_decode(base32_encode(secret)), secret);
}

TEST(Totp, OtpauthUri) {
  const std::vector<std::uint8_t> secret{'H', 'e', 'l', 'l', 'o', '!', 0xDE, 0xAD, 0xBE, 0xEF};
  EXPECT_EQ(otpauth_uri("rdpgate", "alice b", secret),
            "otpauth://totp/rdpgate:alice%20b?secret=JBSWY3DPEHPK3PXP&issuer=rdpgate&"
            "algorithm=SHA1&digits=6&period=30");
}

TEST(ConstantTime, Equality) {
  EXPECT_TRUE(equal_constant_time("abc", "abc"));
  EXPECT_FALSE(equal_constant_time("abc", "abd"));
  EXPECT_FALSE(equal_constant_time("abc", "abcd"));
  EXPECT_FALSE(equal_constant_time("", "a"));
}

}  // namespace
}  // namespace rdpgate::portal
