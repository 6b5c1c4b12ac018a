// libFuzzer target: forward_first_flight() ([MS-RDPBCGR] 5.4.2.1). The first five input bytes
// choose the edit, the rest is the flight:
//
//   mode & 3 == 0, 1  the edit the gateway derives from parse_first_flight() on the flight less
//                     `a` trailing bytes (PCB dropped if mode & 4, token removed if mode & 8):
//                     it must always fit
//   mode & 3 == 2     that edit with one field moved by the signed byte `d` (field `c` & 3)
//   mode & 3 == 3     arbitrary: flight_size a, preconnection_size b, token_offset c, token_size
//                     d (0xFF: a huge value), PCB dropped if mode & 4
//
// A result always has the input's size less what was removed, holds the bytes it should, and
// with a token removed starts (after the kept PCB) with a valid CR without a routing token.
#include <algorithm>
#include <cstring>
#include <limits>

#include "fuzz_common.hpp"
#include "rdpgate/protocol/first_flight.hpp"
#include "rdpgate/protocol/forward.hpp"

namespace {

using namespace rdpgate::protocol;

constexpr std::size_t huge = std::numeric_limits<std::size_t>::max() - 7;

std::size_t arbitrary(std::uint8_t v) { return v == 0xFF ? huge : v; }

std::size_t moved(std::size_t v, std::uint8_t delta) {
  const auto d = static_cast<std::int8_t>(delta);
  if (d < 0) return v - std::min<std::size_t>(v, static_cast<std::size_t>(-d));
  return v + static_cast<std::size_t>(d);
}

bool same(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

void check(std::span<const std::byte> flight, std::size_t flight_size, const FlightEdit& edit,
           bool must_fit) {
  const auto out = forward_first_flight(flight, flight_size, edit);
  if (!out) {
    if (must_fit) std::abort();
    return;
  }
  if (flight_size > flight.size() || edit.preconnection_size > flight_size) std::abort();
  const std::size_t start = edit.drop_preconnection ? edit.preconnection_size : 0;
  if (edit.token_size > flight.size() - start) std::abort();
  if (out->size() != flight.size() - start - edit.token_size) std::abort();
  const std::span<const std::byte> result{*out};
  if (edit.token_size == 0) {
    if (!same(result, flight.subspan(start))) std::abort();
    return;
  }
  // Token removed: the PCB as it was (if kept), a valid CR without a token, the rest unchanged.
  const std::size_t cr_at = edit.preconnection_size - start;
  const std::size_t after = flight.size() - flight_size;
  if (!same(result.first(cr_at), flight.subspan(start, cr_at))) std::abort();
  if (!same(result.last(after), flight.last(after))) std::abort();
  const auto cr = parse_connection_request(result.subspan(cr_at), Limits{});
  const auto* c = std::get_if<Complete<ConnectionRequest>>(&cr);
  if (c == nullptr || c->pdu.token_size != 0 || c->pdu.token_kind != TokenKind::none) std::abort();
  if (c->consumed != flight_size - edit.preconnection_size - edit.token_size) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 5) return 0;
  const std::uint8_t mode = data[0], a = data[1], b = data[2], c = data[3], d = data[4];
  const auto flight = fuzz::as_bytes(data + 5, size - 5);

  if ((mode & 3) != 3) {
    const std::size_t after = std::min<std::size_t>(a, flight.size());
    const auto r = parse_first_flight(flight.first(flight.size() - after), Limits{});
    if (const auto* ok = std::get_if<Complete<FirstFlight>>(&r)) {
      FlightEdit edit;
      edit.preconnection_size = ok->pdu.preconnection_size;
      edit.drop_preconnection = (mode & 4) != 0 && ok->pdu.preconnection.has_value();
      if ((mode & 8) != 0 && ok->pdu.request && ok->pdu.request->token_size != 0) {
        edit.token_offset = ok->pdu.preconnection_size + ok->pdu.request->token_offset;
        edit.token_size = ok->pdu.request->token_size;
      }
      if ((mode & 3) != 2) {
        check(flight, ok->consumed, edit, true);
        return 0;
      }
      std::size_t flight_size = ok->consumed;
      switch (c & 3) {
        case 0: flight_size = moved(flight_size, d); break;
        case 1: edit.preconnection_size = moved(edit.preconnection_size, d); break;
        case 2: edit.token_offset = moved(edit.token_offset, d); break;
        default: edit.token_size = moved(edit.token_size, d); break;
      }
      check(flight, flight_size, edit, d == 0);
      return 0;
    }
  }
  const FlightEdit edit{arbitrary(b), (mode & 4) != 0, arbitrary(c), arbitrary(d)};
  check(flight, arbitrary(a), edit, false);
  return 0;
}
