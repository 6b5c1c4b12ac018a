#pragma once
// A bounds-checked cursor over a byte span. Byte order is part of each reader's name
// (rdp-preauth-protocol.md §0): TPKT and X.224 references are big-endian, RDP_NEG_* and the
// Preconnection PDU little-endian.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace rdpgate::protocol {

class ByteReader {
 public:
  constexpr explicit ByteReader(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}

  [[nodiscard]] constexpr bool has(std::size_t n) const noexcept { return remaining() >= n; }
  [[nodiscard]] constexpr std::size_t position() const noexcept { return pos_; }
  [[nodiscard]] constexpr std::size_t remaining() const noexcept { return bytes_.size() - pos_; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return bytes_.size(); }

  // INVARIANT: callers check has(n) first. A read past the end does not advance and yields 0, so
  // a missed check is a wrong answer, never an out-of-bounds read.
  constexpr std::uint8_t u8() noexcept {
    if (!has(1)) return 0;
    return std::to_integer<std::uint8_t>(bytes_[pos_++]);
  }
  constexpr std::uint16_t u16_be() noexcept {
    if (!has(2)) return 0;
    const auto hi = u8();
    const auto lo = u8();
    return static_cast<std::uint16_t>((hi << 8) | lo);
  }
  constexpr std::uint16_t u16_le() noexcept {
    if (!has(2)) return 0;
    const auto lo = u8();
    const auto hi = u8();
    return static_cast<std::uint16_t>((hi << 8) | lo);
  }
  constexpr std::uint32_t u24_be() noexcept {
    if (!has(3)) return 0;
    std::uint32_t v = u8();
    v = (v << 8) | u8();
    return (v << 8) | u8();
  }
  constexpr std::uint32_t u32_le() noexcept {
    if (!has(4)) return 0;
    std::uint32_t v = 0;
    for (unsigned shift = 0; shift < 32; shift += 8) v |= static_cast<std::uint32_t>(u8()) << shift;
    return v;
  }
  // Advances by n bytes; false (and no move) when fewer remain.
  constexpr bool skip(std::size_t n) noexcept {
    if (!has(n)) return false;
    pos_ += n;
    return true;
  }
  // The next n bytes (empty when fewer remain), advancing past them.
  constexpr std::span<const std::byte> take(std::size_t n) noexcept {
    if (!has(n)) return {};
    auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  // The byte at absolute offset i without moving; 0 when out of range.
  [[nodiscard]] constexpr std::uint8_t at(std::size_t i) const noexcept {
    return i < bytes_.size() ? std::to_integer<std::uint8_t>(bytes_[i]) : 0;
  }

 private:
  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
};

// Views bytes as characters (for cookie / token lines and SNI, which point into the input).
[[nodiscard]] inline std::string_view as_chars(std::span<const std::byte> bytes) noexcept {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace rdpgate::protocol
