#include "rdpgate/gateway/session.hpp"

#include <fcntl.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <atomic>
#include <cstring>
#include <random>

#include "rdpgate/gateway/buffer_pool.hpp"
#include "rdpgate/gateway/log.hpp"
#include "rdpgate/gateway/pipe_pool.hpp"
#include "rdpgate/gateway/session_hooks.hpp"
#include "rdpgate/gateway/timeouts.hpp"
#include "rdpgate/protocol/first_flight.hpp"
#include "rdpgate/protocol/proxy_protocol.hpp"
#include "rdpgate/protocol/rdp.hpp"
#include "rdpgate/protocol/writers.hpp"
#include "rdpgate/protocol/x224.hpp"

namespace rdpgate::gateway {
namespace {

using namespace std::chrono_literals;

// After writing a refusal, read and discard what the client still sends for this long before
// closing: closing with unread input makes the kernel send RST, which can destroy the reply
// before the client reads it (rdp-preauth-protocol.md §10, RFC 1122 §4.2.2.13).
constexpr auto linger_after_reply = 2s;
constexpr std::size_t linger_max_bytes = 64 * 1024;

std::string hex_id(std::uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = digits[v & 0xF];
  return s;
}

bool starts_with_proxy_signature(std::span<const std::byte> b) {
  static constexpr unsigned char v1[] = {'P', 'R', 'O', 'X', 'Y', ' '};
  static constexpr unsigned char v2[] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51};
  auto match = [&](const unsigned char* sig, std::size_t n) {
    const auto k = std::min(n, b.size());
    return k > 0 && std::memcmp(b.data(), sig, k) == 0;
  };
  return match(v1, sizeof v1) || match(v2, sizeof v2);
}

std::string correlation_text(const std::optional<std::array<std::uint8_t, 16>>& id) {
  if (!id) return {};
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (auto b : *id) {
    s += digits[b >> 4];
    s += digits[b & 0xF];
  }
  return s;
}

}  // namespace

std::string next_session_id() {
  // A random 64-bit base per process plus a counter, mixed so ids do not look sequential.
  static const std::uint64_t base = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }();
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t x = base + 0x9E3779B97F4A7C15ull * (counter.fetch_add(1) + 1);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return hex_id(x);
}

Peer peer_of(const tcp::endpoint& remote, std::size_t listener) {
  Peer p;
  p.listener = listener;
  p.port = remote.port();
  const auto a = remote.address();
  if (a.is_v4()) {
    p.address = config::IpAddress::from_v4(a.to_v4().to_uint());
  } else if (a.to_v6().is_v4_mapped()) {
    p.address = config::IpAddress::from_v4(
        asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_uint());
  } else {
    p.address = config::IpAddress::from_v6(a.to_v6().to_bytes());
  }
  return p;
}

std::string ip_text(const config::IpAddress& address) {
  if (!address.is_v4()) return address.to_string();
  // IPv4, the common case, formatted directly: this runs for every connection.
  std::string out;
  out.reserve(15);
  for (std::size_t i = 12; i < 16; ++i) {
    if (i > 12) out += '.';
    char digits[4];
    const auto end = std::to_chars(digits, digits + sizeof digits, address.bytes[i]).ptr;
    out.append(digits, end);
  }
  return out;
}

std::string endpoint_text(const config::IpAddress& address, std::uint16_t port) {
  auto ip = ip_text(address);
  if (!address.is_v4()) ip = "[" + ip + "]";
  return ip + ":" + std::to_string(port);
}

Session::Session(SessionContext& ctx, std::shared_ptr<const Policy> policy, tcp::socket client,
                 Peer peer, ConnectionSlot slot, bool admitted, SteadyClock::time_point accepted)
    : ctx_(ctx),
      policy_(std::move(policy)),
      listener_(&policy_->listeners().at(peer.listener)),
      client_(std::move(client)),
      server_(client_.get_executor()),
      peer_(peer),
      slot_(std::move(slot)),
      admitted_(admitted),
      accepted_(accepted),
      started_wall_(SystemClock::now()) {}

