#pragma once
// What the client asked for: an owned copy of the parsed first flight, plus the peer.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "rdpgate/config/cidr.hpp"
#include "rdpgate/protocol/first_flight.hpp"

namespace rdpgate::gateway {

using SystemClock = std::chrono::system_clock;
using SteadyClock = std::chrono::steady_clock;

struct Peer {
  config::IpAddress address;
  std::uint16_t port = 0;
  std::size_t listener = 0;  // index into the policy's listeners
};

struct Request {
  // Not parsed: inspection in observe mode let through a first flight it would have refused;
  // its bytes are forwarded verbatim and nothing below is known.
  bool raw = false;
  bool direct_tls = false;  // Direct Approach: the client started with TLS
  bool has_cookie = false;
  bool has_negotiation = false;
  std::uint8_t negotiation_flags = 0;
  protocol::TokenKind token_kind = protocol::TokenKind::none;
  std::uint16_t src_ref = 0;
  std::uint32_t requested_protocols = 0;
  std::optional<std::array<std::uint8_t, 16>> correlation_id;
  std::optional<protocol::PreconnectionPdu> preconnection;
  std::size_t preconnection_size = 0;  // bytes of the PCB at the start of the flight
  std::string user;                    // mstshash cookie identifier
  std::string routing_token;
  std::size_t token_offset = 0;  // within the flight
  std::size_t token_size = 0;
  std::string sni;

  static Request from(const protocol::FirstFlight& flight);
};

}  // namespace rdpgate::gateway
