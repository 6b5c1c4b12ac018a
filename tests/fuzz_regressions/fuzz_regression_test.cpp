// Replays the fuzzing seeds and every input that once crashed a parser (IronRDP's
// fuzz_regression.rs): each file goes through every parser and `rdpgate inspect`, byte for byte
// in a buffer of exactly its size, so a sanitizer build sees any read past the end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rdpgate/protocol/classify.hpp"
#include "rdpgate/protocol/first_flight.hpp"
#include "rdpgate/protocol/forward.hpp"
#include "rdpgate/protocol/inspect.hpp"
#include "rdpgate/protocol/pcb.hpp"
#include "rdpgate/protocol/proxy_protocol.hpp"
#include "rdpgate/protocol/tls.hpp"
#include "rdpgate/protocol/x224.hpp"

namespace rdpgate::protocol {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().filename().string().front() != '.' &&
        e.path().filename() != "README.md") {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// As in the connection_confirm fuzz target: the first byte picks the client's request.
std::optional<std::uint32_t> proto_mask(std::byte b) {
  const auto v = std::to_integer<std::uint32_t>(b);
  if (v == 0xFF) return std::nullopt;
  return v & 0x1Fu;
}

template <class Pdu>
void expect_consistent(const ParseResult<Pdu>& r, std::size_t size, std::size_t offset_bound,
                       const std::string& what) {
  if (const auto* c = std::get_if<Complete<Pdu>>(&r)) {
    EXPECT_LE(c->consumed, size) << what;
  } else if (const auto* bad = std::get_if<Invalid>(&r)) {
    EXPECT_LE(bad->offset, offset_bound) << what;
    EXPECT_NE(to_string(bad->code), "unknown") << what;
  } else {
    const auto total = std::get<NeedMore>(r).total;
    if (total != 0) {
      EXPECT_GT(total, size) << what;
    }
  }
}

// Runs one input through everything. The bytes live in a heap block of exactly their size.
void replay(const std::vector<char>& content, const std::string& name) {
  const std::size_t size = content.size();
  const auto block = std::make_unique<std::byte[]>(std::max<std::size_t>(size, 1));
  std::transform(content.begin(), content.end(), block.get(),
                 [](char c) { return static_cast<std::byte>(c); });
  const std::span<const std::byte> bytes{block.get(), size};
  const Limits limits;

  const auto kind = classify(bytes, limits);
  EXPECT_FALSE(is_invalid(kind)) << name;
  expect_consistent(kind, size, size, name + " classify");
  expect_consistent(parse_preconnection_pdu(bytes, limits), size, size, name + " pcb");
  expect_consistent(parse_connection_request(bytes, limits), size, size, name + " cr");
  expect_consistent(parse_connection_confirm(bytes), size, size, name + " cc");
  if (size > 0) {
    expect_consistent(parse_connection_confirm(bytes.subspan(1), proto_mask(bytes[0])), size - 1,
                      size - 1, name + " cc(requested)");
  }
  expect_consistent(peek_client_hello(bytes, limits), size, size, name + " tls");
  expect_consistent(parse_proxy_header(bytes), size, size, name + " proxy");
  const auto flight = parse_first_flight(bytes, limits);
  expect_consistent(flight, size, std::max(size, limits.max_total), name + " first flight");
  if (const auto* f = std::get_if<Complete<FirstFlight>>(&flight)) {
    // The gateway's own edit always fits the flight it was derived from.
    for (const bool drop : {false, true}) {
      FlightEdit edit{f->pdu.preconnection_size, drop, 0, 0};
      if (f->pdu.request && f->pdu.request->token_size != 0) {
        edit.token_offset = f->pdu.preconnection_size + f->pdu.request->token_offset;
        edit.token_size = f->pdu.request->token_size;
      }
      const auto out = forward_first_flight(bytes, f->consumed, edit);
      EXPECT_TRUE(out) << name << " forward";
      if (out) {
        EXPECT_EQ(out->size(), size - (drop ? edit.preconnection_size : 0) - edit.token_size)
            << name << " forward";
      }
    }
  }
  const auto report = inspect_first_bytes(bytes, limits);
  EXPECT_FALSE(report.json.empty()) << name;
  const std::string_view text{content.data(), size};
  if (const auto decoded = parse_hex_dump(text)) {
    const auto hex_report = inspect_first_bytes(*decoded, limits);
    EXPECT_EQ(hex_report.json.front(), '{') << name;
  }
}

TEST(FuzzRegressions, ReplayRegressionsAndCorpus) {
  const fs::path root = RDPGATE_FUZZ_DIR;
  const auto corpus = files_under(root / "corpus");
  const auto regressions = files_under(root / "regressions");
  // The committed seeds must be there, or this test would replay nothing.
  ASSERT_GE(corpus.size(), 50u) << "seed corpus missing under " << (root / "corpus");
  for (const auto& path : regressions) ASSERT_TRUE(fs::file_size(path) < 1'000'000) << path;
  std::size_t replayed = 0;
  for (const auto* list : {&regressions, &corpus}) {
    for (const auto& path : *list) {
      std::ifstream in(path, std::ios::binary);
      ASSERT_TRUE(in.good()) << path;
      const std::vector<char> content{std::istreambuf_iterator<char>(in), {}};
      replay(content, path.lexically_relative(root).string());
      // Every prefix too: the way the gateway sees bytes arrive.
      for (std::size_t cut = 0; cut < std::min<std::size_t>(content.size(), 128); ++cut) {
        replay(std::vector<char>(content.begin(), content.begin() + static_cast<std::ptrdiff_t>(cut)),
               path.lexically_relative(root).string() + "[:" + std::to_string(cut) + "]");
      }
      ++replayed;
    }
  }
  EXPECT_EQ(replayed, corpus.size() + regressions.size());
}

TEST(FuzzRegressions, CorpusSeedsStillParse) {
  // Seeds converted from the captured vectors are valid inputs for their own parser.
  const fs::path root = RDPGATE_FUZZ_DIR;
  const Limits limits;
  int checked = 0;
  for (const auto& path : files_under(root / "corpus" / "connection_request")) {
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> content{std::istreambuf_iterator<char>(in), {}};
    std::vector<std::byte> bytes(content.size());
    std::transform(content.begin(), content.end(), bytes.begin(),
                   [](char c) { return static_cast<std::byte>(c); });
    EXPECT_TRUE(is_complete(parse_connection_request(bytes, limits))) << path;
    ++checked;
  }
  EXPECT_GE(checked, 15);
}

}  // namespace
}  // namespace rdpgate::protocol