awaitable<void> Session::run() {
  entry_ = std::make_shared<SessionEntry>();
  entry_->id = next_session_id();
  entry_->source = endpoint_text(peer_.address, peer_.port);
  entry_->listener = listener_->cfg.name;
  entry_->started = started_wall_;
  entry_->executor = client_.get_executor();
  entry_->stop = [this](OutcomeKind why) { stop_from_outside(why); };
  ctx_.registry.add(entry_);
  deadline_timer_.emplace(client_.get_executor());

  Outcome outcome;
  try {
    // The pre-relay pipeline's coroutine frame is gone before the (long) relay starts, so an
    // idle session keeps only what relaying needs.
    // (No co_await inside a conditional expression: GCC 12 mishandles its temporaries.)
    auto refused = co_await pipeline();
    if (refused) {
      outcome = std::move(*refused);
    } else {
      outcome = co_await relay();
    }
  } catch (const std::exception& e) {
    outcome = Outcome{Phase::relay, OutcomeKind::internal_error, "exception"};
    log_event(spdlog::level::err, "internal_error",
              {{"conn", entry_->id}, {"error", std::string_view(e.what())}});
  }
  // INVARIANT: no deadline handler runs after the session is gone. Cancelling queues a pending
  // wait (with operation_aborted), and an expired one is already queued; this session's own
  // continuation, posted after both, runs after them on this single-threaded executor.
  disarm_deadline();
  co_await asio::post(client_.get_executor(), use_awaitable);
  entry_->alive = false;
  ctx_.registry.remove(entry_->id);
  error_code ignored;
  client_.close(ignored);
  server_.close(ignored);
  finish(outcome);
}

void Session::arm_deadline(SteadyClock::time_point when) {
  const auto generation = ++deadline_generation_;
  deadline_hit_ = false;
  deadline_timer_->expires_at(when);
  deadline_timer_->async_wait([this, generation](const error_code& ec) {
    if (ec || generation != deadline_generation_) return;  // cancelled or re-armed
    deadline_hit_ = true;
    error_code ignored;
    client_.cancel(ignored);
    server_.cancel(ignored);
  });
}

void Session::disarm_deadline() {
  ++deadline_generation_;
  deadline_timer_->cancel();
}

void Session::stop_from_outside(OutcomeKind why) {
  if (!stopped_) stopped_ = why;
  error_code ignored;
  client_.cancel(ignored);
  server_.cancel(ignored);
  client_.close(ignored);
  server_.close(ignored);
}

awaitable<std::optional<Outcome>> Session::pipeline() {
  const auto& lc = listener_->cfg;
  const auto deadline = accepted_ + lc.inspection.timeout;
  // Not zero-filled: only the bytes read are ever looked at (inlen_).
  inbuf_size_ = std::max<std::size_t>(lc.inspection.max_bytes, 64) + (lc.proxy_protocol ? 536 + 16 : 0);
  inbuf_.reset(new std::byte[inbuf_size_]);

  arm_deadline(deadline);  // the whole inspection phase (PROXY header included)
  if (!admitted_) {
    // A trusted load balancer: the PROXY header names the real client, and admission runs on it.
    if (auto refused = co_await read_proxy_header(deadline)) co_return *refused;
    if (auto refused = admit_source(*policy_, ctx_.services, peer_, slot_)) co_return *refused;
  }

  if (auto refused = co_await inspect(deadline)) co_return *refused;
  disarm_deadline();
  {
    std::lock_guard lock(entry_->mutex);
    entry_->user = request_->user;
  }

  const auto now = SystemClock::now();
  if (auto d = policy_->check(peer_, *request_, now); d.refused()) {
    co_return co_await refuse_with_reply(Phase::policy, d);
  }

  // Signed access tokens (PCB string or routing token) and route choice.
  std::string token_route;
  if (auto refusal = check_token(*policy_, ctx_.services, peer_, *request_, now, token_route,
                                 token_consumed_)) {
    co_return co_await refuse_with_reply(Phase::policy, *refusal);
  }
  const auto route_index =
      policy_->choose_route(peer_, *request_, token_route.empty() ? nullptr : &token_route);
  if (!route_index) {
    co_return co_await refuse_with_reply(
        Phase::routing, Decision::refuse(token_route.empty() ? OutcomeKind::no_route
                                                             : OutcomeKind::token_invalid,
                                         token_route.empty() ? "no_route" : "unknown_route"));
  }
  route_ = &policy_->routes()[*route_index];
  if (auto refusal = check_route_access(*policy_, ctx_.services, peer_, *route_, token_route, now)) {
    co_return co_await refuse_with_reply(Phase::routing, *refusal);
  }
  {
    std::lock_guard lock(entry_->mutex);
    entry_->route = route_->cfg.name;
  }

  if (auto failed = co_await connect_backend(*route_)) co_return *failed;
  if (auto failed = co_await exchange_confirm(deadline)) co_return *failed;
  co_return std::nullopt;  // ready to relay
}

