#include "rdpgate/gateway/bruteforce.hpp"

#include "rdpgate/gateway/log.hpp"
#include "rdpgate/protocol/rdp.hpp"
#include "rdpgate/security/ban_manager.hpp"

namespace rdpgate::gateway {

LogonJudge::LogonJudge(std::optional<std::uint32_t> selected, bool direct_tls) {
  namespace p = protocol::proto;
  nla_ = direct_tls || (selected && (*selected == p::hybrid || *selected == p::hybrid_ex));
  tls_ = nla_ || (selected && *selected == p::ssl);
}

void LogonJudge::forwarded_before(std::span<const std::byte> client_bytes) {
  if (tls_) judge_.feed(protocol::TlsSide::client, client_bytes);
}

void LogonJudge::on_bytes(Direction d, std::span<const std::byte> bytes) {
  judge_.feed(
      d == Direction::client_to_server ? protocol::TlsSide::client : protocol::TlsSide::server,
      bytes);
}

void LogonJudge::on_end(Direction d) {
  judge_.closed(d == Direction::client_to_server ? protocol::TlsSide::client
                                                 : protocol::TlsSide::server);
}

std::optional<protocol::NlaVerdict> LogonJudge::verdict() const {
  if (!tls_) return std::nullopt;
  return judge_.verdict();
}

bool LogonJudge::failed() const { return nla_ && judge_.verdict() == protocol::NlaVerdict::failed; }

std::string LogonJudge::evidence() const { return tls_ ? judge_.evidence() : std::string(); }

void on_auth_failure(Services& services, const config::Config& cfg, const Peer& peer,
                     std::string_view user, std::string_view conn) {
  services.metrics.auth_failures().Increment();
  if (services.bans == nullptr || !cfg.bruteforce.enabled) return;
  const auto now = SystemClock::now();
  std::optional<security::Ban> prefix_ban;
  auto ban = services.bans->record_failure(peer.address, user, now, &prefix_ban);
  services.metrics.usernames_throttled().Set(
      static_cast<double>(services.bans->blocked_username_count(now)));
  for (const auto* created : {ban ? &*ban : nullptr, prefix_ban ? &*prefix_ban : nullptr}) {
    if (created == nullptr) continue;
    if (!created->observed) {
      services.metrics.bans_total(false).Increment();
      services.metrics.bans_active().Set(static_cast<double>(services.bans->active_count(now)));
    }
    log_event(spdlog::level::warn, "ban",
              {{"conn", conn},
               {"cidr", created->cidr.to_string()},
               {"origin", "auto"},
               {"observed", created->observed},
               {"until", rfc3339(created->until)},
               {"offenses", created->offenses},
               {"reason", created->reason}});
  }
}

}  // namespace rdpgate::gateway
