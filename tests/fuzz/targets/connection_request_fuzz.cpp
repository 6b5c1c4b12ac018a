// libFuzzer target: parse_connection_request() ([MS-RDPBCGR] 2.2.1.1).
#include "fuzz_common.hpp"
#include "rdpgate/protocol/x224.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rdpgate::protocol;
  const auto bytes = fuzz::as_bytes(data, size);
  const auto r = parse_connection_request(bytes, Limits{});
  fuzz::check(r, size, size);
  if (const auto* c = std::get_if<Complete<ConnectionRequest>>(&r)) {
    const auto& cr = c->pdu;
    if (c->consumed > 259 || cr.length != c->consumed) std::abort();
    // Views must point inside the request.
    const char* begin = reinterpret_cast<const char*>(data);
    const char* end = begin + c->consumed;
    if (cr.has_cookie && (cr.cookie.data() < begin || cr.cookie.data() + cr.cookie.size() > end)) {
      std::abort();
    }
    if (cr.token_size != 0 && cr.token_offset + cr.token_size > c->consumed) std::abort();
  }
  return 0;
}
