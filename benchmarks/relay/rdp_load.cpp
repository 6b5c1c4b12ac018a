// Load generator for rdpgate's relay benchmark: opens RDP-shaped TCP connections to a target
// (rdpgate, HAProxy, or fake_rdp_backend directly) and prints one JSON line per result.
//
// Every connection starts like xfreerdp 2.11 with `/u:rdpuser` (../shared/vectors/
// xfreerdp-default.hex): a 45-byte X.224 Connection Request with `Cookie: mstshash=rdpuser` and
// RDP_NEG_REQ requestedProtocols = SSL|HYBRID, answered by an X.224 Connection Confirm.
//
// Scenarios (--scenario):
//   handshake  C connections at a time, each: connect, send the request, read the confirm,
//              close; for D seconds. Handshakes/s and latency p50/p99 (connect -> confirm).
//   pingpong   after the handshake, 64-byte messages round trip on C connections; p50/p99.
//   bulk       after the handshake, --mib MiB one way (--direction up|down); MiB/s. Uses the
//              cookies `sink` / `source`, which fake_rdp_backend answers accordingly.
//   idle       open --sessions N connections that complete the handshake, print a `ready`
//              line, stay idle for --hold seconds, then report how many survived.
//   flood      --flood-concurrency workers connect and close as fast as they can from the
//              source addresses of --flood-range (bound explicitly), counting connections the
//              target refuses (closed or reset before any byte), while one legitimate client
//              measures handshake latency from --source. --flood-concurrency connections are
//              in flight at a time, split over --flood-threads threads.
//
// Every wait is bounded: each connection carries a watchdog (--timeout seconds) that closes it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/experimental/channel.hpp>

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_samples = 5'000'000;  // bounds the memory spent on latencies

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string scenario;
  tcp::endpoint target;
  std::size_t concurrency = 1;
  double duration = 5;  // seconds
  std::size_t threads = 1;
  double timeout = 5;  // seconds, per connection
  std::optional<asio::ip::address_v4> source;
  std::string cookie = "rdpuser";
  std::uint32_t protocols = 0x3;  // SSL | HYBRID, as xfreerdp's default
  std::uint64_t mib = 64;
  std::string direction = "up";
  std::size_t sessions = 1000;
  double hold = 5;
  std::uint32_t flood_base = 0;
  std::uint32_t flood_hosts = 0;
  std::size_t flood_concurrency = 64;
  std::size_t flood_threads = 1;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "rdp_load: %s\n", message.c_str());
  std::exit(2);
}

tcp::endpoint parse_endpoint(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) die("bad endpoint: expected host:port");
  error_code ec;
  const auto address = asio::ip::make_address(std::string(text.substr(0, colon)), ec);
  if (ec) die("bad endpoint address: " + std::string(text));
  const unsigned long port = std::strtoul(std::string(text.substr(colon + 1)).c_str(), nullptr, 10);
  if (port == 0 || port > 65535) die("bad endpoint port: " + std::string(text));
  return {address, static_cast<std::uint16_t>(port)};
}

// "127.0.1.0/24" -> the usable host addresses base+1 .. base+2^(32-len)-2 (or the one /32).
void parse_range(std::string_view text, Options& opt) {
  const auto slash = text.find('/');
  error_code ec;
  const auto base = asio::ip::make_address_v4(std::string(text.substr(0, slash)), ec);
  if (ec) die("bad range: " + std::string(text));
  unsigned long len = 32;
  if (slash != std::string_view::npos) {
    len = std::strtoul(std::string(text.substr(slash + 1)).c_str(), nullptr, 10);
  }
  if (len < 16 || len > 32) die("range prefix must be /16../32");
  const std::uint32_t size = 1U << (32 - len);
  const std::uint32_t mask = len == 32 ? 0xffffffffU : ~(size - 1);
  if (size <= 2) {
    opt.flood_base = base.to_uint() & mask;
    opt.flood_hosts = size;
  } else {
    opt.flood_base = (base.to_uint() & mask) + 1;
    opt.flood_hosts = size - 2;
  }
}

