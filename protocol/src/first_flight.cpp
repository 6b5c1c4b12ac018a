// Everything a client sends before the server's first byte (rdp-preauth-protocol.md §1, §2, §8
// rule 2): [Preconnection PDU] then an X.224 Connection Request, or [PCB] then a TLS record.
#include "rdpgate/protocol/first_flight.hpp"

#include <algorithm>

namespace rdpgate::protocol {

namespace {

// Re-bases a sub-parser's answer at `base` and applies the max_total cap to what it waits for.
template <class Pdu>
std::variant<NeedMore, Invalid> shift(const ParseResult<Pdu>& r, std::size_t base,
                                      const Limits& limits) noexcept {
  if (const auto* bad = std::get_if<Invalid>(&r)) return Invalid{bad->code, base + bad->offset};
  const auto& more = *std::get_if<NeedMore>(&r);
  const std::size_t total = more.total == 0 ? 0 : base + more.total;
  // Refused before waiting: the flight could never fit the inspection cap.
  if (total > limits.max_total) return Invalid{errc::too_large, limits.max_total};
  return NeedMore{total};
}

ParseResult<FirstFlight> from(std::variant<NeedMore, Invalid> v) noexcept {
  if (const auto* bad = std::get_if<Invalid>(&v)) return *bad;
  return *std::get_if<NeedMore>(&v);
}

}  // namespace

ParseResult<FirstFlight> parse_first_flight(std::span<const std::byte> bytes,
                                            const Limits& limits) noexcept {
  const auto kind = classify(bytes, limits);
  if (const auto* more = std::get_if<NeedMore>(&kind)) return *more;
  FirstFlight flight;
  flight.kind = std::get_if<Complete<FirstBytes>>(&kind)->pdu;
  switch (flight.kind) {
    case FirstBytes::http: return Invalid{errc::not_rdp_http, 0};
    case FirstBytes::ssh: return Invalid{errc::not_rdp_ssh, 0};
    case FirstBytes::other: return Invalid{errc::not_rdp, 0};
    default: break;
  }

  std::size_t pos = 0;
  if (flight.kind == FirstBytes::preconnection) {
    auto pcb = parse_preconnection_pdu(bytes, limits);
    auto* done = std::get_if<Complete<PreconnectionPdu>>(&pcb);
    if (done == nullptr) return from(shift(pcb, 0, limits));
    pos = done->consumed;
    flight.preconnection = std::move(done->pdu);
    flight.preconnection_size = pos;
    if (pos >= limits.max_total) return Invalid{errc::too_large, limits.max_total};
    if (bytes.size() == pos) return NeedMore{pos + 1};
  }

  const auto rest = bytes.subspan(pos);
  if (std::to_integer<std::uint8_t>(rest[0]) == 0x16) {
    // Direct Approach ([MS-RDPBCGR] 5.4.2.2), possibly after a PCB (FreeRDP /vmconnect, §14.7);
    // the gateway's policy decides whether it is allowed.
    const auto hello = peek_client_hello(rest, limits);
    const auto* done = std::get_if<Complete<ClientHelloInfo>>(&hello);
    if (done == nullptr) return from(shift(hello, pos, limits));
    const std::size_t end = pos + done->consumed;
    if (end > limits.max_total) return Invalid{errc::too_large, limits.max_total};
    // A client waits for the ServerHello, unless its hello continues in the next record.
    if (!done->pdu.fragmented && bytes.size() > end) return Invalid{errc::trailing_data, end};
    flight.tls = done->pdu;
    return Complete<FirstFlight>{std::move(flight), end};
  }

  // After a PCB anything but TPKT is malformed RDP: parse_connection_request reports the byte.
  const auto request = parse_connection_request(rest, limits);
  const auto* done = std::get_if<Complete<ConnectionRequest>>(&request);
  if (done == nullptr) return from(shift(request, pos, limits));
  const std::size_t end = pos + done->consumed;
  if (end > limits.max_total) return Invalid{errc::too_large, limits.max_total};
  // Rule 2: no pipelining; a real client waits for the Connection Confirm.
  if (bytes.size() > end) return Invalid{errc::trailing_data, end};
  flight.request = done->pdu;
  return Complete<FirstFlight>{std::move(flight), end};
}

}  // namespace rdpgate::protocol
