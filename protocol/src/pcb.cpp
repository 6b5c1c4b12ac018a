// [MS-RDPEPS] 2.2.1.1 RDP_PRECONNECTION_PDU_V1 and 2.2.1.2 RDP_PRECONNECTION_PDU_V2, processed
// per [MS-RDPEPS] 3.2.5.1 (rdp-preauth-protocol.md §3).
//
//   0        4        8        12       16      18
//   +--------+--------+--------+--------+-------+----------------------+---------------+
//   | cbSize | Flags  | Version|   Id   |cchPCB | wszPCB (2*cchPCB)    | skipped bytes |
//   +--------+--------+--------+--------+-------+----------------------+---------------+
//   all LE; V1 stops at 16; V2 requires cbSize >= 18 + 2*cchPCB.
#include "rdpgate/protocol/pcb.hpp"

#include "rdpgate/protocol/byte_reader.hpp"

namespace rdpgate::protocol {

namespace {

constexpr std::size_t v1_size = 4 + 4 + 4 + 4;       // cbSize + Flags + Version + Id
constexpr std::size_t v2_header_size = v1_size + 2;  // + cchPCB

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

ParseResult<PreconnectionPdu> parse_preconnection_pdu(std::span<const std::byte> bytes,
                                                      const Limits& limits) noexcept {
  ByteReader in{bytes};
  if (!in.has(4)) return NeedMore{4};
  PreconnectionPdu pdu;
  pdu.size = in.u32_le();
  // 3.2.5.1: 17 or less than 16 SHOULD disconnect. The cap is ours (§3 recommendation) and is
  // checked before waiting for cbSize bytes.
  if (pdu.size < v1_size || pdu.size == v1_size + 1) return Invalid{errc::bad_pcb_size, 0};
  if (pdu.size > limits.max_pcb) return Invalid{errc::pcb_too_large, 0};
  const std::size_t size = pdu.size;

  if (!in.has(8)) return NeedMore{size};
  pdu.flags = in.u32_le();  // MUST be 0 when sent; ignored on receipt
  pdu.version = in.u32_le();
  // The spec says Version "SHOULD be ignored by the server"; we refuse anything but 1 and 2
  // because classification (SPEC) relies on it, and V1 with cbSize > 16 (3.2.5.1 SHOULD
  // disconnect), reported at the Version field.
  if (pdu.version != 1 && pdu.version != 2) return Invalid{errc::bad_pcb_version, 8};
  if (pdu.version == 1 && size != v1_size) return Invalid{errc::bad_pcb_version, 8};
  // A V2 PDU needs cchPCB, so cbSize 16 with Version 2 is too small.
  if (pdu.version == 2 && size < v2_header_size) return Invalid{errc::bad_pcb_size, 0};

  if (!in.has(4)) return NeedMore{size};
  pdu.id = in.u32_le();
  if (pdu.version == 1) return Complete<PreconnectionPdu>{std::move(pdu), size};

  if (!in.has(2)) return NeedMore{size};
  pdu.cch = in.u16_le();
  // 3.2.5.1: cbSize >= 18 + 2*cchPCB; extra trailing bytes are skipped (IronRDP does the same).
  if (v2_header_size + 2 * static_cast<std::size_t>(pdu.cch) > size) {
    return Invalid{errc::bad_pcb_string_length, v1_size};
  }
  if (bytes.size() < size) return NeedMore{size};

  // wszPCB: UTF-16LE; trailing NULs (FreeRDP and IronRDP count one, §3) are dropped.
  std::size_t units = pdu.cch;
  auto unit_at = [&](std::size_t i) noexcept {
    return static_cast<std::uint16_t>(in.at(v2_header_size + 2 * i) |
                                      in.at(v2_header_size + 2 * i + 1) << 8);
  };
  while (units > 0 && unit_at(units - 1) == 0) --units;
  // INVARIANT: the blob is at most 3 UTF-8 bytes per code unit, bounded by max_pcb.
  pdu.blob.reserve(units * 3 / 2 + 1);
  for (std::size_t i = 0; i < units; ++i) {
    const std::uint32_t unit = unit_at(i);
    const std::size_t offset = v2_header_size + 2 * i;
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      const std::uint32_t low = i + 1 < units ? unit_at(i + 1) : 0;
      if (low < 0xDC00 || low > 0xDFFF) return Invalid{errc::bad_pcb_string, offset};
      append_utf8(pdu.blob, 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00));
      ++i;
    } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
      return Invalid{errc::bad_pcb_string, offset};  // a low surrogate without its high half
    } else {
      append_utf8(pdu.blob, unit);
    }
  }
  return Complete<PreconnectionPdu>{std::move(pdu), size};
}

}  // namespace rdpgate::protocol
