// Percent-decoding (RFC 3986 §2.1) of admin API path segments and portal form fields.
#include "rdpgate/protocol/percent.hpp"

#include <gtest/gtest.h>

#include <string>

namespace rdpgate::protocol::percent {
namespace {

TEST(Percent, DecodesEscapesInEitherCase) {
  EXPECT_EQ(decode("a%2Fb%2fc", Plus::literal), "a/b/c");
  EXPECT_EQ(decode("%00%7E%ff", Plus::literal), std::string("\0~\xff", 3));
  EXPECT_EQ(decode("", Plus::literal), "");
}

TEST(Percent, PlusIsASpaceOnlyInFormFields) {
  EXPECT_EQ(decode("a+b%2B", Plus::space), "a b+");
  EXPECT_EQ(decode("a+b%2B", Plus::literal), "a+b+");
}

TEST(Percent, ABrokenEscapeIsRefusedAtEveryPosition) {
  for (const char* text : {"%", "%4", "a%", "a%4", "%G1", "%1G", "%%41", "x%-1"}) {
    EXPECT_EQ(decode(text, Plus::literal), std::nullopt) << text;
    EXPECT_EQ(decode(text, Plus::space), std::nullopt) << text;
  }
  EXPECT_EQ(decode("%41%", Plus::literal), std::nullopt);
  EXPECT_EQ(decode("%41", Plus::literal), "A");  // the shortest escape, at the very end
}

}  // namespace
}  // namespace rdpgate::protocol::percent
