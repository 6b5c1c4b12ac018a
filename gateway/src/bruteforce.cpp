#include "rdpgate/gateway/bruteforce.hpp"

#include "rdpgate/gateway/log.hpp"
#include "rdpgate/protocol/rdp.hpp"
#include "rdpgate/security/ban_manager.hpp"

namespace rdpgate::gateway {

LogonJudge::LogonJudge(const config::BruteforceConfig& cfg, std::optional<std::uint32_t> selected,
                       std::uint64_t server_bytes)
    : cfg_(cfg),
      nla_(selected &&
           (*selected == protocol::proto::hybrid || *selected == protocol::proto::hybrid_ex)),
      started_(SteadyClock::now()),
      server_bytes_(server_bytes) {}

void LogonJudge::on_forwarded(Direction d, std::size_t n) {
  if (d == Direction::client_to_server) {
    relayed_in_ += n;
  } else {
    relayed_out_ += n;
    server_bytes_ += n;
  }
}

bool LogonJudge::failed(SteadyClock::time_point now) const {
  const bool exchanged = relayed_in_ > 0 && relayed_out_ > 0;
  return cfg_.enabled && nla_ && exchanged && now - started_ <= cfg_.failure_max_duration &&
         server_bytes_ <= cfg_.failure_max_server_bytes;
}

void on_auth_failure(Services& services, const config::Config& cfg, const Peer& peer,
                     std::string_view user, std::string_view conn) {
  services.metrics.auth_failures().Increment();
  if (services.bans == nullptr || !cfg.bruteforce.enabled) return;
  const auto now = SystemClock::now();
  auto ban = services.bans->record_failure(peer.address, user, now);
  if (ban) {
    services.metrics.bans_total(false).Increment();
    services.metrics.bans_active().Set(static_cast<double>(services.bans->active_count(now)));
    log_event(spdlog::level::warn, "ban",
              {{"conn", conn},
               {"cidr", ban->cidr.to_string()},
               {"origin", "auto"},
               {"until", rfc3339(ban->until)},
               {"offenses", ban->offenses},
               {"reason", ban->reason}});
  }
}

}  // namespace rdpgate::gateway
