#include "rdpgate/gateway/app.hpp"

#include <prometheus/exposer.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <thread>

#include "rdpgate/admin/server.hpp"
#include "rdpgate/config/load.hpp"
#include "rdpgate/gateway/log.hpp"
#include "rdpgate/gateway/timeouts.hpp"
#include "rdpgate/protocol/writers.hpp"
#include "rdpgate/protocol/x224.hpp"
#include "rdpgate/security/ban_manager.hpp"
#include "rdpgate/security/grant_table.hpp"
#include "rdpgate/security/replay_cache.hpp"
#include "rdpgate/security/token_verifier.hpp"
#include "rdpgate/state/state_store.hpp"

namespace rdpgate::gateway {

using namespace std::chrono_literals;

struct App::Listener {
  std::string name;
  config::Endpoint configured;
  tcp::acceptor acceptor;
  bool proxy_protocol = false;
  explicit Listener(asio::io_context& io) : acceptor(io) {}
};

namespace {

std::optional<tcp::endpoint> resolve_literal(const config::Endpoint& e, std::string& error) {
  error_code ec;
  auto address = asio::ip::make_address(e.host, ec);
  if (ec) {
    error = "\"" + e.text + "\": not an IP address";
    return std::nullopt;
  }
  return tcp::endpoint(address, e.port);
}

std::string read_admin_token(const config::AdminConfig& admin) {
  std::string token;
  if (!admin.token_env.empty()) {
    if (const char* v = std::getenv(admin.token_env.c_str())) token = v;
  }
  if (token.empty() && !admin.token_file.empty()) {
    std::FILE* f = std::fopen(admin.token_file.c_str(), "rb");
    if (f != nullptr) {
      char buf[4096];
      const auto n = std::fread(buf, 1, sizeof buf, f);
      std::fclose(f);
      token.assign(buf, n);
    }
  }
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  return token;
}

// The signed-token verifier for `cfg`, null when no keys are configured.
std::variant<std::shared_ptr<const security::TokenVerifier>, std::string> make_verifier(
    const config::Config& cfg, const std::shared_ptr<security::ReplayCache>& replay) {
  if (cfg.tokens.keys.empty()) return std::shared_ptr<const security::TokenVerifier>{};
  auto created = security::TokenVerifier::create(cfg.tokens, replay);
  if (auto* err = std::get_if<std::string>(&created)) return "tokens: " + *err;
  return std::shared_ptr<const security::TokenVerifier>(std::move(std::get<0>(created)));
}

std::string cidr_from_path(std::string_view text) {
  std::string s(text);
  for (auto& c : s) {
    if (c == '_') c = '/';
  }
  return s;
}

}  // namespace

App::App(config::Config cfg)
    : initial_(std::move(cfg)),
      metrics_(std::make_unique<Metrics>()),
      services_(std::make_unique<Services>(*metrics_)),
      session_ctx_{*services_, registry_} {}

App::~App() {
  request_shutdown();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::optional<std::string> App::start() {
  const auto& cfg = initial_;
  // Durable state: bans, grants, token replays. A store that cannot be opened is reported and
  // rdpgate runs on without persistence — the relay matters more than the state (SPEC §7).
  auto opened = state::StateStore::open(cfg.state.path);
  if (auto* err = std::get_if<std::string>(&opened)) {
    log_event(spdlog::level::err, "state_unavailable", {{"path", cfg.state.path}, {"error", *err}});
  } else {
    store_ = std::move(std::get<0>(opened));
  }
  bans_ = std::make_unique<security::BanManager>(cfg.bruteforce, store_.get());
  grants_ = std::make_unique<security::GrantTable>(store_.get());
  replay_ = std::make_shared<security::ReplayCache>(store_.get());
  services_->store = store_.get();
  services_->bans = bans_.get();
  services_->grants = grants_.get();
  services_->replay = replay_.get();
  auto verifier = make_verifier(cfg, replay_);
  if (auto* err = std::get_if<std::string>(&verifier)) return *err;
  policies_.publish(Policy::build(cfg, *services_, std::get<0>(std::move(verifier))));

  const auto worker_count = cfg.workers != 0 ? cfg.workers : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < worker_count; ++i) {
    workers_.push_back(std::make_unique<asio::io_context>(1));
    work_guards_.push_back(asio::make_work_guard(*workers_.back()));
  }
  for (const auto& lc : cfg.listeners) {
    if (auto err = open_listener(lc)) return err;
  }
  if (cfg.metrics.enabled) {
    try {
      const auto bind = cfg.metrics.address.host.find(':') != std::string::npos
                            ? "[" + cfg.metrics.address.host + "]:" + std::to_string(cfg.metrics.address.port)
                            : cfg.metrics.address.host + ":" + std::to_string(cfg.metrics.address.port);
      exposer_ = std::make_unique<prometheus::Exposer>(bind, 2);
      exposer_->RegisterCollectable(metrics_->registry());
      exposer_->RegisterCollectable(make_process_collector());
      const auto ports = exposer_->GetListeningPorts();
      error_code ec;
      auto address = asio::ip::make_address(cfg.metrics.address.host, ec);
      if (!ports.empty() && !ec) metrics_endpoint_ = tcp::endpoint(address, static_cast<std::uint16_t>(ports.front()));
    } catch (const std::exception& e) {
      return "metrics \"" + cfg.metrics.address.text + "\": " + e.what();
    }
  }
  if (cfg.admin.enabled) {
    std::string error;
    auto ep = resolve_literal(cfg.admin.address, error);
    if (!ep) return "admin " + error;
    auto token = read_admin_token(cfg.admin);
    if (token.empty()) {
      log_event(spdlog::level::warn, "admin_token_missing",
                {{"message", "no admin token configured or readable: every /v1 request is refused"}});
    }
    try {
      admin_ = std::make_unique<admin::AdminServer>(control_, *ep, std::move(token), *this);
      admin_->start();
      admin_endpoint_ = admin_->local_endpoint();
    } catch (const std::exception& e) {
      return "admin \"" + cfg.admin.address.text + "\": " + e.what();
    }
  }

  signals_.emplace(control_, SIGTERM, SIGINT, SIGHUP);
  struct Rearm {
    App* app;
    void operator()(const error_code& ec, int signo) const {
      if (ec) return;
      if (signo == SIGHUP) {
        app->reload_from_file();
      } else {
        app->request_shutdown();
      }
      if (!app->shutting_down_) app->signals_->async_wait(Rearm{app});
    }
  };
  signals_->async_wait(Rearm{this});

  asio::co_spawn(control_, housekeeping(), asio::detached);
  start_health_checks(cfg);
  sync_gauges();

  for (auto& w : workers_) {
    threads_.emplace_back([io = w.get()] {
      for (;;) {
        try {
          io->run();
          break;
        } catch (const std::exception& e) {
          log_event(spdlog::level::err, "internal_error", {{"error", std::string_view(e.what())}});
        }
      }
    });
  }
  threads_.emplace_back([this] {
    for (;;) {
      try {
        control_.run();
        break;
      } catch (const std::exception& e) {
        log_event(spdlog::level::err, "internal_error", {{"error", std::string_view(e.what())}});
      }
    }
  });
  return std::nullopt;
}

std::optional<std::string> App::open_listener(const config::ListenerConfig& lc) {
  std::string error;
  auto ep = resolve_literal(lc.address, error);
  if (!ep) return "listener \"" + lc.name + "\": " + error;
  auto l = std::make_shared<Listener>(*workers_.front());
  l->name = lc.name;
  l->configured = lc.address;
  l->proxy_protocol = lc.proxy_protocol.has_value();
  error_code ec;
  l->acceptor.open(ep->protocol(), ec);
  if (!ec) l->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && ep->address().is_v6()) l->acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec) l->acceptor.bind(*ep, ec);
  if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return "listener \"" + lc.name + "\": bind " + lc.address.text + ": " + ec.message();
  {
    std::lock_guard lock(listeners_mutex_);
    listeners_.push_back(l);
  }
  asio::co_spawn(l->acceptor.get_executor(), accept_loop(l), asio::detached);
  return std::nullopt;
}

