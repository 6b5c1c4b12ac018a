#pragma once
// [MS-RDPEPS] 2.2.1.1 RDP_PRECONNECTION_PDU_V1 and 2.2.1.2 RDP_PRECONNECTION_PDU_V2.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "rdpgate/protocol/limits.hpp"
#include "rdpgate/protocol/parse_result.hpp"

namespace rdpgate::protocol {

struct PreconnectionPdu {
  std::uint32_t size = 0;     // cbSize: the whole PDU
  std::uint32_t flags = 0;    // MUST be 0 when sent; ignored on receipt
  std::uint32_t version = 0;  // 1 or 2
  std::uint32_t id = 0;       // identifies the RDP source
  std::uint16_t cch = 0;      // v2: UTF-16 code units in wszPCB (0 for v1)
  std::string blob;           // v2: wszPCB as UTF-8, trailing NULs removed; bounded by max_pcb
  friend bool operator==(const PreconnectionPdu&, const PreconnectionPdu&) = default;
};

// Parses one Preconnection PDU at the start of `bytes`. consumed == cbSize.
[[nodiscard]] ParseResult<PreconnectionPdu> parse_preconnection_pdu(
    std::span<const std::byte> bytes, const Limits& limits) noexcept;

}  // namespace rdpgate::protocol
