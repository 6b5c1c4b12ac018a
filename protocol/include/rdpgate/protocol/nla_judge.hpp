#pragma once
// Judging an NLA logon from the TLS record stream, without decrypting (RFC 8446 §5.1, RFC 5246
// §6.2; [MS-CSSP] 3.1.5). Record headers — content type, version, length — travel in clear
// text in both TLS versions, and CredSSP's order of messages gives the logon away:
//
//   client                                  host
//   TSRequest(NTLM NEGOTIATE)      round 1 ->
//                                          <- TSRequest(CHALLENGE)
//   TSRequest(AUTHENTICATE, pubKeyAuth) round 2 ->    the host checks the password here
//                                          <- TSRequest(pubKeyAuth)   only if it was right
//   TSRequest(TSCredentials)       round 3 ->         (else an error TSRequest, or a close)
//
// A client sends its credentials (round 3) only after the host proved, with its pubKeyAuth
// reply, that it accepted the password. So: the client stopped after round 2 of an answered
// exchange => the password was refused; a round 3 => accepted; fewer than 2 rounds => no
// credentials were offered; no completed TLS handshake => not a logon attempt at all.
//
// A round is a run of client application-data records with no host record between them; client
// records sent after the host closed its side are not counted (the host never read them), nor
// are records too short to be CredSSP (TLS 1.3 encrypts alerts as application data). Time
// plays no part. Calibrated on real logons: docs/e2e.md, tests/vectors/nla/. Under TLS 1.3 the
// handshake's encrypted records are application data too: the host sends some before the client's
// first, and the client's first is its Finished.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace rdpgate::protocol {

enum class TlsSide : std::uint8_t { client, server };

enum class NlaVerdict : std::uint8_t {
  tls_incomplete,  // no TLS handshake was completed (junk, port checks, scanners, alerts)
  no_credentials,  // TLS completed, fewer than two answered CredSSP rounds
  failed,          // the client stopped after round 2: the host refused the password
  accepted,        // the client sent round 3: its credentials, after the host accepted
  undecided,       // the stream stopped looking like TLS, or the observation limit was hit
};
[[nodiscard]] std::string_view to_string(NlaVerdict verdict) noexcept;

class NlaJudge {
 public:
  // Records observed before the judge gives up (a logon needs about 20).
  static constexpr std::uint32_t max_records = 256;

  // The bytes of one direction, in stream order, from the first byte after the X.224 Confirm
  // (or, under Direct Approach, from the ClientHello).
  void feed(TlsSide side, std::span<const std::byte> bytes) noexcept;
  // `side` ended its stream (FIN, reset or close), the first time only.
  void closed(TlsSide side) noexcept;

  // True once more bytes cannot change the verdict (accepted, or given up): stop feeding.
  [[nodiscard]] bool decided() const noexcept { return accepted() || gave_up_; }
  // The verdict if the session ended now.
  [[nodiscard]] NlaVerdict verdict() const noexcept;
  // "tls=1.3 rounds=2 answered=1 alert=none closed_by=server verdict=failed": why, for the
  // audit record. tls= none | started | 1.2 | 1.3 | invalid.
  [[nodiscard]] std::string evidence() const;

  [[nodiscard]] bool tls_complete() const noexcept { return finished_; }
  [[nodiscard]] std::uint32_t rounds() const noexcept { return rounds_; }

 private:
  struct Stream {
    std::uint8_t header[5] = {};
    std::uint8_t have = 0;        // header bytes collected
    std::uint32_t body_left = 0;  // body bytes of the current record still to skip
    std::uint32_t records = 0;
    bool hello = false;      // its first record was a handshake record
    bool ccs = false;        // sent ChangeCipherSpec
    bool after_ccs = false;  // sent a record after it (TLS 1.2: its Finished)
    bool alert = false;      // sent a clear-text alert record
    bool closed = false;
  };
  void on_record(TlsSide side, std::uint8_t type, std::uint16_t length);
  [[nodiscard]] bool accepted() const noexcept { return rounds_ >= 3; }

  Stream client_;
  Stream server_;
  bool tls13_ = false;     // the host sent application data before the client did
  bool finished_ = false;  // the client completed the handshake
  bool invalid_ = false;   // a record header that is not TLS
  bool gave_up_ = false;
  bool host_spoke_ = true;  // a host record since the client's last round
  std::uint32_t rounds_ = 0;
  std::uint32_t answered_ = 0;  // rounds the host answered
  TlsSide first_close_ = TlsSide::client;
  bool any_closed_ = false;
};

}  // namespace rdpgate::protocol
