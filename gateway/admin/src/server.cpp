// The admin HTTP server. Ownership and deadlines:
//
//   accept loop (acceptor strand)  -- new socket --> serve() on the socket's own strand
//     all slots taken: close the oldest idle connection (never one serving an authorized
//     request), or the new one when there is none
//   serve():  loop { first byte:  header_timeout (new connection) | idle_timeout (kept alive)
//                    header:      header_timeout from accept (new) | from the first byte
//                    authorized /v1 token: mark the connection busy (it cannot be closed for
//                      room); body: read_timeout
//                    handle_request()              (synchronous, no I/O)
//                    write_timeout for the response; mark the connection idle again }
//
// Every connection is registered so that stop() can close it from any thread, and the accept
// loop can pick one to close, by posting the close onto the connection's strand.

#include "rdpgate/admin/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <map>
#include <mutex>
#include <string_view>

#include "rdpgate/admin/handler.hpp"

namespace rdpgate::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

}  // namespace

struct AdminServer::State {
  State(asio::io_context& io, std::string bearer_token, AdminService& admin_service,
        AdminServerLimits server_limits)
      : context(io),
        acceptor(asio::make_strand(io)),
        service(admin_service),
        limits(server_limits),
        token(std::move(bearer_token)) {}

  asio::io_context& context;
  tcp::acceptor acceptor;
  AdminService& service;
  const AdminServerLimits limits;

  struct Connection {
    std::weak_ptr<beast::tcp_stream> stream;
    bool busy = false;           // serving an authorized request: never closed for room
    bool authenticated = false;  // made an authorized request before
  };
  std::mutex mutex;   // guards the members below
  std::string token;  // replaced by a reload (set_token)
  // By id, so in accept order: the first idle one found is the oldest.
  std::map<std::uint64_t, Connection> connections;
  std::uint64_t next_id = 0;
  bool stopped = false;
};

namespace {

using State = AdminServer::State;

// After refusing a request whose body is still arriving, read and drop what the client keeps
// sending for a moment: closing a socket with unread data resets the connection, and the
// client could then lose the refusal it was just sent.
asio::awaitable<void> linger(beast::tcp_stream& stream) {
  constexpr std::size_t max_drained = 1024 * 1024;
  std::array<char, 4096> scratch{};
  std::size_t drained = 0;
  stream.expires_after(std::chrono::seconds{1});
  while (drained < max_drained) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(scratch), use_tuple);
    if (ec) break;
    drained += n;
  }
}

asio::awaitable<void> send(beast::tcp_stream& stream, Response response, bool keep_alive,
                           std::chrono::milliseconds timeout, beast::error_code& ec) {
  response.keep_alive(keep_alive);
  stream.expires_after(timeout);
  auto [write_error, written] = co_await http::async_write(stream, response, use_tuple);
  static_cast<void>(written);
  ec = write_error;
}

void close_on_strand(const std::shared_ptr<beast::tcp_stream>& stream) {
  asio::post(stream->get_executor(), [stream] {
    beast::error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream->socket().close(ignored);
  });
}

// Marks connection `id` busy (serving an authorized request) or idle. False when it is no
// longer registered: it was closed to make room, or the server is stopping.
bool mark(State& state, std::uint64_t id, bool busy) {
  std::lock_guard lock{state.mutex};
  const auto it = state.connections.find(id);
  if (it == state.connections.end()) return false;
  it->second.busy = busy;
  if (busy) it->second.authenticated = true;
  return true;
}

// Called with the mutex held when every slot is taken: unregisters the oldest idle connection,
// preferring one that never made an authorized request, and sets `to_close` to its stream (null
// if it just ended by itself). False when every connection is serving an authorized request.
bool make_room(State& state, std::shared_ptr<beast::tcp_stream>& to_close) {
  auto victim = state.connections.end();
  for (auto it = state.connections.begin(); it != state.connections.end(); ++it) {
    if (it->second.busy) continue;
    if (!it->second.authenticated) {
      victim = it;
      break;
    }
    if (victim == state.connections.end()) victim = it;
  }
  if (victim == state.connections.end()) return false;
  to_close = victim->second.stream.lock();
  state.connections.erase(victim);
  return true;
}

// A request that cannot be read: answer it if an answer helps (400, 413, 431), then close.
asio::awaitable<void> refuse_unreadable(beast::tcp_stream& stream, const beast::error_code& ec,
                                        const AdminServerLimits& limits) {
  // Closed, reset, timed out or cancelled: nobody is waiting for an answer.
  if (ec.category() != http::make_error_code(http::error::bad_method).category() ||
      ec == http::error::end_of_stream || ec == http::error::partial_message) {
    co_return;
  }
  Response refusal = ec == http::error::body_limit
                         ? error_response(http::status::payload_too_large, "request body too large")
                     : ec == http::error::header_limit
                         ? error_response(http::status::request_header_fields_too_large,
                                          "request header too large")
                         : error_response(http::status::bad_request, "bad request");
  beast::error_code write_error;
  co_await send(stream, std::move(refusal), false, limits.write_timeout, write_error);
  if (!write_error) {
    stream.socket().shutdown(tcp::socket::shutdown_send, write_error);
    co_await linger(stream);
  }
}

