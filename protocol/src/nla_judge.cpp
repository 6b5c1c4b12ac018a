#include "rdpgate/protocol/nla_judge.hpp"

#include <algorithm>

namespace rdpgate::protocol {
namespace {

constexpr std::uint8_t change_cipher_spec = 20;
constexpr std::uint8_t alert = 21;
constexpr std::uint8_t handshake = 22;
constexpr std::uint8_t application_data = 23;
// RFC 8446 §5.2: TLSCiphertext.length <= 2^14 + 256 (RFC 5246 allowed 2^14 + 2048).
constexpr std::uint32_t max_record_length = (1u << 14) + 2048;
// Under TLS 1.3 an alert is application data too: 2 bytes, its content type and a 16-byte tag,
// 19 in all (xfreerdp closes a refused logon with one). The smallest CredSSP message, a
// TSRequest with an NTLM NEGOTIATE, is over 70 (docs/e2e.md): shorter records are no round.
constexpr std::uint16_t min_credssp_record = 32;

}  // namespace

std::string_view to_string(NlaVerdict verdict) noexcept {
  switch (verdict) {
    case NlaVerdict::tls_incomplete: return "tls_incomplete";
    case NlaVerdict::no_credentials: return "no_credentials";
    case NlaVerdict::failed: return "failed";
    case NlaVerdict::accepted: return "accepted";
    case NlaVerdict::undecided: return "undecided";
  }
  return "undecided";
}

void NlaJudge::feed(TlsSide side, std::span<const std::byte> bytes) noexcept {
  Stream& s = side == TlsSide::client ? client_ : server_;
  std::size_t i = 0;
  while (i < bytes.size() && !decided() && !invalid_) {
    if (s.body_left > 0) {
      const auto skip = std::min<std::size_t>(s.body_left, bytes.size() - i);
      s.body_left -= static_cast<std::uint32_t>(skip);
      i += skip;
      continue;
    }
    s.header[s.have++] = std::to_integer<std::uint8_t>(bytes[i++]);
    if (s.have < sizeof s.header) continue;
    s.have = 0;
    const std::uint8_t type = s.header[0];
    const auto length = static_cast<std::uint16_t>((s.header[3] << 8) | s.header[4]);
    if (type < change_cipher_spec || type > application_data || s.header[1] != 3 ||
        length > max_record_length) {
      invalid_ = true;  // not (or no longer) TLS: nothing more can be read from this stream
      return;
    }
    s.body_left = length;
    on_record(side, type, length);
  }
}

void NlaJudge::on_record(TlsSide side, std::uint8_t type, std::uint16_t length) {
  Stream& s = side == TlsSide::client ? client_ : server_;
  if (++s.records + (side == TlsSide::client ? server_.records : client_.records) > max_records) {
    gave_up_ = true;
    return;
  }
  if (type == alert) s.alert = true;
  if (s.ccs && type != change_cipher_spec) s.after_ccs = true;  // its Finished (TLS 1.2)
  if (type == change_cipher_spec) s.ccs = true;
  if (type == handshake && s.records == 1) s.hello = true;
  if (!client_.hello || !server_.hello) return;  // no TLS handshake under way: nothing counts
  if (!finished_ && !tls13_ && client_.after_ccs && server_.after_ccs) finished_ = true;

  if (side == TlsSide::server) {
    // Application data from the host before the handshake is done: TLS 1.3, whose handshake
    // is encrypted. (A TLS 1.2 host sends none before both Finished messages.)
    if (type == application_data && !finished_) tls13_ = true;
    if (finished_ && !host_spoke_ && (type == application_data || type == alert)) {
      host_spoke_ = true;
      if (rounds_ > answered_) answered_ = rounds_;
    }
    return;
  }
  if (type != application_data) return;
  if (!finished_) {
    // TLS 1.3: the client's first application-data record is its Finished. TLS 1.2: data
    // before both Finished messages is no CredSSP the host could have read.
    if (tls13_) finished_ = true;
    return;
  }
  if (server_.closed) return;               // sent after the host closed: never read
  if (length < min_credssp_record) return;  // an encrypted alert (TLS 1.3), not CredSSP
  if (host_spoke_) {
    ++rounds_;
    host_spoke_ = false;
  }
}

void NlaJudge::closed(TlsSide side) noexcept {
  Stream& s = side == TlsSide::client ? client_ : server_;
  if (s.closed) return;
  s.closed = true;
  if (!any_closed_) {
    any_closed_ = true;
    first_close_ = side;
  }
}

NlaVerdict NlaJudge::verdict() const noexcept {
  if (accepted()) return NlaVerdict::accepted;
  if (gave_up_) return NlaVerdict::undecided;
  if (!finished_) return NlaVerdict::tls_incomplete;
  if (invalid_) return NlaVerdict::undecided;
  if (rounds_ == 2 && answered_ >= 1) return NlaVerdict::failed;
  return NlaVerdict::no_credentials;
}

std::string NlaJudge::evidence() const {
  std::string tls = "none";
  if (finished_) {
    tls = tls13_ ? "1.3" : "1.2";
  } else if (invalid_) {
    tls = "invalid";
  } else if (client_.hello) {
    tls = "started";
  }
  std::string alerts = "none";
  if (client_.alert && server_.alert) {
    alerts = "both";
  } else if (client_.alert) {
    alerts = "client";
  } else if (server_.alert) {
    alerts = "server";
  }
  const std::string closed_by =
      !any_closed_ ? "none" : (first_close_ == TlsSide::client ? "client" : "server");
  return "tls=" + tls + " rounds=" + std::to_string(rounds_) +
         " answered=" + std::to_string(answered_) + " alert=" + alerts + " closed_by=" + closed_by +
         " verdict=" + std::string(to_string(verdict()));
}

}  // namespace rdpgate::protocol
