// Stable names of errc (metric label values and audit fields) and the error category.
#include "rdpgate/protocol/errc.hpp"

#include <set>
#include <string>

#include "test_support.hpp"

namespace rdpgate::protocol::test {
namespace {

constexpr int first = static_cast<int>(errc::not_rdp);
constexpr int last = static_cast<int>(errc::bad_proxy_header);

TEST(Errc, NamesAreUniqueSnakeCase) {
  std::set<std::string_view> names;
  for (int v = first; v <= last; ++v) {
    const auto name = to_string(static_cast<errc>(v));
    EXPECT_NE(name, "unknown") << v;
    EXPECT_TRUE(names.insert(name).second) << "duplicate " << name;
    for (const char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << name;
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(last - first + 1));
  // Spot checks against the enumerator spelling.
  EXPECT_EQ(to_string(errc::bad_tpkt_length), "bad_tpkt_length");
  EXPECT_EQ(to_string(errc::bad_x224_length_indicator), "bad_x224_length_indicator");
  EXPECT_EQ(to_string(errc::token_missing_crlf), "token_missing_crlf");
  EXPECT_EQ(to_string(errc::too_large), "too_large");
  EXPECT_EQ(to_string(errc::bad_proxy_header), "bad_proxy_header");
}

TEST(Errc, NotRdpCodes) {
  for (int v = first; v <= last; ++v) {
    const auto code = static_cast<errc>(v);
    const bool expected = code == errc::not_rdp || code == errc::not_rdp_http ||
                          code == errc::not_rdp_ssh || code == errc::not_rdp_tls;
    EXPECT_EQ(is_not_rdp(code), expected) << to_string(code);
  }
}

TEST(Errc, ErrorCode) {
  const std::error_code ec = errc::bad_cookie;
  EXPECT_EQ(ec.category(), protocol_category());
  EXPECT_STREQ(ec.category().name(), "rdpgate.protocol");
  EXPECT_EQ(ec.message(), "bad_cookie");
  EXPECT_EQ(ec.value(), static_cast<int>(errc::bad_cookie));
  EXPECT_TRUE(ec);
}

}  // namespace
}  // namespace rdpgate::protocol::test
