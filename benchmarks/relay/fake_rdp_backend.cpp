// A fast stand-in for an RDP host, for benchmarking rdpgate against HAProxy and a direct path.
//
// Per connection: read one TPKT-framed X.224 Connection Request, answer an X.224 Connection
// Confirm, then serve the rest of the connection according to the mode:
//
//   echo    write back every byte received (ping-pong, idle sessions, handshakes)
//   sink    read until EOF, then write the byte count as a u64 little-endian and close
//   source  read a u64 little-endian count N, write N bytes, half-close, wait for EOF
//   auto    (default) sink if the cookie is `mstshash=sink`, source if `mstshash=source`,
//           echo otherwise — so one backend serves every scenario of rdp_load
//
// The Connection Confirm follows [MS-RDPBCGR] 2.2.1.2 (see rdp-preauth-protocol.md §7): with an
// RDP_NEG_REQ it is 19 bytes carrying RDP_NEG_RSP, selecting HYBRID (2) if requested, else SSL
// (1) if requested, else standard RDP (0); without an RDP_NEG_REQ it is the 11-byte CC.
//
// Usage: fake_rdp_backend [--address 127.0.0.1] [--port 0] [--threads 1] [--mode auto]
// Prints `listening <port>` on stdout once bound.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio.hpp>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

enum class Mode { auto_select, echo, sink, source };

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// Largest Connection Request we accept: LI is one octet, so 4 + 1 + 254 bytes
// (rdp-preauth-protocol.md §6 "Size bound").
constexpr std::size_t max_request = 259;

struct Request {
  bool has_neg_req = false;
  std::uint32_t requested = 0;
  std::string_view cookie;  // the IDENTIFIER of `Cookie: mstshash=IDENTIFIER`, or empty
};

std::uint32_t u32_le(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

// [MS-RDPBCGR] 2.2.1.1: TPKT (4) + X.224 CR fixed part (7) + optional token/cookie line ending
// in CR LF + optional RDP_NEG_REQ (8) + optional correlation info (36). `bytes` is one whole TPKT.
Request parse_request(const std::uint8_t* bytes, std::size_t length) {
  Request req;
  std::size_t pos = 4 + 7;
  const std::string_view all{reinterpret_cast<const char*>(bytes), length};
  if (pos < length && bytes[pos] != 0x01) {  // a routing token or cookie line
    const auto end = all.find("\r\n", pos);
    if (end == std::string_view::npos) return req;
    const std::string_view line = all.substr(pos, end - pos);
    constexpr std::string_view prefix = "Cookie: mstshash=";
    if (line.starts_with(prefix)) req.cookie = line.substr(prefix.size());
    pos = end + 2;
  }
  if (length >= pos + 8 && bytes[pos] == 0x01) {  // TYPE_RDP_NEG_REQ, length 8
    req.has_neg_req = true;
    req.requested = u32_le(bytes + pos + 4);
  }
  return req;
}

// [MS-RDPBCGR] 2.2.1.2: the Connection Confirm; returns the number of bytes written to `out`.
std::size_t write_confirm(const Request& req, std::array<std::uint8_t, 19>& out) {
  if (!req.has_neg_req) {
    out = {0x03, 0x00, 0x00, 0x0b,  // TPKT version 3, reserved, length 11 (BE)
           0x06, 0xd0,              // LI 6, CC
           0x00, 0x00,              // DST-REF
           0x00, 0x00,              // SRC-REF
           0x00};                   // class 0
    return 11;
  }
  const std::uint8_t selected = (req.requested & 0x2) != 0   ? 2   // PROTOCOL_HYBRID
                                : (req.requested & 0x1) != 0 ? 1   // PROTOCOL_SSL
                                                             : 0;  // PROTOCOL_RDP
  out = {0x03, 0x00, 0x00, 0x13,    // TPKT version 3, reserved, length 19 (BE)
         0x0e, 0xd0,                // LI 14, CC
         0x00, 0x00,                // DST-REF
         0x00, 0x00,                // SRC-REF
         0x00,                      // class 0
         0x02, 0x03, 0x08, 0x00,    // RDP_NEG_RSP, flags (as freerdp-shadow-cli), length 8 (LE)
         selected, 0x00, 0x00, 0x00};  // selectedProtocol (LE)
  return 19;
}

asio::awaitable<void> echo(tcp::socket& sock) {
  std::array<std::uint8_t, 16384> buf;
  for (;;) {
    auto [ec, n] = co_await sock.async_read_some(asio::buffer(buf), nothrow);
    if (ec) co_return;
    auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(buf.data(), n), nothrow);
    if (wec) co_return;
  }
}

