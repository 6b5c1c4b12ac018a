// libFuzzer target: NlaJudge over arbitrary interleavings of both directions. The input is a
// list of chunks: [side/close byte][length byte][length bytes of data]... Invariants: no crash,
// evidence always renders, and once decided() the verdict never changes.
#include <string>

#include "fuzz_common.hpp"
#include "rdpgate/protocol/nla_judge.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rdpgate::protocol;
  NlaJudge judge;
  bool decided = false;
  NlaVerdict at_decision = NlaVerdict::undecided;
  std::size_t i = 0;
  while (i + 2 <= size) {
    const std::uint8_t op = data[i];
    const std::size_t n = std::min<std::size_t>(data[i + 1], size - i - 2);
    const auto side = (op & 1) != 0 ? TlsSide::server : TlsSide::client;
    if ((op & 0x80) != 0) {
      judge.closed(side);
    } else {
      judge.feed(side, fuzz::as_bytes(data + i + 2, n));
    }
    i += 2 + n;
    if (decided && judge.verdict() != at_decision) std::abort();
    if (!decided && judge.decided()) {
      decided = true;
      at_decision = judge.verdict();
    }
  }
  if (judge.evidence().find("verdict=") == std::string::npos) std::abort();
  if (judge.verdict() == NlaVerdict::failed && judge.rounds() != 2) std::abort();
  return 0;
}
