// libFuzzer target: classify() (rdp-preauth-protocol.md §2).
#include "fuzz_common.hpp"
#include "rdpgate/protocol/classify.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rdpgate::protocol;
  const auto bytes = fuzz::as_bytes(data, size);
  const auto r = classify(bytes, Limits{});
  if (is_invalid(r)) std::abort();  // classify never answers Invalid
  fuzz::check(r, size, size);
  // Deciding looks at no more than 12 bytes: more input cannot change a decision.
  if (size > 12 && is_complete(r) &&
      std::get<Complete<FirstBytes>>(classify(bytes.first(12), Limits{})).pdu !=
          std::get<Complete<FirstBytes>>(r).pdu) {
    std::abort();
  }
  return 0;
}