Options parse_options(int argc, char** argv) {
  Options opt;
  bool have_target = false;
  for (int i = 1; i < argc; i += 2) {
    const std::string_view key = argv[i];
    if (i + 1 >= argc) die("missing value for " + std::string(key));
    const std::string value = argv[i + 1];
    const auto count = [&] { return static_cast<std::size_t>(std::strtoull(value.c_str(), nullptr, 10)); };
    if (key == "--scenario") opt.scenario = value;
    else if (key == "--target") opt.target = parse_endpoint(value), have_target = true;
    else if (key == "--concurrency") opt.concurrency = std::max<std::size_t>(1, count());
    else if (key == "--duration") opt.duration = std::strtod(value.c_str(), nullptr);
    else if (key == "--threads") opt.threads = std::max<std::size_t>(1, count());
    else if (key == "--timeout") opt.timeout = std::strtod(value.c_str(), nullptr);
    else if (key == "--source") opt.source = asio::ip::make_address_v4(value);
    else if (key == "--cookie") opt.cookie = value;
    else if (key == "--protocols") opt.protocols = static_cast<std::uint32_t>(std::strtoul(value.c_str(), nullptr, 0));
    else if (key == "--mib") opt.mib = count();
    else if (key == "--direction") opt.direction = value;
    else if (key == "--sessions") opt.sessions = count();
    else if (key == "--hold") opt.hold = std::strtod(value.c_str(), nullptr);
    else if (key == "--flood-range") parse_range(value, opt);
    else if (key == "--flood-concurrency") opt.flood_concurrency = count();
    else if (key == "--flood-threads") opt.flood_threads = std::max<std::size_t>(1, count());
    else die("unknown option " + std::string(key));
  }
  if (!have_target) die("--target host:port is required");
  if (opt.duration <= 0 || opt.duration > 3600) die("--duration must be in (0, 3600]");
  if (opt.timeout <= 0 || opt.timeout > 600) die("--timeout must be in (0, 600]");
  if (opt.hold < 0 || opt.hold > 3600) die("--hold must be in [0, 3600]");
  if (opt.sessions > 100'000) die("--sessions is capped at 100000");
  if (opt.concurrency > 10'000 || opt.flood_concurrency > 10'000) die("concurrency capped at 10000");
  if (opt.mib > 65536) die("--mib is capped at 65536");
  return opt;
}

// ---------------------------------------------------------------------------------------------
// Wire

// [MS-RDPBCGR] 2.2.1.1: TPKT + X.224 CR + cookie line + RDP_NEG_REQ. With the defaults this is
// byte for byte xfreerdp-default.hex (45 bytes).
std::vector<std::uint8_t> build_request(std::string_view cookie, std::uint32_t protocols) {
  constexpr std::string_view prefix = "Cookie: mstshash=";
  const std::size_t length = 4 + 7 + prefix.size() + cookie.size() + 2 + 8;  // TPKT + CR fixed
                                                     // part + cookie line + CR LF + NEG_REQ
  if (length > 259) die("cookie too long");
  std::vector<std::uint8_t> out;
  out.reserve(length);
  const auto put = [&out](std::size_t byte) { out.push_back(static_cast<std::uint8_t>(byte)); };
  put(0x03);                  // TPKT version
  put(0x00);                  // TPKT reserved
  put((length >> 8) & 0xff);  // TPKT length (BE)
  put(length & 0xff);
  put(length - 5);            // X.224 LI: the rest of the packet after this octet
  put(0xe0);                  // CR, credit 0
  for (int i = 0; i < 4; ++i) put(0x00);  // DST-REF, SRC-REF
  put(0x00);                  // class 0
  for (const char c : prefix) put(static_cast<unsigned char>(c));
  for (const char c : cookie) put(static_cast<unsigned char>(c));
  put('\r');
  put('\n');
  put(0x01);  // TYPE_RDP_NEG_REQ
  put(0x00);  // flags
  put(0x08);  // length 8 (LE)
  put(0x00);
  for (int i = 0; i < 4; ++i) put((protocols >> (8 * i)) & 0xff);  // requestedProtocols (LE)
  return out;
}

// Closes the socket when the deadline passes, unless destroyed first. The flag guards against a
// fired handler that runs after the socket is gone.
class Watchdog {
 public:
  Watchdog(tcp::socket& sock, Clock::duration limit)
      : timer_(sock.get_executor(), limit), alive_(std::make_shared<bool>(true)) {
    timer_.async_wait([&sock, alive = alive_](error_code ec) {
      if (!ec && *alive) {
        error_code ignored;
        sock.close(ignored);
      }
    });
  }
  ~Watchdog() {
    *alive_ = false;
    timer_.cancel();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  asio::steady_timer timer_;
  std::shared_ptr<bool> alive_;
};

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

error_code open_socket(tcp::socket& sock, const tcp::endpoint& target,
                       const std::optional<asio::ip::address_v4>& source) {
  error_code ec;
  sock.open(target.protocol(), ec);
  if (ec || !source) return ec;
#ifdef IP_BIND_ADDRESS_NO_PORT
  // Let connect() pick the port per 4-tuple, so many sources do not exhaust ephemeral ports.
  const int one = 1;
  ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
  sock.bind(tcp::endpoint{*source, 0}, ec);
  return ec;
}

// Connect, send the Connection Request, read one TPKT that must be an X.224 Connection Confirm.
asio::awaitable<bool> handshake(tcp::socket& sock, const Options& opt,
                                const std::vector<std::uint8_t>& request,
                                const std::optional<asio::ip::address_v4>& source) {
  if (open_socket(sock, opt.target, source)) co_return false;
  auto [ec] = co_await sock.async_connect(opt.target, nothrow);
  if (ec) co_return false;
  error_code ignored;
  sock.set_option(tcp::no_delay(true), ignored);
  std::size_t n = 0;
  std::tie(ec, n) = co_await asio::async_write(sock, asio::buffer(request), nothrow);
  if (ec) co_return false;
  std::array<std::uint8_t, 259> in;
  std::tie(ec, n) = co_await asio::async_read(sock, asio::buffer(in.data(), 4), nothrow);
  if (ec || in[0] != 3 || in[1] != 0) co_return false;
  const std::size_t length = static_cast<std::size_t>(in[2]) << 8 | in[3];
  if (length < 11 || length > in.size()) co_return false;
  std::tie(ec, n) = co_await asio::async_read(sock, asio::buffer(in.data() + 4, length - 4), nothrow);
  co_return !ec && in[5] == 0xd0;
}

// ---------------------------------------------------------------------------------------------
// Results

struct Stats {
  std::uint64_t ok = 0;
  std::uint64_t errors = 0;
  std::vector<std::uint64_t> latency_ns;
  void sample(Clock::duration d) {
    if (latency_ns.size() < max_samples) {
      latency_ns.push_back(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()));
    }
  }
  void merge(Stats& other) {
    ok += other.ok;
    errors += other.errors;
    latency_ns.insert(latency_ns.end(), other.latency_ns.begin(), other.latency_ns.end());
  }
  double percentile_us(double q) {
    if (latency_ns.empty()) return -1;
    std::sort(latency_ns.begin(), latency_ns.end());
    const auto idx = std::min(latency_ns.size() - 1,
                              static_cast<std::size_t>(q * static_cast<double>(latency_ns.size())));
    return static_cast<double>(latency_ns[idx]) / 1000.0;
  }
};

class Json {
 public:
  explicit Json(std::string_view scenario) { add("scenario", scenario); }
  Json& add(std::string_view key, std::string_view value) {
    return field(key).append("\"").append(value).append("\""), *this;
  }
  Json& add(std::string_view key, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", value);
    return field(key).append(buf), *this;
  }
  Json& add(std::string_view key, std::uint64_t value) {
    return field(key).append(std::to_string(value)), *this;
  }
  void print() const {
    std::printf("{%s}\n", text_.c_str());
    std::fflush(stdout);
  }

 private:
  // Appends `"key":` (after a comma when needed) and returns the text to append the value to.
  // Built with append() rather than operator+ (GCC 12 warns falsely on chained concatenation).
  std::string& field(std::string_view key) {
    if (!text_.empty()) text_.push_back(',');
    return text_.append("\"").append(key).append("\":");
  }
  std::string text_;
};

// Runs `spawn(io, index)` for `workers` coroutines spread over `threads` io_contexts and returns
// the per-worker stats merged.
template <class Spawn>
Stats run_spread(std::size_t threads, std::size_t workers, Spawn spawn) {
  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<Stats> stats(workers);
  for (std::size_t t = 0; t < threads; ++t) ios.push_back(std::make_unique<asio::io_context>(1));
  for (std::size_t w = 0; w < workers; ++w) spawn(*ios[w % threads], stats[w], w);
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back([&io = *ios[t]] { io.run(); });
  ios[0]->run();
  for (auto& t : pool) t.join();
  Stats all;
  for (auto& s : stats) all.merge(s);
  return all;
}

// ---------------------------------------------------------------------------------------------
// Scenarios

asio::awaitable<void> handshake_worker(const Options& opt, const std::vector<std::uint8_t>& request,
                                       Clock::time_point end, Stats& stats) {
  auto exec = co_await asio::this_coro::executor;
  while (Clock::now() < end) {
    tcp::socket sock{exec};
    Watchdog watchdog{sock, seconds(opt.timeout)};
    const auto start = Clock::now();
    if (co_await handshake(sock, opt, request, opt.source)) {
      stats.sample(Clock::now() - start);
      ++stats.ok;
    } else {
      ++stats.errors;
      // A refused or failing target must not turn this loop into a busy spin.
      asio::steady_timer pause{exec, std::chrono::milliseconds(10)};
      co_await pause.async_wait(nothrow);
    }
  }
}

int run_handshake(const Options& opt) {
  const auto request = build_request(opt.cookie, opt.protocols);
  const auto start = Clock::now();
  const auto end = start + seconds(opt.duration);
  Stats all = run_spread(opt.threads, opt.concurrency, [&](asio::io_context& io, Stats& s, std::size_t) {
    asio::co_spawn(io, handshake_worker(opt, request, end, s), asio::detached);
  });
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  Json("handshake")
      .add("concurrency", static_cast<std::uint64_t>(opt.concurrency))
      .add("seconds", elapsed)
      .add("handshakes", all.ok)
      .add("errors", all.errors)
      .add("rate", static_cast<double>(all.ok) / elapsed)
      .add("p50_us", all.percentile_us(0.50))
      .add("p99_us", all.percentile_us(0.99))
      .print();
  return all.ok > 0 ? 0 : 1;
}

asio::awaitable<void> pingpong_worker(const Options& opt, const std::vector<std::uint8_t>& request,
                                      Clock::time_point end, Stats& stats) {
  auto exec = co_await asio::this_coro::executor;
  tcp::socket sock{exec};
  Watchdog watchdog{sock, seconds(opt.duration + opt.timeout)};
  if (!co_await handshake(sock, opt, request, opt.source)) {
    ++stats.errors;
    co_return;
  }
  std::array<std::uint8_t, 64> out;
  std::array<std::uint8_t, 64> in;
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(i);
  while (Clock::now() < end) {
    const auto start = Clock::now();
    auto [ec, n] = co_await asio::async_write(sock, asio::buffer(out), nothrow);
    if (!ec) std::tie(ec, n) = co_await asio::async_read(sock, asio::buffer(in), nothrow);
    if (ec || in != out) {
      ++stats.errors;
      co_return;
    }
    stats.sample(Clock::now() - start);
    ++stats.ok;
  }
}

int run_pingpong(const Options& opt) {
  const auto request = build_request(opt.cookie, opt.protocols);
  const auto start = Clock::now();
  const auto end = start + seconds(opt.duration);
  Stats all = run_spread(opt.threads, opt.concurrency, [&](asio::io_context& io, Stats& s, std::size_t) {
    asio::co_spawn(io, pingpong_worker(opt, request, end, s), asio::detached);
  });
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  Json("pingpong")
      .add("concurrency", static_cast<std::uint64_t>(opt.concurrency))
      .add("seconds", elapsed)
      .add("messages", all.ok)
      .add("errors", all.errors)
      .add("rate", static_cast<double>(all.ok) / elapsed)
      .add("p50_us", all.percentile_us(0.50))
      .add("p99_us", all.percentile_us(0.99))
      .print();
  return all.ok > 0 && all.errors == 0 ? 0 : 1;
}

struct BulkResult {
  bool ok = false;
  std::uint64_t bytes = 0;
  double seconds = 0;
};

asio::awaitable<void> bulk_transfer(const Options& opt, BulkResult& result) {
  auto exec = co_await asio::this_coro::executor;
  tcp::socket sock{exec};
  Watchdog watchdog{sock, seconds(opt.timeout)};
  const bool up = opt.direction == "up";
  const auto request = build_request(up ? "sink" : "source", opt.protocols);
  if (!co_await handshake(sock, opt, request, opt.source)) co_return;
  const std::uint64_t total = opt.mib * 1024 * 1024;
  std::vector<std::uint8_t> buf(256 * 1024, 0xa5);
  const auto start = Clock::now();
  if (up) {
    std::uint64_t left = total;
    while (left > 0) {
      const auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
      auto [ec, n] = co_await asio::async_write(sock, asio::buffer(buf.data(), chunk), nothrow);
      if (ec) co_return;
      left -= n;
    }
    error_code ignored;
    sock.shutdown(tcp::socket::shutdown_send, ignored);
    std::array<std::uint8_t, 8> ack;
    auto [ec, n] = co_await asio::async_read(sock, asio::buffer(ack), nothrow);
    if (ec) co_return;
    std::uint64_t received = 0;
    for (std::size_t i = 0; i < ack.size(); ++i) received |= static_cast<std::uint64_t>(ack[i]) << (8 * i);
    result.bytes = received;
    result.ok = received == total;
  } else {
    std::array<std::uint8_t, 8> ask;
    for (std::size_t i = 0; i < ask.size(); ++i) ask[i] = static_cast<std::uint8_t>(total >> (8 * i));
    auto [ec, n] = co_await asio::async_write(sock, asio::buffer(ask), nothrow);
    if (ec) co_return;
    std::uint64_t received = 0;
    for (;;) {
      std::tie(ec, n) = co_await sock.async_read_some(asio::buffer(buf), nothrow);
      received += n;
      if (ec) break;
    }
    result.bytes = received;
    result.ok = ec == asio::error::eof && received == total;
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
}

int run_bulk(const Options& opt) {
  if (opt.direction != "up" && opt.direction != "down") die("--direction must be up or down");
  asio::io_context io{1};
  BulkResult result;
  asio::co_spawn(io, bulk_transfer(opt, result), asio::detached);
  io.run();
  const double mib = static_cast<double>(result.bytes) / (1024.0 * 1024.0);
  Json("bulk")
      .add("direction", opt.direction)
      .add("ok", static_cast<std::uint64_t>(result.ok))
      .add("bytes", result.bytes)
      .add("seconds", result.seconds)
      .add("mib_per_s", result.ok && result.seconds > 0 ? mib / result.seconds : 0.0)
      .print();
  return result.ok ? 0 : 1;
}

struct IdleState {
  std::deque<tcp::socket> sockets;
  std::size_t next = 0;
  std::uint64_t open = 0;
  std::uint64_t errors = 0;
  std::uint64_t closed_early = 0;
  bool holding = true;
};

asio::awaitable<void> watch_idle(tcp::socket& sock, IdleState& state) {
  std::array<std::uint8_t, 64> buf;
  co_await sock.async_read_some(asio::buffer(buf), nothrow);
  if (state.holding) ++state.closed_early;  // the peer closed (or sent) during the hold
}

asio::awaitable<void> idle_opener(const Options& opt, const std::vector<std::uint8_t>& request,
                                  IdleState& state) {
  auto exec = co_await asio::this_coro::executor;
  while (state.next < opt.sessions) {
    ++state.next;
    tcp::socket sock{exec};
    bool ok = false;
    {
      Watchdog watchdog{sock, seconds(opt.timeout)};
      ok = co_await handshake(sock, opt, request, opt.source);
    }
    if (!ok) {
      ++state.errors;
      continue;
    }
    ++state.open;
    auto& kept = state.sockets.emplace_back(std::move(sock));
    asio::co_spawn(exec, watch_idle(kept, state), asio::detached);
  }
}

asio::awaitable<void> idle_run(const Options& opt, IdleState& state) {
  auto exec = co_await asio::this_coro::executor;
  const auto request = build_request(opt.cookie, opt.protocols);
  const auto start = Clock::now();
  {
    // Open the sessions with `concurrency` openers and wait for all of them to finish.
    asio::experimental::channel<void(error_code)> done{exec, opt.concurrency};
    for (std::size_t i = 0; i < opt.concurrency; ++i) {
      asio::co_spawn(exec, idle_opener(opt, request, state),
                     [&done](std::exception_ptr) { done.try_send(error_code{}); });
    }
    for (std::size_t i = 0; i < opt.concurrency; ++i) co_await done.async_receive(nothrow);
  }
  const double open_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  Json("idle")
      .add("event", "ready")
      .add("open", state.open)
      .add("errors", state.errors)
      .add("open_seconds", open_seconds)
      .print();
  asio::steady_timer hold{exec, seconds(opt.hold)};
  co_await hold.async_wait(nothrow);
  state.holding = false;
  const std::uint64_t alive = state.open - state.closed_early;
  for (auto& s : state.sockets) {
    error_code ignored;
    s.close(ignored);
  }
  Json("idle")
      .add("event", "done")
      .add("sessions", static_cast<std::uint64_t>(opt.sessions))
      .add("open", state.open)
      .add("errors", state.errors)
      .add("alive_after_hold", alive)
      .add("hold_seconds", opt.hold)
      .print();
}

int run_idle(const Options& opt) {
  asio::io_context io{1};
  IdleState state;
  asio::co_spawn(io, idle_run(opt, state), asio::detached);
  io.run();
  return state.open == opt.sessions && state.closed_early == 0 ? 0 : 1;
}

struct FloodStats {
  std::uint64_t refused = 0;       // closed or reset by the target before any byte
  std::uint64_t answered = 0;      // the target sent bytes: not refused
  std::uint64_t timeouts = 0;      // neither within --timeout
  std::uint64_t connect_errors = 0;
  std::string last_error;  // the message of the last connect error, for the report
};

// One flood thread: batches of `batch` non-blocking connects from successive source addresses,
// one poll() for the whole batch until each socket was closed or reset by the target (or the
// timeout passed), then close them all. Raw sockets rather than Asio: the generator must cost
// less per connection than the proxies it floods.
void flood_thread(const Options& opt, std::size_t thread_index, std::size_t batch,
                  Clock::time_point end, FloodStats& stats) {
  const auto target = opt.target.address().to_v4().to_bytes();
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(opt.target.port());
  std::memcpy(&to.sin_addr, target.data(), 4);
  std::uint32_t host = static_cast<std::uint32_t>(thread_index % opt.flood_hosts);
  std::vector<pollfd> fds(batch);
  const auto timeout = seconds(opt.timeout);
  while (Clock::now() < end) {
    std::size_t open = 0;
    for (std::size_t i = 0; i < batch; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        ++stats.connect_errors;
        stats.last_error = std::strerror(errno);
        break;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      sockaddr_in from{};
      from.sin_family = AF_INET;
      from.sin_addr.s_addr = htonl(opt.flood_base + host);
      host = (host + 1) % opt.flood_hosts;
      if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
          (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 &&
           errno != EINPROGRESS)) {
        if (errno == ECONNRESET) ++stats.refused;
        else ++stats.connect_errors, stats.last_error = std::strerror(errno);
        ::close(fd);
        continue;
      }
      fds[open++] = pollfd{fd, POLLIN, 0};
    }
    // Wait until every socket of the batch has an ending (EOF, reset or data) or time is up.
    const auto deadline = Clock::now() + timeout;
    std::size_t pending = open;
    while (pending > 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      const int ready = ::poll(fds.data(), static_cast<nfds_t>(open), static_cast<int>(left.count()));
      if (ready <= 0) break;
      for (std::size_t i = 0; i < open; ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0) continue;
        char byte;
        const auto n = ::recv(fds[i].fd, &byte, 1, MSG_DONTWAIT);
        if (n > 0) ++stats.answered;
        else if (n == 0 || errno == ECONNRESET || errno == EPIPE) ++stats.refused;
        else if (errno == EAGAIN) continue;  // connected, nothing yet: keep waiting
        else ++stats.connect_errors, stats.last_error = std::strerror(errno);
        ::close(fds[i].fd);
        fds[i].fd = -fds[i].fd - 1;  // poll() ignores negative descriptors
        --pending;
      }
    }
    for (std::size_t i = 0; i < open; ++i) {
      if (fds[i].fd >= 0) {
        ++stats.timeouts;
        ::close(fds[i].fd);
      }
    }
  }
}

