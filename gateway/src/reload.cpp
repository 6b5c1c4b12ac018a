// Reload (SIGHUP, POST /v1/reload): a new Policy snapshot for new connections; sessions keep
// the one they started with. The services (bans, grants, rate buckets, backend state) carry
// over.
//
// All or nothing: everything that can fail — the file, the token keys, the admin token, binding
// the listeners it adds or moves — is done first, aside, while the running configuration
// serves on. Only when all of it succeeded is anything switched (policy, listeners, admin
// token, health checks), and the switch itself cannot fail. A failed reload changes nothing:
// `reload_failed` in the log, rdpgate_config_reloads_total{result="failure"}, and the error as
// the answer of POST /v1/reload.
#include "rdpgate/admin/server.hpp"
#include "rdpgate/config/load.hpp"
#include "rdpgate/gateway/app.hpp"
#include "rdpgate/gateway/log.hpp"
#include "rdpgate/security/ban_manager.hpp"
#include "rdpgate/security/replay_cache.hpp"
#include "rdpgate/security/token_verifier.hpp"

namespace rdpgate::gateway {

std::variant<std::string, std::string> read_admin_token(const config::AdminConfig& admin);

// The signed-token verifier for `cfg`, null when no keys are configured.
std::variant<std::shared_ptr<const security::TokenVerifier>, std::string> make_verifier(
    const config::Config& cfg, const std::shared_ptr<security::ReplayCache>& replay) {
  if (cfg.tokens.keys.empty()) return std::shared_ptr<const security::TokenVerifier>{};
  auto created = security::TokenVerifier::create(cfg.tokens, replay);
  if (auto* err = std::get_if<std::string>(&created)) return "tokens: " + *err;
  return std::shared_ptr<const security::TokenVerifier>(std::move(std::get<0>(created)));
}

std::optional<std::string> App::reload_failed(std::string error) {
  metrics_->config_reloads(false).Increment();
  log_event(spdlog::level::err, "reload_failed",
            {{"file", policies_.current()->config().file},
             {"error", error},
             {"message", "nothing changed: the running configuration stays in force"}});
  return error;
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
    return reload_failed(std::move(all));
  }
  return apply(std::move(std::get<config::Config>(loaded)));
}

std::optional<std::string> App::apply(config::Config cfg) {
  std::lock_guard reload_lock(reload_mutex_);
  // 1. Everything that can fail, with nothing switched yet.
  auto verifier = make_verifier(cfg, replay_);
  if (auto* err = std::get_if<std::string>(&verifier)) return reload_failed(*err);
  // The admin API keeps the address it was started on (and runs on if the new file turns it
  // off); its token is read again, so a rotated token file takes effect, and one that cannot be
  // read, or that others may read, fails the reload and keeps the old token.
  std::optional<std::string> admin_token;
  if (admin_ && cfg.admin.enabled) {
    auto token = read_admin_token(cfg.admin);
    if (auto* err = std::get_if<1>(&token)) return reload_failed(*err);
    admin_token = std::get<0>(std::move(token));
  }
  auto staged = listeners_.stage(cfg);
  if (auto* err = std::get_if<std::string>(&staged)) return reload_failed(*err);
  auto portal = stage_portal(cfg);  // the users file and the signing key
  if (auto* err = std::get_if<std::string>(&portal)) return reload_failed(*err);

  // 2. The switch; nothing below fails.
  bans_->reconfigure(cfg.bruteforce);
  commit_portal(cfg, std::get<PortalStaged>(std::move(portal)));
  auto policy = Policy::build(std::move(cfg), *services_, std::get<0>(std::move(verifier)));
  policies_.publish(policy);
  listeners_.commit(std::get<Listeners::Staged>(std::move(staged)), policy);
  if (admin_token) admin_->set_token(std::move(*admin_token));
  health_.restart(policy->config());
  metrics_->config_reloads(true).Increment();
  log_event(spdlog::level::info, "reloaded", {{"file", policy->config().file}});
  return std::nullopt;
}

}  // namespace rdpgate::gateway
