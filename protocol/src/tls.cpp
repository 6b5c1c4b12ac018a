// A bounded peek at a TLS ClientHello: RFC 8446 §5.1 record, §4.1.2 ClientHello, §4.2.1
// supported_versions, RFC 6066 §3 server_name (rdp-preauth-protocol.md §9 layout table).
//
//   record: 16 | 03 xx | len(2)              handshake: 01 | len(3) | legacy_version(2) |
//   random(32) | session_id(1+n) | cipher_suites(2+n) | compression_methods(1+n) | extensions(2+n)
#include "rdpgate/protocol/tls.hpp"

#include <algorithm>

#include "rdpgate/protocol/byte_reader.hpp"

namespace rdpgate::protocol {

namespace {

constexpr std::size_t record_header_size = 1 + 2 + 2;  // type + legacy_record_version + length
constexpr std::size_t handshake_header_size = 1 + 3;   // msg_type + length
constexpr std::size_t max_fragment = 16384;            // RFC 8446 §5.1: 2^14
constexpr std::uint16_t ext_server_name = 0x0000;
constexpr std::uint16_t ext_supported_versions = 0x002B;

enum class Step { ok, truncated, invalid };

// Parses the extensions block body [in.position(), end).
Step read_extensions(ByteReader& in, std::size_t end, ClientHelloInfo& info,
                     std::span<const std::byte> bytes) noexcept {
  while (in.position() < end) {
    if (end - in.position() < 4) return Step::truncated;
    const std::uint16_t type = in.u16_be();
    const std::size_t size = in.u16_be();
    if (end - in.position() < size) return Step::truncated;
    const std::size_t body = in.position();
    ByteReader ext{bytes.first(body + size)};
    ext.skip(body);
    if (type == ext_server_name && info.sni.empty()) {
      // ServerNameList: list length (2), then entries name_type (1) + name length (2) + name.
      if (!ext.has(2) || ext.u16_be() != size - 2) return Step::invalid;
      while (ext.remaining() > 0) {
        if (!ext.has(3)) return Step::invalid;
        const std::uint8_t name_type = ext.u8();
        const std::size_t name_size = ext.u16_be();
        if (!ext.has(name_size)) return Step::invalid;
        const auto name = ext.take(name_size);
        if (name_type == 0 && info.sni.empty()) info.sni = as_chars(name);
      }
    } else if (type == ext_supported_versions) {
      // ClientHello form: versions length (1), then 2-byte versions.
      if (!ext.has(1)) return Step::invalid;
      const std::size_t list = ext.u8();
      if (list != size - 1 || list % 2 != 0) return Step::invalid;
      for (std::size_t i = 0; i < list / 2; ++i) {
        const std::uint16_t version = ext.u16_be();
        if (info.supported_versions_count < info.supported_versions.size()) {
          info.supported_versions[info.supported_versions_count++] = version;
        }
      }
    }
    in.skip(size);
  }
  return Step::ok;
}

}  // namespace

ParseResult<ClientHelloInfo> peek_client_hello(std::span<const std::byte> bytes,
                                               const Limits& limits) noexcept {
  ByteReader in{bytes};
  const std::size_t n = in.size();
  if (n >= 1 && in.at(0) != 0x16) return Invalid{errc::bad_tls_record_type, 0};
  // Any 0x03xx is accepted for a ClientHello record (RFC 5246 Appendix E.1).
  if (n >= 2 && in.at(1) != 0x03) return Invalid{errc::bad_tls_record_version, 1};
  const std::size_t max_length = std::min(
      max_fragment,
      limits.max_tls_record > record_header_size ? limits.max_tls_record - record_header_size : 0);
  if (n >= 4 && static_cast<std::size_t>(in.at(3)) * 256 > max_length) {
    return Invalid{errc::bad_tls_record_length, 3};
  }
  if (n < record_header_size) return NeedMore{record_header_size};
  ClientHelloInfo info;
  in.skip(1);
  info.record_version = in.u16_be();
  const std::size_t record_length = in.u16_be();
  if (record_length < handshake_header_size || record_length > max_length) {
    return Invalid{errc::bad_tls_record_length, 3};
  }
  const std::size_t total = record_header_size + record_length;
  if (n >= 6 && in.at(5) != 0x01) return Invalid{errc::bad_tls_handshake_type, 5};
  if (n < total) return NeedMore{total};

  // From here on only the first record is looked at.
  ByteReader hs{bytes.first(total)};
  hs.skip(record_header_size);
  info.handshake_type = hs.u8();
  const std::size_t hs_length = hs.u24_be();
  // The handshake may continue in a later record: report the fields this one holds.
  info.fragmented = hs_length > record_length - handshake_header_size;
  const std::size_t end = std::min(total, record_header_size + handshake_header_size + hs_length);
  hs = ByteReader{bytes.first(end)};
  hs.skip(record_header_size + handshake_header_size);

  const auto stop = [&](std::size_t offset) -> ParseResult<ClientHelloInfo> {
    if (info.fragmented) return Complete<ClientHelloInfo>{info, total};
    return Invalid{errc::bad_tls_client_hello, offset};
  };
  if (!hs.has(2)) return stop(hs.position());
  info.legacy_version = hs.u16_be();
  if (!hs.skip(32)) return stop(hs.position());  // random
  if (!hs.has(1)) return stop(hs.position());
  const std::size_t session_id = hs.u8();
  if (session_id > 32) return Invalid{errc::bad_tls_client_hello, hs.position() - 1};
  if (!hs.skip(session_id)) return stop(hs.position());
  if (!hs.has(2)) return stop(hs.position());
  const std::size_t suites = hs.u16_be();
  if (suites < 2 || suites % 2 != 0) return Invalid{errc::bad_tls_client_hello, hs.position() - 2};
  if (!hs.skip(suites)) return stop(hs.position());
  if (!hs.has(1)) return stop(hs.position());
  const std::size_t compression = hs.u8();
  if (compression < 1) return Invalid{errc::bad_tls_client_hello, hs.position() - 1};
  if (!hs.skip(compression)) return stop(hs.position());
  // No extensions at all (a TLS 1.0-style hello) is valid when the handshake ends here.
  if (hs.remaining() == 0) return Complete<ClientHelloInfo>{info, total};
  if (!hs.has(2)) return stop(hs.position());
  const std::size_t ext_offset = hs.position();
  const std::size_t ext_total = hs.u16_be();
  const std::size_t ext_end = std::min(end, hs.position() + ext_total);
  if (!info.fragmented && hs.position() + ext_total != end) {
    return Invalid{errc::bad_tls_client_hello, ext_offset};
  }
  switch (read_extensions(hs, ext_end, info, bytes)) {
    case Step::ok: break;
    case Step::truncated: return stop(hs.position());
    case Step::invalid: return Invalid{errc::bad_tls_client_hello, hs.position()};
  }
  return Complete<ClientHelloInfo>{info, total};
}

}  // namespace rdpgate::protocol
