#include "rdpgate/gateway/session.hpp"

#include <array>
#include <variant>
#include <vector>

#include "rdpgate/gateway/bruteforce.hpp"
#include "rdpgate/gateway/log.hpp"
#include "rdpgate/gateway/net.hpp"
#include "rdpgate/gateway/recorder.hpp"
#include "rdpgate/gateway/routing.hpp"
#include "rdpgate/gateway/upstream.hpp"
#include "rdpgate/protocol/forward.hpp"
#include "rdpgate/protocol/writers.hpp"

namespace rdpgate::gateway {
namespace {

using namespace std::chrono_literals;

// After writing a refusal, read and discard what the client still sends for this long before
// closing: closing with unread input makes the kernel send RST, which can destroy the reply
// before the client reads it (rdp-preauth-protocol.md §10, RFC 1122 §4.2.2.13).
constexpr auto linger_after_reply = 2s;
constexpr std::size_t linger_max_bytes = 64 * 1024;

}  // namespace

Session::Session(SessionContext& ctx, std::shared_ptr<const Policy> policy, Socket client,
                 Peer peer, ConnectionSlot slot, bool admitted, Observed observed,
                 SteadyClock::time_point accepted)
    : ctx_(ctx),
      policy_(std::move(policy)),
      listener_(&policy_->listeners().at(peer.listener)),
      client_(std::move(client)),
      server_(client_.get_executor()),
      peer_(peer),
      slot_(std::move(slot)),
      admitted_(admitted),
      observed_(observed),
      accepted_(accepted),
      started_wall_(SystemClock::now()),
      entry_(std::make_shared<SessionEntry>(client_.get_executor())),
      deadline_(client_.get_executor(),
                [this] {
                  error_code ignored;
                  client_.cancel(ignored);
                  server_.cancel(ignored);
                }),
      traffic_{*entry_, ctx.services.metrics} {}

void Session::start(std::unique_ptr<Session> session) {
  auto executor = session->client_.get_executor();
  asio::co_spawn(executor, run(std::move(session)), [](const std::exception_ptr& e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log_event(spdlog::level::err, "internal_error", {{"error", std::string_view(ex.what())}});
    }
  });
}

awaitable<void> Session::run(std::unique_ptr<Session> self) {
  auto& s = *self;
  s.entry_->id = std::string(next_session_id().view());
  s.entry_->set_source(endpoint_text(s.peer_.address, s.peer_.port));
  s.entry_->listener = s.listener_->cfg.name;
  s.entry_->started = s.started_wall_;
  s.entry_->stop = [&s](OutcomeKind why) { s.stop_from_outside(why); };
  s.ctx_.registry.add(s.entry_);

  std::optional<Outcome> refused;
  try {
    refused = co_await s.prepare();
  } catch (const std::exception& e) {
    refused = Outcome{Phase::relay, OutcomeKind::internal_error, Why::exception};
    log_event(spdlog::level::err, "internal_error",
              {{"conn", s.entry_->id}, {"error", std::string_view(e.what())}});
  }
  // The pre-relay frames end here, before the (long) relay: an idle session keeps only what
  // relaying needs.
  if (refused) {
    s.finish(std::move(self), *refused);
  } else {
    s.relay(std::move(self));
  }
}

void Session::finish(std::unique_ptr<Session> self, Outcome outcome) {
  if (stopped_) outcome = Outcome{outcome.phase, *stopped_, Why::stopped};
  deadline_.disarm();
  // INVARIANT: no handler of a socket operation runs after the session is gone: closing queues
  // them (operation_aborted), and the handler posted below, after them, frees the session on
  // this single-threaded executor.
  error_code ignored;
  client_.close(ignored);
  server_.close(ignored);
  asio::post(client_.get_executor(), [self = std::move(self), outcome] {
    auto& s = *self;
    s.entry_->alive = false;
    s.ctx_.registry.remove(s.entry_->id);
    const auto evidence = s.judge_ ? s.judge_->evidence() : std::string();
    record_outcome(s.ctx_.services, *s.policy_,
                   ConnectionRecord{.id = s.entry_->id,
                                    .start = s.started_wall_,
                                    .accepted = s.accepted_,
                                    .peer = &s.peer_,
                                    .request = s.request_ ? &*s.request_ : nullptr,
                                    .route = s.route_,
                                    .backend = s.backend_.get(),
                                    .selected = s.selected_,
                                    .negotiation_failure = s.negotiation_failure_,
                                    .bytes_in = s.traffic_.in,
                                    .bytes_out = s.traffic_.out,
                                    .handshake = s.handshake_,
                                    .evidence = evidence,
                                    .observed = &s.observed_},
                   outcome);
  });
}

void Session::stop_from_outside(OutcomeKind why) {
  if (!stopped_) stopped_ = why;
  error_code ignored;
  client_.close(ignored);
  server_.close(ignored);
}

std::optional<Outcome> Session::halted(Phase phase) const {
  if (!stopped_) return std::nullopt;
  return Outcome{phase, *stopped_, Why::stopped};
}

