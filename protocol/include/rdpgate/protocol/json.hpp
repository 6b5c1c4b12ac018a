#pragma once
// JSON string escaping (RFC 8259 §7), the one escaper of `rdpgate inspect`, the log lines and
// the audit records. Header-only and standard-library only, so protocol/ and gateway/ share it.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rdpgate/protocol/hex.hpp"

namespace rdpgate::protocol::json {

enum class NonAscii : std::uint8_t {
  keep,    // bytes >= 0x80 are copied (UTF-8 the caller trusts)
  escape,  // bytes >= 0x80 are written as \u00XX (a Latin-1 view of wire bytes)
};

namespace detail {

// Bit 0: escaped in both modes (" \ 0x00-0x1F 0x7F); bit 1: escaped only with NonAscii::escape.
inline constexpr std::array<std::uint8_t, 256> escape_table = [] {
  std::array<std::uint8_t, 256> t{};
  for (std::size_t c = 0; c < 0x20; ++c) t[c] = 1;
  t['"'] = t['\\'] = t[0x7F] = 1;
  for (std::size_t c = 0x80; c < 0x100; ++c) t[c] = 2;
  return t;
}();

}  // namespace detail

// True when `c` is not copied as it is by append_escaped() in `mode`.
[[nodiscard]] constexpr bool needs_escape(unsigned char c,
                                          NonAscii mode = NonAscii::keep) noexcept {
  return (detail::escape_table[c] & (mode == NonAscii::keep ? 1 : 3)) != 0;
}

// Appends `s` escaped per RFC 8259 §7 (without the surrounding quotes): " \\ \n \r \t as short
// escapes, other bytes < 0x20 and 0x7F (and, with NonAscii::escape, bytes >= 0x80) as \u00xx in
// lowercase hex. Runs of plain bytes are appended at once: the audit record is written for every
// connection, so this is on the hot path.
inline void append_escaped(std::string& out, std::string_view s, NonAscii mode = NonAscii::keep) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (!needs_escape(c, mode)) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        const char u[] = {'\\', 'u', '0', '0', hex_digit(c >> 4U), hex_digit(c)};
        out.append(u, sizeof u);
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
}

// `s` escaped as by append_escaped(), without quotes.
[[nodiscard]] inline std::string escape(std::string_view s, NonAscii mode = NonAscii::keep) {
  std::string out;
  out.reserve(s.size());
  append_escaped(out, s, mode);
  return out;
}

}  // namespace rdpgate::protocol::json
