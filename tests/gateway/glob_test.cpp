// glob_match: `*` any run, `?` one character, ASCII case folding on request.

#include <gtest/gtest.h>

#include <string>

#include "rdpgate/gateway/glob.hpp"

namespace rdpgate::gateway {
namespace {

TEST(Glob, LiteralsAndWildcards) {
  EXPECT_TRUE(glob_match("alice", "alice"));
  EXPECT_FALSE(glob_match("alice", "alice2"));
  EXPECT_FALSE(glob_match("alice", "alic"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything at all"));
  EXPECT_TRUE(glob_match("", ""));
  EXPECT_FALSE(glob_match("", "a"));
  EXPECT_TRUE(glob_match("a?c", "abc"));
  EXPECT_FALSE(glob_match("a?c", "ac"));
  EXPECT_FALSE(glob_match("?", ""));
  EXPECT_TRUE(glob_match("svc-*", "svc-"));
  EXPECT_TRUE(glob_match("svc-*", "svc-backup"));
  EXPECT_FALSE(glob_match("svc-*", "xsvc-backup"));
  EXPECT_TRUE(glob_match("*admin*", "sysadmin2"));
  EXPECT_TRUE(glob_match("**a**", "a"));
}

TEST(Glob, BacktracksOverEarlierPartialMatches) {
  EXPECT_TRUE(glob_match("a*b*c", "aXbYbZc"));
  EXPECT_TRUE(glob_match("*ab", "aaab"));
  EXPECT_FALSE(glob_match("a*b*c", "aXbYbZ"));
  EXPECT_TRUE(glob_match("*.?", "file.name.x"));
  EXPECT_FALSE(glob_match("*.?", "file.name.xy"));
}

TEST(Glob, CaseFoldingIsOptional) {
  EXPECT_TRUE(glob_match("Admin*", "ADMINISTRATOR"));
  EXPECT_TRUE(glob_match("admin*", "Administrator", true));
  EXPECT_FALSE(glob_match("admin*", "Administrator", false));
  EXPECT_TRUE(glob_match("tsv://*", "tsv://MS Terminal Services Plugin.1.Sessions", false));
  EXPECT_FALSE(glob_match("TSV://*", "tsv://x", false));
  // Only ASCII letters fold: other bytes compare exactly.
  EXPECT_FALSE(glob_match("\xc3\xa9", "\xc3\x89"));
}

TEST(Glob, PathologicalPatternFinishesQuickly) {
  // O(n*m) with one backtrack point: no exponential blow-up on many stars.
  const std::string text(4000, 'a');
  const std::string pattern = std::string(200, '*') + std::string(10, 'a') + "b";
  EXPECT_FALSE(glob_match(pattern, text));
}

}  // namespace
}  // namespace rdpgate::gateway
