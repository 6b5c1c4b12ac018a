#include "rdpgate/gateway/net.hpp"

#include <charconv>

namespace rdpgate::gateway {

Peer peer_of(const tcp::endpoint& remote, std::size_t listener) {
  Peer p;
  p.listener = listener;
  p.port = remote.port();
  const auto a = remote.address();
  if (a.is_v4()) {
    p.address = config::IpAddress::from_v4(a.to_v4().to_uint());
  } else if (a.to_v6().is_v4_mapped()) {
    p.address = config::IpAddress::from_v4(
        asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_uint());
  } else {
    p.address = config::IpAddress::from_v6(a.to_v6().to_bytes());
  }
  return p;
}

std::string ip_text(const config::IpAddress& address) {
  if (!address.is_v4()) return address.to_string();
  // IPv4, the common case, formatted directly: this runs for every connection.
  std::string out;
  out.reserve(15);
  for (std::size_t i = 12; i < 16; ++i) {
    if (i > 12) out += '.';
    char digits[4];
    const auto end = std::to_chars(digits, digits + sizeof digits, address.bytes[i]).ptr;
    out.append(digits, end);
  }
  return out;
}

std::string endpoint_text(const config::IpAddress& address, std::uint16_t port) {
  auto ip = ip_text(address);
  if (!address.is_v4()) ip = "[" + ip + "]";
  return ip + ":" + std::to_string(port);
}

}  // namespace rdpgate::gateway
