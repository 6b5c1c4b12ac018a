// The client's first flight as forwarded to the server. [MS-RDPBCGR] 5.4.2.1: the client echoes
// serverSelectedProtocol and the server echoes clientRequestedProtocols inside the secure
// channel, so the request is forwarded verbatim. The only changes: a Preconnection PDU the
// gateway consumed is left out, and so is a routing-token line that carried the gateway's own
// token — then the TPKT length and the X.224 LI shrink by the line's size (neither is covered by
// the echo).
//
//   flight:  [PCB][03 00 L L LI E0 dst dst src src cls | token line | rest of CR][after]
//            0    preconnection_size                    token_offset            flight_size
#include "rdpgate/protocol/forward.hpp"

#include <iterator>
#include <variant>

#include "rdpgate/protocol/limits.hpp"
#include "rdpgate/protocol/x224.hpp"

namespace rdpgate::protocol {

std::optional<std::vector<std::byte>> forward_first_flight(std::span<const std::byte> flight,
                                                           std::size_t flight_size,
                                                           const FlightEdit& edit) {
  if (flight_size > flight.size() || edit.preconnection_size > flight_size) return std::nullopt;
  const std::size_t start = edit.drop_preconnection ? edit.preconnection_size : 0;
  const auto at = [&](std::size_t offset) {
    return flight.begin() + static_cast<std::ptrdiff_t>(offset);
  };
  if (edit.token_size == 0) return std::vector<std::byte>(at(start), flight.end());

  // The line must be the routing token of a CR that starts right after the PCB and ends the
  // accepted part: the parser finds it (TPKT, LI = L - 5, code E0, rules 1-9), so the result is
  // a valid CR too. Default limits: whatever a listener's tighter limits accepted, these do.
  const std::size_t cr = edit.preconnection_size;
  const auto parsed = parse_connection_request(flight.subspan(cr, flight_size - cr), Limits{});
  const auto* request = std::get_if<Complete<ConnectionRequest>>(&parsed);
  if (request == nullptr || request->consumed != flight_size - cr) return std::nullopt;
  const ConnectionRequest& pdu = request->pdu;
  if (pdu.token_size != edit.token_size || edit.token_offset < cr ||
      pdu.token_offset != edit.token_offset - cr) {
    return std::nullopt;
  }

  // The token lies in the variable part after the fixed 11 bytes, so 11 <= new length and
  // LI = new length - 5 <= 254 still hold.
  const std::size_t new_length = pdu.length - edit.token_size;
  std::vector<std::byte> out;
  out.reserve(flight.size() - start - edit.token_size);
  out.insert(out.end(), at(start), at(edit.token_offset));
  out.insert(out.end(), at(edit.token_offset + edit.token_size), flight.end());
  const std::size_t cr_at = cr - start;
  out[cr_at + 2] = static_cast<std::byte>(new_length >> 8);
  out[cr_at + 3] = static_cast<std::byte>(new_length & 0xFF);
  out[cr_at + 4] = static_cast<std::byte>(new_length - 5);
  return out;
}

}  // namespace rdpgate::protocol
