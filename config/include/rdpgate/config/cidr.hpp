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
  IpAddress network;   // host bits cleared
  std::uint8_t prefix = 0;  // in IPv6 terms: an IPv4 /24 is stored as /120
  [[nodiscard]] bool contains(const IpAddress& address) const noexcept;
  [[nodiscard]] std::string to_string() const;  // "203.0.113.0/24", "2001:db8::/32"
  friend auto operator<=>(const Cidr&, const Cidr&) = default;
};

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
  [[nodiscard]] bool empty() const noexcept { return ranges_.empty(); }
  [[nodiscard]] std::size_t range_count() const noexcept { return ranges_.size(); }

 private:
  struct Range {  // inclusive, compared as big-endian 128-bit numbers
    std::array<std::uint8_t, 16> first;
    std::array<std::uint8_t, 16> last;
  };
  std::vector<Range> ranges_;
};

}  // namespace rdpgate::config
