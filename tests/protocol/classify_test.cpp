// Classification of the first bytes (rdp-preauth-protocol.md §2, SPEC "Classification").
#include "rdpgate/protocol/classify.hpp"

#include "test_support.hpp"

namespace rdpgate::protocol::test {
namespace {

const Limits limits{};

// The classification once decided, and the prefix length at which it was decided.
std::pair<FirstBytes, std::size_t> decide(const Bytes& b) {
  for (std::size_t n = 0; n <= b.size(); ++n) {
    const Bytes prefix(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n));
    const auto r = classify(prefix, limits);
    EXPECT_FALSE(is_invalid(r)) << "classify never answers Invalid";
    if (const auto* c = std::get_if<Complete<FirstBytes>>(&r)) {
      EXPECT_EQ(c->consumed, 0u);
      return {c->pdu, n};
    }
    const auto& more = std::get<NeedMore>(r);
    EXPECT_GT(more.total, n);
  }
  ADD_FAILURE() << "undecided after " << b.size() << " bytes";
  return {FirstBytes::other, 0};
}

TEST(Classify, Tpkt) {
  EXPECT_EQ(decide(hex("03 00 00 2b 26 e0")), std::make_pair(FirstBytes::tpkt, std::size_t{2}));
  // First byte 0x03 but not a PCB: a malformed TPKT (SPEC), decided once the PCB is ruled out.
  EXPECT_EQ(decide(hex("03 05 00 00 00 00 00 00 07 00 00 00")).first, FirstBytes::tpkt);
  EXPECT_EQ(decide(hex("03 ff")).first, FirstBytes::tpkt);
}

TEST(Classify, Preconnection) {
  EXPECT_EQ(decide(hex("12 00 00 00 00 00 00 00 02 00 00 00 7b 00")),
            std::make_pair(FirstBytes::preconnection, std::size_t{12}));
  EXPECT_EQ(decide(hex("10 00 00 00 00 00 00 00 01 00 00 00")).first, FirstBytes::preconnection);
  // cbSize 0x0103 = 259: low byte 0x03 but a PCB (§2).
  EXPECT_EQ(decide(hex("03 01 00 00 00 00 00 00 02 00 00 00")).first, FirstBytes::preconnection);
  // Version 3, cbSize too small, cbSize over the cap.
  EXPECT_EQ(decide(hex("12 00 00 00 00 00 00 00 03 00 00 00")).first, FirstBytes::other);
  EXPECT_EQ(decide(hex("0f 00 00 00")).first, FirstBytes::other);
  EXPECT_EQ(decide(hex("01 10 00 00")).first, FirstBytes::other);
}

TEST(Classify, Tls) {
  EXPECT_EQ(decide(hex("16 03 01 02 00 01")), std::make_pair(FirstBytes::tls, std::size_t{3}));
  EXPECT_EQ(decide(hex("16 03 03 00 c8 01")).first, FirstBytes::tls);
  EXPECT_EQ(decide(hex("16 02 01")).first, FirstBytes::other);
  // `16 03 00 00 ...` could be a PCB of 790 bytes: the Version field decides.
  EXPECT_EQ(decide(hex("16 03 00 00 00 00 00 00 02 00 00 00")).first, FirstBytes::preconnection);
  EXPECT_EQ(decide(hex("16 03 00 00 c8 01 03 03 00 00 00 00")).first, FirstBytes::tls);
}

TEST(Classify, NotRdp) {
  EXPECT_EQ(decide(ascii("GET / HTTP/1.1\r\n")), std::make_pair(FirstBytes::http, std::size_t{4}));
  EXPECT_EQ(decide(ascii("OPTIONS * HTTP/1.1")).first, FirstBytes::http);
  EXPECT_EQ(decide(ascii("CONNECT host:3389 HTTP/1.1")).first, FirstBytes::http);
  EXPECT_EQ(decide(ascii("PRI * HTTP/2.0")).first, FirstBytes::http);
  EXPECT_EQ(decide(ascii("SSH-2.0-OpenSSH_9.2\r\n")), std::make_pair(FirstBytes::ssh, std::size_t{4}));
  EXPECT_EQ(decide(ascii("GETX")).first, FirstBytes::other);
  EXPECT_EQ(decide(ascii("hello world!")).first, FirstBytes::other);
  EXPECT_EQ(decide(hex("80 2e 01 03 01")).first, FirstBytes::other);  // SSLv2-style hello
  EXPECT_EQ(decide(hex("00 00 00 00")).first, FirstBytes::other);
}

TEST(Classify, LooksAtMostTwelveBytes) {
  // Whatever follows byte 12 cannot change the answer.
  for (const auto& b : {hex("12 00 00 00 00 00 00 00 02 00 00 00"), ascii("OPTIONS ABCD"),
                        hex("00 00 00 00 00 00 00 00 00 00 00 00")}) {
    const auto r = classify(b, limits);
    ASSERT_TRUE(is_complete(r));
    auto longer = b;
    longer.insert(longer.end(), 100, std::byte{0x55});
    EXPECT_EQ(std::get<Complete<FirstBytes>>(classify(longer, limits)).pdu,
              std::get<Complete<FirstBytes>>(r).pdu);
  }
}

TEST(Classify, Names) {
  EXPECT_EQ(first_bytes_name(FirstBytes::tpkt), "tpkt");
  EXPECT_EQ(first_bytes_name(FirstBytes::preconnection), "preconnection");
  EXPECT_EQ(first_bytes_name(FirstBytes::tls), "tls");
  EXPECT_EQ(first_bytes_name(FirstBytes::http), "http");
  EXPECT_EQ(first_bytes_name(FirstBytes::ssh), "ssh");
  EXPECT_EQ(first_bytes_name(FirstBytes::other), "other");
}

TEST(StartsTlsRecord, FirstByteDecides) {
  EXPECT_FALSE(starts_tls_record({}));
  EXPECT_TRUE(starts_tls_record(hex("16")));
  EXPECT_TRUE(starts_tls_record(hex("16 03 01 02 00 01")));
  // Decided on the first byte alone: a later byte does not make it anything else.
  EXPECT_TRUE(starts_tls_record(hex("16 02")));
  EXPECT_TRUE(starts_tls_record(hex("16 03 00 00 00 00 00 00 02 00 00 00")));
  for (unsigned b = 0; b < 256; ++b) {
    if (b == 0x16) continue;
    EXPECT_FALSE(starts_tls_record(Bytes{std::byte(b), std::byte{0x03}, std::byte{0x01}})) << b;
  }
}

TEST(StartsWithProxySignature, EveryPrefixAndOneWrongByte) {
  EXPECT_FALSE(starts_with_proxy_signature({}));
  const Bytes v1 = ascii("PROXY ");
  const Bytes v2 = hex("0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a");
  for (const auto& signature : {v1, v2}) {
    for (std::size_t n = 1; n <= signature.size(); ++n) {
      SCOPED_TRACE(testing::Message() << "prefix " << n << " of a " << signature.size()
                                      << "-byte signature");
      const Bytes prefix(signature.begin(), signature.begin() + static_cast<std::ptrdiff_t>(n));
      EXPECT_TRUE(starts_with_proxy_signature(prefix));
      // One wrong byte anywhere in the prefix rules it out.
      for (std::size_t i = 0; i < n; ++i) {
        Bytes wrong = prefix;
        wrong[i] ^= std::byte{0x20};
        EXPECT_FALSE(starts_with_proxy_signature(wrong)) << "byte " << i;
      }
    }
    // A whole signature followed by anything.
    EXPECT_TRUE(starts_with_proxy_signature(concat({signature, hex("21 11 00 0c ff")})));
  }
  EXPECT_TRUE(starts_with_proxy_signature(ascii("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n")));
  // All 12 bytes of the v2 signature count, not just the first 8 (haproxy proxy-protocol.txt).
  EXPECT_FALSE(starts_with_proxy_signature(hex("0d 0a 0d 0a 00 0d 0a 51 00 00 00 00 21")));
  EXPECT_FALSE(starts_with_proxy_signature(hex("0d 0a 0d 0a 00 0d 0a 51 55 49 54 0b")));
  // RDP and the other first flights are not PROXY headers.
  EXPECT_FALSE(starts_with_proxy_signature(hex("03 00 00 13 0e e0")));
  EXPECT_FALSE(starts_with_proxy_signature(ascii("PROXz")));
  EXPECT_FALSE(starts_with_proxy_signature(ascii("GET / HTTP/1.1")));
  EXPECT_FALSE(starts_with_proxy_signature(hex("16 03 01")));
}

}  // namespace
}  // namespace rdpgate::protocol::test
