#pragma once
// base64url without padding (RFC 4648 §5, as JWS uses it: RFC 7515 §2).

#include <optional>
#include <string>
#include <string_view>

namespace rdpgate::security {

[[nodiscard]] std::string base64url_encode(std::string_view bytes);
// Strict: only the base64url alphabet, no '=' padding, no whitespace, and the unused low bits
// of the last character must be zero, so every byte string has exactly one encoding (a token
// cannot be altered without changing what is signed).
[[nodiscard]] std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace rdpgate::security
