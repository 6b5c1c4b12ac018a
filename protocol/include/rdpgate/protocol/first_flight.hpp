#pragma once
// Everything a client sends before the server's first byte: an optional Preconnection PDU, then
// an X.224 Connection Request (or, with Direct Approach, a TLS ClientHello). This is what the
// gateway's inspection phase and `rdpgate inspect` both decode.

#include <cstddef>
#include <optional>
#include <span>

#include "rdpgate/protocol/classify.hpp"
#include "rdpgate/protocol/limits.hpp"
#include "rdpgate/protocol/parse_result.hpp"
#include "rdpgate/protocol/pcb.hpp"
#include "rdpgate/protocol/tls.hpp"
#include "rdpgate/protocol/x224.hpp"

namespace rdpgate::protocol {

struct FirstFlight {
  FirstBytes kind = FirstBytes::other;  // classification of the very first bytes
  std::optional<PreconnectionPdu> preconnection;
  std::size_t preconnection_size = 0;        // bytes of the PCB at the start of the input
  std::optional<ConnectionRequest> request;  // views point into the input
  std::optional<ClientHelloInfo> tls;        // Direct Approach (after an optional PCB)
  friend bool operator==(const FirstFlight&, const FirstFlight&) = default;
};

// Complete when a PCB (optional) and a CR — or a TLS ClientHello record — have been read;
// consumed covers both. Non-RDP first bytes are Invalid{not_rdp*, 0}; a TLS start is accepted
// here (the gateway's policy decides about Direct Approach). Bytes after the request are
// Invalid{trailing_data}: a real client waits for the Connection Confirm. The whole flight is
// bounded by limits.max_total.
[[nodiscard]] ParseResult<FirstFlight> parse_first_flight(std::span<const std::byte> bytes,
                                                          const Limits& limits) noexcept;

}  // namespace rdpgate::protocol
