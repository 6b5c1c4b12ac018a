// libFuzzer target: parse_preconnection_pdu() ([MS-RDPEPS] 2.2.1).
#include "fuzz_common.hpp"
#include "rdpgate/protocol/pcb.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rdpgate::protocol;
  Limits limits;
  limits.max_pcb = 1024;  // keeps inputs short enough to reach the string decoder often
  const auto r = parse_preconnection_pdu(fuzz::as_bytes(data, size), limits);
  fuzz::check(r, size, size);
  if (const auto* c = std::get_if<Complete<PreconnectionPdu>>(&r)) {
    if (c->consumed > limits.max_pcb || c->pdu.blob.size() > 3 * limits.max_pcb) std::abort();
  }
  return 0;
}
