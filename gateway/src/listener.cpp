#include "rdpgate/gateway/listener.hpp"

#include <algorithm>

#include "rdpgate/gateway/log.hpp"
#include "rdpgate/gateway/net.hpp"
#include "rdpgate/gateway/recorder.hpp"

namespace rdpgate::gateway {

using namespace std::chrono_literals;

struct Listeners::Listener {
  std::string name;
  config::Endpoint configured;
  tcp::acceptor acceptor;
  explicit Listener(asio::io_context& io) : acceptor(io) {}
};

std::optional<Outcome> admit_source(const Policy& policy, Services& services, const Peer& peer,
                                    ConnectionSlot& slot, Observed& observed) {
  if (auto d = policy.admit(peer, SystemClock::now(), observed); d.refused()) {
    return Outcome{Phase::admission, d.refusal, d.reason};
  }
  const auto& s = policy.listeners().at(peer.listener).cfg.sources;
  const auto key = s.source_range(peer.address).network;  // one IPv6 /64 is one source
  std::optional<Outcome> refused;
  switch (services.tracker.acquire(key, s.max_connections, s.per_source_max_connections)) {
    case ConnectionTracker::Result::admitted:
      slot = ConnectionSlot(&services.tracker, key);
      return std::nullopt;
    case ConnectionTracker::Result::too_many_total:
      refused = Outcome{Phase::admission, OutcomeKind::too_many_connections, Why::global_limit};
      break;
    case ConnectionTracker::Result::too_many_per_source:
      refused = Outcome{Phase::admission, OutcomeKind::too_many_connections, Why::per_source_limit};
      break;
  }
  if (!s.observe_only) return refused;
  // Observe mode: counted as it would be refused, and still tracked, so the counts stay true.
  observed.add(*refused);
  (void)services.tracker.acquire(key, 0, 0);
  slot = ConnectionSlot(&services.tracker, key);
  return std::nullopt;
}

Listeners::Listeners(std::vector<std::unique_ptr<asio::io_context>>& workers,
                     const PolicyStore& policies, SessionContext& sessions)
    : workers_(workers), policies_(policies), sessions_(sessions) {}

std::optional<std::string> Listeners::open(const config::ListenerConfig& lc) {
  error_code ec;
  const auto address = asio::ip::make_address(lc.address.host, ec);
  if (ec) return "listener \"" + lc.name + "\": \"" + lc.address.text + "\": not an IP address";
  const tcp::endpoint ep(address, lc.address.port);
  auto l = std::make_shared<Listener>(*workers_.front());
  l->name = lc.name;
  l->configured = lc.address;
  l->acceptor.open(ep.protocol(), ec);
  if (!ec) l->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && ep.address().is_v6()) l->acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec) l->acceptor.bind(ep, ec);
  if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return "listener \"" + lc.name + "\": bind " + lc.address.text + ": " + ec.message();
  {
    std::lock_guard lock(mutex_);
    listeners_.push_back(l);
  }
  asio::co_spawn(l->acceptor.get_executor(), accept_loop(l), asio::detached);
  return std::nullopt;
}

void Listeners::close(const std::shared_ptr<Listener>& l) {
  asio::post(l->acceptor.get_executor(), [l] {
    error_code ignored;
    l->acceptor.close(ignored);
  });
}

std::vector<const config::ListenerConfig*> Listeners::close_changed(const config::Config& cfg) {
  std::vector<const config::ListenerConfig*> to_open;
  std::lock_guard lock(mutex_);
  std::erase_if(listeners_, [&](const std::shared_ptr<Listener>& l) {
    const bool kept = std::any_of(cfg.listeners.begin(), cfg.listeners.end(), [&](const auto& lc) {
      return lc.name == l->name && lc.address.text == l->configured.text;
    });
    if (!kept) close(l);
    return !kept;
  });
  for (const auto& lc : cfg.listeners) {
    const bool open = std::any_of(listeners_.begin(), listeners_.end(), [&](const auto& l) {
      return l->name == lc.name && l->configured.text == lc.address.text;
    });
    if (!open) to_open.push_back(&lc);
  }
  return to_open;
}

void Listeners::close_all() {
  std::lock_guard lock(mutex_);
  for (const auto& l : listeners_) close(l);
}

std::vector<Listeners::Bound> Listeners::bound() const {
  std::lock_guard lock(mutex_);
  std::vector<Bound> out;
  for (const auto& l : listeners_) {
    error_code ec;
    auto ep = l->acceptor.local_endpoint(ec);
    if (!ec) out.push_back({l->name, ep});
  }
  return out;
}

awaitable<void> Listeners::accept_loop(std::shared_ptr<Listener> l) {
  asio::steady_timer backoff(l->acceptor.get_executor());
  auto& services = sessions_.services;
  for (;;) {
    auto& worker =
        *workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
    auto [ec, socket] = co_await l->acceptor.async_accept(worker, use_nothrow);
    const auto accepted = SteadyClock::now();
    if (ec == asio::error::operation_aborted || !l->acceptor.is_open()) co_return;
    if (ec) {
      // EMFILE, ENFILE, ENOBUFS, ...: count, log (rate-limited), back off, keep listening.
      services.metrics.listener(l->name).accept_errors->Increment();
      if (services.refusal_log.admit("accept_error", accepted)) {
        log_event(spdlog::level::err, "accept_error",
                  {{"listener", l->name}, {"error", ec.message()}});
      }
      backoff.expires_after(100ms);
      co_await backoff.async_wait(use_nothrow);
      continue;
    }
    on_accepted(*l, std::move(socket), accepted);
  }
}

void Listeners::on_accepted(Listener& l, tcp::socket socket, SteadyClock::time_point accepted) {
  auto policy = policies_.current();
  auto index = policy->find_listener(l.name);
  error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (!index || ec) return;  // listener removed by a reload, or the peer already left
  const auto& lp = policy->listeners()[*index];
  const Peer peer = peer_of(remote, *index);

  // A trusted load balancer speaks first with a PROXY header; admission then runs in the
  // session on the client address it carries.
  const bool via_proxy = lp.cfg.proxy_protocol && lp.trusted_proxies.contains(peer.address);
  ConnectionSlot slot;
  Observed observed;
  if (!via_proxy) {
    if (const auto refused = admit_source(*policy, sessions_.services, peer, slot, observed)) {
      // Close with RST (linger 0): no TIME_WAIT state kept for a refused peer.
      socket.set_option(asio::socket_base::linger(true, 0), ec);
      socket.close(ec);
      const auto id = next_session_id();
      ConnectionRecord record;
      record.id = id;
      record.start = SystemClock::now();
      record.accepted = accepted;
      record.peer = &peer;
      record.observed = &observed;
      record_outcome(sessions_.services, *policy, record, *refused);
      return;
    }
  }
  auto executor = socket.get_executor();
  auto session = std::make_unique<Session>(sessions_, std::move(policy), std::move(socket), peer,
                                           std::move(slot), !via_proxy, observed, accepted);
  asio::co_spawn(
      executor,
      [](std::unique_ptr<Session> s) -> awaitable<void> { co_await s->run(); }(std::move(session)),
      [](const std::exception_ptr& e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log_event(spdlog::level::err, "internal_error", {{"error", std::string_view(ex.what())}});
        }
      });
}

}  // namespace rdpgate::gateway