// Inspection, policy, routing: everything before the first byte reaches a server.
awaitable<std::optional<Outcome>> Session::prepare() {
  prefix_.allocate(listener_->cfg);
  deadline_.arm(accepted_ + listener_->cfg.inspection.timeout);  // PROXY header included
  if (!admitted_) {
    // A trusted load balancer: the PROXY header names the real client; admit that one.
    if (auto refused = co_await read_proxy_header(client_, prefix_, deadline_, peer_)) {
      co_return *refused;
    }
    entry_->set_source(endpoint_text(peer_.address, peer_.port));
    if (auto refused = admit_source(*policy_, ctx_.services, peer_, slot_, observed_)) {
      co_return *refused;
    }
  }
  auto flight = co_await read_first_flight(client_, prefix_, deadline_, *listener_);
  deadline_.disarm();
  if (auto* refused = std::get_if<Outcome>(&flight)) {
    if (!pass_unparsed(*refused)) co_return *refused;
  } else {
    request_ = std::move(std::get<Request>(flight));
    entry_->set_user(request_->user);
  }

  const auto now = SystemClock::now();
  if (auto d = request_->raw ? Decision::pass() : policy_->check(peer_, *request_, now, observed_);
      d.refused()) {
    co_return co_await refuse(Phase::policy, d);
  }
  const auto token = check_token(*policy_, ctx_.services, peer_, *request_, now);
  if (token.refusal) co_return co_await refuse(Phase::policy, *token.refusal);

  auto routed = route_request(*policy_, ctx_.services, peer_, *request_, token.route, now);
  if (auto* d = std::get_if<Decision>(&routed)) co_return co_await refuse(Phase::routing, *d);
  route_ = std::get<const RoutePolicy*>(routed);
  entry_->set_route(route_->cfg.name);

  co_return co_await upstream(token);
}

// Connect, forward the first flight, check and forward the server's Confirm.
awaitable<std::optional<Outcome>> Session::upstream(const TokenCheck& token) {
  auto connected = co_await connect_upstream(server_, *route_, request_->user, deadline_,
                                             ctx_.services.names, entry_->id);
  if (auto stop = halted(Phase::routing)) co_return stop;
  if (auto* failed = std::get_if<Outcome>(&connected)) co_return *failed;
  backend_ = std::get<std::shared_ptr<BackendState>>(std::move(connected));
  entry_->set_backend(backend_->endpoint.text);
  // Route, grant and backend passed: only now is a single-use token spent.
  auto spent = co_await use_token(*policy_, ctx_.services, token, SystemClock::now());
  if (const auto* replayed = spent ? &*spent : nullptr) {
    error_code ignored;
    server_.close(ignored);
    co_return co_await refuse(Phase::policy, *replayed);
  }

  // [MS-RDPBCGR] 5.4.2.1: the request is forwarded verbatim, less what rdpgate consumed: a
  // Preconnection PDU (unless the route forwards it) and a routing-token line carrying rdpgate's
  // own signed token.
  const bool drop_token = token.in_routing_token && request_->token_size != 0;
  const auto forwarded = protocol::forward_first_flight(
      prefix_.after_proxy(), prefix_.flight_size,
      protocol::FlightEdit{.preconnection_size = request_->preconnection_size,
                           .drop_preconnection = request_->preconnection.has_value() &&
                                                 !route_->cfg.forward_preconnection,
                           .token_offset = drop_token ? request_->token_offset : 0,
                           .token_size = drop_token ? request_->token_size : 0});
  if (!forwarded) co_return Outcome{Phase::routing, OutcomeKind::internal_error, Why::exception};
  deadline_.arm(std::max(accepted_ + listener_->cfg.inspection.timeout,
                         SteadyClock::now() + route_->cfg.connect_timeout));
  auto confirm = co_await exchange_confirm(
      server_, *forwarded, !request_->direct_tls && !request_->raw,
      request_->has_negotiation ? std::optional(request_->requested_protocols) : std::nullopt,
      deadline_);
  deadline_.disarm();
  if (confirm.written) traffic_.count(Direction::client_to_server, forwarded->size());
  if (auto stop = halted(Phase::routing)) co_return stop;
  if (confirm.failed) {
    co_return Outcome{Phase::routing, OutcomeKind::backend_unreachable, *confirm.failed};
  }
  selected_ = request_->direct_tls ? std::optional(protocol::proto::hybrid) : confirm.selected;
  negotiation_failure_ = confirm.negotiation_failure;
  judge_.emplace(selected_, request_->direct_tls);
  if (request_->direct_tls) {
    // Under Direct Approach the TLS stream began in the first flight (after any PCB), and the
    // protocol is CredSSP: there is no negotiation ([MS-RDPBCGR] 5.4.2.2).
    judge_->forwarded_before(prefix_.after_proxy().subspan(request_->preconnection_size));
  }
  prefix_.release();  // an idle session holds no inspection buffer

  // A backend that does not enforce what the policy requires: answer the client with the
  // failure ourselves; it has not seen the server's Confirm yet (rdp-preauth-protocol.md §10).
  // In observe mode the Confirm goes through and the refusal is only counted.
  const auto& insp = listener_->cfg.inspection;
  if (selected_ && !request_->direct_tls && insp.require_any &&
      (*selected_ & insp.require_protocols) == 0 &&
      !(insp.accept_rdp && *selected_ == protocol::proto::rdp)) {
    auto d = Decision::refuse(OutcomeKind::protocol_not_allowed, backend_selected(*selected_));
    if (insp.observe_only) {
      observed_.add(Outcome{Phase::routing, d.refusal, d.reason});
    } else {
      namespace p = protocol::proto;
      d.reply = (insp.require_protocols & (p::hybrid | p::hybrid_ex)) != 0
                    ? protocol::NegFailureCode::hybrid_required_by_server
                    : protocol::NegFailureCode::ssl_required_by_server;
      error_code ignored;
      server_.close(ignored);
      co_return co_await refuse(Phase::routing, d);
    }
  }
  if (!confirm.bytes.empty()) {
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(confirm.bytes), use_nothrow);
    if (ec) co_return Outcome{Phase::relay, OutcomeKind::completed, Why::client_closed};
    traffic_.count(Direction::server_to_client, confirm.bytes.size());
  }
  handshake_ = SteadyClock::now() - accepted_;
  co_return std::nullopt;
}

