// Classification of the first client bytes (rdp-preauth-protocol.md §2, SPEC "Classification of
// the first bytes"). Each candidate answers yes / no / not yet; the first candidate in priority
// order that is not a "no" decides.
#include "rdpgate/protocol/classify.hpp"

#include <algorithm>
#include <array>

#include "rdpgate/protocol/byte_reader.hpp"
#include "rdpgate/protocol/proxy_protocol.hpp"

namespace rdpgate::protocol {

std::string_view first_bytes_name(FirstBytes kind) noexcept {
  switch (kind) {
    case FirstBytes::tpkt: return "tpkt";
    case FirstBytes::preconnection: return "preconnection";
    case FirstBytes::tls: return "tls";
    case FirstBytes::http: return "http";
    case FirstBytes::ssh: return "ssh";
    case FirstBytes::other: return "other";
  }
  return "other";
}

namespace {

enum class Verdict { no, yes, more };
struct Answer {
  Verdict verdict = Verdict::no;
  std::size_t needed = 0;  // with Verdict::more: bytes needed in all for the next step
};

constexpr std::size_t pcb_header_size = 4 + 4 + 4;  // cbSize + Flags + Version

// A Preconnection PDU: LE32 cbSize in [16, max_pcb], then Version 1 or 2 at offset 8
// ([MS-RDPEPS] 2.2.1.1). Ruled out as soon as the low bytes already seen exceed the cap, so that
// "GET " or "SSH-" are decided after two bytes rather than four.
Answer preconnection(const ByteReader& in, const Limits& limits) noexcept {
  const std::size_t seen = std::min<std::size_t>(in.size(), 4);
  std::uint64_t low = 0;
  for (std::size_t i = 0; i < seen; ++i) low |= static_cast<std::uint64_t>(in.at(i)) << (8 * i);
  if (low > limits.max_pcb) return {Verdict::no};
  if (seen < 4) return {Verdict::more, seen + 1};
  if (low < 16) return {Verdict::no};
  if (in.size() < pcb_header_size) return {Verdict::more, pcb_header_size};
  const std::uint32_t version =
      static_cast<std::uint32_t>(in.at(8)) | static_cast<std::uint32_t>(in.at(9)) << 8 |
      static_cast<std::uint32_t>(in.at(10)) << 16 | static_cast<std::uint32_t>(in.at(11)) << 24;
  return {version == 1 || version == 2 ? Verdict::yes : Verdict::no};
}

// Matches `in` against fixed prefixes: yes when one is complete, more while one is still possible.
template <std::size_t N>
Answer any_prefix(const ByteReader& in, const std::array<std::string_view, N>& prefixes) noexcept {
  Answer best{Verdict::no};
  for (const auto prefix : prefixes) {
    const std::size_t n = std::min(in.size(), prefix.size());
    bool match = true;
    for (std::size_t i = 0; i < n && match; ++i)
      match = in.at(i) == static_cast<std::uint8_t>(prefix[i]);
    if (!match) continue;
    if (in.size() >= prefix.size()) return {Verdict::yes};
    if (best.verdict == Verdict::no || best.needed > in.size() + 1)
      best = {Verdict::more, in.size() + 1};
  }
  return best;
}

constexpr std::array<std::string_view, 10> http_methods{"GET ",    "POST ",    "HEAD ",    "PUT ",
                                                        "DELETE ", "OPTIONS ", "CONNECT ", "PATCH ",
                                                        "TRACE ",  "PRI "};
constexpr std::array<std::string_view, 1> ssh_banner{"SSH-"};

}  // namespace

ParseResult<FirstBytes> classify(std::span<const std::byte> bytes, const Limits& limits) noexcept {
  const ByteReader in{bytes};
  if (in.size() == 0) return NeedMore{1};
  const std::uint8_t b0 = in.at(0);
  if (in.size() == 1 && b0 == 0x03) return NeedMore{2};
  // `03 00` can only be TPKT because max_pcb < 65 539 (§2).
  if (b0 == 0x03 && in.at(1) == 0x00) return Complete<FirstBytes>{FirstBytes::tpkt, 0};

  using Candidate = std::pair<FirstBytes, Answer>;
  const std::array<Candidate, 5> candidates{{
      {FirstBytes::preconnection, preconnection(in, limits)},
      // SPEC: first byte 0x03 means TPKT, so `03 xx` that is not a PCB is a malformed TPKT
      // (refused as `malformed`, not `not_rdp`).
      {FirstBytes::tpkt, {b0 == 0x03 ? Verdict::yes : Verdict::no}},
      // `16 03 0x`: a TLS handshake record (§2). After the PCB so that cbSize 0x0316 wins.
      {FirstBytes::tls,
       b0 != 0x16      ? Answer{Verdict::no}
       : in.size() < 3 ? Answer{in.size() >= 2 && in.at(1) != 0x03 ? Verdict::no : Verdict::more, 3}
       : in.at(1) == 0x03 && (in.at(2) & 0xF0) == 0 ? Answer{Verdict::yes}
                                                    : Answer{Verdict::no}},
      {FirstBytes::http, any_prefix(in, http_methods)},
      {FirstBytes::ssh, any_prefix(in, ssh_banner)},
  }};
  for (const auto& [kind, answer] : candidates) {
    if (answer.verdict == Verdict::yes) return Complete<FirstBytes>{kind, 0};
    if (answer.verdict == Verdict::more) return NeedMore{answer.needed};
  }
  return Complete<FirstBytes>{FirstBytes::other, 0};
}

bool starts_tls_record(std::span<const std::byte> bytes) noexcept {
  return !bytes.empty() && bytes[0] == std::byte{0x16};
}

bool starts_with_proxy_signature(std::span<const std::byte> bytes) noexcept {
  // Compares the bytes present with the start of a signature: a prefix of it, or the whole.
  const auto starts = [&](const auto& signature) noexcept {
    const std::size_t n = std::min(bytes.size(), signature.size());
    for (std::size_t i = 0; i < n; ++i) {
      if (std::to_integer<std::uint8_t>(bytes[i]) != static_cast<std::uint8_t>(signature[i])) {
        return false;
      }
    }
    return n > 0;
  };
  return starts(proxy_v1_prefix) || starts(proxy_v2_signature);
}

}  // namespace rdpgate::protocol
