// libFuzzer target: peek_client_hello() (RFC 8446 §4.1.2).
#include "fuzz_common.hpp"
#include "rdpgate/protocol/tls.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rdpgate::protocol;
  const auto r = peek_client_hello(fuzz::as_bytes(data, size), Limits{});
  fuzz::check(r, size, size);
  if (const auto* c = std::get_if<Complete<ClientHelloInfo>>(&r)) {
    const char* begin = reinterpret_cast<const char*>(data);
    const auto& sni = c->pdu.sni;
    if (!sni.empty() && (sni.data() < begin || sni.data() + sni.size() > begin + c->consumed)) {
      std::abort();
    }
    if (c->pdu.supported_versions_count > c->pdu.supported_versions.size()) std::abort();
  }
  return 0;
}
