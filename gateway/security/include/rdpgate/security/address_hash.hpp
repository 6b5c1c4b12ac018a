#pragma once
// Hashing of IP addresses for the per-source tables of the security services.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "rdpgate/config/cidr.hpp"

namespace rdpgate::security {

struct AddressHash {
  std::size_t operator()(const config::IpAddress& address) const noexcept {
    std::uint64_t high = 0;
    std::uint64_t low = 0;
    std::memcpy(&high, address.bytes.data(), 8);
    std::memcpy(&low, address.bytes.data() + 8, 8);
    // Mixing from splitmix64; the low half (where IPv4 lives) dominates.
    std::uint64_t x = low ^ (high * 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<std::size_t>(x ^ (x >> 31));
  }
};

}  // namespace rdpgate::security
