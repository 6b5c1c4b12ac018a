// HAProxy PROXY protocol v1 and v2 headers (haproxy doc/proxy-protocol.txt §2.1, §2.2).
#include "rdpgate/protocol/proxy_protocol.hpp"

#include "test_support.hpp"

namespace rdpgate::protocol::test {
namespace {

ParseResult<ProxyHeader> proxy(std::span<const std::byte> b) { return parse_proxy_header(b); }

TEST(ProxyV1, Tcp4) {
  const auto b = concat({ascii("PROXY TCP4 192.0.2.10 10.0.0.1 51234 3389\r\n"), hex("03 00")});
  const auto& c = complete(proxy(b));
  EXPECT_EQ(c.consumed, b.size() - 2);
  EXPECT_FALSE(c.pdu.local);
  EXPECT_FALSE(c.pdu.ipv6);
  EXPECT_EQ(c.pdu.source[0], 192);
  EXPECT_EQ(c.pdu.source[3], 10);
  EXPECT_EQ(c.pdu.destination[0], 10);
  EXPECT_EQ(c.pdu.destination[3], 1);
  EXPECT_EQ(c.pdu.source_port, 51234);
  EXPECT_EQ(c.pdu.destination_port, 3389);
  grind<ProxyHeader>(ascii("PROXY TCP4 192.0.2.10 10.0.0.1 51234 3389\r\n"), proxy);
}

TEST(ProxyV1, Tcp6AndUnknown) {
  const auto& c = complete(proxy(ascii("PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1 65535\r\n")));
  EXPECT_TRUE(c.pdu.ipv6);
  EXPECT_EQ(c.pdu.source[0], 0x20);
  EXPECT_EQ(c.pdu.source[1], 0x01);
  EXPECT_EQ(c.pdu.source[2], 0x0d);
  EXPECT_EQ(c.pdu.source[3], 0xb8);
  EXPECT_EQ(c.pdu.source[15], 1);
  EXPECT_EQ(c.pdu.destination[10], 0xff);
  EXPECT_EQ(c.pdu.destination[12], 10);
  EXPECT_EQ(c.pdu.destination[15], 1);
  EXPECT_EQ(c.pdu.destination_port, 65535);
  const auto& u = complete(proxy(ascii("PROXY UNKNOWN whatever\r\n")));
  EXPECT_TRUE(u.pdu.local);
  EXPECT_EQ(u.consumed, 24u);
  EXPECT_TRUE(complete(proxy(ascii("PROXY TCP6 1:2:3:4:5:6:7:8 :: 1 2\r\n"))).pdu.ipv6);
}

TEST(ProxyV1, Malformations) {
  for (const auto* line :
       {"PROXY TCP4 256.0.0.1 10.0.0.1 1 2\r\n", "PROXY TCP4 1.2.3 10.0.0.1 1 2\r\n",
        "PROXY TCP4 1.2.3.4 10.0.0.1 1 65536\r\n", "PROXY TCP4 1.2.3.4 10.0.0.1 1\r\n",
        "PROXY TCP4 1.2.3.4 10.0.0.1 1 2 3\r\n", "PROXY UDP4 1.2.3.4 10.0.0.1 1 2\r\n",
        "PROXY TCP6 1::2::3 ::1 1 2\r\n", "PROXY TCP6 12345::1 ::1 1 2\r\n",
        "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", "PROXY TCP4 1.2.3.4 10.0.0.1 -1 2\r\n"}) {
    EXPECT_TRUE(is_invalid(proxy(ascii(line)))) << line;
  }
  EXPECT_TRUE(is_invalid_at(proxy(ascii("PROXY TCP4 1.2.3.4\x01")), errc::bad_proxy_header, 18));
  EXPECT_TRUE(is_invalid_at(proxy(ascii("PROXY TCP4 1.2.3.4\rX")), errc::bad_proxy_header, 19));
  EXPECT_TRUE(is_invalid_at(proxy(ascii("PROXI")), errc::bad_proxy_header, 4));
  EXPECT_TRUE(is_invalid_at(proxy(hex("03 00 00 13")), errc::bad_proxy_header, 0));
  // No CRLF within 107 bytes: refused, never waits for more.
  const auto long_line = ascii("PROXY TCP4 " + std::string(200, '1'));
  EXPECT_TRUE(is_invalid_at(proxy(long_line), errc::bad_proxy_header, 106));
  EXPECT_TRUE(is_need_more(proxy(ascii("PROXY TCP4 1.2.3.4"))));
}

const Bytes v2_sig = hex("0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a");

TEST(ProxyV2, Ipv4WithTlv) {
  const auto b = concat({v2_sig, hex(
      "21"              // version 2, PROXY
      "11"              // AF_INET, STREAM
      "00 0f"           // length 15 = 12 + a 3-byte TLV
      "c0 00 02 0a"     // source 192.0.2.10
      "0a 00 00 01"     // destination 10.0.0.1
      "c8 22"           // source port 51234
      "0d 3d"           // destination port 3389
      "04 00 00")});    // PP2_TYPE_NOOP, empty: skipped
  const auto& c = complete(proxy(b));
  EXPECT_EQ(c.consumed, 31u);
  EXPECT_EQ(c.pdu.source[0], 192);
  EXPECT_EQ(c.pdu.destination[3], 1);
  EXPECT_EQ(c.pdu.source_port, 51234);
  EXPECT_EQ(c.pdu.destination_port, 3389);
  grind<ProxyHeader>(b, proxy);
}

TEST(ProxyV2, Ipv6AndLocal) {
  Bytes addr = hex("21 21 00 24");  // PROXY, AF_INET6 STREAM, length 36
  for (int i = 0; i < 16; ++i) addr.push_back(static_cast<std::byte>(0x20 + i));
  for (int i = 0; i < 16; ++i) addr.push_back(static_cast<std::byte>(0x40 + i));
  addr.insert(addr.end(), {std::byte{0}, std::byte{1}, std::byte{0x0d}, std::byte{0x3d}});
  const auto b = concat({v2_sig, addr});
  const auto& c = complete(proxy(b));
  EXPECT_TRUE(c.pdu.ipv6);
  EXPECT_EQ(c.pdu.source[15], 0x2f);
  EXPECT_EQ(c.pdu.destination[0], 0x40);
  EXPECT_EQ(c.pdu.source_port, 1);
  const auto& l = complete(proxy(concat({v2_sig, hex("20 00 00 00")})));
  EXPECT_TRUE(l.pdu.local);
  EXPECT_EQ(l.consumed, 16u);
  // PROXY with AF_UNSPEC: addresses unknown, use the real peer.
  EXPECT_TRUE(complete(proxy(concat({v2_sig, hex("21 00 00 00")}))).pdu.local);
}

TEST(ProxyV2, Malformations) {
  EXPECT_TRUE(is_invalid_at(proxy(concat({v2_sig, hex("11")})), errc::bad_proxy_header, 12));
  EXPECT_TRUE(is_invalid_at(proxy(concat({v2_sig, hex("22")})), errc::bad_proxy_header, 12));
  EXPECT_TRUE(is_invalid_at(proxy(concat({v2_sig, hex("21 11 03")})), errc::bad_proxy_header, 14));
  EXPECT_TRUE(is_invalid_at(proxy(concat({v2_sig, hex("21 11 02 19")})), errc::bad_proxy_header, 14));
  EXPECT_TRUE(is_invalid_at(proxy(concat({v2_sig, hex("21 11 00 08")})), errc::bad_proxy_header, 14));
  EXPECT_TRUE(is_invalid_at(proxy(concat({v2_sig, hex("21 12 00 0c")})), errc::bad_proxy_header, 13));
  EXPECT_TRUE(is_invalid_at(proxy(concat({v2_sig, hex("21 31 00 0c")})), errc::bad_proxy_header, 13));
  EXPECT_TRUE(is_invalid_at(proxy(hex("0d 0a 0d 0a 01")), errc::bad_proxy_header, 4));
  EXPECT_TRUE(is_need_more(proxy(hex("0d 0a 0d"))));
  EXPECT_TRUE(is_need_more(proxy(concat({v2_sig, hex("21 11 00 0c c0")}))));
}

}  // namespace
}  // namespace rdpgate::protocol::test
