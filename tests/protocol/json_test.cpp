// JSON string escaping (RFC 8259 §7): every byte in both modes, runs, and the predicate.
#include "rdpgate/protocol/json.hpp"

#include <cstdio>
#include <string>

#include "test_support.hpp"

namespace rdpgate::protocol::json {
namespace {

// What byte `c` must become, written independently of the escaper's table.
std::string expected(unsigned c, NonAscii mode) {
  switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: break;
  }
  if (c < 0x20 || c == 0x7F || (c >= 0x80 && mode == NonAscii::escape)) {
    char u[8];
    std::snprintf(u, sizeof u, "\\u%04x", c);
    return u;
  }
  return std::string(1, static_cast<char>(c));
}

TEST(Json, EveryByteInBothModes) {
  for (const auto mode : {NonAscii::keep, NonAscii::escape}) {
    for (unsigned c = 0; c < 256; ++c) {
      SCOPED_TRACE(testing::Message() << "byte " << c << " mode " << static_cast<int>(mode));
      const std::string in(1, static_cast<char>(c));
      const auto want = expected(c, mode);
      EXPECT_EQ(escape(in, mode), want);
      EXPECT_EQ(needs_escape(static_cast<unsigned char>(c), mode), want != in);
      // Inside a run of plain bytes, and appended to what is already there.
      std::string out = "[";
      append_escaped(out, "ab" + in + "cd", mode);
      EXPECT_EQ(out, "[ab" + want + "cd");
    }
  }
}

TEST(Json, Table) {
  struct Case {
    std::string_view in;
    std::string_view keep;
    std::string_view escape;
  };
  const Case cases[] = {
      {"", "", ""},
      {"plain text", "plain text", "plain text"},
      {"say \"hi\"\\", "say \\\"hi\\\"\\\\", "say \\\"hi\\\"\\\\"},
      {"a\r\nb\tc", "a\\r\\nb\\tc", "a\\r\\nb\\tc"},
      {std::string_view("\0\x01\x1f\x7f", 4), "\\u0000\\u0001\\u001f\\u007f",
       "\\u0000\\u0001\\u001f\\u007f"},
      {"caf\xc3\xa9", "caf\xc3\xa9", "caf\\u00c3\\u00a9"},
      {"\xff\x80", "\xff\x80", "\\u00ff\\u0080"},
      {"/ and ' stay", "/ and ' stay", "/ and ' stay"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(escape(c.in), c.keep) << c.in;  // keep is the default
    EXPECT_EQ(escape(c.in, NonAscii::keep), c.keep) << c.in;
    EXPECT_EQ(escape(c.in, NonAscii::escape), c.escape) << c.in;
  }
}

TEST(Json, PredicateIsUsableAtCompileTime) {
  static_assert(needs_escape('"'));
  static_assert(needs_escape(0x7F));
  static_assert(!needs_escape('a'));
  static_assert(!needs_escape(0xC3));
  static_assert(needs_escape(0xC3, NonAscii::escape));
  SUCCEED();
}

}  // namespace
}  // namespace rdpgate::protocol::json
