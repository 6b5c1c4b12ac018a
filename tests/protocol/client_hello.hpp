#pragma once
// Builds TLS ClientHello records for the tests (RFC 8446 §4.1.2, §5.1; RFC 6066 §3).

#include <cstdint>
#include <string_view>
#include <vector>

#include "test_support.hpp"

namespace rdpgate::protocol::test {

struct HelloSpec {
  std::uint16_t record_version = 0x0301;
  std::uint16_t legacy_version = 0x0303;
  std::string_view sni = "rdp.example.test";
  std::vector<std::uint16_t> versions = {0x0304, 0x0303};
  std::size_t session_id = 32;
  std::size_t extra_handshake_length = 0;  // claims more handshake bytes than the record holds
};

inline void put16(Bytes& out, std::size_t v) {
  out.push_back(static_cast<std::byte>((v >> 8) & 0xFF));
  out.push_back(static_cast<std::byte>(v & 0xFF));
}

inline Bytes client_hello(const HelloSpec& spec = {}) {
  Bytes ext;
  if (!spec.sni.empty()) {
    put16(ext, 0x0000);                   // server_name
    put16(ext, spec.sni.size() + 5);      // extension length
    put16(ext, spec.sni.size() + 3);      // ServerNameList length
    ext.push_back(std::byte{0});          // host_name
    put16(ext, spec.sni.size());          // HostName length
    for (char c : spec.sni) ext.push_back(static_cast<std::byte>(c));
  }
  put16(ext, 0x000a);  // supported_groups, skipped by the parser
  put16(ext, 4);
  put16(ext, 2);
  put16(ext, 0x001d);
  if (!spec.versions.empty()) {
    put16(ext, 0x002b);                            // supported_versions
    put16(ext, 1 + 2 * spec.versions.size());      // extension length
    ext.push_back(static_cast<std::byte>(2 * spec.versions.size()));
    for (auto v : spec.versions) put16(ext, v);
  }
  Bytes body;
  put16(body, spec.legacy_version);               // legacy_version
  for (int i = 0; i < 32; ++i) body.push_back(static_cast<std::byte>(i));  // random
  body.push_back(static_cast<std::byte>(spec.session_id));  // legacy_session_id
  for (std::size_t i = 0; i < spec.session_id; ++i) body.push_back(std::byte{0xAA});
  put16(body, 4);                                 // cipher_suites length
  put16(body, 0x1301);
  put16(body, 0xc02f);
  body.push_back(std::byte{1});                   // compression methods: null
  body.push_back(std::byte{0});
  put16(body, ext.size());                        // extensions
  body.insert(body.end(), ext.begin(), ext.end());

  const std::size_t hs_length = body.size() + spec.extra_handshake_length;
  Bytes out{std::byte{0x16}};                     // handshake record
  put16(out, spec.record_version);
  put16(out, body.size() + 4);                    // record length
  out.push_back(std::byte{0x01});                 // client_hello
  out.push_back(static_cast<std::byte>((hs_length >> 16) & 0xFF));
  put16(out, hs_length & 0xFFFF);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

}  // namespace rdpgate::protocol::test
