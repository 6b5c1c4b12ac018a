// libFuzzer target: the whole `rdpgate inspect` decode, parse_hex_dump() then
// inspect_first_bytes(); the raw input is also inspected as binary.
#include <algorithm>
#include <string_view>

#include "fuzz_common.hpp"
#include "rdpgate/protocol/first_flight.hpp"
#include "rdpgate/protocol/inspect.hpp"

namespace {

void inspect(std::span<const std::byte> bytes) {
  using namespace rdpgate::protocol;
  const auto report = inspect_first_bytes(bytes);
  if (report.json.empty() || report.json.front() != '{' || report.json.back() != '}') std::abort();
  // Control characters never reach the JSON unescaped.
  for (const char c : report.json) {
    if (static_cast<unsigned char>(c) < 0x20) std::abort();
  }
  fuzz::check(parse_first_flight(bytes, Limits{}), bytes.size(),
              std::max(bytes.size(), Limits{}.max_total));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rdpgate::protocol;
  const std::string_view text{reinterpret_cast<const char*>(data), size};
  if (const auto bytes = parse_hex_dump(text)) inspect(*bytes);
  inspect(fuzz::as_bytes(data, size));
  return 0;
}
