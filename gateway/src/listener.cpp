#include "rdpgate/gateway/listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cassert>
#include <cerrno>

#include "rdpgate/gateway/log.hpp"
#include "rdpgate/gateway/net.hpp"
#include "rdpgate/gateway/recorder.hpp"
#include "rdpgate/gateway/shared_slot.hpp"

namespace rdpgate::gateway {

using namespace std::chrono_literals;

namespace {
// Accepts per wake-up of one listener before the accept thread's other work gets a turn (as
// HAProxy's tune.maxaccept).
constexpr int max_accepts_per_turn = 64;

// `defer_accept`. Linux turns the seconds into SYN-ACK retransmissions: 1 holds a silent
// connection in the kernel for about a second, after which the client's next ACK hands it over
// anyway (so a silent client still meets `inspection.timeout`, just later); 0 turns it off.
void set_defer_accept(tcp::acceptor& acceptor, const std::string& listener, bool on) {
  const int seconds = on ? 1 : 0;
  if (::setsockopt(acceptor.native_handle(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds,
                   sizeof seconds) != 0) {
    log_event(spdlog::level::warn, "listener_option_failed",
              {{"listener", listener},
               {"option", "defer_accept"},
               {"error", error_code(errno, asio::error::get_system_category()).message()}});
  }
}
}  // namespace

struct Listeners::Listener {
  SharedSlot<const Binding> binding;  // set by commit()
  config::Endpoint configured;        // as the config writes it; guarded by Listeners::mutex_
  tcp::endpoint endpoint;             // `configured`, as bound
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

Listeners::Listeners(asio::io_context& accept_io,
                     std::vector<std::unique_ptr<asio::io_context>>& workers,
                     SessionContext& sessions)
    : accept_io_(accept_io),
      sessions_(sessions),
      handoff_(accept_io, workers, sessions.services.metrics, [this](Socket socket, Admitted c) {
        start_session(std::move(socket), std::move(c));
      }) {}

std::variant<std::shared_ptr<Listeners::Listener>, std::string> Listeners::bind(
    asio::io_context& io, const config::ListenerConfig& lc) {
  error_code ec;
  const auto address = asio::ip::make_address(lc.address.host, ec);
  if (ec) return "listener \"" + lc.name + "\": \"" + lc.address.text + "\": not an IP address";
  auto l = std::make_shared<Listener>(io);
  l->configured = lc.address;
  l->endpoint = tcp::endpoint(address, lc.address.port);
  auto& acceptor = l->acceptor;
  acceptor.open(l->endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && address.is_v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor.bind(l->endpoint, ec);
  // listen() now rather than at commit: with SO_REUSEADDR on both sides a second socket may
  // bind an address that is taken, and only listen() finds the conflict.
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) acceptor.non_blocking(true, ec);  // accept_loop() drains it with accept4(2)
  if (ec) return "listener \"" + lc.name + "\": bind " + lc.address.text + ": " + ec.message();
  return l;
}

std::variant<Listeners::Staged, std::string> Listeners::stage(const config::Config& cfg) {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<Listener>> unclaimed = listeners_;
  const auto claim = [&](const auto& matches) -> std::shared_ptr<Listener> {
    const auto it = std::find_if(unclaimed.begin(), unclaimed.end(), matches);
    if (it == unclaimed.end()) return nullptr;
    auto l = *it;
    unclaimed.erase(it);
    return l;
  };
  Staged staged;
  for (const auto& lc : cfg.listeners) staged.serve.push_back({nullptr, lc.name, lc.address});
  // 1. The same name and address: it stays as it is (with port 0, on the port it got).
  for (auto& e : staged.serve) {
    e.listener = claim([&](const std::shared_ptr<Listener>& l) {
      return l->binding.load()->name == e.name && l->configured.text == e.configured.text;
    });
  }
  // 2. The same host and port under another name: a rename, or two listeners that swap
  // addresses. The open acceptor serves it; binding the address a second time would fail.
  for (auto& e : staged.serve) {
    if (e.listener) continue;
    error_code ec;
    const auto address = asio::ip::make_address(e.configured.host, ec);
    if (ec || e.configured.port == 0) continue;
    const tcp::endpoint wanted(address, e.configured.port);
    e.listener = claim([&](const std::shared_ptr<Listener>& l) { return l->endpoint == wanted; });
  }
  // 3. Every other one is bound now. On an error `staged` goes, closing what it bound.
  for (std::size_t i = 0; i < staged.serve.size(); ++i) {
    auto& e = staged.serve[i];
    if (e.listener) continue;
    auto bound = bind(accept_io_, cfg.listeners[i]);
    if (auto* err = std::get_if<std::string>(&bound)) return std::move(*err);
    e.listener = std::move(std::get<0>(bound));
    e.fresh = true;
  }
  staged.close = std::move(unclaimed);
  return staged;
}

void Listeners::commit(Staged staged, const std::shared_ptr<const Policy>& policy) {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<Listener>> serving;
  for (auto& e : staged.serve) {
    const auto index = policy->find_listener(e.name);
    if (!index) {  // not built from the staged config: a bug, but never a silent listener
      assert(false);
      close(e.listener);
      continue;
    }
    e.listener->configured = e.configured;
    // Set on every commit: a reload may turn it on or off for a listener that stays open.
    set_defer_accept(e.listener->acceptor, e.name, policy->listeners()[*index].cfg.defer_accept);
    e.listener->binding.store(std::make_shared<const Binding>(Binding{e.name, policy, *index}));
    if (e.fresh) {
      asio::co_spawn(e.listener->acceptor.get_executor(), accept_loop(e.listener), asio::detached);
    }
    serving.push_back(std::move(e.listener));
  }
  for (const auto& l : staged.close) close(l);
  listeners_ = std::move(serving);
}

void Listeners::close(const std::shared_ptr<Listener>& l) {
  asio::post(l->acceptor.get_executor(), [l] {
    error_code ignored;
    l->acceptor.close(ignored);
  });
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
    if (!ec) out.push_back({l->binding.load()->name, ep});
  }
  return out;
}

// accept4(2) straight on the listening descriptor, up to max_accepts_per_turn per wake-up: a
// connection is only a descriptor and an address until admission says yes, so a refused one is
// never registered with an epoll set (accept, setsockopt(SO_LINGER), close: nothing else), and
// an admitted one is registered once, by the worker that serves it.
awaitable<void> Listeners::accept_loop(std::shared_ptr<Listener> l) {
  asio::steady_timer backoff(l->acceptor.get_executor());
  auto& services = sessions_.services;
  for (;;) {
    auto [wait_error] = co_await l->acceptor.async_wait(tcp::acceptor::wait_read, use_nothrow);
    // close() runs on this thread too, so between two suspensions the descriptor stays ours.
    if (wait_error == asio::error::operation_aborted || !l->acceptor.is_open()) co_return;
    for (int taken = 0;;) {
      tcp::endpoint remote;  // filled by accept4(2) itself: no getpeername(2) per connection
      auto length = static_cast<socklen_t>(remote.capacity());
      const int fd = ::accept4(l->acceptor.native_handle(), remote.data(), &length, SOCK_CLOEXEC);
      const auto accepted = SteadyClock::now();
      if (fd < 0) {
        const int error = errno;
        if (error == EAGAIN || error == EWOULDBLOCK) break;  // drained: wait for the next edge
        if (error == EINTR || error == ECONNABORTED) continue;
        // EMFILE, ENFILE, ENOBUFS, ...: count, log (rate-limited), back off, keep listening.
        const auto binding = l->binding.load();
        services.metrics.listener(binding->name).accept_errors->Increment();
        if (services.refusal_log.admit("accept_error", accepted)) {
          log_event(spdlog::level::err, "accept_error",
                    {{"listener", binding->name},
                     {"error", error_code(error, asio::error::get_system_category()).message()}});
        }
        backoff.expires_after(100ms);
        co_await backoff.async_wait(use_nothrow);
        if (!l->acceptor.is_open()) co_return;
        break;
      }
      remote.resize(length);
      on_accepted(*l, fd, remote, accepted);
      if (++taken == max_accepts_per_turn) {
        // Let the other listeners and the hand-off sweep run, then go on without waiting for
        // an edge: the queue may still hold connections.
        taken = 0;
        co_await asio::post(l->acceptor.get_executor(), use_nothrow);
        if (!l->acceptor.is_open()) co_return;
      }
    }
  }
}

void Listeners::on_accepted(Listener& l, int fd, const tcp::endpoint& remote,
                            SteadyClock::time_point accepted) {
  Admitted connection;
  connection.fd = fd;  // closed by `connection` unless a worker takes it
  // The snapshot this acceptor serves; one a reload closes keeps serving its own until then.
  const auto binding = l.binding.load();
  auto policy = binding->policy;
  const auto& lp = policy->listeners()[binding->index];
  const Peer peer = peer_of(remote, binding->index);

  // A trusted load balancer speaks first with a PROXY header; admission then runs in the
  // session on the client address it carries.
  const bool via_proxy = lp.cfg.proxy_protocol && lp.trusted_proxies.contains(peer.address);
  ConnectionSlot slot;
  Observed observed;
  if (!via_proxy) {
    if (const auto refused = admit_source(*policy, sessions_.services, peer, slot, observed)) {
      // Close with RST (linger 0): no TIME_WAIT state kept for a refused peer.
      const ::linger reset{1, 0};
      (void)::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
      const auto id = next_session_id();
      ConnectionRecord record;
      record.id = id.view();
      record.start = SystemClock::now();
      record.accepted = accepted;
      record.peer = &peer;
      record.observed = &observed;
      record_outcome(sessions_.services, *policy, record, *refused);
      return;  // `connection` closes the descriptor
    }
  }
  // To a worker, which registers the descriptor with its own io_context.
  connection.protocol = remote.protocol();
  connection.policy = std::move(policy);
  connection.peer = peer;
  connection.slot = std::move(slot);
  connection.admitted = !via_proxy;
  connection.observed = observed;
  connection.accepted = accepted;
  handoff_.give(std::move(connection));
}

void Listeners::start_session(Socket socket, Admitted c) {
  Session::start(std::make_unique<Session>(sessions_, std::move(c.policy), std::move(socket),
                                           c.peer, std::move(c.slot), c.admitted, c.observed,
                                           c.accepted));
}

}  // namespace rdpgate::gateway
