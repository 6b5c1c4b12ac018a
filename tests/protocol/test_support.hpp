#pragma once
// Helpers shared by the protocol tests: hex literals, the captured vectors, and Beast-style
// "parsegrind" (feed every prefix of a valid input: each is NeedMore, the whole is Complete).

#include <gtest/gtest.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "rdpgate/protocol/parse_result.hpp"

namespace rdpgate::protocol::test {

using Bytes = std::vector<std::byte>;

// "03 00 00 0b" -> bytes; spaces and newlines are ignored. A malformed literal fails the test.
inline Bytes hex(std::string_view text) {
  Bytes out;
  int high = -1;
  for (const char c : text) {
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else if (c == ' ' || c == '\n') continue;
    if (v < 0) {
      ADD_FAILURE() << "bad hex literal: " << text;
      return {};
    }
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::byte>(high << 4 | v));
      high = -1;
    }
  }
  if (high >= 0) ADD_FAILURE() << "odd hex literal: " << text;
  return out;
}

inline Bytes ascii(std::string_view text) {
  Bytes out;
  for (const char c : text) out.push_back(static_cast<std::byte>(c));
  return out;
}

inline Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline std::filesystem::path vectors_dir() { return RDPGATE_VECTORS_DIR; }

inline bool have_vectors() { return std::filesystem::is_directory(vectors_dir()); }

#define RDPGATE_REQUIRE_VECTORS()                                                           \
  do {                                                                                      \
    if (!::rdpgate::protocol::test::have_vectors()) {                                       \
      GTEST_SKIP() << "captured vectors not found at " << RDPGATE_VECTORS_DIR               \
                   << " (expected ../shared/vectors beside the project root)";              \
    }                                                                                       \
  } while (0)

// The bytes of a vectors .hex file ('#' lines and whitespace ignored).
inline Bytes vector_file(const std::string& name) {
  std::ifstream in(vectors_dir() / name);
  EXPECT_TRUE(in.good()) << "cannot open vector " << name;
  std::string text;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '#') continue;
    text += line;
  }
  return hex(text);
}

// Returns a copy: callers often pass a temporary result.
template <class Pdu>
Complete<Pdu> complete(const ParseResult<Pdu>& r) {
  static const Complete<Pdu> empty{};
  if (const auto* c = std::get_if<Complete<Pdu>>(&r)) return *c;
  if (const auto* bad = std::get_if<Invalid>(&r)) {
    ADD_FAILURE() << "expected Complete, got Invalid{" << to_string(bad->code) << ", "
                  << bad->offset << "}";
  } else {
    ADD_FAILURE() << "expected Complete, got NeedMore{" << std::get<NeedMore>(r).total << "}";
  }
  return empty;
}

template <class Pdu>
::testing::AssertionResult is_invalid_at(const ParseResult<Pdu>& r, errc code, std::size_t offset) {
  if (const auto* bad = std::get_if<Invalid>(&r)) {
    if (bad->code == code && bad->offset == offset) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "got Invalid{" << to_string(bad->code) << ", "
                                         << bad->offset << "}, expected {" << to_string(code)
                                         << ", " << offset << "}";
  }
  if (const auto* more = std::get_if<NeedMore>(&r)) {
    return ::testing::AssertionFailure() << "got NeedMore{" << more->total << "}";
  }
  return ::testing::AssertionFailure() << "got Complete";
}

// Every strict prefix of `whole` (copied into its own buffer, as a reader would have it) must be
// NeedMore with a plausible total; the whole must be Complete and equal to `expected`.
template <class Pdu, class Parse>
void grind(const Bytes& whole, Parse parse) {
  const auto full = parse(std::span<const std::byte>{whole});
  ASSERT_TRUE(is_complete(full)) << "whole input is not Complete";
  const auto& expected = std::get<Complete<Pdu>>(full);
  for (std::size_t cut = 0; cut < whole.size(); ++cut) {
    const Bytes prefix(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut));
    const auto r = parse(std::span<const std::byte>{prefix});
    const auto* more = std::get_if<NeedMore>(&r);
    ASSERT_NE(more, nullptr) << "prefix of " << cut << " bytes is not NeedMore";
    if (more->total != 0) {
      EXPECT_GT(more->total, cut) << "NeedMore asks for bytes it already has, cut " << cut;
      EXPECT_LE(more->total, whole.size()) << "NeedMore overshoots, cut " << cut;
    }
  }
  const Bytes copy = whole;
  const auto again = parse(std::span<const std::byte>{copy});
  ASSERT_TRUE(is_complete(again));
  EXPECT_TRUE(std::get<Complete<Pdu>>(again).pdu == expected.pdu);
  EXPECT_EQ(std::get<Complete<Pdu>>(again).consumed, expected.consumed);
}

}  // namespace rdpgate::protocol::test
