#pragma once
// A small blocking HTTP/1.1 client for the admin API, used by the admin CLI. Every call has a
// deadline covering resolve, connect, write and read.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace rdpgate::admin {

struct HostPort {
  std::string host;
  std::string port;
};

// "127.0.0.1:9488", "localhost:9488", "[::1]:9488"; nullopt when the port is missing or bad.
[[nodiscard]] std::optional<HostPort> parse_host_port(std::string_view text);

struct ClientResult {
  boost::system::error_code error;  // transport failure; `response` is meaningless then
  boost::beast::http::response<boost::beast::http::string_body> response;
};

struct ClientRequest {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string target;                // "/v1/bans"
  std::optional<std::string> token;  // sent as "Authorization: Bearer <token>"
  std::optional<std::string> body;   // sent as application/json
};

[[nodiscard]] ClientResult call_admin_api(const HostPort& server, const ClientRequest& request,
                                          std::chrono::milliseconds timeout = std::chrono::seconds{
                                              10});

// Percent-encodes everything but RFC 3986 unreserved characters, for one path segment.
[[nodiscard]] std::string percent_encode_segment(std::string_view text);

}  // namespace rdpgate::admin
