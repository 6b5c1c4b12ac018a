#pragma once
// Inspection (SPEC §1.2): an optional PROXY header from a trusted load balancer, then the
// client's first flight — a Preconnection PDU and/or the X.224 Connection Request, or a TLS
// ClientHello under Direct Approach — read within the phase deadline and the listener's byte cap.
// Parsing is protocol/'s (pure, fuzzed); this file only reads and classifies the refusal.

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <variant>

#include "rdpgate/gateway/asio.hpp"
#include "rdpgate/gateway/deadline.hpp"
#include "rdpgate/gateway/outcome.hpp"
#include "rdpgate/gateway/policy.hpp"
#include "rdpgate/gateway/request.hpp"

namespace rdpgate::gateway {

// The bytes read from the client before relaying, laid out as they arrived:
//
//   [0, proxy_size)             PROXY header (consumed by rdpgate, never forwarded)
//   [proxy_size, +flight_size)  the first flight the parser accepted
//   [.., length)                what followed it (the rest of a ClientHello spanning records)
struct ClientPrefix {
  std::unique_ptr<std::byte[]> data;  // not zero-filled: only [0, length) is ever read
  std::size_t capacity = 0;
  std::size_t length = 0;
  std::size_t proxy_size = 0;
  std::size_t flight_size = 0;

  // Room for the listener's byte cap, plus a PROXY header when the listener accepts one.
  void allocate(const config::ListenerConfig& listener);
  // From the end of the PROXY header to the last byte read.
  [[nodiscard]] std::span<const std::byte> after_proxy() const noexcept {
    return {data.get() + proxy_size, length - proxy_size};
  }
  void release() noexcept {
    data.reset();
    capacity = 0;
  }
};

// Reads a PROXY v1/v2 header and, unless it is a LOCAL one, replaces `peer`'s address and port
// with the client's. nullopt: read (the session then runs admission on the new peer).
awaitable<std::optional<Outcome>> read_proxy_header(Socket& client, ClientPrefix& in,
                                                    const Deadline& deadline, Peer& peer);

// Reads until the first flight is complete, invalid, over the cap, or the deadline passes.
awaitable<std::variant<Request, Outcome>> read_first_flight(Socket& client, ClientPrefix& in,
                                                            const Deadline& deadline,
                                                            const ListenerPolicy& listener);

}  // namespace rdpgate::gateway
