// TLS ClientHello peek (RFC 8446 §4.1.2, §5.1; rdp-preauth-protocol.md §9).
#include "rdpgate/protocol/tls.hpp"

#include "client_hello.hpp"

namespace rdpgate::protocol::test {
namespace {

const Limits limits{};
ParseResult<ClientHelloInfo> peek(std::span<const std::byte> b) { return peek_client_hello(b, limits); }

TEST(ClientHello, Fields) {
  const auto bytes = client_hello();
  const auto& c = complete(peek(bytes));
  EXPECT_EQ(c.consumed, bytes.size());
  EXPECT_EQ(c.pdu.record_version, 0x0301);
  EXPECT_EQ(c.pdu.handshake_type, 1);
  EXPECT_EQ(c.pdu.legacy_version, 0x0303);
  EXPECT_EQ(c.pdu.sni, "rdp.example.test");
  ASSERT_EQ(c.pdu.supported_versions_count, 2);
  EXPECT_EQ(c.pdu.supported_versions[0], 0x0304);
  EXPECT_EQ(c.pdu.supported_versions[1], 0x0303);
  EXPECT_FALSE(c.pdu.fragmented);
}

TEST(ClientHello, NoSniNoVersions) {
  const auto bytes = client_hello({.sni = "", .versions = {}});
  const auto& c = complete(peek(bytes));
  EXPECT_TRUE(c.pdu.sni.empty());
  EXPECT_EQ(c.pdu.supported_versions_count, 0);
}

TEST(ClientHello, KeepsAtMostEightVersions) {
  const auto bytes = client_hello({.versions = {0x0a0a, 1, 2, 3, 4, 5, 6, 7, 8, 9}});
  const auto& c = complete(peek(bytes));
  EXPECT_EQ(c.pdu.supported_versions_count, 8);
  EXPECT_EQ(c.pdu.supported_versions[0], 0x0a0a);  // GREASE kept as sent
  EXPECT_EQ(c.pdu.supported_versions[7], 7);
}

TEST(ClientHello, FragmentedHandshake) {
  // The handshake claims more bytes than this record holds: it continues in the next record.
  const auto bytes = client_hello({.extra_handshake_length = 100});
  const auto& c = complete(peek(bytes));
  EXPECT_TRUE(c.pdu.fragmented);
  EXPECT_EQ(c.pdu.sni, "rdp.example.test");
  EXPECT_EQ(c.consumed, bytes.size());
}

TEST(ClientHello, EverySplit) {
  grind<ClientHelloInfo>(client_hello(), peek);
  grind<ClientHelloInfo>(client_hello({.sni = "", .session_id = 0}), peek);
}

TEST(ClientHello, OnlyTheFirstRecord) {
  auto bytes = client_hello();
  const auto size = bytes.size();
  bytes.push_back(std::byte{0x17});
  EXPECT_EQ(complete(peek(bytes)).consumed, size);
}

TEST(ClientHello, Malformations) {
  EXPECT_TRUE(is_invalid_at(peek(hex("17 03 03 00 10")), errc::bad_tls_record_type, 0));
  EXPECT_TRUE(is_invalid_at(peek(hex("16 02")), errc::bad_tls_record_version, 1));
  // Record longer than 2^14, refused from its high length byte.
  EXPECT_TRUE(is_invalid_at(peek(hex("16 03 01 41")), errc::bad_tls_record_length, 3));
  EXPECT_TRUE(is_invalid_at(peek(hex("16 03 01 40 01")), errc::bad_tls_record_length, 3));
  EXPECT_TRUE(is_invalid_at(peek(hex("16 03 01 00 00")), errc::bad_tls_record_length, 3));
  // A smaller configured cap.
  Limits small;
  small.max_tls_record = 5 + 64;
  EXPECT_TRUE(is_invalid_at(peek_client_hello(client_hello(), small), errc::bad_tls_record_length, 3));
  // Not a client_hello (a ServerHello), refused at byte 5.
  EXPECT_TRUE(is_invalid_at(peek(hex("16 03 03 00 40 02")), errc::bad_tls_handshake_type, 5));
  // session_id longer than 32.
  auto b = client_hello({.session_id = 33});
  EXPECT_TRUE(is_invalid_at(peek(b), errc::bad_tls_client_hello, 5 + 4 + 2 + 32));
  // Extensions block length that does not match the handshake.
  b = client_hello({.sni = "", .versions = {}});
  const std::size_t ext_len_at = b.size() - 10;  // supported_groups is the only extension (8 bytes)
  b[ext_len_at + 1] = std::byte{0x09};
  EXPECT_TRUE(is_invalid_at(peek(b), errc::bad_tls_client_hello, ext_len_at));
  // A handshake that ends inside the random.
  b = hex("16 03 01 00 08 01 00 00 04 03 03 00 00");
  EXPECT_TRUE(is_invalid_at(peek(b), errc::bad_tls_client_hello, 11));
  // A server_name extension whose list length disagrees with the extension length.
  b = client_hello({.versions = {}});
  b[5 + 4 + 2 + 32 + 1 + 32 + 2 + 4 + 2 + 2 + 4 + 1] ^= std::byte{0x01};
  EXPECT_TRUE(is_invalid(peek(b)));
}

}  // namespace
}  // namespace rdpgate::protocol::test
