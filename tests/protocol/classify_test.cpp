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

}  // namespace
}  // namespace rdpgate::protocol::test
