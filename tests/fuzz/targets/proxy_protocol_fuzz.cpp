// libFuzzer target: parse_proxy_header() (haproxy doc/proxy-protocol.txt).
#include "fuzz_common.hpp"
#include "rdpgate/protocol/proxy_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rdpgate::protocol;
  const auto r = parse_proxy_header(fuzz::as_bytes(data, size));
  fuzz::check(r, size, size);
  if (const auto* c = std::get_if<Complete<ProxyHeader>>(&r); c && c->consumed > 16 + 536) {
    std::abort();
  }
  return 0;
}
