#pragma once
// Hashing of IP addresses for every table keyed by traffic (bans, failure counts, concurrency
// counts, rate buckets). Keyed: SipHash-2-4 (Aumasson and Bernstein, 2012) of the 16 address
// bytes under a random key drawn once per process, so nobody outside can choose addresses that
// pile into one bucket and turn a table into a linear list.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>

#include "rdpgate/config/cidr.hpp"

namespace rdpgate::security {

namespace detail {

inline const std::array<std::uint64_t, 2>& address_hash_key() {
  static const std::array<std::uint64_t, 2> key = [] {
    std::random_device rd;
    auto word = [&rd] { return (static_cast<std::uint64_t>(rd()) << 32) ^ rd(); };
    return std::array<std::uint64_t, 2>{word(), word()};
  }();
  return key;
}

constexpr std::uint64_t rotl(std::uint64_t x, int b) noexcept { return (x << b) | (x >> (64 - b)); }

// SipHash-2-4 of exactly 16 bytes (two little-endian words) under `k`.
inline std::uint64_t siphash16(std::uint64_t m0, std::uint64_t m1,
                               const std::array<std::uint64_t, 2>& k) noexcept {
  std::uint64_t v0 = 0x736f6d6570736575ULL ^ k[0];
  std::uint64_t v1 = 0x646f72616e646f6dULL ^ k[1];
  std::uint64_t v2 = 0x6c7967656e657261ULL ^ k[0];
  std::uint64_t v3 = 0x7465646279746573ULL ^ k[1];
  auto round = [&] {
    v0 += v1, v1 = rotl(v1, 13), v1 ^= v0, v0 = rotl(v0, 32);
    v2 += v3, v3 = rotl(v3, 16), v3 ^= v2;
    v0 += v3, v3 = rotl(v3, 21), v3 ^= v0;
    v2 += v1, v1 = rotl(v1, 17), v1 ^= v2, v2 = rotl(v2, 32);
  };
  for (const std::uint64_t m : {m0, m1}) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  const std::uint64_t last = std::uint64_t{16} << 56;  // length 16, no tail bytes
  v3 ^= last;
  round();
  round();
  v0 ^= last;
  v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) round();
  return v0 ^ v1 ^ v2 ^ v3;
}

}  // namespace detail

struct AddressHash {
  std::size_t operator()(const config::IpAddress& address) const noexcept {
    std::uint64_t m0 = 0;
    std::uint64_t m1 = 0;
    std::memcpy(&m0, address.bytes.data(), 8);
    std::memcpy(&m1, address.bytes.data() + 8, 8);
    return static_cast<std::size_t>(detail::siphash16(m0, m1, detail::address_hash_key()));
  }
};

}  // namespace rdpgate::security
