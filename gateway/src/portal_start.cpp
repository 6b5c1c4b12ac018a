// The self-service portal in the running gateway: started with the App when `portal:` is
// configured, on its own thread (portal/server.hpp); a reload re-reads the users file and the
// signing key (all or nothing, like the rest of the reload) and keeps the address and the TLS
// certificate it was started with.
#include "rdpgate/gateway/app.hpp"
#include "rdpgate/gateway/log.hpp"
#include "rdpgate/gateway/portal_adapter.hpp"
#include "rdpgate/portal/portal.hpp"
#include "rdpgate/portal/server.hpp"

namespace rdpgate::gateway {

std::variant<App::PortalStaged, std::string> App::stage_portal(const config::Config& cfg) const {
  PortalStaged staged;
  if (!cfg.portal) return staged;
  auto users = portal::load_users_file(cfg.portal->users_file);
  if (auto* err = std::get_if<std::string>(&users)) return "portal: " + *err;
  staged.users = std::make_shared<const portal::Users>(std::get<portal::Users>(std::move(users)));
  auto key = load_portal_key(cfg.tokens);
  if (auto* err = std::get_if<std::string>(&key)) return *err;
  staged.key = std::get<PortalKey>(std::move(key));
  return staged;
}

void App::commit_portal(const config::Config& cfg, PortalStaged staged) {
  if (!portal_ || !cfg.portal) {
    if (cfg.portal || portal_) {
      log_event(spdlog::level::warn, "portal_restart_needed",
                {{"message", cfg.portal ? "portal: added by a reload; it starts at the next restart"
                                        : "portal: removed by a reload; it keeps serving with its "
                                          "users until the next restart"}});
    }
    return;
  }
  const auto& started = *initial_.portal;
  if (cfg.portal->address != started.address || cfg.portal->cert_file != started.cert_file ||
      cfg.portal->key_file != started.key_file) {
    log_event(
        spdlog::level::warn, "portal_restart_needed",
        {{"message", "portal: a new address or TLS certificate takes effect at the next restart"}});
  }
  portal_service_->set_key(std::move(staged.key));
  portal_->update(*cfg.portal, std::move(staged.users));
}

std::optional<std::string> App::start_portal() {
  const auto& cfg = initial_;
  if (!cfg.portal) return std::nullopt;
  const auto& p = *cfg.portal;
  auto staged = stage_portal(cfg);
  if (auto* err = std::get_if<std::string>(&staged)) return *err;
  auto tls = portal::make_tls_context(p.cert_file, p.key_file);
  if (auto* err = std::get_if<std::string>(&tls)) return *err;
  error_code ec;
  const auto address = asio::ip::make_address(p.address.host, ec);
  if (ec) return "portal \"" + p.address.text + "\": not an IP address";
  auto& s = std::get<PortalStaged>(staged);
  portal_service_ = std::make_unique<PortalAdapter>(*bans_, *grants_, *metrics_, policies_);
  portal_service_->set_key(std::move(s.key));
  portal_ = std::make_unique<portal::Portal>(p, std::move(s.users), *portal_service_);
  try {
    portal_server_ = std::make_unique<portal::PortalServer>(
        tcp::endpoint(address, p.address.port),
        std::get<std::shared_ptr<asio::ssl::context>>(std::move(tls)), *portal_);
    portal_server_->start();
    portal_endpoint_ = portal_server_->local_endpoint();
  } catch (const std::exception& e) {
    return "portal \"" + p.address.text + "\": " + e.what();
  }
  return std::nullopt;
}

void App::stop_portal() {
  if (portal_server_) portal_server_->stop();
}

}  // namespace rdpgate::gateway
