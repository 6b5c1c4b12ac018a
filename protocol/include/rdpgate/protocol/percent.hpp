#pragma once
// Percent-decoding (RFC 3986 §2.1) of the admin API's path segments and the portal's form fields
// (application/x-www-form-urlencoded, where '+' also stands for a space). Header-only and
// standard-library only, like json.hpp, so gateway/admin and gateway/portal share it.

#include <optional>
#include <string>
#include <string_view>

#include "rdpgate/protocol/hex.hpp"

namespace rdpgate::protocol::percent {

enum class Plus : bool {
  literal,  // a path segment: '+' is itself
  space,    // a form field: '+' is a space
};

// `text` with every %XX replaced by its byte; nullopt when a '%' is not followed by two hex
// digits.
[[nodiscard]] inline std::optional<std::string> decode(std::string_view text, Plus plus) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+' && plus == Plus::space) {
      out += ' ';
      continue;
    }
    if (c != '%') {
      out += c;
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = hex_value(text[i + 1]);
    const int low = hex_value(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

}  // namespace rdpgate::protocol::percent
