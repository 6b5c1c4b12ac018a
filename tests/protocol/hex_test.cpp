// protocol/hex.hpp: one digit each way, and bytes to lowercase hex.

#include "rdpgate/protocol/hex.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>

namespace rdpgate::protocol {
namespace {

TEST(Hex, EveryDigitRoundTrips) {
  for (unsigned v = 0; v < 16; ++v) {
    const char c = hex_digit(v);
    EXPECT_EQ(hex_value(c), static_cast<int>(v)) << c;
    EXPECT_FALSE(c >= 'A' && c <= 'F') << "lowercase only";
  }
  EXPECT_EQ(hex_digit(0x1F), 'f');  // only the low four bits count
  EXPECT_EQ(hex_value('G'), -1);
  EXPECT_EQ(hex_value('B'), 11);
}

TEST(Hex, AppendsTwoDigitsPerByteAfterWhatIsThere) {
  const std::array<std::uint8_t, 4> bytes{0x00, 0x0f, 0xa5, 0xff};
  std::string out = "id=";
  append_hex(out, bytes);
  EXPECT_EQ(out, "id=000fa5ff");
  append_hex(out, {});
  EXPECT_EQ(out, "id=000fa5ff");
}

}  // namespace
}  // namespace rdpgate::protocol