awaitable<std::optional<Outcome>> Session::read_proxy_header(SteadyClock::time_point deadline) {
  auto read_header = [this]() -> awaitable<std::string> {
    for (;;) {
      auto r = protocol::parse_proxy_header(std::span<const std::byte>(inbuf_.get(), inlen_));
      if (auto* c = std::get_if<protocol::Complete<protocol::ProxyHeader>>(&r)) {
        proxy_size_ = c->consumed;
        if (!c->pdu.local) {
          config::IpAddress a;
          if (c->pdu.ipv6) {
            a = config::IpAddress::from_v6(c->pdu.source);
          } else {
            a = config::IpAddress::from_v4((std::uint32_t{c->pdu.source[0]} << 24) |
                                           (std::uint32_t{c->pdu.source[1]} << 16) |
                                           (std::uint32_t{c->pdu.source[2]} << 8) |
                                           std::uint32_t{c->pdu.source[3]});
          }
          peer_.address = a;
          peer_.port = c->pdu.source_port;
          entry_->source = endpoint_text(peer_.address, peer_.port);
        }
        co_return std::string{};
      }
      if (auto* inv = std::get_if<protocol::Invalid>(&r)) {
        co_return std::string(protocol::to_string(inv->code));
      }
      if (inlen_ == inbuf_size_) co_return std::string("bad_proxy_header");
      auto [ec, n] = co_await client_.async_read_some(
          asio::buffer(inbuf_.get() + inlen_, inbuf_size_ - inlen_), use_nothrow);
      if (ec) co_return std::string(deadline_hit_ ? "proxy_timeout" : "client_closed");
      inlen_ += n;
    }
  };
  (void)deadline;  // enforced by the phase deadline armed in pipeline()
  const auto error = co_await read_header();
  if (stopped_) co_return Outcome{Phase::admission, *stopped_, "stopped"};
  if (!error.empty()) co_return Outcome{Phase::admission, OutcomeKind::proxy_refused, error};
  co_return std::nullopt;
}

std::optional<Outcome> admit_source(const Policy& policy, Services& services, const Peer& peer,
                                    ConnectionSlot& slot) {
  if (auto d = policy.admit(peer, SystemClock::now()); d.refused()) {
    return Outcome{Phase::admission, d.refusal, d.reason};
  }
  const auto& s = policy.listeners().at(peer.listener).cfg.sources;
  switch (services.tracker.acquire(peer.address, s.max_connections, s.per_source_max_connections)) {
    case ConnectionTracker::Result::admitted:
      slot = ConnectionSlot(&services.tracker, peer.address);
      return std::nullopt;
    case ConnectionTracker::Result::too_many_total:
      return Outcome{Phase::admission, OutcomeKind::too_many_connections, "global_limit"};
    case ConnectionTracker::Result::too_many_per_source:
      return Outcome{Phase::admission, OutcomeKind::too_many_connections, "per_source_limit"};
  }
  return std::nullopt;
}

awaitable<std::optional<Outcome>> Session::inspect(SteadyClock::time_point deadline) {
  const auto& lc = listener_->cfg;
  auto limits = listener_->limits;
  // The first flight may not exceed the byte cap; a PROXY header before it is not counted.
  struct Result {
    std::optional<Outcome> refused;
  };
  auto read_flight = [&]() -> awaitable<Result> {
    for (;;) {
      const std::span<const std::byte> flight(inbuf_.get() + proxy_size_, inlen_ - proxy_size_);
      if (!flight.empty()) {
        // Refuse a TLS start at once when Direct Approach is off: no need to wait for the record.
        if (!lc.inspection.direct_approach && !flight.empty() &&
            flight[0] == std::byte{0x16}) {
          co_return Result{Outcome{Phase::inspection, OutcomeKind::not_rdp, "not_rdp_tls"}};
        }
        auto r = protocol::parse_first_flight(flight, limits);
        if (auto* c = std::get_if<protocol::Complete<protocol::FirstFlight>>(&r)) {
          if (c->pdu.tls && !lc.inspection.direct_approach) {
            co_return Result{Outcome{Phase::inspection, OutcomeKind::not_rdp, "not_rdp_tls"}};
          }
          flight_size_ = c->consumed;
          request_ = Request::from(c->pdu);
          co_return Result{};
        }
        if (auto* inv = std::get_if<protocol::Invalid>(&r)) {
          if (protocol::is_not_rdp(inv->code)) {
            if (starts_with_proxy_signature(flight)) {
              co_return Result{Outcome{Phase::inspection, OutcomeKind::proxy_refused,
                                       lc.proxy_protocol ? "untrusted_proxy" : "proxy_not_enabled"}};
            }
            co_return Result{Outcome{Phase::inspection, OutcomeKind::not_rdp,
                                     std::string(protocol::to_string(inv->code))}};
          }
          co_return Result{Outcome{Phase::inspection, OutcomeKind::malformed,
                                   std::string(protocol::to_string(inv->code))}};
        }
      }
      if (inlen_ == inbuf_size_) {
        co_return Result{Outcome{Phase::inspection, OutcomeKind::malformed, "too_large"}};
      }
      auto [ec, n] = co_await client_.async_read_some(
          asio::buffer(inbuf_.get() + inlen_, inbuf_size_ - inlen_), use_nothrow);
      if (ec) {
        if (stopped_) co_return Result{Outcome{Phase::inspection, *stopped_, "stopped"}};
        if (deadline_hit_) {
          co_return Result{Outcome{Phase::inspection, OutcomeKind::inspect_timeout, "inspect_timeout"}};
        }
        // The client left before completing its request. An empty connection (a port scan)
        // is not RDP; a partial request is a malformed one.
        co_return Result{Outcome{Phase::inspection,
                                 inlen_ == proxy_size_ ? OutcomeKind::not_rdp : OutcomeKind::malformed,
                                 inlen_ == proxy_size_ ? "closed_before_data" : "truncated"}};
      }
      listener_->metrics->inspection_bytes->Increment(static_cast<double>(n));
      inlen_ += n;
    }
  };
  (void)deadline;  // enforced by the phase deadline armed in pipeline()
  auto result = co_await read_flight();
  co_return result.refused;
}

