// ns/op of the parsers on the gateway's inspection path.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "rdpgate/protocol/classify.hpp"
#include "rdpgate/protocol/first_flight.hpp"
#include "rdpgate/protocol/tls.hpp"
#include "rdpgate/protocol/x224.hpp"

namespace {

using rdpgate::protocol::Limits;
using Bytes = std::vector<std::byte>;

Bytes bytes(std::initializer_list<unsigned> values) {
  Bytes out;
  for (const unsigned v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

// xfreerdp 2.11.7 default request (../shared/vectors/xfreerdp-default.hex), 45 bytes.
const Bytes xfreerdp_default = bytes({
    0x03, 0x00, 0x00, 0x2d, 0x28, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00,  // TPKT + X.224 CR
    0x43, 0x6f, 0x6f, 0x6b, 0x69, 0x65, 0x3a, 0x20, 0x6d, 0x73, 0x74, 0x73, 0x68, 0x61, 0x73,
    0x68, 0x3d, 0x72, 0x64, 0x70, 0x75, 0x73, 0x65, 0x72, 0x0d, 0x0a,  // Cookie: mstshash=rdpuser
    0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00});                 // RDP_NEG_REQ SSL|HYBRID

// rdp-preauth-protocol.md §6: cookie + RDP_NEG_REQ + RDP_NEG_CORRELATION_INFO, 79 bytes.
const Bytes correlation_request = bytes({
    0x03, 0x00, 0x00, 0x4f, 0x4a, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00,  // TPKT + X.224 CR
    0x43, 0x6f, 0x6f, 0x6b, 0x69, 0x65, 0x3a, 0x20, 0x6d, 0x73, 0x74, 0x73, 0x68, 0x61, 0x73,
    0x68, 0x3d, 0x61, 0x6c, 0x69, 0x63, 0x65, 0x0d, 0x0a,              // Cookie: mstshash=alice
    0x01, 0x08, 0x08, 0x00, 0x0b, 0x00, 0x00, 0x00,                    // RDP_NEG_REQ
    0x06, 0x00, 0x24, 0x00,                                            // correlation info header
    0x5a, 0x17, 0x3c, 0x9e, 0x01, 0x42, 0x77, 0x88, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});

// xfreerdp /pcb:SOMETOKEN (../shared/vectors/xfreerdp-pcb.hex), 86 bytes: PCB v2 then the CR.
const Bytes pcb_flight = bytes({
    0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0b, 0x00, 0x53, 0x00, 0x4f, 0x00, 0x4d, 0x00, 0x45, 0x00, 0x54, 0x00, 0x4f, 0x00, 0x4b, 0x00,
    0x45, 0x00, 0x4e, 0x00, 0x00, 0x00, 0x00, 0x00,                    // PCB v2 "SOMETOKEN"
    0x03, 0x00, 0x00, 0x2e, 0x29, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00,  // TPKT + X.224 CR
    0x43, 0x6f, 0x6f, 0x6b, 0x69, 0x65, 0x3a, 0x20, 0x6d, 0x73, 0x74, 0x73, 0x68, 0x61, 0x73,
    0x68, 0x3d, 0x73, 0x6f, 0x6d, 0x65, 0x75, 0x73, 0x65, 0x72, 0x0d, 0x0a,
    0x01, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00});

// A TLS 1.3-capable ClientHello with SNI and supported_versions (built, ~130 bytes).
Bytes client_hello() {
  Bytes body;
  auto put16 = [&](unsigned v) {
    body.push_back(static_cast<std::byte>(v >> 8));
    body.push_back(static_cast<std::byte>(v & 0xFF));
  };
  put16(0x0303);                                              // legacy_version
  for (unsigned i = 0; i < 32; ++i) body.push_back(static_cast<std::byte>(i));  // random
  body.push_back(std::byte{32});                              // session id
  for (unsigned i = 0; i < 32; ++i) body.push_back(std::byte{0xAA});
  put16(6);                                                   // cipher suites
  put16(0x1301);
  put16(0x1302);
  put16(0xc02f);
  body.push_back(std::byte{1});                               // compression: null
  body.push_back(std::byte{0});
  const std::string_view host = "rdp.example.test";
  put16(static_cast<unsigned>(4 + 5 + host.size() + 4 + 5 + 8));  // extensions length
  put16(0x0000);                                              // server_name
  put16(static_cast<unsigned>(host.size() + 5));
  put16(static_cast<unsigned>(host.size() + 3));
  body.push_back(std::byte{0});
  put16(static_cast<unsigned>(host.size()));
  for (const char c : host) body.push_back(static_cast<std::byte>(c));
  put16(0x002b);                                              // supported_versions
  put16(5);
  body.push_back(std::byte{4});
  put16(0x0304);
  put16(0x0303);
  put16(0x000a);                                              // supported_groups
  put16(4);
  put16(2);
  put16(0x001d);
  Bytes out = bytes({0x16, 0x03, 0x01});
  const std::size_t record = body.size() + 4;
  out.push_back(static_cast<std::byte>(record >> 8));
  out.push_back(static_cast<std::byte>(record & 0xFF));
  out.push_back(std::byte{0x01});
  out.push_back(std::byte{0});
  out.push_back(static_cast<std::byte>(body.size() >> 8));
  out.push_back(static_cast<std::byte>(body.size() & 0xFF));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

template <class Parse>
void run(benchmark::State& state, const Bytes& input, Parse parse) {
  const Limits limits;
  const std::span<const std::byte> view{input};
  for (auto _ : state) {
    auto r = parse(view, limits);
    if (r.index() != 2) state.SkipWithError("input did not parse");
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(input.size()));
}

void BM_classify(benchmark::State& state) {
  run(state, xfreerdp_default, [](auto b, const Limits& l) { return rdpgate::protocol::classify(b, l); });
}
void BM_classify_pcb(benchmark::State& state) {
  run(state, pcb_flight, [](auto b, const Limits& l) { return rdpgate::protocol::classify(b, l); });
}
void BM_parse_connection_request_xfreerdp_default(benchmark::State& state) {
  run(state, xfreerdp_default,
      [](auto b, const Limits& l) { return rdpgate::protocol::parse_connection_request(b, l); });
}
void BM_parse_connection_request_correlation_79(benchmark::State& state) {
  run(state, correlation_request,
      [](auto b, const Limits& l) { return rdpgate::protocol::parse_connection_request(b, l); });
}
void BM_parse_first_flight_pcb(benchmark::State& state) {
  run(state, pcb_flight,
      [](auto b, const Limits& l) { return rdpgate::protocol::parse_first_flight(b, l); });
}
void BM_peek_client_hello(benchmark::State& state) {
  static const Bytes hello = client_hello();
  run(state, hello, [](auto b, const Limits& l) { return rdpgate::protocol::peek_client_hello(b, l); });
}

BENCHMARK(BM_classify);
BENCHMARK(BM_classify_pcb);
BENCHMARK(BM_parse_connection_request_xfreerdp_default);
BENCHMARK(BM_parse_connection_request_correlation_79);
BENCHMARK(BM_parse_first_flight_pcb);
BENCHMARK(BM_peek_client_hello);

}  // namespace
