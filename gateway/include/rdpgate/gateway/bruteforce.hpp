#pragma once
// Brute-force defence, in one place (SPEC §2): the judgement that a relayed session was a failed
// NLA logon, and what follows from one (count it, maybe ban).

#include <cstdint>
#include <optional>
#include <string_view>

#include "rdpgate/config/config.hpp"
#include "rdpgate/gateway/relay.hpp"
#include "rdpgate/gateway/request.hpp"
#include "rdpgate/gateway/services.hpp"

namespace rdpgate::gateway {

// Watches a relayed session and judges, when it has ended, whether it was a failed logon.
//
// Today's rule (rdp-preauth-protocol.md §13; calibrated in docs/e2e.md against xfreerdp and
// freerdp-shadow-cli): the server selected CredSSP, both sides started the exchange after the
// Confirm (a client that hangs up right after it, a port check or a probe, tried no
// credentials), the session ended within `inference.max_duration` and the server sent at most
// `inference.max_server_bytes` (every failure 1983 bytes, every success >= 3257). Which side
// closed first is not used: +auth-only successes are often closed by the server too.
class LogonJudge final : public RelayObserver {
 public:
  // `server_bytes` and `client_bytes`: what was already forwarded before the relay began.
  LogonJudge(const config::BruteforceConfig& cfg, std::optional<std::uint32_t> selected,
             std::uint64_t server_bytes);
  void on_forwarded(Direction d, std::size_t n) override;
  // True when the session that just ended was a failed logon.
  [[nodiscard]] bool failed(SteadyClock::time_point now) const;

 private:
  const config::BruteforceConfig& cfg_;
  bool nla_ = false;
  SteadyClock::time_point started_;
  std::uint64_t server_bytes_;     // every byte from the server, the Confirm included
  std::uint64_t relayed_in_ = 0;   // client -> server since the relay began
  std::uint64_t relayed_out_ = 0;  // server -> client since the relay began
};

// A failed logon: count it, and ban the source when it crosses the threshold.
void on_auth_failure(Services& services, const config::Config& cfg, const Peer& peer,
                     std::string_view user, std::string_view conn);

}  // namespace rdpgate::gateway