awaitable<Outcome> Session::refuse_with_reply(Phase phase, const Decision& d) {
  Outcome outcome{phase, d.refusal, d.reason};
  std::vector<std::byte> reply;
  if (d.reply) {
    const auto bytes = protocol::write_negotiation_failure(*d.reply);
    reply.assign(bytes.begin(), bytes.end());
  } else if (d.disconnect_request) {
    const auto bytes = protocol::write_disconnect_request(request_ ? request_->src_ref : 0);
    reply.assign(bytes.begin(), bytes.end());
  }
  if (reply.empty()) co_return outcome;
  auto answer = [&]() -> awaitable<int> {
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(reply), use_nothrow);
    if (ec) co_return 0;
    error_code ignored;
    client_.shutdown(tcp::socket::shutdown_send, ignored);
    // Drain what the client still sends until it closes (bounded in time and bytes).
    std::array<std::byte, 4096> sink;
    std::size_t drained = 0;
    while (drained < linger_max_bytes) {
      auto [rec, rn] = co_await client_.async_read_some(asio::buffer(sink), use_nothrow);
      if (rec) break;
      drained += rn;
    }
    co_return 0;
  };
  arm_deadline(SteadyClock::now() + linger_after_reply);
  co_await answer();
  disarm_deadline();
  co_return outcome;
}

awaitable<std::optional<Outcome>> Session::connect_backend(const RoutePolicy& route) {
  const auto candidates = route.pool->candidates(route.cfg.balance, request_->user);
  auto executor = co_await asio::this_coro::executor;
  for (const auto& b : candidates) {
    const auto started = SteadyClock::now();
    auto attempt = [&]() -> awaitable<error_code> {
      // IP literals (the usual case) skip the resolver: Asio resolves on a helper thread.
      error_code parse_error;
      const auto literal = asio::ip::make_address(b->endpoint.host, parse_error);
      if (!parse_error) {
        auto [ec] = co_await server_.async_connect(tcp::endpoint(literal, b->endpoint.port),
                                                   use_nothrow);
        co_return ec;
      }
      // A DNS name: the resolver runs on Asio's helper thread and is not cancelled with the
      // sockets, so it gets its own race against the connect timeout.
      auto resolve = [&]() -> awaitable<std::tuple<error_code, tcp::resolver::results_type>> {
        tcp::resolver resolver(executor);
        co_return co_await resolver.async_resolve(b->endpoint.host, std::to_string(b->endpoint.port),
                                                  tcp::resolver::numeric_service, use_nothrow);
      };
      auto resolved = co_await within(route.cfg.connect_timeout, resolve());
      if (!resolved) co_return error_code(asio::error::timed_out);
      auto& [rec, results] = *resolved;
      if (rec) co_return rec;
      error_code last = asio::error::host_not_found;
      for (const auto& r : results) {
        error_code ignored;
        server_.close(ignored);
        auto [ec] = co_await server_.async_connect(r.endpoint(), use_nothrow);
        if (!ec) co_return ec;
        last = ec;
      }
      co_return last;
    };
    arm_deadline(started + route.cfg.connect_timeout);
    auto result = co_await attempt();
    const bool timed_out = deadline_hit_ && result;
    disarm_deadline();
    if (stopped_) co_return Outcome{Phase::routing, *stopped_, "stopped"};
    if (!result) {
      route.metrics->connect_seconds->Observe(
          std::chrono::duration<double>(SteadyClock::now() - started).count());
      backend_ = b;
      error_code ignored;
      server_.set_option(tcp::no_delay(true), ignored);
      {
        std::lock_guard lock(entry_->mutex);
        entry_->backend = b->endpoint.text;
      }
      co_return std::nullopt;
    }
    b->metrics->connect_failures->Increment();
    log_event(spdlog::level::warn, "backend_connect_failed",
              {{"conn", entry_->id},
               {"route", route.cfg.name},
               {"backend", b->endpoint.text},
               {"error", timed_out ? std::string("timeout") : result.message()}});
    error_code ignored;
    server_.close(ignored);
  }
  co_return Outcome{Phase::routing, OutcomeKind::backend_unreachable,
                    candidates.empty() ? "all_backends_down" : "connect_failed"};
}

