// The admin API client: Beast over an io_context of its own, run until the one exchange ends.
// The operations are asynchronous only so that beast::tcp_stream can enforce the deadline.

#include "rdpgate/admin/client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/version.hpp>
#include <charconv>

namespace rdpgate::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
  }
  unsigned number = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (host.empty() || ec != std::errc{} || end != port.data() + port.size() || number == 0 ||
      number > 65535) {
    return std::nullopt;
  }
  return HostPort{std::string{host}, std::string{port}};
}

ClientResult call_admin_api(const HostPort& server, const ClientRequest& request,
                            std::chrono::milliseconds timeout) {
  ClientResult result;
  asio::io_context io;
  tcp::resolver resolver{io};
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;

  http::request<http::string_body> message{request.method, request.target, 11};
  message.set(http::field::host, server.host);
  message.set(http::field::user_agent, "rdpgate-cli");
  message.set(http::field::accept, "application/json");
  if (request.token) message.set(http::field::authorization, "Bearer " + *request.token);
  if (request.body) {
    message.set(http::field::content_type, "application/json");
    message.body() = *request.body;
  }
  message.keep_alive(false);
  message.prepare_payload();

  // One deadline for the whole exchange: the resolver is cancelled by a timer of its own, the
  // stream's expiry covers connect, write and read.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::steady_timer resolve_timer{io, deadline};
  resolve_timer.async_wait([&](beast::error_code ec) {
    if (!ec) resolver.cancel();
  });
  resolver.async_resolve(
      server.host, server.port,
      [&](beast::error_code ec, const tcp::resolver::results_type& found) {
        resolve_timer.cancel();
        if (ec) {
          result.error = ec == asio::error::operation_aborted ? beast::error::timeout : ec;
          return;
        }
        stream.expires_at(deadline);
        stream.async_connect(found, [&](beast::error_code connect_error, const tcp::endpoint&) {
          if (connect_error) {
            result.error = connect_error;
            return;
          }
          http::async_write(stream, message, [&](beast::error_code write_error, std::size_t) {
            if (write_error) {
              result.error = write_error;
              return;
            }
            http::async_read(stream, buffer, result.response,
                             [&](beast::error_code read_error, std::size_t) {
                               result.error = read_error;
                               beast::error_code ignored;
                               stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
                             });
          });
        });
      });
  io.run();
  return result;
}

std::string percent_encode_segment(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += c;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += hex[byte >> 4];
      out += hex[byte & 0x0F];
    }
  }
  return out;
}

}  // namespace rdpgate::admin
