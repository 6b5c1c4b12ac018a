#pragma once
// The client's first flight as the gateway forwards it to the server ([MS-RDPBCGR] 5.4.2.1):
// verbatim, except for a Preconnection PDU the gateway consumed and a routing-token line that
// carried its own token.

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace rdpgate::protocol {

// What the gateway leaves out of a client's first flight when forwarding it to the server.
struct FlightEdit {
  std::size_t preconnection_size = 0;  // bytes of a Preconnection PDU at the start of the flight
  bool drop_preconnection = false;     // leave that PDU out
  std::size_t token_offset = 0;        // a routing-token line inside the Connection Request,
  std::size_t token_size = 0;          // as offsets within the flight; size 0: keep it
};

// `flight` is the flight exactly as the client sent it: [0, flight_size) is what the parser
// accepted (PCB? + CR, or PCB? + TLS ClientHello record), bytes after it are forwarded as they
// are. Removing the routing-token line reduces the TPKT length and the X.224 LI by its size
// ([MS-RDPBCGR] 5.4.2.1: neither is covered by the later echo).
//
// Returns nullopt when the edit does not fit the bytes: flight_size > flight.size(),
// preconnection_size > flight_size, or — with a token to remove — [token_offset, token_offset +
// token_size) is not exactly the routing-token line (CRLF included, inside the variable part
// after the fixed 11-byte header) that parse_connection_request() finds in a CR starting at
// preconnection_size and ending at flight_size (so a bad TPKT length or LI, or a TLS flight,
// gives nullopt too). token_offset is ignored when token_size is 0. Never reads out of bounds
// for any input; a result with a token removed is itself a valid CR.
//
// When engaged, the result holds flight.size() - (drop_preconnection ? preconnection_size : 0)
// - token_size bytes.
[[nodiscard]] std::optional<std::vector<std::byte>> forward_first_flight(
    std::span<const std::byte> flight, std::size_t flight_size, const FlightEdit& edit);

}  // namespace rdpgate::protocol
