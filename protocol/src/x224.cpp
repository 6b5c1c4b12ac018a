// [MS-RDPBCGR] 2.2.1.1 Client X.224 Connection Request and 2.2.1.2 Server X.224 Connection
// Confirm, framed by TPKT (RFC 1006 §6), checked per rdp-preauth-protocol.md §8 rules 1-11.
//
//   0    1    2    4    5    6      8      10     11
//   +----+----+----+----+----+------+------+------+-------------------------------------+
//   | 03 | 00 | L  | LI | E0 | DST  | SRC  | cls  | [token line][cookie line][NEG_REQ[+CORR]]|
//   +----+----+----+----+----+------+------+------+-------------------------------------+
//   TPKT (L is BE, the whole packet) | X.224 fixed part (refs BE)  | variable part, LI-covered
#include "rdpgate/protocol/x224.hpp"

#include <algorithm>

#include "rdpgate/protocol/byte_reader.hpp"
#include "rdpgate/protocol/rdp.hpp"

namespace rdpgate::protocol {

std::string_view token_kind_name(TokenKind kind) noexcept {
  switch (kind) {
    case TokenKind::none: return "none";
    case TokenKind::msts: return "msts";
    case TokenKind::tsv: return "tsv";
    case TokenKind::mth: return "mth";
    case TokenKind::other: return "other";
  }
  return "none";
}

namespace {

constexpr std::size_t tpkt_header_size = 4;  // version 1 + reserved 1 + length 2 (BE)
constexpr std::size_t x224_fixed_size = 7;   // LI 1 + code 1 + DST-REF 2 + SRC-REF 2 + class 1
constexpr std::size_t min_tpdu = tpkt_header_size + x224_fixed_size;  // 11
constexpr std::size_t neg_size = 1 + 1 + 2 + 4;                // type + flags + length + payload
constexpr std::size_t correlation_size = 1 + 1 + 2 + 16 + 16;  // type+flags+length+id+reserved
constexpr std::size_t cc_with_neg = min_tpdu + neg_size;       // 19

constexpr std::string_view mstshash_prefix = "Cookie: mstshash=";
constexpr std::string_view msts_prefix = "Cookie: msts=";

[[nodiscard]] bool printable(std::uint8_t c) noexcept { return c >= 0x20 && c <= 0x7E; }

// TPKT header and X.224 fixed part, validated byte by byte as they arrive so that a bad header is
// refused before the gateway waits for the rest (STYLE.md §3).
struct Header {
  std::size_t length = 0;
};
using HeaderResult = std::variant<NeedMore, Invalid, Header>;

HeaderResult read_header(const ByteReader& in, std::size_t min_length, std::size_t max_length,
                         errc length_error, std::uint8_t code_mask, std::uint8_t code,
                         bool check_class, bool only_min_or_max = false) noexcept {
  const std::size_t n = in.size();
  if (n >= 1 && in.at(0) != 3) return Invalid{errc::bad_tpkt_version, 0};
  if (n >= 2 && in.at(1) != 0) return Invalid{errc::bad_tpkt_reserved, 1};
  // The cap is checked on the high length byte alone when that already exceeds it.
  if (n >= 3 && static_cast<std::size_t>(in.at(2)) * 256 > max_length) {
    return Invalid{length_error, 2};
  }
  if (n < tpkt_header_size) return NeedMore{tpkt_header_size};
  const std::size_t length = static_cast<std::size_t>(in.at(2)) << 8 | in.at(3);
  if (length < min_length || length > max_length) return Invalid{length_error, 2};
  if (only_min_or_max && length != min_length && length != max_length) {
    return Invalid{length_error, 2};
  }
  // Rule 3: LI = L - 5 (FreeRDP and xrdp drop otherwise), never 255.
  if (n >= 5 && (in.at(4) != length - 5 || in.at(4) == 255)) {
    return Invalid{errc::bad_x224_length_indicator, 4};
  }
  if (n >= 6 && (in.at(5) & code_mask) != code) return Invalid{errc::bad_x224_code, 5};
  if (check_class && n >= 11 && (in.at(10) & 0xF0) != 0) return Invalid{errc::bad_x224_class, 10};
  if (n < length) return NeedMore{length};
  return Header{length};
}

[[nodiscard]] bool single_bit_or_zero(std::uint32_t v) noexcept { return (v & (v - 1)) == 0; }

TokenKind classify_token(std::string_view line) noexcept {
  if (line.starts_with(msts_prefix)) return TokenKind::msts;
  if (line.starts_with("tsv://")) return TokenKind::tsv;
  if (line.starts_with("mth://")) return TokenKind::mth;
  return TokenKind::other;
}

}  // namespace

ParseResult<ConnectionRequest> parse_connection_request(std::span<const std::byte> bytes,
                                                        const Limits& limits) noexcept {
  ByteReader in{bytes};
  // Rule 1: 11 <= L <= 259 (LI is one octet, 255 reserved), or the caller's smaller cap.
  const std::size_t max_length = std::min<std::size_t>(limits.max_connection_request, 4 + 1 + 254);
  const auto header =
      read_header(in, min_tpdu, max_length, errc::bad_tpkt_length, 0xFF, 0xE0, true);
  if (const auto* more = std::get_if<NeedMore>(&header)) return *more;
  if (const auto* bad = std::get_if<Invalid>(&header)) return *bad;
  const std::size_t length = std::get_if<Header>(&header)->length;

  ConnectionRequest cr;
  cr.length = static_cast<std::uint16_t>(length);
  in.skip(tpkt_header_size + 2);  // TPKT header, LI, code
  cr.dst_ref = in.u16_be();
  cr.src_ref = in.u16_be();
  cr.class_options = in.u8();

  // Rule 6: token / cookie lines. Deviation: a line starts only at a printable byte, so that a
  // remainder starting with a wrong RDP_NEG_REQ type is reported as bad_neg_req_type rather than
  // as a line without CRLF.
  std::size_t pos = min_tpdu;
  int lines = 0;
  bool had_token = false;
  while (pos < length && printable(in.at(pos))) {
    const std::size_t start = pos;
    if (lines == 2) return Invalid{errc::token_too_many_lines, start};
    // Find the CRLF; every byte before it must be printable ASCII.
    std::size_t end = start;
    while (end < length && printable(in.at(end))) ++end;
    if (end >= length - 1 && (end == length || in.at(end) == 0x0D)) {
      // The line runs (or its CR sits) at the end of the LI-covered area: its CRLF would lie
      // beyond the request.
      return Invalid{errc::token_too_long, start};
    }
    if (in.at(end) != 0x0D || in.at(end + 1) != 0x0A) {
      // A non-printable byte: a bad character if a CRLF still follows, else the line ended
      // without one (e.g. a cookie directly followed by RDP_NEG_REQ).
      bool crlf_later = false;
      for (std::size_t i = end; i + 1 < length && !crlf_later; ++i) {
        crlf_later = in.at(i) == 0x0D && in.at(i + 1) == 0x0A;
      }
      return Invalid{crlf_later ? errc::token_bad_character : errc::token_missing_crlf, end};
    }
    const std::string_view line = as_chars(bytes.subspan(start, end - start));
    if (line.starts_with(mstshash_prefix)) {
      cr.has_cookie = true;
      cr.cookie = line.substr(mstshash_prefix.size());
      if (cr.cookie.empty()) return Invalid{errc::bad_cookie, start + mstshash_prefix.size()};
    } else {
      // [MS-RDPBCGR] 2.2.1.1: the routing token comes first, then the cookie; a second token
      // line or a token after the cookie is refused.
      if (had_token || cr.has_cookie) return Invalid{errc::token_too_many_lines, start};
      had_token = true;
      cr.token_kind = classify_token(line);
      cr.routing_token = line;
      cr.token_offset = start;
      cr.token_size = end + 2 - start;
    }
    ++lines;
    pos = end + 2;
  }

  // Rule 7: the remainder is empty (legacy request), RDP_NEG_REQ, or RDP_NEG_REQ + correlation.
  const std::size_t rest = length - pos;
  if (rest == 0) return Complete<ConnectionRequest>{cr, length};
  if (rest != neg_size && rest != neg_size + correlation_size) {
    return Invalid{errc::bad_negotiation_size, pos};
  }
  // Rule 8: [MS-RDPBCGR] 2.2.1.1.1 RDP_NEG_REQ.
  in = ByteReader{bytes.first(length)};
  in.skip(pos);
  if (in.u8() != 0x01) return Invalid{errc::bad_neg_req_type, pos};
  NegotiationRequest neg;
  neg.flags = in.u8();
  if (in.u16_le() != neg_size) return Invalid{errc::bad_neg_req_length, pos + 2};
  // Rule 9: unknown flag and protocol bits are kept and forwarded, never refused or rewritten.
  neg.requested_protocols = in.u32_le();
  cr.negotiation = neg;
  const bool correlation_flag = (neg.flags & neg_req_flag::correlation_info_present) != 0;
  if (correlation_flag != (rest == neg_size + correlation_size)) {
    return Invalid{errc::bad_negotiation_size, pos + (correlation_flag ? 1 : neg_size)};
  }
  if (!correlation_flag) return Complete<ConnectionRequest>{cr, length};

  // [MS-RDPBCGR] 2.2.1.1.2 RDP_NEG_CORRELATION_INFO: type 06, flags (ignored), length 36.
  const std::size_t corr = pos + neg_size;
  if (in.u8() != 0x06) return Invalid{errc::bad_correlation_info_type, corr};
  in.skip(1);
  if (in.u16_le() != correlation_size) return Invalid{errc::bad_correlation_info_length, corr + 2};
  CorrelationInfo info;
  for (auto& b : info.id) b = in.u8();
  for (int i = 0; i < 16; ++i) info.reserved_nonzero = info.reserved_nonzero || in.u8() != 0;
  // Logged, not refused (rule 8; FreeRDP's server rejects them, mstsc never sends them).
  info.id_questionable = info.id[0] == 0x00 || info.id[0] == 0xF4 ||
                         std::find(info.id.begin(), info.id.end(), 0x0D) != info.id.end();
  cr.correlation = info;
  return Complete<ConnectionRequest>{cr, length};
}

ParseResult<ConnectionConfirm> parse_connection_confirm(
    std::span<const std::byte> bytes, std::optional<std::uint32_t> requested_protocols) noexcept {
  ByteReader in{bytes};
  // Rule 11: L in {11, 19}, LI = L - 5, code high nibble 0xD (the low nibble is the credit).
  // The class/options byte and SRC-REF are not validated (0 or 0x1234 in practice, §7).
  const auto header =
      read_header(in, min_tpdu, cc_with_neg, errc::bad_cc_length, 0xF0, 0xD0, false, true);
  if (const auto* more = std::get_if<NeedMore>(&header)) return *more;
  if (const auto* bad = std::get_if<Invalid>(&header)) return *bad;
  const std::size_t length = std::get_if<Header>(&header)->length;

  ConnectionConfirm cc;
  cc.length = static_cast<std::uint16_t>(length);
  in.skip(tpkt_header_size + 2);
  cc.dst_ref = in.u16_be();
  cc.src_ref = in.u16_be();
  cc.class_options = in.u8();
  if (length == min_tpdu) return Complete<ConnectionConfirm>{cc, length};

  const std::uint8_t type = in.u8();
  const std::uint8_t flags = in.u8();
  if (type != 0x02 && type != 0x03) return Invalid{errc::bad_neg_rsp_type, min_tpdu};
  if (in.u16_le() != neg_size) return Invalid{errc::bad_neg_rsp_length, min_tpdu + 2};
  const std::uint32_t value = in.u32_le();
  if (type == 0x02) {
    // [MS-RDPBCGR] 2.2.1.2.1: one protocol, 0 or a single bit the client asked for. Unknown
    // RSP flag bits (Windows sets the reserved 0x04) are accepted (§7).
    const bool requested_ok =
        !requested_protocols || value == 0 || (value & *requested_protocols) == value;
    if (!single_bit_or_zero(value) || !requested_ok) {
      return Invalid{errc::bad_selected_protocol, min_tpdu + 4};
    }
    cc.response = NegotiationResponse{flags, value};
  } else {
    // [MS-RDPBCGR] 2.2.1.2.2: flags 0. Unknown failure codes are kept for the log (rule 11).
    if (flags != 0) return Invalid{errc::bad_neg_failure, min_tpdu + 1};
    cc.failure = NegotiationFailure{flags, value};
  }
  return Complete<ConnectionConfirm>{cc, length};
}

}  // namespace rdpgate::protocol
