#include "rdpgate/gateway/app.hpp"

#include <prometheus/exposer.h>
#include <pthread.h>

#include <cstdio>
#include <string>
#include <thread>

#include "rdpgate/admin/server.hpp"
#include "rdpgate/gateway/cpus.hpp"
#include "rdpgate/gateway/log.hpp"
#include "rdpgate/gateway/portal_adapter.hpp"
#include "rdpgate/gateway/shared_state.hpp"
#include "rdpgate/portal/portal.hpp"
#include "rdpgate/portal/server.hpp"
#include "rdpgate/security/ban_manager.hpp"
#include "rdpgate/security/grant_table.hpp"
#include "rdpgate/security/replay_cache.hpp"
#include "rdpgate/security/secret_file.hpp"
#include "rdpgate/security/token_verifier.hpp"
#include "rdpgate/state/state_store.hpp"

namespace rdpgate::gateway {

using namespace std::chrono_literals;

std::variant<std::shared_ptr<const security::TokenVerifier>, std::string> make_verifier(
    const config::Config& cfg, const std::shared_ptr<security::ReplayCache>& replay);

// The admin API's bearer token (start and reload): from token_env, or from token_file, which
// must be readable, not empty, and readable by nobody else (security::read_secret_file).
std::variant<std::string, std::string> read_admin_token(const config::AdminConfig& admin) {
  using Result = std::variant<std::string, std::string>;  // the token | an error
  std::string token;
  if (!admin.token_env.empty()) {
    if (const char* v = std::getenv(admin.token_env.c_str())) token = v;
  } else if (!admin.token_file.empty()) {
    const std::string where = "admin token_file \"" + admin.token_file + "\": ";
    auto read = security::read_secret_file(admin.token_file);
    if (!read.ok()) return Result{std::in_place_index<1>, where + read.error};
    token = std::move(read.contents);
    if (token.find_first_not_of(" \r\n") == std::string::npos) {
      return Result{std::in_place_index<1>, where + "empty"};
    }
  }
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  return Result{std::in_place_index<0>, std::move(token)};
}

namespace {

// Runs `io` until it is stopped; an exception escaping a handler is logged, not fatal.
void run_logging_errors(asio::io_context& io) {
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      log_event(spdlog::level::err, "internal_error", {{"error", std::string_view(e.what())}});
    }
  }
}

// One single-threaded io_context per worker: `workers` of them, or one per CPU rdpgate may use
// (its affinity mask and cgroup quota: cpus.hpp).
std::vector<std::unique_ptr<asio::io_context>> make_workers(std::uint32_t workers) {
  const auto count = workers != 0 ? workers : usable_cpus();
  std::vector<std::unique_ptr<asio::io_context>> out;
  for (unsigned i = 0; i < count; ++i) out.push_back(std::make_unique<asio::io_context>(1));
  return out;
}

// Names the calling thread for `top -H`, `ps -L` and debuggers (at most 15 characters).
void name_thread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace

App::App(config::Config cfg)
    : initial_(std::move(cfg)),
      metrics_(std::make_unique<Metrics>()),
      services_(std::make_unique<Services>(*metrics_)),
      session_ctx_{*services_, registry_},
      workers_(make_workers(initial_.workers)),
      listeners_(accept_, workers_, session_ctx_),
      health_(control_, policies_, services_->names) {}

App::~App() {
  request_shutdown();
  stop_portal();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  // The Redis threads and the store's writer thread answer into the ban manager and replay
  // cache: stop them (applying what is queued) while those still exist.
  if (shared_) shared_->stop();
  if (store_) store_->close();
}

std::optional<std::string> App::start() {
  const auto& cfg = initial_;
  if (auto err = open_state_and_policy()) return err;
  for (auto& w : workers_) work_guards_.push_back(asio::make_work_guard(*w));
  work_guards_.push_back(asio::make_work_guard(accept_));
  auto staged = listeners_.stage(cfg);
  if (auto* err = std::get_if<std::string>(&staged)) return *err;
  listeners_.commit(std::get<Listeners::Staged>(std::move(staged)), policies_.current());
  if (auto err = start_metrics()) return err;
  if (auto err = start_admin()) return err;
  if (auto err = start_portal()) return err;

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
  health_.restart(cfg);
  admin_service_->sync_gauges();
  start_threads();
  return std::nullopt;
}

std::optional<std::string> App::open_state_and_policy() {
  const auto& cfg = initial_;
  // Every persistence failure, from any thread, is counted and logged here, once.
  state_health_.observe([metrics = metrics_.get()](const std::string& error) {
    metrics->state_errors().Increment();
    log_event(spdlog::level::err, "state_write_failed", {{"error", error}});
  });
  // A store that cannot be used — not opened, or its rows not loaded — stops the start: bans
  // would be forgotten at the next restart and a used token could pass again. Only with
  // `state.required: false` does rdpgate run memory-only, loudly (SPEC §7).
  std::string unusable;
  auto opened = state::StateStore::open(cfg.state.path, &state_health_);
  if (auto* err = std::get_if<std::string>(&opened)) {
    unusable = *err;
  } else {
    store_ = std::move(std::get<0>(opened));
  }
  make_state_services();
  if (store_ && state_health_.snapshot().failures != 0) {
    unusable = state_health_.snapshot().last_error;  // a load failed: the rows are not all there
    const auto failed = std::move(store_);
    make_state_services();  // memory-only ones, before the store they pointed at goes
  }
  if (!unusable.empty()) {
    if (cfg.state.required) {
      return unusable + " (state.required: false runs without persistence)";
    }
    state_health_.unavailable(unusable);
    log_event(spdlog::level::err, "state_unavailable",
              {{"path", cfg.state.path},
               {"error", unusable},
               {"message",
                "running memory-only (state.required: false): bans, grants and token replays "
                "are lost at restart"}});
  }
  services_->store = store_.get();
  services_->bans = bans_.get();
  services_->grants = grants_.get();
  services_->replay = replay_.get();
  if (auto err = share_state()) return err;
  admin_service_ = std::make_unique<AdminAdapter>(
      AdminAdapter::Parts{registry_, *bans_, *grants_, state_health_, *metrics_, policies_,
                          [this] { return reload_from_file(); }});
  auto verifier = make_verifier(cfg, replay_);
  if (auto* err = std::get_if<std::string>(&verifier)) return *err;
  policies_.publish(Policy::build(cfg, *services_, std::get<0>(std::move(verifier))));
  return std::nullopt;
}