std::vector<std::byte> Session::forwarded_first_flight() const {
  // [MS-RDPBCGR] 5.4.2.1: the client echoes serverSelectedProtocol and the server echoes
  // clientRequestedProtocols inside the secure channel, so the request is forwarded verbatim.
  // The only changes: a Preconnection PDU rdpgate consumed is dropped (unless the route forwards
  // it), and so is a routing-token line that carried rdpgate's own signed token — then the TPKT
  // length and X.224 LI are reduced by the line's size (neither is covered by the echo).
  const std::byte* flight = inbuf_.get() + proxy_size_;
  std::vector<std::byte> out;
  std::size_t start = 0;
  if (request_->preconnection && !route_->cfg.forward_preconnection) start = request_->preconnection_size;
  if (!token_consumed_ || request_->token_size == 0) {
    out.assign(flight + start, flight + flight_size_);
  } else {
    const std::size_t cr = request_->preconnection_size;
    out.assign(flight + start, flight + request_->token_offset);
    out.insert(out.end(), flight + request_->token_offset + request_->token_size,
               flight + flight_size_);
    const std::size_t cr_at = cr - start;
    const auto length = static_cast<std::size_t>((std::to_integer<unsigned>(out[cr_at + 2]) << 8) |
                                                 std::to_integer<unsigned>(out[cr_at + 3])) -
                        request_->token_size;
    out[cr_at + 2] = static_cast<std::byte>(length >> 8);
    out[cr_at + 3] = static_cast<std::byte>(length & 0xFF);
    out[cr_at + 4] = static_cast<std::byte>(length - 5);
  }
  // After a CR nothing else can be buffered (the parser refuses pipelining); after a Direct
  // Approach ClientHello that spans records, the rest of the hello is, and is forwarded too.
  out.insert(out.end(), flight + flight_size_, static_cast<const std::byte*>(inbuf_.get() + inlen_));
  return out;
}

