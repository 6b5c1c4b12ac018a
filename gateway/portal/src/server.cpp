// The portal's HTTPS server. Per connection (one coroutine, on the server's single thread):
//   handshake (handshake_timeout) -> loop { request (idle_timeout for its first byte when
//   kept alive, then request_timeout) -> Portal::handle() -> response (write_timeout) }
// -> TLS shutdown (bounded), close.

#include "rdpgate/portal/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <map>

#include "rdpgate/security/secret_file.hpp"

namespace rdpgate::portal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
using Stream = beast::ssl_stream<beast::tcp_stream>;

config::IpAddress to_ip(const asio::ip::address& address) {
  if (address.is_v4()) return config::IpAddress::from_v4(address.to_v4().to_uint());
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    return config::IpAddress::from_v4(asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_uint());
  }
  return config::IpAddress::from_v6(v6.to_bytes());
}

}  // namespace

std::variant<std::shared_ptr<ssl::context>, std::string> make_tls_context(
    const std::string& cert_file, const std::string& key_file) {
  auto key = security::read_secret_file(key_file);
  if (!key.ok()) return "portal tls.key_file \"" + key_file + "\": " + key.error;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
  boost::system::error_code ec;
  context->use_certificate_chain_file(cert_file, ec);
  if (ec) return "portal tls.cert_file \"" + cert_file + "\": " + ec.message();
  context->use_private_key(asio::buffer(key.contents), ssl::context::pem, ec);
  if (ec) return "portal tls.key_file \"" + key_file + "\": " + ec.message();
  return context;
}

struct PortalServer::State {
  State(asio::io_context& context, std::shared_ptr<ssl::context> tls_context, Portal& handler,
        PortalServerLimits l)
      : io(context), tls(std::move(tls_context)), portal(handler), limits(l) {}
  asio::io_context& io;  // owned by PortalServer
  tcp::acceptor acceptor{io};
  std::shared_ptr<ssl::context> tls;
  Portal& portal;
  const PortalServerLimits limits;
  // Open connections by id, so stop() can close them (only touched on the server's thread).
  std::map<std::uint64_t, std::weak_ptr<Stream>> connections;
  std::uint64_t next_id = 0;
};

namespace {

using State = PortalServer::State;

asio::awaitable<void> serve(std::shared_ptr<State> state, std::shared_ptr<Stream> stream) {
  const auto& limits = state->limits;
  auto& lowest = beast::get_lowest_layer(*stream);
  const auto peer = to_ip(lowest.socket().remote_endpoint().address());
  lowest.expires_after(limits.handshake_timeout);
  auto [handshake_error] = co_await stream->async_handshake(ssl::stream_base::server, use_tuple);
  if (handshake_error) co_return;
  beast::flat_buffer buffer;
  for (bool first = true;; first = false) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header));
    parser.body_limit(limits.max_body);
    lowest.expires_after(first ? limits.request_timeout : limits.idle_timeout);
    if (!first && buffer.size() == 0) {
      auto [ec, n] = co_await stream->async_read_some(buffer.prepare(1024), use_tuple);
      if (ec) break;
      buffer.commit(n);
    }
    lowest.expires_after(limits.request_timeout);
    auto [read_error, read] = co_await http::async_read(*stream, buffer, parser, use_tuple);
    static_cast<void>(read);
    if (read_error) break;  // closed, timed out, too large or malformed: close
    const auto request = parser.release();
    auto response = state->portal.handle(request, peer, std::chrono::system_clock::now());
    const bool keep_alive = request.keep_alive();
    response.keep_alive(keep_alive);
    lowest.expires_after(limits.write_timeout);
    auto [write_error, written] = co_await http::async_write(*stream, response, use_tuple);
    static_cast<void>(written);
    if (write_error || !keep_alive) break;
  }
  lowest.expires_after(std::chrono::seconds{2});
  auto [shutdown_error] = co_await stream->async_shutdown(use_tuple);
  static_cast<void>(shutdown_error);
  beast::error_code ignored;
  lowest.socket().close(ignored);
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> state) {
  for (;;) {
    auto [ec, socket] = co_await state->acceptor.async_accept(use_tuple);
    if (!state->acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE and friends: pause briefly and keep listening rather than end the listener.
      asio::steady_timer pause{state->io, std::chrono::milliseconds{100}};
      co_await pause.async_wait(use_tuple);
      continue;
    }
    std::erase_if(state->connections, [](const auto& entry) { return entry.second.expired(); });
    if (state->connections.size() >= state->limits.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);
      continue;
    }
    auto stream = std::make_shared<Stream>(beast::tcp_stream(std::move(socket)), *state->tls);
    const auto id = state->next_id++;
    state->connections.emplace(id, stream);
    asio::co_spawn(state->io, serve(state, std::move(stream)),
                   [state, id](const std::exception_ptr&) { state->connections.erase(id); });
  }
}

}  // namespace

PortalServer::PortalServer(const tcp::endpoint& endpoint, std::shared_ptr<ssl::context> tls,
                           Portal& portal, PortalServerLimits limits)
    : io_(std::make_unique<asio::io_context>(1)),
      state_(std::make_shared<State>(*io_, std::move(tls), portal, limits)) {
  auto& acceptor = state_->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  if (endpoint.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  local_ = acceptor.local_endpoint();
}

PortalServer::~PortalServer() {
  try {
    stop();
  } catch (const std::exception&) {
    // Joining failed (the thread is gone already): nothing is left to stop.
  }
}

void PortalServer::start() {
  asio::co_spawn(state_->io, accept_loop(state_), asio::detached);
  thread_ = std::thread([state = state_] {
    for (;;) {
      try {
        state->io.run();
        return;
      } catch (const std::exception&) {
        // A bug in one connection's handler must not end the portal: keep serving.
      }
    }
  });
}

void PortalServer::stop() {
  asio::post(state_->io, [state = state_] {
    beast::error_code ignored;
    state->acceptor.close(ignored);
    for (auto& [id, weak] : state->connections) {
      if (auto stream = weak.lock()) beast::get_lowest_layer(*stream).socket().close(ignored);
    }
    state->connections.clear();
    state->io.stop();
  });
  if (thread_.joinable()) thread_.join();
}

}  // namespace rdpgate::portal
