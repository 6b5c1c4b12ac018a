#pragma once
// The three answers every parser in rdpgate::protocol gives (Beast's need_more / tri-state).

#include <cstddef>
#include <variant>

#include "rdpgate/protocol/errc.hpp"

namespace rdpgate::protocol {

// More bytes are needed. `total` is the number of bytes needed in all, 0 if not yet known.
struct NeedMore {
  std::size_t total = 0;
  friend bool operator==(const NeedMore&, const NeedMore&) = default;
};

// The bytes can never become valid. `offset` is the offset of the offending byte in the input.
struct Invalid {
  errc code;
  std::size_t offset = 0;
  friend bool operator==(const Invalid&, const Invalid&) = default;
};

// A complete PDU and the number of input bytes it consumed.
template <class Pdu>
struct Complete {
  Pdu pdu;
  std::size_t consumed = 0;
};

template <class Pdu>
using ParseResult = std::variant<NeedMore, Invalid, Complete<Pdu>>;

template <class Pdu>
[[nodiscard]] constexpr bool is_complete(const ParseResult<Pdu>& r) noexcept {
  return std::holds_alternative<Complete<Pdu>>(r);
}
template <class Pdu>
[[nodiscard]] constexpr bool is_need_more(const ParseResult<Pdu>& r) noexcept {
  return std::holds_alternative<NeedMore>(r);
}
template <class Pdu>
[[nodiscard]] constexpr bool is_invalid(const ParseResult<Pdu>& r) noexcept {
  return std::holds_alternative<Invalid>(r);
}

}  // namespace rdpgate::protocol