asio::awaitable<void> sink(tcp::socket& sock) {
  std::vector<std::uint8_t> buf(256 * 1024);
  std::uint64_t total = 0;
  for (;;) {
    auto [ec, n] = co_await sock.async_read_some(asio::buffer(buf), nothrow);
    total += n;
    if (ec == asio::error::eof) break;
    if (ec) co_return;
  }
  std::array<std::uint8_t, 8> ack;
  for (std::size_t i = 0; i < ack.size(); ++i) ack[i] = static_cast<std::uint8_t>(total >> (8 * i));
  co_await asio::async_write(sock, asio::buffer(ack), nothrow);
}

asio::awaitable<void> source(tcp::socket& sock) {
  std::array<std::uint8_t, 8> req;
  auto [ec, n] = co_await asio::async_read(sock, asio::buffer(req), nothrow);
  if (ec) co_return;
  std::uint64_t left = 0;
  for (std::size_t i = 0; i < req.size(); ++i) left |= static_cast<std::uint64_t>(req[i]) << (8 * i);
  std::vector<std::uint8_t> buf(256 * 1024, 0x5a);
  while (left > 0) {
    const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
    auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(buf.data(), chunk), nothrow);
    if (wec) co_return;
    left -= wn;
  }
  boost::system::error_code ignored;
  sock.shutdown(tcp::socket::shutdown_send, ignored);
  // Wait for the client's close so that the client, not us, decides when the data is done.
  co_await sock.async_read_some(asio::buffer(req), nothrow);
}

asio::awaitable<void> serve(tcp::socket sock, Mode mode) {
  boost::system::error_code ignored;
  sock.set_option(tcp::no_delay(true), ignored);
  std::array<std::uint8_t, max_request> in;
  auto [ec, n] = co_await asio::async_read(sock, asio::buffer(in.data(), 4), nothrow);
  if (ec) co_return;
  const std::size_t length = static_cast<std::size_t>(in[2]) << 8 | in[3];
  if (in[0] != 3 || in[1] != 0 || length < 11 || length > max_request) co_return;
  std::tie(ec, n) = co_await asio::async_read(sock, asio::buffer(in.data() + 4, length - 4), nothrow);
  if (ec) co_return;
  if (in[5] != 0xe0) co_return;  // not an X.224 Connection Request
  const Request req = parse_request(in.data(), length);
  std::array<std::uint8_t, 19> cc;
  const std::size_t cc_size = write_confirm(req, cc);
  std::tie(ec, n) = co_await asio::async_write(sock, asio::buffer(cc.data(), cc_size), nothrow);
  if (ec) co_return;
  if (mode == Mode::auto_select) {
    mode = req.cookie == "sink" ? Mode::sink : req.cookie == "source" ? Mode::source : Mode::echo;
  }
  switch (mode) {
    case Mode::sink: co_await sink(sock); break;
    case Mode::source: co_await source(sock); break;
    default: co_await echo(sock); break;
  }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, Mode mode) {
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(nothrow);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {  // EMFILE and friends: back off, never end the listener
      asio::steady_timer pause{co_await asio::this_coro::executor, std::chrono::milliseconds(10)};
      co_await pause.async_wait(nothrow);
      continue;
    }
    auto exec = sock.get_executor();
    asio::co_spawn(exec, serve(std::move(sock), mode), asio::detached);
  }
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: fake_rdp_backend [--address A] [--port P] [--threads N] "
               "[--mode auto|echo|sink|source]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string address = "127.0.0.1";
  unsigned long port = 0;
  unsigned long threads = 1;
  Mode mode = Mode::auto_select;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) usage();
    const char* value = argv[++i];
    if (arg == "--address") {
      address = value;
    } else if (arg == "--port") {
      port = std::strtoul(value, nullptr, 10);
    } else if (arg == "--threads") {
      threads = std::max(1UL, std::strtoul(value, nullptr, 10));
    } else if (arg == "--mode") {
      const std::string_view m = value;
      if (m == "auto") mode = Mode::auto_select;
      else if (m == "echo") mode = Mode::echo;
      else if (m == "sink") mode = Mode::sink;
      else if (m == "source") mode = Mode::source;
      else usage();
    } else {
      usage();
    }
  }
  if (port > 65535) usage();
  try {
    asio::io_context io{static_cast<int>(threads)};
    tcp::endpoint endpoint{asio::ip::make_address(address), static_cast<std::uint16_t>(port)};
    tcp::acceptor acceptor{io};
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(4096);
    std::printf("listening %u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
    std::fflush(stdout);

    asio::signal_set signals{io, SIGINT, SIGTERM};
    signals.async_wait([&](auto, int) { io.stop(); });
    asio::co_spawn(io, accept_loop(acceptor, mode), asio::detached);
    std::vector<std::thread> pool;
    for (unsigned long t = 1; t < threads; ++t) pool.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : pool) t.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fake_rdp_backend: %s\n", e.what());
    return 1;
  }
  return 0;
}
