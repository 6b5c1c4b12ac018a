#pragma once
// PDUs rdpgate writes itself. Pure: they fill fixed-size arrays or return owned bytes.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "rdpgate/protocol/rdp.hpp"

namespace rdpgate::protocol {

// Server X.224 Connection Confirm carrying RDP_NEG_FAILURE ([MS-RDPBCGR] 2.2.1.2.2), 19 bytes:
// 03 00 00 13 0e d0 00 00 12 34 00 03 00 08 00 <code LE32>.
[[nodiscard]] std::array<std::byte, 19> write_negotiation_failure(NegFailureCode code) noexcept;

// X.224 Disconnect Request (ISO 8073 §13.5), 11 bytes: 03 00 00 0b 06 80 <dst_ref BE> 00 00 00.
[[nodiscard]] std::array<std::byte, 11> write_disconnect_request(std::uint16_t dst_ref) noexcept;

// Client X.224 Connection Request with an optional mstshash cookie and an RDP_NEG_REQ, as used
// by the backend health probe. `cookie` must be printable ASCII without CR/LF and at most 200
// bytes long; otherwise it is left out.
[[nodiscard]] std::vector<std::byte> write_connection_request(std::string_view cookie,
                                                              std::uint32_t requested_protocols);

}  // namespace rdpgate::protocol
