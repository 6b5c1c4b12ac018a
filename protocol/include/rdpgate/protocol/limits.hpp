#pragma once
// Bounds every parser checks before it waits for more bytes (STYLE.md §3).

#include <cstddef>

namespace rdpgate::protocol {

struct Limits {
  // Largest Preconnection PDU accepted (cbSize). rdp-preauth-protocol.md §3 recommends 4 KiB; a
  // GUID blob is 92 bytes. Must stay below 65 539 so that `03 00` can only start a TPKT (§2).
  std::size_t max_pcb = 4096;
  // Largest X.224 Connection Request: LI is one octet and 255 is reserved, so 4 + 1 + 254.
  std::size_t max_connection_request = 259;
  // Largest TLS record peeked at (RFC 8446 §5.1: 2^14 + 5 header bytes).
  std::size_t max_tls_record = 16384 + 5;
  // Cap on everything the client may send before the server answers (inspection.max_bytes).
  std::size_t max_total = 4096;
};

}  // namespace rdpgate::protocol
