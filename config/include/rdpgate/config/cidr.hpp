#pragma once
// IP addresses and CIDR sets for IPv4 and IPv6 (standard library only).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rdpgate::config {

// An address in IPv6 form; IPv4 addresses are stored as IPv4-mapped (::ffff:a.b.c.d).
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  [[nodiscard]] bool is_v4() const noexcept;
  [[nodiscard]] std::string to_string() const;  // "192.0.2.1" or "2001:db8::1"
  [[nodiscard]] static IpAddress from_v4(std::uint32_t host_order) noexcept;
  [[nodiscard]] static IpAddress from_v6(const std::array<std::uint8_t, 16>& bytes) noexcept;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
};

// Parses "192.0.2.1" or "2001:db8::1" (no brackets, no zone).
[[nodiscard]] std::optional<IpAddress> parse_ip(std::string_view text);

struct Cidr {
  IpAddress network;        // host bits cleared
  std::uint8_t prefix = 0;  // in IPv6 terms: an IPv4 /24 is stored as /120
  [[nodiscard]] bool contains(const IpAddress& address) const noexcept;
  [[nodiscard]] std::string to_string() const;  // "203.0.113.0/24", "2001:db8::/32"
  friend auto operator<=>(const Cidr&, const Cidr&) = default;
};

// The range of `prefix` bits around `address` (host bits cleared); `v4_prefix` counts IPv4 bits
// (0..32) for an IPv4 address, `v6_prefix` IPv6 bits (0..128) otherwise.
[[nodiscard]] Cidr source_range(const IpAddress& address, unsigned v4_prefix,
                                unsigned v6_prefix) noexcept;

// Parses "203.0.113.0/24", "2001:db8::/32", or a bare address (a /32 or /128). Host bits set
// below the prefix are an error ("203.0.113.7/24"): it is almost always a typo.
[[nodiscard]] std::optional<Cidr> parse_cidr(std::string_view text, std::string* error = nullptr);

// A set of CIDRs with O(log n) membership: the ranges are merged into sorted disjoint
// intervals once, at build time. Immutable after construction, so safe to share across threads.
class CidrSet {
 public:
  CidrSet() = default;
  explicit CidrSet(const std::vector<Cidr>& cidrs);
  [[nodiscard]] bool contains(const IpAddress& address) const noexcept;
  [[nodiscard]] bool empty() const noexcept { return firsts_.empty(); }
  [[nodiscard]] std::size_t range_count() const noexcept { return firsts_.size(); }

 private:
  // A 128-bit address as two host-order halves: compares as fast as two integers, where
  // comparing 16 bytes lexicographically costs a byte loop.
  struct Key {
    std::uint64_t high = 0;
    std::uint64_t low = 0;
    friend auto operator<=>(const Key&, const Key&) = default;
  };
  // Sorted, disjoint, non-adjacent inclusive ranges [firsts_[i], lasts_[i]]. The starts are kept
  // apart from the ends so that the binary search touches only the starts.
  std::vector<Key> firsts_;
  std::vector<Key> lasts_;
};

}  // namespace rdpgate::config
