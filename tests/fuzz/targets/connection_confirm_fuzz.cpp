// libFuzzer target: parse_connection_confirm() ([MS-RDPBCGR] 2.2.1.2). The first input byte
// chooses the client's requestedProtocols (or none).
#include "fuzz_common.hpp"
#include "rdpgate/protocol/x224.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rdpgate::protocol;
  const auto bytes = fuzz::as_bytes(data, size);
  const auto r = parse_connection_confirm(bytes);
  fuzz::check(r, size, size);
  if (size > 0) {
    const std::optional<std::uint32_t> requested =
        data[0] == 0xFF ? std::nullopt : std::optional<std::uint32_t>{data[0] & 0x1Fu};
    const auto rr = parse_connection_confirm(bytes.subspan(1), requested);
    fuzz::check(rr, size - 1, size - 1);
    if (const auto* c = std::get_if<Complete<ConnectionConfirm>>(&rr)) {
      if (c->consumed != 11 && c->consumed != 19) std::abort();
      if (c->pdu.response && requested && c->pdu.response->selected_protocol != 0 &&
          (c->pdu.response->selected_protocol & *requested) == 0) {
        std::abort();
      }
    }
  }
  return 0;
}
