// The address hash is keyed: addresses chosen to collide under an unkeyed hash spread out.

#include "rdpgate/security/address_hash.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace rdpgate::security {
namespace {

// rdpgate used to hash an address as splitmix64(low ^ high * C) (high, low: its two 8-byte
// halves), unkeyed: x = low ^ high * C is the same for every high if low = X ^ high * C, so an
// attacker could send from as many addresses with one hash value as they liked.
constexpr std::uint64_t golden = 0x9e3779b97f4a7c15ULL;

config::IpAddress colliding(std::uint64_t high) {
  const std::uint64_t low = 0x1234567890abcdefULL ^ (high * golden);
  config::IpAddress a;
  std::memcpy(a.bytes.data(), &high, 8);
  std::memcpy(a.bytes.data() + 8, &low, 8);
  return a;
}

config::IpAddress address_with_low(std::uint64_t low) {
  config::IpAddress a;
  std::memcpy(a.bytes.data() + 8, &low, 8);
  return a;
}

TEST(AddressHash, AddressesChosenToCollideUnkeyedSpreadOut) {
  constexpr std::size_t n = 20000;
  std::unordered_map<config::IpAddress, int, AddressHash> table;
  table.reserve(n);
  for (std::size_t i = 0; i < n; ++i) table.emplace(colliding(0x20010db800000000ULL + i), 0);
  ASSERT_EQ(table.size(), n);
  std::size_t longest = 0;
  for (std::size_t b = 0; b < table.bucket_count(); ++b) {
    longest = std::max(longest, table.bucket_size(b));
  }
  EXPECT_LT(longest, 16u) << "keyed hashing should spread " << n << " crafted addresses";
}

TEST(AddressHash, IsStableWithinAProcess) {
  const auto a = address_with_low(42);
  EXPECT_EQ(AddressHash{}(a), AddressHash{}(a));
  EXPECT_NE(AddressHash{}(a), AddressHash{}(address_with_low(43)));
}

}  // namespace
}  // namespace rdpgate::security