// True for a request that the handler answers only with the right bearer token.
bool authorized_request(const http::request_parser<http::string_body>& parser,
                        std::string_view token) {
  const auto& header = parser.get();
  const std::string_view target = header.target();
  return (target == "/v1" || target.starts_with("/v1/") || target.starts_with("/v1?")) &&
         bearer_token_matches(header[http::field::authorization], token);
}

asio::awaitable<void> serve(std::shared_ptr<State> state, std::shared_ptr<beast::tcp_stream> stream,
                            std::uint64_t id) {
  const auto& limits = state->limits;
  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header));
    parser.body_limit(limits.max_body);
    // The header: within header_timeout of the accept for a new connection; a kept-alive one
    // may wait idle_timeout for the request's first byte, then has header_timeout.
    if (!first && buffer.size() == 0) {
      stream->expires_after(limits.idle_timeout);
      auto [ec, n] = co_await stream->async_read_some(buffer.prepare(1024), use_tuple);
      if (ec) break;  // idle timeout, closed by the client, or closed to make room
      buffer.commit(n);
    }
    stream->expires_after(limits.header_timeout);
    first = false;
    auto [header_error, header_read] =
        co_await http::async_read_header(*stream, buffer, parser, use_tuple);
    static_cast<void>(header_read);
    if (header_error) {
      co_await refuse_unreadable(*stream, header_error, limits);
      break;
    }
    // The token of the request's time (a reload may replace it: set_token).
    std::string token;
    {
      std::lock_guard lock{state->mutex};
      token = state->token;
    }
    // An authorized request is not closed to make room; anything else stays idle.
    const bool authorized = authorized_request(parser, token);
    if (!mark(*state, id, authorized)) break;  // closed to make room meanwhile
    if (!parser.is_done()) {
      stream->expires_after(limits.read_timeout);
      auto [body_error, body_read] = co_await http::async_read(*stream, buffer, parser, use_tuple);
      static_cast<void>(body_read);
      if (body_error) {
        co_await refuse_unreadable(*stream, body_error, limits);
        break;
      }
    }
    const Request request = parser.release();
    Response response = handle_request(request, token, state->service);
    beast::error_code write_error;
    const bool keep_alive = request.keep_alive();
    co_await send(*stream, std::move(response), keep_alive, limits.write_timeout, write_error);
    if (write_error || !keep_alive || !mark(*state, id, false)) break;
  }
  beast::error_code ignored;
  stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream->socket().close(ignored);
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> state) {
  for (;;) {
    auto [ec, socket] =
        co_await state->acceptor.async_accept(asio::make_strand(state->context), use_tuple);
    if (!state->acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE and friends: pause briefly and keep listening rather than end the listener.
      asio::steady_timer pause{state->acceptor.get_executor(), std::chrono::milliseconds{100}};
      co_await pause.async_wait(use_tuple);
      continue;
    }
    auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
    std::uint64_t id = 0;
    std::shared_ptr<beast::tcp_stream> evicted;
    {
      std::lock_guard lock{state->mutex};
      // Forget finished connections first so the count below is the number still open.
      std::erase_if(state->connections,
                    [](const auto& entry) { return entry.second.stream.expired(); });
      const bool full =
          !state->stopped && state->connections.size() >= state->limits.max_connections;
      if (state->stopped || (full && !make_room(*state, evicted))) {
        beast::error_code ignored;
        stream->socket().close(ignored);
        continue;
      }
      id = state->next_id++;
      state->connections.emplace(id, State::Connection{stream});
    }
    if (evicted) close_on_strand(evicted);
    auto executor = stream->get_executor();
    asio::co_spawn(executor, serve(state, std::move(stream), id),
                   [state, id](const std::exception_ptr&) {
                     // serve() handles every expected error itself; an exception here is a
                     // bug in one connection and must not end the server.
                     std::lock_guard lock{state->mutex};
                     state->connections.erase(id);
                   });
  }
}

}  // namespace

AdminServer::AdminServer(asio::io_context& io, const tcp::endpoint& endpoint,
                         std::string bearer_token, AdminService& service, AdminServerLimits limits)
    : state_(std::make_shared<State>(io, std::move(bearer_token), service, limits)) {
  auto& acceptor = state_->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  local_ = acceptor.local_endpoint();
}

AdminServer::~AdminServer() {
  try {
    stop();
  } catch (const std::exception&) {
    // Posting the closes failed (the io_context is gone): nothing is left to close.
  }
}

void AdminServer::start() {
  asio::co_spawn(state_->acceptor.get_executor(), accept_loop(state_), asio::detached);
}

void AdminServer::set_token(std::string bearer_token) {
  std::lock_guard lock{state_->mutex};
  state_->token = std::move(bearer_token);
}

void AdminServer::stop() {
  std::vector<std::shared_ptr<beast::tcp_stream>> open;
  {
    std::lock_guard lock{state_->mutex};
    if (state_->stopped) return;
    state_->stopped = true;
    for (const auto& [id, connection] : state_->connections) {
      if (auto stream = connection.stream.lock()) open.push_back(std::move(stream));
    }
  }
  asio::post(state_->acceptor.get_executor(), [state = state_] {
    beast::error_code ignored;
    state->acceptor.close(ignored);
  });
  for (const auto& stream : open) close_on_strand(stream);
}

tcp::endpoint AdminServer::local_endpoint() const { return local_; }

}  // namespace rdpgate::admin
