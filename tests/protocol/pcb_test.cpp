// [MS-RDPEPS] 2.2.1.1 / 2.2.1.2 Preconnection PDU, processed per 3.2.5.1 (rdp-preauth-protocol.md §3).
#include "rdpgate/protocol/pcb.hpp"

#include "test_support.hpp"

namespace rdpgate::protocol::test {
namespace {

const Limits limits{};
ParseResult<PreconnectionPdu> pcb(std::span<const std::byte> b) { return parse_preconnection_pdu(b, limits); }

const Bytes v1_id42 = hex(
    "10 00 00 00"    // cbSize 16
    "00 00 00 00"    // Flags
    "01 00 00 00"    // Version 1
    "2a 00 00 00");  // Id 42

const Bytes v2_empty = hex(
    "12 00 00 00"  // cbSize 18
    "00 00 00 00"  // Flags
    "02 00 00 00"  // Version 2
    "00 00 00 00"  // Id 0
    "00 00");      // cchPCB 0

const Bytes v2_vm01 = hex(
    "1e 00 00 00"  // cbSize 30 = 18 + 2 * 6
    "00 00 00 00"  // Flags
    "02 00 00 00"  // Version 2
    "00 00 00 00"  // Id
    "06 00"        // cchPCB 6: "vm-01" + NUL
    "76 00 6d 00 2d 00 30 00 31 00 00 00");  // wszPCB UTF-16LE

TEST(Preconnection, Version1) {
  const auto& c = complete(pcb(v1_id42));
  EXPECT_EQ(c.consumed, 16u);
  EXPECT_EQ(c.pdu.size, 16u);
  EXPECT_EQ(c.pdu.version, 1u);
  EXPECT_EQ(c.pdu.id, 42u);
  EXPECT_EQ(c.pdu.cch, 0);
  EXPECT_TRUE(c.pdu.blob.empty());
}

TEST(Preconnection, Version2) {
  const auto& e = complete(pcb(v2_empty));
  EXPECT_EQ(e.consumed, 18u);
  EXPECT_EQ(e.pdu.version, 2u);
  EXPECT_TRUE(e.pdu.blob.empty());
  const auto& c = complete(pcb(v2_vm01));
  EXPECT_EQ(c.consumed, 30u);
  EXPECT_EQ(c.pdu.cch, 6);
  EXPECT_EQ(c.pdu.blob, "vm-01");  // trailing NUL dropped
}

TEST(Preconnection, FlagsIgnored) {
  auto b = v1_id42;
  b[4] = std::byte{0xFF};
  const auto& c = complete(pcb(b));
  EXPECT_EQ(c.pdu.flags, 0xFFu);
}

TEST(Preconnection, Utf16ToUtf8) {
  // "é", "€", U+1F600 as a surrogate pair.
  const auto b = hex(
      "1a 00 00 00 00 00 00 00 02 00 00 00 07 00 00 00"  // cbSize 26, V2, Id 7
      "04 00"                                          // cchPCB 4
      "e9 00 ac 20 3d d8 00 de");                      // U+00E9 U+20AC D83D DE00
  const auto& c = complete(pcb(b));
  EXPECT_EQ(c.pdu.blob, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
}

TEST(Preconnection, TrailingBytesInsideCbSizeSkipped) {
  const auto b = hex(
      "1c 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00"  // cbSize 28
      "01 00 41 00"                                    // cchPCB 1: "A"
      "ff ff ff ff ff ff ff ff");                      // 8 bytes skipped (IronRDP does too)
  const auto& c = complete(pcb(b));
  EXPECT_EQ(c.consumed, 28u);
  EXPECT_EQ(c.pdu.blob, "A");
}

TEST(Preconnection, EverySplit) {
  for (const auto& b : {v1_id42, v2_empty, v2_vm01}) grind<PreconnectionPdu>(b, pcb);
}

TEST(Preconnection, ReadsExactlyCbSize) {
  auto b = v2_vm01;
  b.push_back(std::byte{0x03});
  EXPECT_EQ(complete(pcb(b)).consumed, 30u);
}

TEST(Preconnection, Malformations) {
  // cbSize below 16 and exactly 17 (3.2.5.1 SHOULD disconnect).
  EXPECT_TRUE(is_invalid_at(pcb(hex("0f 00 00 00")), errc::bad_pcb_size, 0));
  EXPECT_TRUE(is_invalid_at(pcb(hex("11 00 00 00")), errc::bad_pcb_size, 0));
  // Version 2 needs at least 18 bytes.
  EXPECT_TRUE(is_invalid_at(pcb(hex("10 00 00 00 00 00 00 00 02 00 00 00")), errc::bad_pcb_size, 0));
  // Version 1 with cbSize > 16.
  EXPECT_TRUE(is_invalid_at(pcb(hex("14 00 00 00 00 00 00 00 01 00 00 00")), errc::bad_pcb_version, 8));
  // Unknown version.
  EXPECT_TRUE(is_invalid_at(pcb(hex("10 00 00 00 00 00 00 00 03 00 00 00")), errc::bad_pcb_version, 8));
  // cbSize < 18 + 2 * cchPCB.
  EXPECT_TRUE(is_invalid_at(
      pcb(hex("14 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 02 00")), errc::bad_pcb_string_length,
      16));
  // Over the cap, refused from the first four bytes (no waiting for 64 KiB).
  EXPECT_TRUE(is_invalid_at(pcb(hex("01 10 00 00")), errc::pcb_too_large, 0));
  EXPECT_TRUE(is_invalid_at(pcb(hex("10 00 01 00")), errc::pcb_too_large, 0));
  Limits small;
  small.max_pcb = 20;
  EXPECT_TRUE(is_invalid_at(parse_preconnection_pdu(v2_vm01, small), errc::pcb_too_large, 0));
  // A lone high surrogate, a lone low surrogate, a high one followed by a non-surrogate.
  const auto base = hex("16 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 02 00");
  EXPECT_TRUE(is_invalid_at(pcb(concat({base, hex("41 00 3d d8")})), errc::bad_pcb_string, 20));
  EXPECT_TRUE(is_invalid_at(pcb(concat({base, hex("00 de 41 00")})), errc::bad_pcb_string, 18));
  EXPECT_TRUE(is_invalid_at(pcb(concat({base, hex("3d d8 41 00")})), errc::bad_pcb_string, 18));
}

TEST(Preconnection, LargestAllowed) {
  // cbSize == max_pcb with the longest string it can hold: bounded output.
  Limits l;
  l.max_pcb = 4096;
  const std::size_t cch = (4096 - 18) / 2;
  Bytes b = hex("00 10 00 00 00 00 00 00 02 00 00 00 00 00 00 00");
  b.push_back(static_cast<std::byte>(cch & 0xFF));
  b.push_back(static_cast<std::byte>(cch >> 8));
  for (std::size_t i = 0; i < cch; ++i) {
    b.push_back(std::byte{0xac});  // U+20AC: three UTF-8 bytes each
    b.push_back(std::byte{0x20});
  }
  const auto& c = complete(parse_preconnection_pdu(b, l));
  EXPECT_EQ(c.consumed, 4096u);
  EXPECT_EQ(c.pdu.blob.size(), cch * 3);
}

}  // namespace
}  // namespace rdpgate::protocol::test