awaitable<std::optional<Outcome>> Session::exchange_confirm(SteadyClock::time_point deadline) {
  const auto forwarded = forwarded_first_flight();
  auto exchange = [&]() -> awaitable<std::optional<Outcome>> {
    const Outcome timeout{Phase::routing, OutcomeKind::backend_unreachable, "confirm_timeout"};
    auto [wec, wn] = co_await asio::async_write(server_, asio::buffer(forwarded), use_nothrow);
    if (wec && deadline_hit_) co_return timeout;
    if (wec) co_return Outcome{Phase::routing, OutcomeKind::backend_unreachable, "backend_closed"};
    bytes_in_ += forwarded.size();
    // The admin API's session view counts what the audit record counts.
    entry_->bytes_in.fetch_add(forwarded.size(), std::memory_order_relaxed);
    ctx_.services.metrics.relay_bytes(Direction::client_to_server, forwarded.size());
    if (request_->direct_tls) {
      inbuf_.reset();
      co_return std::nullopt;  // no Confirm: TLS from the first byte
    }
    // Read the server's X.224 Connection Confirm (11 or 19 bytes, [MS-RDPBCGR] 2.2.1.2).
    confirm_.resize(64);
    std::size_t have = 0;
    for (;;) {
      auto r = protocol::parse_connection_confirm(
          std::span<const std::byte>(confirm_.data(), have),
          request_->has_negotiation ? std::optional<std::uint32_t>(request_->requested_protocols)
                                    : std::nullopt);
      if (auto* c = std::get_if<protocol::Complete<protocol::ConnectionConfirm>>(&r)) {
        if (c->pdu.response) selected_ = c->pdu.response->selected_protocol;
        if (c->pdu.failure) negotiation_failure_ = true;
        if (!c->pdu.response && !c->pdu.failure) selected_ = protocol::proto::rdp;
        break;
      }
      if (std::holds_alternative<protocol::Invalid>(r) || have == confirm_.size()) {
        // Not a Connection Confirm (e.g. xrdp's reply to a Preconnection PDU): relay it as it is,
        // the client will make sense of it; no protocol was selected.
        break;
      }
      auto [ec, n] = co_await server_.async_read_some(
          asio::buffer(confirm_.data() + have, confirm_.size() - have), use_nothrow);
      if (ec) {
        if (deadline_hit_) co_return timeout;
        if (have == 0) co_return Outcome{Phase::routing, OutcomeKind::backend_unreachable, "backend_closed"};
        break;
      }
      have += n;
    }
    confirm_.resize(have);
    co_return std::nullopt;
  };
  arm_deadline(std::max(deadline, SteadyClock::now() + route_->cfg.connect_timeout));
  auto result = co_await exchange();
  disarm_deadline();
  if (stopped_) co_return Outcome{Phase::routing, *stopped_, "stopped"};
  if (result) co_return *result;

  if (selected_) ctx_.services.metrics.selected_protocol(*selected_);
  if (negotiation_failure_) ctx_.services.metrics.selected_protocol(Metrics::negotiation_failure);
  // A backend that does not enforce what the policy requires: answer the client with the
  // failure ourselves; it has not seen the server's Confirm yet (rdp-preauth-protocol.md §10).
  const auto& insp = listener_->cfg.inspection;
  if (selected_ && insp.require_any && ((*selected_ & insp.require_protocols) == 0) &&
      !(insp.accept_rdp && *selected_ == protocol::proto::rdp)) {
    auto d = Decision::refuse(OutcomeKind::protocol_not_allowed,
                              "backend_selected_" + std::string(protocol::protocol_name(*selected_)));
    d.reply = (insp.require_protocols & (protocol::proto::hybrid | protocol::proto::hybrid_ex)) != 0
                  ? protocol::NegFailureCode::hybrid_required_by_server
                  : protocol::NegFailureCode::ssl_required_by_server;
    error_code ignored;
    server_.close(ignored);
    co_return co_await refuse_with_reply(Phase::routing, d);
  }
  if (!confirm_.empty()) {
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(confirm_), use_nothrow);
    if (ec) co_return Outcome{Phase::relay, OutcomeKind::completed, "client_closed"};
    bytes_out_ += confirm_.size();
    entry_->bytes_out.fetch_add(confirm_.size(), std::memory_order_relaxed);
    ctx_.services.metrics.relay_bytes(Direction::server_to_client, confirm_.size());
  }
  handshake_ = SteadyClock::now() - accepted_;
  listener_->metrics->handshake_seconds->Observe(handshake_->count());
  // Idle sessions should hold no buffers: the inspected bytes have been forwarded.
  confirm_ = {};
  inbuf_.reset();
  co_return std::nullopt;
}

void Session::pump_account(Pump& p, std::size_t n) {
  const bool up = p.direction == Direction::client_to_server;
  (up ? bytes_in_ : bytes_out_) += n;
  (up ? entry_->bytes_in : entry_->bytes_out).fetch_add(n, std::memory_order_relaxed);
  ctx_.services.metrics.relay_bytes(p.direction, n);
  last_activity_ = SteadyClock::now();
}

void Session::pump_wait_readable(Pump& p) {
  // Wait without a buffer or a pipe: an idle session holds no relay memory.
  p.from->async_wait(tcp::socket::wait_read,
                     [this, &p](const error_code& ec) { pump_on_readable(p, ec); });
}

void Session::pump_on_readable(Pump& p, const error_code& ec) {
  if (ec) return pump_finish(p, false);
  if (use_splice_ && !p.pipe.valid()) p.pipe = PipePool::local().take();
  if (use_splice_ && p.pipe.valid()) {
    // Zero-copy: socket -> pipe (here) -> socket (pump_on_writable), splice(2).
    const auto n = ::splice(p.from->native_handle(), nullptr, p.pipe.write_end, nullptr,
                            BufferPool::buffer_size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      p.pending = static_cast<std::size_t>(n);
      return pump_on_writable(p, {});
    }
    PipePool::local().give_back(std::exchange(p.pipe, Pipe{}));  // empty: nothing was moved
    if (n == 0) return pump_finish(p, true);
    if (errno == EAGAIN || errno == EWOULDBLOCK) return pump_wait_readable(p);
    if (errno != EINVAL) return pump_finish(p, false);
    use_splice_ = false;  // not spliceable here (an unusual socket or kernel): copy from now on
  }
  if (!p.buffer) p.buffer = BufferPool::local().take();
  error_code rec;
  const std::size_t n = p.from->read_some(asio::buffer(p.buffer.get(), BufferPool::buffer_size), rec);
  if (rec == asio::error::would_block || rec == asio::error::try_again) {
    p.buffer.reset();
    return pump_wait_readable(p);
  }
  if (rec) {
    p.buffer.reset();
    return pump_finish(p, rec == asio::error::eof);
  }
  p.offset = 0;
  p.length = n;
  pump_on_writable(p, {});
}

