#pragma once
// Brute-force defence, in one place (SPEC §2): the judgement that a relayed session was a
// failed NLA logon, and what follows from one (count it, maybe ban).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "rdpgate/config/config.hpp"
#include "rdpgate/gateway/relay.hpp"
#include "rdpgate/gateway/request.hpp"
#include "rdpgate/gateway/services.hpp"
#include "rdpgate/protocol/nla_judge.hpp"

namespace rdpgate::gateway {

// Reads the relayed TLS record stream of a session whose server selected a TLS-based protocol
// (protocol::NlaJudge: record headers only, never decrypted) until the verdict cannot change;
// the relay splices from then on. Sessions without TLS are not observed.
class LogonJudge final : public RelayObserver {
 public:
  // `direct_tls`: Direct Approach, TLS (and CredSSP) from the first byte, no Confirm.
  LogonJudge(std::optional<std::uint32_t> selected, bool direct_tls);
  // Client bytes forwarded before the relay began (a Direct Approach ClientHello).
  void forwarded_before(std::span<const std::byte> client_bytes);

  [[nodiscard]] bool wants_bytes() const noexcept override { return tls_ && !judge_.decided(); }
  void on_bytes(Direction d, std::span<const std::byte> bytes) override;
  void on_end(Direction d) override;

  // The session that just ended, judged: nullopt when no TLS was selected.
  [[nodiscard]] std::optional<protocol::NlaVerdict> verdict() const;
  // A failed logon: CredSSP (HYBRID, HYBRID_EX) was selected and the host refused the password.
  [[nodiscard]] bool failed() const;
  // For the audit record's `evidence` field: "" when no TLS was selected.
  [[nodiscard]] std::string evidence() const;

 private:
  bool tls_ = false;  // SSL, HYBRID or HYBRID_EX selected
  bool nla_ = false;  // HYBRID or HYBRID_EX
  protocol::NlaJudge judge_;
};

// A failed logon: count it, and ban the source when it crosses the threshold.
void on_auth_failure(Services& services, const config::Config& cfg, const Peer& peer,
                     std::string_view user, std::string_view conn);

}  // namespace rdpgate::gateway
