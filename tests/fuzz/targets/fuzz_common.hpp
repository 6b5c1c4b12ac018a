#pragma once
// Shared by the libFuzzer targets: the input as a byte span, and checks that every parser
// answer is self-consistent (a Complete never consumes more than it was given, an Invalid offset
// lies inside the input or at the cap, a NeedMore asks for more than it has).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "rdpgate/protocol/parse_result.hpp"

namespace rdpgate::protocol::fuzz {

inline std::span<const std::byte> as_bytes(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const std::byte*>(data), size};
}

template <class Pdu>
void check(const ParseResult<Pdu>& r, std::size_t size, std::size_t offset_bound) {
  if (const auto* c = std::get_if<Complete<Pdu>>(&r)) {
    if (c->consumed > size) std::abort();
  } else if (const auto* bad = std::get_if<Invalid>(&r)) {
    if (bad->offset > offset_bound) std::abort();
    if (to_string(bad->code) == "unknown") std::abort();
  } else if (const auto& more = std::get<NeedMore>(r); more.total != 0 && more.total <= size) {
    std::abort();
  }
}

}  // namespace rdpgate::protocol::fuzz
