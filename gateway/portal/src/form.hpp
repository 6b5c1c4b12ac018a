#pragma once
// Request decoding for the portal: application/x-www-form-urlencoded bodies and Cookie headers.
// Pure functions over the text.

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace rdpgate::portal::detail {

using Form = std::map<std::string, std::string, std::less<>>;

// "a=1&b=x%20y" -> {a: "1", b: "x y"}; '+' is a space. A repeated key keeps its first value.
// nullopt on a bad percent escape.
[[nodiscard]] std::optional<Form> parse_form(std::string_view body);
// The value of cookie `name` in a Cookie header ("a=1; b=2"), or "".
[[nodiscard]] std::string cookie_value(std::string_view header, std::string_view name);
// 32 random bytes as 64 lowercase hex characters (session ids, CSRF tokens).
[[nodiscard]] std::string random_token();
// Whether `text` looks like a random_token() (so a cookie can be reused as one).
[[nodiscard]] bool is_token(std::string_view text) noexcept;

}  // namespace rdpgate::portal::detail
