#pragma once
// Addresses as the gateway reports them: the Peer of an accepted socket, and the text forms
// used by the audit record and the admin API.

#include <cstddef>
#include <cstdint>
#include <string>

#include "rdpgate/config/cidr.hpp"
#include "rdpgate/gateway/asio.hpp"
#include "rdpgate/gateway/request.hpp"

namespace rdpgate::gateway {

// IPv4-mapped IPv6 addresses become IPv4.
Peer peer_of(const tcp::endpoint& remote, std::size_t listener);
std::string ip_text(const config::IpAddress& address);  // "192.0.2.1", "2001:db8::1"
std::string endpoint_text(const config::IpAddress& address,
                          std::uint16_t port);  // "[2001:db8::1]:3389"

}  // namespace rdpgate::gateway
