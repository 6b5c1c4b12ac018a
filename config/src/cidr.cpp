// IPv4/IPv6 addresses, CIDRs and CidrSet. POSIX inet_pton/inet_ntop do the text conversions;
// everything else is plain arithmetic on 16 big-endian bytes.

#include "rdpgate/config/cidr.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace rdpgate::config {
namespace {

constexpr std::size_t v4_offset = 12;  // ::ffff:a.b.c.d keeps the IPv4 address in bytes 12..15
constexpr std::uint8_t v4_prefix_base = 96;

using Bytes = std::array<std::uint8_t, 16>;

// The first `prefix` bits of `bytes` kept, the rest set to `fill` (0x00 or 0xff).
Bytes with_host_bits(const Bytes& bytes, unsigned prefix, std::uint8_t fill) noexcept {
  Bytes out = bytes;
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned bit = i * 8;
    if (bit >= prefix) {
      out[i] = fill;
    } else if (prefix - bit < 8) {
      const auto keep = static_cast<std::uint8_t>(0xff << (8 - (prefix - bit)));
      out[i] = static_cast<std::uint8_t>((bytes[i] & keep) | (fill & ~keep));
    }
  }
  return out;
}

}  // namespace

bool IpAddress::is_v4() const noexcept {
  for (std::size_t i = 0; i < 10; ++i) {
    if (bytes[i] != 0) return false;
  }
  return bytes[10] == 0xff && bytes[11] == 0xff;
}

std::string IpAddress::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    inet_ntop(AF_INET, bytes.data() + v4_offset, text, sizeof text);
  } else {
    inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
  }
  return text;
}

IpAddress IpAddress::from_v4(std::uint32_t host_order) noexcept {
  IpAddress address;
  address.bytes[10] = 0xff;
  address.bytes[11] = 0xff;
  address.bytes[12] = static_cast<std::uint8_t>(host_order >> 24);
  address.bytes[13] = static_cast<std::uint8_t>(host_order >> 16);
  address.bytes[14] = static_cast<std::uint8_t>(host_order >> 8);
  address.bytes[15] = static_cast<std::uint8_t>(host_order);
  return address;
}

IpAddress IpAddress::from_v6(const std::array<std::uint8_t, 16>& bytes) noexcept {
  IpAddress address;
  address.bytes = bytes;
  return address;
}

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string copy{text};  // inet_pton wants a terminated string
  IpAddress address;
  if (copy.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, copy.c_str(), address.bytes.data() + v4_offset) != 1) {
      return std::nullopt;
    }
    address.bytes[10] = 0xff;
    address.bytes[11] = 0xff;
    return address;
  }
  if (inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) != 1) return std::nullopt;
  return address;
}

Cidr source_range(const IpAddress& address, unsigned v4_prefix, unsigned v6_prefix) noexcept {
  const unsigned prefix =
      address.is_v4() ? v4_prefix_base + std::min(v4_prefix, 32u) : std::min(v6_prefix, 128u);
  Cidr c;
  c.prefix = static_cast<std::uint8_t>(prefix);
  c.network.bytes = with_host_bits(address.bytes, prefix, 0x00);
  return c;
}

bool Cidr::contains(const IpAddress& address) const noexcept {
  return with_host_bits(address.bytes, prefix, 0x00) == network.bytes;
}

std::string Cidr::to_string() const {
  if (network.is_v4() && prefix >= v4_prefix_base) {
    return network.to_string() + "/" + std::to_string(prefix - v4_prefix_base);
  }
  return network.to_string() + "/" + std::to_string(prefix);
}

std::optional<Cidr> parse_cidr(std::string_view text, std::string* error) {
  auto fail = [error](std::string message) -> std::optional<Cidr> {
    if (error != nullptr) *error = std::move(message);
    return std::nullopt;
  };
  const auto slash = text.find('/');
  const std::string_view host = text.substr(0, slash);
  const auto address = parse_ip(host);
  if (!address) return fail("expected an IPv4 or IPv6 address, optionally with /prefix");
  const bool v4_text = host.find(':') == std::string_view::npos;
  const unsigned max_prefix = v4_text ? 32 : 128;
  unsigned prefix = max_prefix;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const auto [stop, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc{} || stop != digits.data() + digits.size() ||
        prefix > max_prefix || (digits.size() > 1 && digits.front() == '0')) {
      return fail("bad prefix length: expected 0.." + std::to_string(max_prefix));
    }
  }
  Cidr cidr;
  cidr.prefix = static_cast<std::uint8_t>(v4_text ? prefix + v4_prefix_base : prefix);
  cidr.network.bytes = with_host_bits(address->bytes, cidr.prefix, 0x00);
  if (cidr.network != *address) {
    return fail("host bits set (did you mean \"" + cidr.to_string() + "\")");
  }
  return cidr;
}

namespace {

std::uint64_t load_be64(const std::uint8_t* bytes) noexcept {
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | bytes[i];
  return value;
}

}  // namespace

CidrSet::CidrSet(const std::vector<Cidr>& cidrs) {
  struct Range {
    Key first, last;
  };
  auto key = [](const Bytes& bytes) {
    return Key{load_be64(bytes.data()), load_be64(bytes.data() + 8)};
  };
  std::vector<Range> ranges;
  ranges.reserve(cidrs.size());
  for (const auto& cidr : cidrs) {
    ranges.push_back({key(with_host_bits(cidr.network.bytes, cidr.prefix, 0x00)),
                      key(with_host_bits(cidr.network.bytes, cidr.prefix, 0xff))});
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.first < b.first; });
  // Merge overlapping and adjacent ranges: the result is sorted and disjoint, with a gap of at
  // least one address between neighbours.
  constexpr std::uint64_t ones = ~std::uint64_t{0};
  for (const auto& range : ranges) {
    if (!lasts_.empty()) {
      Key& last = lasts_.back();
      const bool last_is_max = last.high == ones && last.low == ones;
      const Key after_last =
          last.low == ones ? Key{last.high + 1, 0} : Key{last.high, last.low + 1};
      if (last_is_max || range.first <= after_last) {
        if (range.last > last) last = range.last;
        continue;
      }
    }
    firsts_.push_back(range.first);
    lasts_.push_back(range.last);
  }
  firsts_.shrink_to_fit();
  lasts_.shrink_to_fit();
}

bool CidrSet::contains(const IpAddress& address) const noexcept {
  const Key key{load_be64(address.bytes.data()), load_be64(address.bytes.data() + 8)};
  // INVARIANT: firsts_ is sorted and the ranges are disjoint, so only the last range starting
  // at or before `key` can hold it.
  const auto after = std::upper_bound(firsts_.begin(), firsts_.end(), key);
  if (after == firsts_.begin()) return false;
  const auto index = static_cast<std::size_t>(after - firsts_.begin()) - 1;
  return key <= lasts_[index];
}

}  // namespace rdpgate::config
