// Reload (SIGHUP, POST /v1/reload): a new Policy snapshot for new connections; sessions keep
// the one they started with. Listeners that the new file drops or moves are closed, new ones
// bound; the services (bans, grants, rate buckets, backend state) carry over.
#include "rdpgate/config/load.hpp"
#include "rdpgate/gateway/app.hpp"
#include "rdpgate/gateway/log.hpp"
#include "rdpgate/security/ban_manager.hpp"
#include "rdpgate/security/replay_cache.hpp"
#include "rdpgate/security/token_verifier.hpp"

namespace rdpgate::gateway {

// The signed-token verifier for `cfg`, null when no keys are configured.
std::variant<std::shared_ptr<const security::TokenVerifier>, std::string> make_verifier(
    const config::Config& cfg, const std::shared_ptr<security::ReplayCache>& replay) {
  if (cfg.tokens.keys.empty()) return std::shared_ptr<const security::TokenVerifier>{};
  auto created = security::TokenVerifier::create(cfg.tokens, replay);
  if (auto* err = std::get_if<std::string>(&created)) return "tokens: " + *err;
  return std::shared_ptr<const security::TokenVerifier>(std::move(std::get<0>(created)));
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
  const auto to_open = listeners_.close_changed(cfg);
  bans_->reconfigure(cfg.bruteforce);
  policies_.publish(Policy::build(cfg, *services_, std::get<0>(std::move(verifier))));
  std::string errors;
  for (const auto* lc : to_open) {
    if (auto err = listeners_.open(*lc)) {
      if (!errors.empty()) errors += "; ";
      errors += *err;
    }
  }
  health_.restart(cfg);
  if (!errors.empty()) {
    metrics_->config_reloads(false).Increment();
    log_event(spdlog::level::err, "reload_failed", {{"error", errors}});
    return errors;
  }
  metrics_->config_reloads(true).Increment();
  log_event(spdlog::level::info, "reloaded", {{"file", cfg.file}});
  return std::nullopt;
}

}  // namespace rdpgate::gateway
