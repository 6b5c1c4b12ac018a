#pragma once
// Filters: synchronous, const, noexcept decisions (STYLE.md §4). Anything stateful is a
// thread-safe service owned by the App and referenced here, so a reload does not reset it.

#include <optional>
#include <string>
#include <string_view>

#include "rdpgate/gateway/outcome.hpp"
#include "rdpgate/gateway/request.hpp"
#include "rdpgate/protocol/rdp.hpp"

namespace rdpgate::gateway {

struct Decision {
  OutcomeKind refusal = OutcomeKind::completed;   // completed = pass
  Reason reason;                                  // bounded snake_case detail
  std::optional<protocol::NegFailureCode> reply;  // answer with CC + RDP_NEG_FAILURE first
  bool disconnect_request = false;                // answer with an X.224 DR first
  bool observed = false;  // a refusal the filter reports but does not enforce (observe mode)
  [[nodiscard]] bool refused() const noexcept { return refusal != OutcomeKind::completed; }
  static Decision pass() noexcept { return {}; }
  static Decision refuse(OutcomeKind why, Reason reason = {}) noexcept {
    Decision d;
    d.refusal = why;
    d.reason = reason;
    return d;
  }
};

class Filter {
 public:
  virtual ~Filter() = default;
  [[nodiscard]] virtual std::string_view name() const noexcept = 0;
  // Before a single byte is read.
  [[nodiscard]] virtual Decision on_admission(const Peer&, SystemClock::time_point) const {
    return {};
  }
  // After the first flight was parsed.
  [[nodiscard]] virtual Decision on_request(const Peer&, const Request&,
                                            SystemClock::time_point) const {
    return {};
  }
};

}  // namespace rdpgate::gateway
