#include "rdpgate/gateway/upstream.hpp"

#include <string>

#include "rdpgate/gateway/log.hpp"
#include "rdpgate/protocol/x224.hpp"

namespace rdpgate::gateway {

awaitable<error_code> connect_endpoint(Socket& socket, const config::Endpoint& endpoint,
                                       const Deadline& deadline, NameCache& names) {
  error_code parse_error;
  const auto literal = asio::ip::make_address(endpoint.host, parse_error);
  if (!parse_error) {
    auto [ec] = co_await socket.async_connect(tcp::endpoint(literal, endpoint.port), use_nothrow);
    co_return ec;
  }
  // A host name: never a lookup here (names.hpp), only the last good answer.
  auto addresses = names.find(endpoint.host);
  if (!addresses) addresses = co_await names.wait(endpoint.host, deadline.when());
  if (deadline.expired() || SteadyClock::now() >= deadline.when()) {
    co_return error_code(asio::error::timed_out);
  }
  if (!addresses) co_return error_code(asio::error::host_not_found);
  error_code last = asio::error::host_not_found;
  for (const auto& address : *addresses) {
    error_code ignored;
    socket.close(ignored);
    auto [ec] = co_await socket.async_connect(tcp::endpoint(address, endpoint.port), use_nothrow);
    if (!ec) co_return ec;
    last = ec;
    if (deadline.expired()) break;
  }
  co_return last;
}

awaitable<std::variant<std::shared_ptr<BackendState>, Outcome>> connect_upstream(
    Socket& server, const RoutePolicy& route, std::string_view user, Deadline& deadline,
    NameCache& names, std::string_view conn) {
  const auto candidates = route.pool->candidates(route.cfg.balance, user);
  for (const auto& b : candidates) {
    const auto started = SteadyClock::now();
    deadline.arm(started + route.cfg.connect_timeout);
    const auto failed = co_await connect_endpoint(server, b->endpoint, deadline, names);
    const bool timed_out = failed && deadline.expired();
    deadline.disarm();
    if (!failed) {
      route.metrics->connect_seconds->Observe(
          std::chrono::duration<double>(SteadyClock::now() - started).count());
      error_code ignored;
      server.set_option(tcp::no_delay(true), ignored);
      co_return b;
    }
    b->metrics->connect_failures->Increment();
    log_event(spdlog::level::warn, "backend_connect_failed",
              {{"conn", conn},
               {"route", route.cfg.name},
               {"backend", b->endpoint.text},
               {"error", timed_out ? std::string("timeout") : failed.message()}});
    error_code ignored;
    server.close(ignored);
  }
  co_return Outcome{Phase::routing, OutcomeKind::backend_unreachable,
                    candidates.empty() ? Why::all_backends_down : Why::connect_failed};
}

awaitable<Confirm> exchange_confirm(Socket& server, std::span<const std::byte> request,
                                    bool expect_confirm, std::optional<std::uint32_t> requested,
                                    const Deadline& deadline) {
  Confirm confirm;
  auto [wec, wn] = co_await asio::async_write(server, asio::buffer(request), use_nothrow);
  if (wec) {
    confirm.failed = deadline.expired() ? Why::confirm_timeout : Why::backend_closed;
    co_return confirm;
  }
  confirm.written = true;
  if (!expect_confirm) co_return confirm;
  confirm.bytes.resize(64);
  std::size_t have = 0;
  for (;;) {
    auto r = protocol::parse_connection_confirm(
        std::span<const std::byte>(confirm.bytes.data(), have), requested);
    if (auto* c = std::get_if<protocol::Complete<protocol::ConnectionConfirm>>(&r)) {
      confirm.parsed = true;
      if (c->pdu.response) confirm.selected = c->pdu.response->selected_protocol;
      if (c->pdu.failure) confirm.negotiation_failure = true;
      if (!c->pdu.response && !c->pdu.failure) confirm.selected = protocol::proto::rdp;
      break;
    }
    if (std::holds_alternative<protocol::Invalid>(r) || have == confirm.bytes.size()) break;
    auto [ec, n] = co_await server.async_read_some(
        asio::buffer(confirm.bytes.data() + have, confirm.bytes.size() - have), use_nothrow);
    if (ec) {
      if (deadline.expired()) {
        confirm.failed = Why::confirm_timeout;
      } else if (have == 0) {
        confirm.failed = Why::backend_closed;
      }
      break;
    }
    have += n;
  }
  confirm.bytes.resize(have);
  co_return confirm;
}

}  // namespace rdpgate::gateway