int run_flood(const Options& opt) {
  if (opt.flood_hosts == 0 && opt.flood_concurrency > 0) die("--flood-range is required");
  const auto request = build_request(opt.cookie, opt.protocols);
  const auto start = Clock::now();
  const auto end = start + seconds(opt.duration);

  // The flood runs on its own threads so that the legitimate client's latency is not measured
  // behind the flood's own event loop.
  std::vector<FloodStats> flood(opt.flood_threads);
  std::vector<std::thread> pool;
  const std::size_t batch = std::max<std::size_t>(1, opt.flood_concurrency / opt.flood_threads);
  if (opt.flood_concurrency > 0) {
    for (std::size_t t = 0; t < opt.flood_threads; ++t) {
      pool.emplace_back([&, t] { flood_thread(opt, t * batch, batch, end, flood[t]); });
    }
  }

  asio::io_context legit_io{1};
  Stats legit;
  asio::co_spawn(legit_io, handshake_worker(opt, request, end, legit), asio::detached);
  legit_io.run();
  for (auto& t : pool) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  FloodStats sum;
  for (const auto& f : flood) {
    sum.refused += f.refused;
    sum.answered += f.answered;
    sum.timeouts += f.timeouts;
    sum.connect_errors += f.connect_errors;
    if (!f.last_error.empty()) sum.last_error = f.last_error;
  }
  Json("flood")
      .add("seconds", elapsed)
      .add("flood_concurrency", static_cast<std::uint64_t>(opt.flood_concurrency))
      .add("flood_refused", sum.refused)
      .add("flood_answered", sum.answered)
      .add("flood_timeouts", sum.timeouts)
      .add("flood_connect_errors", sum.connect_errors)
      .add("flood_last_error", sum.last_error)
      .add("flood_refused_rate", static_cast<double>(sum.refused) / elapsed)
      .add("legit_handshakes", legit.ok)
      .add("legit_errors", legit.errors)
      .add("legit_p50_us", legit.percentile_us(0.50))
      .add("legit_p99_us", legit.percentile_us(0.99))
      .print();
  return legit.ok > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options opt = parse_options(argc, argv);
    if (opt.scenario == "handshake") return run_handshake(opt);
    if (opt.scenario == "pingpong") return run_pingpong(opt);
    if (opt.scenario == "bulk") return run_bulk(opt);
    if (opt.scenario == "idle") return run_idle(opt);
    if (opt.scenario == "flood") return run_flood(opt);
    die("--scenario must be handshake, pingpong, bulk, idle or flood");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rdp_load: %s\n", e.what());
    return 2;
  }
}
