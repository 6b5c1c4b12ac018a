#pragma once
// The admin API as a function from one HTTP request to one HTTP response: routing,
// authorization, body validation and the JSON shapes, with no I/O. AdminServer feeds it.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string_view>

#include "rdpgate/admin/service.hpp"

namespace rdpgate::admin {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// A ban added without "duration" lasts this long.
inline constexpr config::Duration default_ban_duration = std::chrono::hours{1};
// Bans and grants longer than this are refused: a permanent refusal belongs in sources.deny.
inline constexpr config::Duration max_admin_duration = std::chrono::hours{24 * 3650};

// True when `authorization` is "Bearer <token>" (scheme case-insensitive) and the token equals
// `expected`. The comparison takes the same time whatever the tokens; an empty `expected`
// never matches.
[[nodiscard]] bool bearer_token_matches(std::string_view authorization,
                                        std::string_view expected) noexcept;

// Answers one request. Never throws: a throwing service becomes 500 {"error":"internal error"}.
// The returned response has its body, Content-Type and Content-Length set; keep-alive is left
// to the caller.
[[nodiscard]] Response handle_request(const Request& request, std::string_view token,
                                      AdminService& service);

// A JSON error response: {"error": message}.
[[nodiscard]] Response error_response(boost::beast::http::status status, std::string_view message,
                                      unsigned version = 11);

}  // namespace rdpgate::admin
