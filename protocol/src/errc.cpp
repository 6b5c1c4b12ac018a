// Stable names of rdpgate::protocol::errc and its std::error_category (Beast's http/error.ipp).
#include "rdpgate/protocol/errc.hpp"

#include <string>

namespace rdpgate::protocol {

std::string_view to_string(errc code) noexcept {
  switch (code) {
    case errc::not_rdp: return "not_rdp";
    case errc::not_rdp_http: return "not_rdp_http";
    case errc::not_rdp_ssh: return "not_rdp_ssh";
    case errc::not_rdp_tls: return "not_rdp_tls";
    case errc::bad_tpkt_version: return "bad_tpkt_version";
    case errc::bad_tpkt_reserved: return "bad_tpkt_reserved";
    case errc::bad_tpkt_length: return "bad_tpkt_length";
    case errc::bad_x224_length_indicator: return "bad_x224_length_indicator";
    case errc::bad_x224_code: return "bad_x224_code";
    case errc::bad_x224_class: return "bad_x224_class";
    case errc::trailing_data: return "trailing_data";
    case errc::token_missing_crlf: return "token_missing_crlf";
    case errc::token_bad_character: return "token_bad_character";
    case errc::token_too_many_lines: return "token_too_many_lines";
    case errc::token_too_long: return "token_too_long";
    case errc::bad_cookie: return "bad_cookie";
    case errc::bad_negotiation_size: return "bad_negotiation_size";
    case errc::bad_neg_req_type: return "bad_neg_req_type";
    case errc::bad_neg_req_length: return "bad_neg_req_length";
    case errc::bad_correlation_info_type: return "bad_correlation_info_type";
    case errc::bad_correlation_info_length: return "bad_correlation_info_length";
    case errc::bad_pcb_size: return "bad_pcb_size";
    case errc::bad_pcb_version: return "bad_pcb_version";
    case errc::bad_pcb_string_length: return "bad_pcb_string_length";
    case errc::bad_pcb_string: return "bad_pcb_string";
    case errc::pcb_too_large: return "pcb_too_large";
    case errc::bad_cc_length: return "bad_cc_length";
    case errc::bad_neg_rsp_type: return "bad_neg_rsp_type";
    case errc::bad_neg_rsp_length: return "bad_neg_rsp_length";
    case errc::bad_selected_protocol: return "bad_selected_protocol";
    case errc::bad_neg_failure: return "bad_neg_failure";
    case errc::bad_tls_record_type: return "bad_tls_record_type";
    case errc::bad_tls_record_version: return "bad_tls_record_version";
    case errc::bad_tls_record_length: return "bad_tls_record_length";
    case errc::bad_tls_handshake_type: return "bad_tls_handshake_type";
    case errc::bad_tls_client_hello: return "bad_tls_client_hello";
    case errc::too_large: return "too_large";
    case errc::bad_proxy_header: return "bad_proxy_header";
  }
  return "unknown";
}

bool is_not_rdp(errc code) noexcept {
  switch (code) {
    case errc::not_rdp:
    case errc::not_rdp_http:
    case errc::not_rdp_ssh:
    case errc::not_rdp_tls: return true;
    default: return false;
  }
}

namespace {

class ProtocolCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "rdpgate.protocol"; }
  std::string message(int value) const override {
    // Short lowercase messages, composable into log lines (STYLE.md §6): the stable name itself.
    return std::string{to_string(static_cast<errc>(value))};
  }
};

}  // namespace

const std::error_category& protocol_category() noexcept {
  static const ProtocolCategory category;
  return category;
}

}  // namespace rdpgate::protocol