void Session::pump_on_writable(Pump& p, const error_code& ec) {
  if (ec) return pump_finish(p, false);
  for (;;) {
    std::size_t moved = 0;
    int error = 0;
    if (p.pipe.valid()) {
      if (p.pending == 0) break;
      const auto m = ::splice(p.pipe.read_end, nullptr, p.to->native_handle(), nullptr, p.pending,
                              SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (m > 0) {
        moved = static_cast<std::size_t>(m);
        p.pending -= moved;
      } else {
        error = m < 0 ? errno : EPIPE;
      }
    } else {
      if (p.offset == p.length) break;
      error_code wec;
      moved = p.to->write_some(asio::buffer(p.buffer.get() + p.offset, p.length - p.offset), wec);
      p.offset += moved;
      if (wec) error = (wec == asio::error::would_block || wec == asio::error::try_again) ? EAGAIN : EPIPE;
    }
    if (moved > 0) pump_account(p, moved);
    if (error == EAGAIN || error == EWOULDBLOCK) {
      // Backpressure: the receiver is slow; read no more until it can take these bytes.
      p.to->async_wait(tcp::socket::wait_write,
                       [this, &p](const error_code& wec) { pump_on_writable(p, wec); });
      return;
    }
    if (error != 0) return pump_finish(p, false);
  }
  // Everything written: give the pipe (empty) and the buffer back before waiting again.
  if (p.pipe.valid()) PipePool::local().give_back(std::exchange(p.pipe, Pipe{}));
  p.buffer.reset();
  pump_wait_readable(p);
}

void Session::pump_finish(Pump& p, bool eof) {
  if (!p.running) return;
  p.running = false;
  if (p.pipe.valid()) {
    // INVARIANT: a pipe that may still hold bytes is never reused.
    if (p.pending == 0) {
      PipePool::local().give_back(std::exchange(p.pipe, Pipe{}));
    } else {
      PipePool::close(std::exchange(p.pipe, Pipe{}));
    }
  }
  p.buffer.reset();
  if (first_close_ == Closer::none) {
    first_close_ = p.direction == Direction::client_to_server ? Closer::client : Closer::server;
  }
  error_code ignored;
  if (eof) {
    // Half-close: pass the FIN on and keep the other direction running.
    p.to->shutdown(tcp::socket::shutdown_send, ignored);
  } else {
    // Any error (reset, cancellation) ends both directions.
    relay_error_ = true;
    client_.close(ignored);
    server_.close(ignored);
  }
  if (--pumps_running_ == 0) relay_timer_->cancel();
}

awaitable<Outcome> Session::relay() {
  relay_started_ = last_activity_ = SteadyClock::now();
  relay_base_in_ = bytes_in_;
  relay_base_out_ = bytes_out_;
  backend_->active.fetch_add(1);
  backend_->metrics->connections_active->Increment();
  route_->metrics->sessions_active->Increment();
  listener_->metrics->sessions_active->Increment();
  route_->pool->remember(request_->user, backend_->endpoint.text);
  error_code ignored;
  client_.set_option(tcp::no_delay(true), ignored);
  client_.non_blocking(true, ignored);
  server_.non_blocking(true, ignored);

  relay_timer_.emplace(client_.get_executor());
  c2s_.from = &client_;
  c2s_.to = &server_;
  c2s_.direction = Direction::client_to_server;
  s2c_.from = &server_;
  s2c_.to = &client_;
  s2c_.direction = Direction::server_to_client;
  c2s_.running = s2c_.running = true;
  pumps_running_ = 2;
  pump_wait_readable(c2s_);
  pump_wait_readable(s2c_);

  // The watchdog: wake at the idle / max-duration deadline, or when a pump finishes (it cancels
  // the timer). State is re-checked on every wake-up, so a cancel that finds no wait pending is
  // harmless. INVARIANT: this coroutine returns only once both pumps have finished, because
  // their handlers refer to this session.
  const auto& sc = policy_->config().session;
  std::optional<Outcome> ended;
  while (pumps_running_ > 0) {
    auto deadline = SteadyClock::time_point::max();
    if (sc.idle_timeout.count() > 0) deadline = last_activity_ + sc.idle_timeout;
    if (sc.max_duration.count() > 0) deadline = std::min(deadline, relay_started_ + sc.max_duration);
    if (!ended && SteadyClock::now() >= deadline) {
      const bool max_reached = sc.max_duration.count() > 0 &&
                               SteadyClock::now() >= relay_started_ + sc.max_duration;
      ended = max_reached ? Outcome{Phase::relay, OutcomeKind::max_duration, "max_duration"}
                          : Outcome{Phase::relay, OutcomeKind::idle_timeout, "idle_timeout"};
      client_.close(ignored);  // the pumps finish with operation_aborted
      server_.close(ignored);
      deadline = SteadyClock::time_point::max();
    }
    relay_timer_->expires_at(deadline);
    co_await relay_timer_->async_wait(use_nothrow);
  }

  listener_->metrics->sessions_active->Decrement();
  route_->metrics->sessions_active->Decrement();
  backend_->metrics->connections_active->Decrement();
  backend_->active.fetch_sub(1);

  if (stopped_) co_return Outcome{Phase::relay, *stopped_, "stopped"};
  if (ended) co_return *ended;
  // Failed-logon inference (SPEC §2; rdp-preauth-protocol.md §13): the server selected
  // CredSSP and the session ended soon with little data from the server. Which side closed
  // first is not used: measured against xfreerdp and freerdp-shadow-cli (docs/e2e.md), +auth-only
  // successes are often closed by the server too, and a failure was once closed by the client;
  // the server's byte count separates them (every failure 1983 bytes, every success >= 3257).
  const auto& bf = policy_->config().bruteforce;
  const bool nla = selected_ && (*selected_ == protocol::proto::hybrid ||
                                 *selected_ == protocol::proto::hybrid_ex);
  const auto lasted = SteadyClock::now() - relay_started_;
  // Both sides must have started the TLS/CredSSP exchange: a client that hangs up right after
  // the Confirm (a port check, a load balancer probe) tried no credentials.
  const bool exchanged = bytes_in_ > relay_base_in_ && bytes_out_ > relay_base_out_;
  if (bf.enabled && nla && exchanged && lasted <= bf.failure_max_duration &&
      bytes_out_ <= bf.failure_max_server_bytes) {
    co_return Outcome{Phase::relay, OutcomeKind::auth_failed, "short_nla_session"};
  }
  co_return Outcome{Phase::relay, OutcomeKind::completed,
                    first_close_ == Closer::server ? "server_closed" : "client_closed"};
}

void Session::finish(const Outcome& outcome) {
  auto& metrics = ctx_.services.metrics;
  listener_->metrics->connections[static_cast<std::size_t>(outcome.kind)]->Increment();
  if (outcome.refused()) {
    metrics.refusal(listener_->cfg.name, outcome.phase,
                    outcome.reason.empty() ? to_string(outcome.kind) : outcome.reason);
  }
  if (request_) metrics.requested_protocols(request_->requested_protocols, request_->has_negotiation);
  if (outcome.kind == OutcomeKind::auth_failed) {
    on_auth_failure(ctx_.services, policy_->config(), peer_, request_ ? request_->user : "",
                    entry_->id);
  }
  const auto duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - accepted_).count();
  const bool quiet = outcome.phase == Phase::admission;  // floods: rate-limited below
  if (quiet && !ctx_.services.refusal_log.admit(to_string(outcome.kind), SteadyClock::now())) {
    metrics.log_suppressed().Increment();
    return;
  }
  const std::string requested =
      request_ ? (request_->has_negotiation ? protocol::protocol_set_name(request_->requested_protocols)
                                            : std::string("none"))
               : std::string();
  const std::string selected =
      selected_ ? std::string(protocol::protocol_name(*selected_))
                : (negotiation_failure_ ? std::string("negotiation_failure") : std::string());
  const std::string source_ip = ip_text(peer_.address);
  const std::string start = rfc3339(started_wall_);
  const std::string correlation = request_ ? correlation_text(request_->correlation_id) : "";
  const auto level = outcome.kind == OutcomeKind::internal_error ? spdlog::level::err
                                                                  : spdlog::level::info;
  log_event(level, "connection",
            {{"conn", entry_->id},
             {"start", start},
             {"duration_ms", static_cast<std::int64_t>(duration_ms)},
             {"src", source_ip},
             {"src_port", peer_.port},
             {"listener", listener_->cfg.name},
             {"user", request_ ? std::string_view(request_->user) : std::string_view()},
             {"requested", requested},
             {"selected", selected},
             {"correlation_id", correlation},
             {"pcb_id", request_ && request_->preconnection ? request_->preconnection->id : 0u},
             {"route", route_ ? std::string_view(route_->cfg.name) : std::string_view()},
             {"backend", backend_ ? std::string_view(backend_->endpoint.text) : std::string_view()},
             {"phase", to_string(outcome.phase)},
             {"outcome", to_string(outcome.kind)},
             {"reason", outcome.reason},
             {"bytes_in", bytes_in_},
             {"bytes_out", bytes_out_},
             {"handshake_ms", handshake_ ? handshake_->count() * 1000.0 : 0.0}});
}

}  // namespace rdpgate::gateway
