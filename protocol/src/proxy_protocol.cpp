// HAProxy PROXY protocol header, version 1 (text, §2.1) and version 2 (binary, §2.2) of
// haproxy doc/proxy-protocol.txt. Bounded: v1 lines at most 107 bytes, v2 at most 16 + 536.
#include "rdpgate/protocol/proxy_protocol.hpp"

#include <algorithm>
#include <optional>
#include <string_view>

#include "rdpgate/protocol/byte_reader.hpp"
#include "rdpgate/protocol/hex.hpp"

namespace rdpgate::protocol {

namespace {

constexpr const auto& v2_signature = proxy_v2_signature;
constexpr std::string_view v1_prefix = proxy_v1_prefix;
constexpr std::size_t v1_max_line = 107;  // "PROXY TCP6 " + 2 * 39 + 2 * 5 + 3 spaces + CRLF
constexpr std::size_t v2_header_size = 12 + 1 + 1 + 2;  // signature + ver/cmd + family + length
constexpr std::size_t v2_max_payload = 536;             // 2 * 108 (AF_UNIX) + TLVs, per §2.2

// Decimal without sign or leading '+'; at most max_digits digits and at most max_value.
std::optional<std::uint32_t> decimal(std::string_view s, std::size_t max_digits,
                                     std::uint32_t max_value) noexcept {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  std::uint32_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (v > max_value) return std::nullopt;
  return v;
}

bool parse_ipv4(std::string_view s, std::uint8_t* out) noexcept {
  for (int i = 0; i < 4; ++i) {
    const std::size_t dot = i < 3 ? s.find('.') : s.size();
    if (dot == std::string_view::npos) return false;
    const auto part = decimal(s.substr(0, dot), 3, 255);
    if (!part) return false;
    out[i] = static_cast<std::uint8_t>(*part);
    s = i < 3 ? s.substr(dot + 1) : std::string_view{};
  }
  return true;
}

// RFC 4291 §2.2 text forms: eight groups, one "::", an optional dotted IPv4 tail.
bool parse_ipv6(std::string_view s, std::array<std::uint8_t, 16>& out) noexcept {
  std::array<std::uint16_t, 8> groups{};
  int count = 0;
  int gap = -1;  // index in groups where "::" stands
  if (s.starts_with("::")) {
    gap = 0;
    s.remove_prefix(2);
    if (s.empty()) {
      out.fill(0);
      return true;
    }
  } else if (s.starts_with(":")) {
    return false;
  }
  while (!s.empty()) {
    const std::size_t colon = s.find(':');
    const std::string_view part = s.substr(0, colon);
    if (part.find('.') != std::string_view::npos) {
      // Embedded IPv4 must be the last part and needs room for two groups.
      if (colon != std::string_view::npos || count > 6) return false;
      std::array<std::uint8_t, 4> v4{};
      if (!parse_ipv4(part, v4.data())) return false;
      groups[static_cast<std::size_t>(count++)] = static_cast<std::uint16_t>(v4[0] << 8 | v4[1]);
      groups[static_cast<std::size_t>(count++)] = static_cast<std::uint16_t>(v4[2] << 8 | v4[3]);
      break;
    }
    if (part.empty() || part.size() > 4 || count == 8) return false;
    unsigned v = 0;
    for (const char c : part) {
      const int h = hex_value(c);
      if (h < 0) return false;
      v = v * 16 + static_cast<unsigned>(h);
    }
    groups[static_cast<std::size_t>(count++)] = static_cast<std::uint16_t>(v);
    if (colon == std::string_view::npos) break;
    s.remove_prefix(colon + 1);
    if (s.starts_with(":")) {
      if (gap >= 0) return false;
      gap = count;
      s.remove_prefix(1);
      if (s.empty()) break;
    } else if (s.empty()) {
      return false;  // a trailing single ':'
    }
  }
  if (gap < 0 && count != 8) return false;
  if (gap >= 0 && count > 7) return false;
  std::array<std::uint16_t, 8> full{};
  if (gap < 0) {
    full = groups;
  } else {
    // Both non-negative here: gap <= count <= 7.
    const auto before = static_cast<std::size_t>(gap);
    const auto tail = static_cast<std::size_t>(count) - before;
    for (std::size_t i = 0; i < before; ++i) full[i] = groups[i];
    for (std::size_t i = 0; i < tail; ++i) full[8 - tail + i] = groups[before + i];
  }
  for (std::size_t i = 0; i < 8; ++i) {
    out[2 * i] = static_cast<std::uint8_t>(full[i] >> 8);
    out[2 * i + 1] = static_cast<std::uint8_t>(full[i] & 0xFF);
  }
  return true;
}

// §2.1: "PROXY" SP ("TCP4" | "TCP6" | "UNKNOWN") [SP src SP dst SP sport SP dport] CRLF.
ParseResult<ProxyHeader> parse_v1(std::span<const std::byte> bytes) noexcept {
  const std::string_view text = as_chars(bytes.first(std::min(bytes.size(), v1_max_line)));
  const std::size_t cr = text.find('\r');
  for (std::size_t i = 0; i < std::min(cr, text.size()); ++i) {
    if (text[i] < 0x20 || text[i] > 0x7E) return Invalid{errc::bad_proxy_header, i};
  }
  if (cr == std::string_view::npos) {
    if (text.size() == v1_max_line) return Invalid{errc::bad_proxy_header, v1_max_line - 1};
    return NeedMore{0};
  }
  if (cr + 1 == text.size()) {
    if (cr + 1 == v1_max_line) return Invalid{errc::bad_proxy_header, cr};
    return NeedMore{cr + 2};
  }
  if (text[cr + 1] != '\n') return Invalid{errc::bad_proxy_header, cr + 1};
  const std::size_t consumed = cr + 2;
  std::string_view line = text.substr(v1_prefix.size(), cr - v1_prefix.size());

  ProxyHeader h;
  if (line.starts_with("UNKNOWN")) {
    // The receiver must ignore anything after UNKNOWN and use the real connection's addresses.
    h.local = true;
    return Complete<ProxyHeader>{h, consumed};
  }
  std::array<std::string_view, 5> fields{};
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const std::size_t sp = line.find(' ');
    if ((i < fields.size() - 1) == (sp == std::string_view::npos)) {
      return Invalid{errc::bad_proxy_header, v1_prefix.size()};
    }
    fields[i] = line.substr(0, sp);
    line = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
  }
  const std::size_t where = v1_prefix.size();
  if (fields[0] == "TCP4") {
    if (!parse_ipv4(fields[1], h.source.data()) || !parse_ipv4(fields[2], h.destination.data())) {
      return Invalid{errc::bad_proxy_header, where};
    }
  } else if (fields[0] == "TCP6") {
    h.ipv6 = true;
    if (!parse_ipv6(fields[1], h.source) || !parse_ipv6(fields[2], h.destination)) {
      return Invalid{errc::bad_proxy_header, where};
    }
  } else {
    return Invalid{errc::bad_proxy_header, where};
  }
  const auto sport = decimal(fields[3], 5, 65535);
  const auto dport = decimal(fields[4], 5, 65535);
  if (!sport || !dport) return Invalid{errc::bad_proxy_header, where};
  h.source_port = static_cast<std::uint16_t>(*sport);
  h.destination_port = static_cast<std::uint16_t>(*dport);
  return Complete<ProxyHeader>{h, consumed};
}

// §2.2: signature, version 2 + command, family + transport, BE length, addresses, TLVs.
ParseResult<ProxyHeader> parse_v2(std::span<const std::byte> bytes) noexcept {
  ByteReader in{bytes};
  const std::size_t n = in.size();
  if (n >= 13) {
    const std::uint8_t ver_cmd = in.at(12);
    if ((ver_cmd >> 4) != 2 || (ver_cmd & 0x0F) > 1) return Invalid{errc::bad_proxy_header, 12};
  }
  if (n >= 15 && static_cast<std::size_t>(in.at(14)) * 256 > v2_max_payload) {
    return Invalid{errc::bad_proxy_header, 14};
  }
  if (n < v2_header_size) return NeedMore{v2_header_size};
  in.skip(12);
  const bool local = (in.u8() & 0x0F) == 0;
  const std::uint8_t family = in.u8();
  const std::size_t length = in.u16_be();
  if (length > v2_max_payload) return Invalid{errc::bad_proxy_header, 14};
  const std::size_t total = v2_header_size + length;
  ProxyHeader h;
  if (local) {
    // LOCAL: a health check from the proxy itself; addresses (if any) are ignored.
    h.local = true;
    if (n < total) return NeedMore{total};
    return Complete<ProxyHeader>{h, total};
  }
  const std::uint8_t af = family >> 4;
  const std::uint8_t transport = family & 0x0F;
  if (af == 0 && transport == 0) {
    h.local = true;  // PROXY with AF_UNSPEC: use the real connection's addresses
    if (n < total) return NeedMore{total};
    return Complete<ProxyHeader>{h, total};
  }
  // rdpgate relays TCP only: AF_INET or AF_INET6 over STREAM.
  if ((af != 1 && af != 2) || transport != 1) return Invalid{errc::bad_proxy_header, 13};
  const std::size_t addresses = af == 1 ? 4 + 4 + 2 + 2 : 16 + 16 + 2 + 2;
  if (length < addresses) return Invalid{errc::bad_proxy_header, 14};
  if (n < total) return NeedMore{total};
  h.ipv6 = af == 2;
  const std::size_t size = af == 1 ? 4 : 16;
  for (std::size_t i = 0; i < size; ++i) h.source[i] = in.u8();
  for (std::size_t i = 0; i < size; ++i) h.destination[i] = in.u8();
  h.source_port = in.u16_be();
  h.destination_port = in.u16_be();
  return Complete<ProxyHeader>{h, total};  // TLVs after the addresses are skipped
}

}  // namespace

ParseResult<ProxyHeader> parse_proxy_header(std::span<const std::byte> bytes) noexcept {
  const ByteReader in{bytes};
  if (in.size() == 0) return NeedMore{1};
  if (in.at(0) == v2_signature[0]) {
    for (std::size_t i = 0; i < std::min(in.size(), v2_signature.size()); ++i) {
      if (in.at(i) != v2_signature[i]) return Invalid{errc::bad_proxy_header, i};
    }
    if (in.size() < v2_signature.size()) return NeedMore{v2_header_size};
    return parse_v2(bytes);
  }
  for (std::size_t i = 0; i < std::min(in.size(), v1_prefix.size()); ++i) {
    if (in.at(i) != static_cast<std::uint8_t>(v1_prefix[i]))
      return Invalid{errc::bad_proxy_header, i};
  }
  if (in.size() < v1_prefix.size()) return NeedMore{v1_prefix.size() + 1};
  return parse_v1(bytes);
}

}  // namespace rdpgate::protocol