std::vector<App::Bound> App::listeners() const {
  std::lock_guard lock(listeners_mutex_);
  std::vector<Bound> out;
  for (const auto& l : listeners_) {
    error_code ec;
    auto ep = l->acceptor.local_endpoint(ec);
    if (!ec) out.push_back({l->name, ep});
  }
  return out;
}

awaitable<void> App::accept_loop(std::shared_ptr<Listener> l) {
  asio::steady_timer backoff(l->acceptor.get_executor());
  for (;;) {
    auto& worker = *workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
    auto [ec, socket] = co_await l->acceptor.async_accept(worker, use_nothrow);
    const auto accepted = SteadyClock::now();
    if (ec == asio::error::operation_aborted || !l->acceptor.is_open()) co_return;
    if (ec) {
      // EMFILE, ENFILE, ENOBUFS, ...: count, log (rate-limited), back off, keep listening.
      metrics_->listener(l->name).accept_errors->Increment();
      if (services_->refusal_log.admit("accept_error", accepted)) {
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

void App::on_accepted(Listener& l, tcp::socket socket, SteadyClock::time_point accepted) {
  auto policy = policies_.current();
  auto index = policy->find_listener(l.name);
  error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (!index || ec) return;  // listener removed by a reload, or the peer already left
  const auto& lp = policy->listeners()[*index];
  Peer peer = peer_of(remote, *index);

  // A trusted load balancer speaks first with a PROXY header; admission then runs in the
  // session on the client address it carries.
  const bool via_proxy = lp.cfg.proxy_protocol && lp.trusted_proxies.contains(peer.address);
  ConnectionSlot slot;
  if (!via_proxy) {
    // Admission before a single byte is read, right here in the acceptor: a refused connection
    // costs no coroutine, no buffer, no timer (SPEC §1.1).
    if (const auto refused = admit_source(*policy, *services_, peer, slot)) {
      // Close with RST (linger 0): no TIME_WAIT state kept for a refused peer.
      socket.set_option(asio::socket_base::linger(true, 0), ec);
      socket.close(ec);
      lp.metrics->connections[static_cast<std::size_t>(refused->kind)]->Increment();
      metrics_->refusal(lp.cfg.name, Phase::admission, refused->reason);
      if (services_->refusal_log.admit(to_string(refused->kind), accepted)) {
        const auto src = ip_text(peer.address);
        log_event(spdlog::level::info, "connection",
                  {{"conn", next_session_id()},
                   {"start", rfc3339(SystemClock::now())},
                   {"duration_ms", 0},
                   {"src", src},
                   {"src_port", peer.port},
                   {"listener", lp.cfg.name},
                   {"phase", "admission"},
                   {"outcome", to_string(refused->kind)},
                   {"reason", refused->reason},
                   {"bytes_in", 0u},
                   {"bytes_out", 0u}});
      } else {
        metrics_->log_suppressed().Increment();
      }
      return;
    }
  }
  auto executor = socket.get_executor();
  auto session = std::make_unique<Session>(session_ctx_, std::move(policy), std::move(socket), peer,
                                           std::move(slot), !via_proxy, accepted);
  asio::co_spawn(
      executor,
      [](std::unique_ptr<Session> s) -> awaitable<void> { co_await s->run(); }(std::move(session)),
      [](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            log_event(spdlog::level::err, "internal_error", {{"error", std::string_view(ex.what())}});
          }
        }
      });
}

void App::sync_gauges() {
  const auto now = SystemClock::now();
  metrics_->bans_active().Set(static_cast<double>(bans_->active_count(now)));
  metrics_->grants_active().Set(static_cast<double>(grants_->active_count(now)));
}

awaitable<void> App::housekeeping() {
  asio::steady_timer timer(control_);
  std::uint64_t tick = 0;
  for (;;) {
    timer.expires_after(1s);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    if (ec || shutting_down_) co_return;
    ++tick;
    const auto now = SystemClock::now();
    services_->refusal_log.flush(SteadyClock::now());
    if (tick % 10 == 0) {
      bans_->purge(now);
      grants_->purge(now);
      replay_->purge(now);
      const auto policy = policies_.current();
      for (const auto& lp : policy->listeners()) {
        const auto& s = lp.cfg.sources;
        services_->rate_limiter(lp.cfg.name)->sweep(s.per_source_rate.per_second, s.per_source_burst,
                                                    RateLimiter::Clock::now());
      }
    }
    for (auto error : {bans_->last_error(), grants_->last_error(), replay_->last_error()}) {
      if (!error.empty()) {
        metrics_->state_errors().Increment();
        log_event(spdlog::level::err, "state_write_failed", {{"error", error}});
      }
    }
    bans_->clear_error();
    grants_->clear_error();
    replay_->clear_error();
    sync_gauges();
  }
}

void App::start_health_checks(const config::Config& cfg) {
  const auto generation = health_generation_.fetch_add(1) + 1;
  for (const auto& r : cfg.routes) {
    if (r.health_check) asio::co_spawn(control_, health_checks(r.name, generation), asio::detached);
  }
}

awaitable<void> App::health_checks(std::string route_name, std::uint64_t generation) {
  asio::steady_timer timer(control_);
  for (;;) {
    if (shutting_down_ || health_generation_.load() != generation) co_return;
    const auto policy = policies_.current();
    const auto index = policy->find_route(route_name);
    if (!index) co_return;
    const auto& route = policy->routes()[*index];
    if (!route.cfg.health_check) co_return;
    const auto hc = *route.cfg.health_check;
    for (const auto& b : route.pool->backends()) {
      auto probe = [&]() -> awaitable<bool> {
        tcp::endpoint target;
        error_code parse_error;
        const auto literal = asio::ip::make_address(b->endpoint.host, parse_error);
        if (!parse_error) {
          target = tcp::endpoint(literal, b->endpoint.port);
        } else {
          tcp::resolver resolver(control_);
          auto [rec, results] = co_await resolver.async_resolve(
              b->endpoint.host, std::to_string(b->endpoint.port), tcp::resolver::numeric_service,
              use_nothrow);
          if (rec || results.empty()) co_return false;
          target = results.begin()->endpoint();
        }
        tcp::socket s(control_);
        auto [cec] = co_await s.async_connect(target, use_nothrow);
        if (cec) co_return false;
        if (!hc.rdp_probe) co_return true;
        // An RDP probe: a Connection Request offering TLS and CredSSP, answered by a Confirm.
        const auto request = protocol::write_connection_request(
            "rdpgate-hc", protocol::proto::ssl | protocol::proto::hybrid | protocol::proto::hybrid_ex);
        auto [wec, wn] = co_await asio::async_write(s, asio::buffer(request), use_nothrow);
        if (wec) co_return false;
        std::array<std::byte, 64> buf;
        std::size_t have = 0;
        for (;;) {
          auto r = protocol::parse_connection_confirm(std::span<const std::byte>(buf.data(), have));
          if (protocol::is_complete(r)) co_return true;
          if (protocol::is_invalid(r) || have == buf.size()) co_return false;
          auto [ec, n] = co_await s.async_read_some(asio::buffer(buf.data() + have, buf.size() - have),
                                                    use_nothrow);
          if (ec) co_return false;
          have += n;
        }
      };
      const auto ok = co_await within(hc.timeout, probe());
      const bool success = ok && *ok;
      const bool was_up = b->up.load();
      if (success) {
        b->failures = 0;
        if (!was_up && ++b->successes >= hc.rise) {
          b->set_up(true);
          log_event(spdlog::level::warn, "backend_up", {{"route", route_name}, {"backend", b->endpoint.text}});
        }
      } else {
        b->successes = 0;
        if (was_up && ++b->failures >= hc.fall) {
          b->set_up(false);
          log_event(spdlog::level::warn, "backend_down", {{"route", route_name}, {"backend", b->endpoint.text}});
        }
      }
    }
    timer.expires_after(hc.interval);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    if (ec) co_return;
  }
}

std::optional<std::string> App::reload_from_file() {
  const auto file = policies_.current()->config().file;
  auto loaded = config::load_config_file(file);
  if (auto* errors = std::get_if<std::vector<config::ConfigError>>(&loaded)) {
    std::string all;
    for (const auto& e : *errors) {
      if (!all.empty()) all += "; ";
      all += e.to_string();
    }
    metrics_->config_reloads(false).Increment();
    log_event(spdlog::level::err, "reload_failed", {{"file", file}, {"error", all}});
    return all;
  }
  return apply(std::move(std::get<config::Config>(loaded)));
}

std::optional<std::string> App::apply(config::Config cfg) {
  std::lock_guard reload_lock(reload_mutex_);
  auto verifier = make_verifier(cfg, replay_);
  if (auto* err = std::get_if<std::string>(&verifier)) {
    metrics_->config_reloads(false).Increment();
    log_event(spdlog::level::err, "reload_failed", {{"error", *err}});
    return *err;
  }
  // Listeners first: a new listener that cannot bind fails the reload and changes nothing else.
  std::vector<std::shared_ptr<Listener>> to_close;
  std::vector<const config::ListenerConfig*> to_open;
  {
    std::lock_guard lock(listeners_mutex_);
    for (const auto& l : listeners_) {
      auto it = std::find_if(cfg.listeners.begin(), cfg.listeners.end(),
                             [&](const auto& lc) { return lc.name == l->name; });
      if (it == cfg.listeners.end() || it->address.text != l->configured.text) to_close.push_back(l);
    }
    for (const auto& lc : cfg.listeners) {
      auto it = std::find_if(listeners_.begin(), listeners_.end(), [&](const auto& l) {
        return l->name == lc.name && l->configured.text == lc.address.text;
      });
      if (it == listeners_.end()) to_open.push_back(&lc);
    }
  }
  for (auto& l : to_close) {
    asio::post(l->acceptor.get_executor(), [l] {
      error_code ignored;
      l->acceptor.close(ignored);
    });
    std::lock_guard lock(listeners_mutex_);
    std::erase(listeners_, l);
  }
  bans_->reconfigure(cfg.bruteforce);
  policies_.publish(Policy::build(cfg, *services_, std::get<0>(std::move(verifier))));
  std::string errors;
  for (const auto* lc : to_open) {
    if (auto err = open_listener(*lc)) {
      if (!errors.empty()) errors += "; ";
      errors += *err;
    }
  }
  start_health_checks(cfg);
  if (!errors.empty()) {
    metrics_->config_reloads(false).Increment();
    log_event(spdlog::level::err, "reload_failed", {{"error", errors}});
    return errors;
  }
  metrics_->config_reloads(true).Increment();
  log_event(spdlog::level::info, "reloaded", {{"file", cfg.file}});
  return std::nullopt;
}

void App::request_shutdown() {
  if (shutting_down_.exchange(true)) return;
  asio::co_spawn(control_, shutdown_sequence(), asio::detached);
}

awaitable<void> App::shutdown_sequence() {
  log_event(spdlog::level::info, "shutdown_started", {{"sessions", registry_.size()}});
  {
    std::lock_guard lock(listeners_mutex_);
    for (auto& l : listeners_) {
      asio::post(l->acceptor.get_executor(), [l] {
        error_code ignored;
        l->acceptor.close(ignored);
      });
    }
  }
  if (signals_) {
    error_code ignored;
    signals_->cancel(ignored);
  }
  asio::steady_timer timer(control_);
  const auto drain = policies_.current()->config().shutdown.drain_timeout;
  const auto drain_deadline = SteadyClock::now() + drain;
  while (registry_.size() > 0 && SteadyClock::now() < drain_deadline) {
    timer.expires_after(50ms);
    co_await timer.async_wait(use_nothrow);
  }
  if (registry_.size() > 0) {
    registry_.stop_all(OutcomeKind::shutdown);
    const auto hard_deadline = SteadyClock::now() + 5s;
    while (registry_.size() > 0 && SteadyClock::now() < hard_deadline) {
      timer.expires_after(20ms);
      co_await timer.async_wait(use_nothrow);
    }
  }
  if (admin_) admin_->stop();
  if (exposer_) {
    // civetweb, under prometheus::Exposer, sees its stop flag only when its master thread's poll
    // of the listening socket returns: up to 2 s later, unless a connection wakes it. Stop it on
    // a thread of its own and knock on the port until it is gone.
    std::atomic<bool> stopped{false};
    std::thread stopper([this, &stopped] {
      exposer_.reset();
      stopped = true;
    });
    const auto knock_deadline = SteadyClock::now() + 3s;
    while (!stopped && metrics_endpoint_ && SteadyClock::now() < knock_deadline) {
      tcp::socket knock(control_);
      co_await knock.async_connect(*metrics_endpoint_, use_nothrow);
      error_code ignored;
      knock.close(ignored);
      timer.expires_after(10ms);
      co_await timer.async_wait(use_nothrow);
    }
    stopper.join();
  }
  for (auto& g : work_guards_) g.reset();
  for (auto& w : workers_) w->stop();
  // Refusal lines suppressed since the last summary would otherwise never be reported.
  services_->refusal_log.flush(SteadyClock::now(), true);
  log_event(spdlog::level::info, "shutdown_complete", {});
  spdlog::default_logger_raw()->flush();
  control_.stop();
  {
    std::lock_guard lock(done_mutex_);
    done_ = true;
  }
  done_cv_.notify_all();
}

void App::wait() {
  std::unique_lock lock(done_mutex_);
  done_cv_.wait(lock, [this] { return done_; });
}

// ---- admin::AdminService -------------------------------------------------------------------

std::vector<admin::SessionView> App::list_sessions() {
  std::vector<admin::SessionView> out;
  for (auto& s : registry_.list()) {
    out.push_back({s.id, s.source, s.listener, s.route, s.backend, s.user, s.started, s.bytes_in,
                   s.bytes_out});
  }
  return out;
}

bool App::kill_session(std::string_view id) {
  return registry_.stop(std::string(id), OutcomeKind::killed);
}

std::vector<admin::BanView> App::list_bans() {
  std::vector<admin::BanView> out;
  for (const auto& b : bans_->list(SystemClock::now())) {
    out.push_back({b.cidr.to_string(), b.until, b.reason,
                   b.origin == security::BanOrigin::manual ? "manual" : "auto"});
  }
  return out;
}

std::variant<admin::BanView, std::string> App::add_ban(std::string_view cidr_text,
                                                       config::Duration duration,
                                                       std::string_view reason) {
  std::string error;
  auto cidr = config::parse_cidr(cidr_text, &error);
  if (!cidr) return "bad cidr \"" + std::string(cidr_text) + "\"" + (error.empty() ? "" : ": " + error);
  if (duration.count() <= 0) return std::string("duration must be positive");
  auto ban = bans_->ban(*cidr, duration, std::string(reason), SystemClock::now());
  if (auto err = bans_->last_error(); !err.empty()) {
    bans_->clear_error();
    metrics_->state_errors().Increment();
    log_event(spdlog::level::err, "state_write_failed", {{"error", err}});
  }
  metrics_->bans_total(true).Increment();
  sync_gauges();
  log_event(spdlog::level::warn, "ban", {{"cidr", ban.cidr.to_string()}, {"origin", "manual"},
                                         {"until", rfc3339(ban.until)}, {"reason", ban.reason}});
  // Sessions already relaying from the banned range are left alone; new ones are refused.
  return admin::BanView{ban.cidr.to_string(), ban.until, ban.reason, "manual"};
}

bool App::remove_ban(std::string_view cidr_text) {
  auto cidr = config::parse_cidr(cidr_from_path(cidr_text));
  if (!cidr) return false;
  const bool removed = bans_->unban(*cidr);
  if (removed) log_event(spdlog::level::warn, "unban", {{"cidr", cidr->to_string()}});
  sync_gauges();
  return removed;
}

std::vector<admin::GrantView> App::list_grants() {
  std::vector<admin::GrantView> out;
  for (const auto& g : grants_->list(SystemClock::now())) {
    out.push_back({g.id, g.cidr.to_string(), g.route, g.until, g.reason});
  }
  return out;
}

std::variant<admin::GrantView, std::string> App::add_grant(std::string_view cidr_text,
                                                           std::string_view route,
                                                           config::Duration duration,
                                                           std::string_view reason) {
  std::string error;
  auto cidr = config::parse_cidr(cidr_text, &error);
  if (!cidr) return "bad cidr \"" + std::string(cidr_text) + "\"" + (error.empty() ? "" : ": " + error);
  if (route != "*" && !policies_.current()->find_route(std::string(route))) {
    return "unknown route \"" + std::string(route) + "\"";
  }
  if (duration.count() <= 0) return std::string("duration must be positive");
  auto added = grants_->add(*cidr, std::string(route), duration, std::string(reason), SystemClock::now());
  if (auto* err = std::get_if<std::string>(&added)) return *err;
  const auto& g = std::get<security::Grant>(added);
  metrics_->grants_total().Increment();
  sync_gauges();
  log_event(spdlog::level::warn, "grant",
            {{"id", g.id}, {"cidr", g.cidr.to_string()}, {"route", g.route},
             {"until", rfc3339(g.until)}, {"reason", g.reason}});
  return admin::GrantView{g.id, g.cidr.to_string(), g.route, g.until, g.reason};
}

bool App::revoke_grant(std::string_view id) {
  const bool revoked = grants_->revoke(id);
  if (revoked) log_event(spdlog::level::warn, "grant_revoked", {{"id", id}});
  sync_gauges();
  return revoked;
}

}  // namespace rdpgate::gateway