void App::make_state_services() {
  const auto& cfg = initial_;
  bans_ = std::make_unique<security::BanManager>(cfg.bruteforce, store_.get());
  grants_ = std::make_unique<security::GrantTable>(store_.get());
  replay_ = std::make_shared<security::ReplayCache>(store_.get());
}

std::optional<std::string> App::share_state() {
  const auto& redis = initial_.state.redis;
  if (!redis) return std::nullopt;
  std::string password;
  if (!redis->password_file.empty()) {
    auto read = security::read_secret_file(redis->password_file);
    if (!read.ok()) {
      return "state.redis password_file \"" + redis->password_file + "\": " + read.error;
    }
    password = std::move(read.contents);
    while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) {
      password.pop_back();
    }
  }
  shared_ = std::make_unique<SharedState>(
      *redis, std::move(password),
      SharedState::Parts{*bans_, *grants_, *replay_, *services_, *metrics_->registry()});
  shared_->start();
  return std::nullopt;
}

std::optional<std::string> App::start_metrics() {
  const auto& m = initial_.metrics;
  if (!m.enabled) return std::nullopt;
  try {
    const auto port = std::to_string(m.address.port);
    const auto bind = m.address.host.find(':') != std::string::npos
                          ? "[" + m.address.host + "]:" + port
                          : m.address.host + ":" + port;
    exposer_ = std::make_unique<prometheus::Exposer>(bind, 2);
    exposer_->RegisterCollectable(metrics_->registry());
    exposer_->RegisterCollectable(make_process_collector());
    const auto ports = exposer_->GetListeningPorts();
    error_code ec;
    auto address = asio::ip::make_address(m.address.host, ec);
    if (!ports.empty() && !ec) {
      metrics_endpoint_ = tcp::endpoint(address, static_cast<std::uint16_t>(ports.front()));
    }
  } catch (const std::exception& e) {
    return "metrics \"" + m.address.text + "\": " + e.what();
  }
  return std::nullopt;
}

std::optional<std::string> App::start_admin() {
  const auto& a = initial_.admin;
  if (!a.enabled) return std::nullopt;
  error_code ec;
  const auto address = asio::ip::make_address(a.address.host, ec);
  if (ec) return "admin \"" + a.address.text + "\": not an IP address";
  auto token = read_admin_token(a);
  if (auto* err = std::get_if<1>(&token)) return *err;
  if (std::get<0>(token).empty()) {
    log_event(spdlog::level::warn, "admin_token_missing",
              {{"message", "no admin token configured or readable: every /v1 request is refused"}});
  }
  try {
    admin_ = std::make_unique<admin::AdminServer>(control_, tcp::endpoint(address, a.address.port),
                                                  std::get<0>(std::move(token)), *admin_service_);
    admin_->start();
    admin_endpoint_ = admin_->local_endpoint();
  } catch (const std::exception& e) {
    return "admin \"" + a.address.text + "\": " + e.what();
  }
  return std::nullopt;
}

void App::start_threads() {
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    threads_.emplace_back([io = workers_[i].get(), i] {
      name_thread("rdpgate-w" + std::to_string(i));
      run_logging_errors(*io);
    });
  }
  threads_.emplace_back([this] {
    name_thread("rdpgate-accept");
    run_logging_errors(accept_);
  });
  threads_.emplace_back([this] {
    name_thread("rdpgate-control");
    run_logging_errors(control_);
  });
}

awaitable<void> App::housekeeping() {
  asio::steady_timer timer(control_);
  for (std::uint64_t tick = 1;; ++tick) {
    timer.expires_after(1s);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    if (ec || shutting_down_) co_return;
    services_->refusal_log.flush(SteadyClock::now());
    metrics_->sync_log_dropped();
    if (tick % 10 == 0) {
      const auto now = SystemClock::now();
      bans_->purge(now);
      grants_->purge(now);
      replay_->purge(now);
      const auto policy = policies_.current();
      for (const auto& lp : policy->listeners()) {
        const auto& s = lp.cfg.sources;
        services_->rate_limiter(lp.cfg.name)
            ->sweep(s.per_source_rate.per_second, s.per_source_burst, RateLimiter::Clock::now());
      }
    }
    admin_service_->sync_gauges();
  }
}

void App::wait() {
  std::unique_lock lock(done_mutex_);
  done_cv_.wait(lock, [this] { return done_; });
}

}  // namespace rdpgate::gateway