void Session::relay(std::unique_ptr<Session> self) {
  backend_->active.fetch_add(1);
  backend_->metrics->connections_active->Increment();
  route_->metrics->sessions_active->Increment();
  listener_->metrics->sessions_active->Increment();
  route_->pool->remember(request_->user, backend_->endpoint.text);

  self_ = std::move(self);
  relay_.emplace(client_, server_, traffic_, &*judge_, deadline_);
  relay_->start(policy_->config().session, [this](Outcome outcome) { relayed(outcome); });
}

void Session::relayed(Outcome outcome) {
  listener_->metrics->sessions_active->Decrement();
  route_->metrics->sessions_active->Decrement();
  backend_->metrics->connections_active->Decrement();
  backend_->active.fetch_sub(1);
  // Sessions ended by a deadline or from outside keep that outcome; the others are judged from
  // their TLS record stream (bruteforce.hpp, protocol/nla_judge.hpp).
  if (outcome.kind == OutcomeKind::completed) {
    if (judge_->failed()) {
      outcome = Outcome{Phase::relay, OutcomeKind::auth_failed, Why::logon_refused};
    } else if (judge_->verdict() == protocol::NlaVerdict::tls_incomplete) {
      outcome.kind = OutcomeKind::tls_incomplete;
    }
  }
  finish(std::move(self_), outcome);
}

bool Session::pass_unparsed(const Outcome& refused) {
  if (!listener_->cfg.inspection.observe_only) return false;
  const bool inspection_rule = refused.kind == OutcomeKind::not_rdp ||
                               refused.kind == OutcomeKind::malformed ||
                               refused.kind == OutcomeKind::inspect_timeout;
  // A client that left before completing a request was not refused: there is nothing to pass.
  const bool client_left =
      refused.reason == Why::closed_before_data || refused.reason == Why::truncated;
  if (!inspection_rule || client_left) return false;
  observed_.add(refused);
  request_.emplace();
  request_->raw = true;
  prefix_.flight_size = prefix_.length - prefix_.proxy_size;  // all of it, verbatim
  return true;
}

// Ends the connection with `d`, answering the client first when the decision carries a reply
// (an RDP_NEG_FAILURE Confirm or an X.224 Disconnect Request).
awaitable<Outcome> Session::refuse(Phase phase, const Decision& d) {
  const Outcome outcome{phase, d.refusal, d.reason};
  std::vector<std::byte> reply;
  if (d.reply) {
    const auto bytes = protocol::write_negotiation_failure(*d.reply);
    reply.assign(bytes.begin(), bytes.end());
  } else if (d.disconnect_request) {
    const auto bytes = protocol::write_disconnect_request(request_ ? request_->src_ref : 0);
    reply.assign(bytes.begin(), bytes.end());
  }
  if (reply.empty()) co_return outcome;
  deadline_.arm(SteadyClock::now() + linger_after_reply);
  auto [ec, n] = co_await asio::async_write(client_, asio::buffer(reply), use_nothrow);
  if (!ec) {
    error_code ignored;
    client_.shutdown(Socket::shutdown_send, ignored);
    // Drain what the client still sends until it closes (bounded in time and bytes).
    std::array<std::byte, 4096> sink;
    std::size_t drained = 0;
    while (drained < linger_max_bytes) {
      auto [rec, rn] = co_await client_.async_read_some(asio::buffer(sink), use_nothrow);
      if (rec) break;
      drained += rn;
    }
  }
  deadline_.disarm();
  co_return outcome;
}

}  // namespace rdpgate::gateway
