#pragma once
// Test support for the loopback integration tests: RDP first-flight builders, a blocking client
// socket, a fake RDP backend on threads, the in-process gateway with its captured audit log, and
// metric readers. Every blocking call has a deadline.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "rdpgate/gateway/app.hpp"

namespace rdpgate::itest {

using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;
using Millis = std::chrono::milliseconds;
namespace json = boost::json;

// ---- bytes ------------------------------------------------------------------------------------

// "03 00 00 13" -> bytes (whitespace ignored).
Bytes hex(std::string_view text);
std::string to_hex(const Bytes& b);
Bytes concat(std::initializer_list<Bytes> parts);
Bytes ascii(std::string_view s);

// The 19-byte Connection Confirm with RDP_NEG_RSP selecting `selected` ([MS-RDPBCGR] 2.2.1.2.1).
Bytes confirm_selecting(std::uint32_t selected);
// 03 00 00 13 0e d0 00 00 12 34 00 02 01 08 00 02 00 00 00: HYBRID selected.
inline const Bytes hybrid_confirm = {0x03, 0x00, 0x00, 0x13,  // TPKT, length 19
                                     0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00,  // X.224 CC
                                     0x02, 0x01, 0x08, 0x00,  // RDP_NEG_RSP, flags, length 8
                                     0x02, 0x00, 0x00, 0x00};  // selectedProtocol HYBRID

// A TPKT + X.224 Connection Request ([MS-RDPBCGR] 2.2.1.1): `line` is the cookie or routing-token
// line without its CR LF ("" for none; `crlf` false leaves the terminator out), then an
// RDP_NEG_REQ when `requested` is set.
Bytes connection_request(std::string_view line, std::optional<std::uint32_t> requested,
                         bool crlf = true);
inline Bytes cookie_request(std::string_view user, std::uint32_t requested = 0x3) {
  return connection_request("Cookie: mstshash=" + std::string(user), requested);
}
// An RDP_PRECONNECTION_PDU_V2 ([MS-RDPEPS] 2.2.1.2) with an ASCII `blob` as wszPCB.
Bytes preconnection_pdu(std::uint32_t id, std::string_view blob);

// A captured first flight from ../shared/vectors, or nullopt when the folder is absent.
std::optional<Bytes> vector_file(const std::string& name);

// ---- client -----------------------------------------------------------------------------------

class Client {
 public:
  // Connects to 127.0.0.1:`port` from `source` (any 127.0.0.0/8 address works on loopback).
  static std::unique_ptr<Client> connect(std::uint16_t port, const std::string& source = "127.0.0.1");
  // connect(), send a whole first flight, and expect a 19-byte Connection Confirm back.
  static std::unique_ptr<Client> send_flight(std::uint16_t port, const Bytes& flight);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  [[nodiscard]] std::uint16_t local_port() const { return local_port_; }
  [[nodiscard]] int fd() const { return fd_; }
  bool send(const Bytes& b);
  bool send(std::string_view s) { return send(ascii(s)); }
  // Reads until `n` bytes arrived, the peer closed, or `timeout` passed.
  Bytes recv_exact(std::size_t n, Millis timeout = 5s);
  struct Drained {
    Bytes bytes;
    bool closed = false;  // EOF or reset seen (false: timed out with the connection open)
    bool reset = false;
  };
  // Reads until the peer closes (or resets) or `timeout` passes.
  Drained drain(Millis timeout = 5s);
  void shutdown_write();
  void close();

 private:
  explicit Client(int fd);
  int fd_ = -1;
  std::uint16_t local_port_ = 0;
};

// A closed loopback port: connecting to it is refused.
std::uint16_t closed_port();

// ---- stream checksums -------------------------------------------------------------------------

// Order-dependent 64-bit hash of a byte stream, fed in chunks of any size.
class StreamHash {
 public:
  void update(const std::uint8_t* p, std::size_t n);
  [[nodiscard]] std::uint64_t digest() const;
  [[nodiscard]] std::uint64_t size() const { return total_; }

 private:
  void mix(std::uint64_t w) {
    h_ = (h_ ^ w) * 0x100000001b3ull;
    h_ ^= h_ >> 29;
  }
  std::uint64_t h_ = 0xcbf29ce484222325ull;
  std::uint64_t pending_ = 0;
  unsigned npending_ = 0;
  std::uint64_t total_ = 0;
};

// Fills `out` with the pseudo-random stream `seed` at byte offset `offset` (a multiple of 8).
void fill_stream(std::uint64_t seed, std::uint64_t offset, std::uint8_t* out, std::size_t n);

struct StreamResult {
  std::uint64_t sent_bytes = 0, sent_digest = 0;
  std::uint64_t received_bytes = 0, received_digest = 0;
  bool ok = false;  // both directions finished without error
};

// Sends `bytes` of stream `seed` on `fd` (then half-closes) while receiving and hashing until EOF
// on another thread.
StreamResult exchange_streams(int fd, std::uint64_t seed, std::uint64_t bytes);

// ---- fake backend -----------------------------------------------------------------------------

class FakeBackend {
 public:
  enum class Mode {
    echo,    // write back every byte; on EOF send `trailer` after `trailer_delay`, then close
    stream,  // exchange_streams(stream_seed, stream_bytes)
    silent,  // accept and read, never answer the Connection Request
  };
  struct Options {
    Bytes confirm = hybrid_confirm;  // answer to the first flight
    Mode mode = Mode::echo;
    Bytes trailer;
    Millis trailer_delay{0};
    std::uint64_t stream_seed = 2;
    std::uint64_t stream_bytes = 0;
  };
  FakeBackend() : FakeBackend(Options{}) {}
  explicit FakeBackend(Options options);
  ~FakeBackend();
  FakeBackend(const FakeBackend&) = delete;
  FakeBackend& operator=(const FakeBackend&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::size_t connections() const;
  bool wait_connections(std::size_t n, Millis timeout = 5s) const;
  // Bytes received on connection `i` before the Confirm was sent (the forwarded first flight).
  [[nodiscard]] Bytes first_flight(std::size_t i) const;
  // Bytes received on connection `i` after the Confirm (recorded up to 1 MiB).
  [[nodiscard]] Bytes received(std::size_t i) const;
  // The stream results of connection `i` once it finished (stream mode).
  std::optional<StreamResult> wait_stream(std::size_t i, Millis timeout) const;

 private:
  struct Conn {
    int fd = -1;
    Bytes first;
    Bytes after;
    std::optional<StreamResult> stream;
  };
  void accept_loop();
  void serve(std::size_t index, int fd);

  Options options_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<Conn>> conns_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// ---- gateway ----------------------------------------------------------------------------------

// The sections of a test configuration; each is the YAML text after the key.
struct GatewayConfig {
  std::string listeners = "\n  - {name: public, address: \"127.0.0.1:0\", route: main}\n";
  std::string routes;  // required
  std::string sources = "{per_source: {max_connections: 0, rate: \"0/s\"}}";
  std::string inspection = "{timeout: 5s}";
  std::string session = "{idle_timeout: 60s}";
  std::string bruteforce = "{enabled: false}";
  bool metrics = false;
  std::string extra;  // more top-level keys, each line complete
};
// One route `main` to the given backends.
std::string main_route(const std::vector<std::string>& backends, std::string_view more = "");

class Gateway {
 public:
  Gateway();
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Loads and starts; on failure records a test failure and returns false.
  bool start(const GatewayConfig& c);
  // Parses a configuration for App::apply().
  std::optional<config::Config> load(const GatewayConfig& c);
  std::string yaml(const GatewayConfig& c) const;

  gateway::App& app() { return *app_; }
  std::uint16_t port(const std::string& listener = "public") const;

  // Audit records ("event":"connection") so far, oldest first.
  std::vector<json::object> records() const;
  // The audit record of the connection whose client port is `client_port`.
  std::optional<json::object> wait_record(std::uint16_t client_port, Millis timeout = 10s) const;
  // wait_record(), then each of `fields` (name, expected text) checked; {} when none came.
  json::object expect_record(
      std::uint16_t client_port,
      std::initializer_list<std::pair<std::string_view, std::string_view>> fields) const;
  std::vector<std::string> lines() const;

  // Sum of the samples of `name` whose labels include `labels` (counters and gauges).
  double metric(const std::string& name, const std::map<std::string, std::string>& labels = {});
  double connections(const std::string& outcome, const std::string& listener = "public") {
    return metric("rdpgate_connections_total", {{"listener", listener}, {"outcome", outcome}});
  }
  // GET /metrics over HTTP from the exposer.
  std::string scrape();

 private:
  struct Capture;
  std::shared_ptr<Capture> capture_;
  std::string state_dir_;
  std::unique_ptr<gateway::App> app_;
};

// How the sessions of these tests end: their clients relay bytes that are not TLS after a
// CredSSP Confirm, which rdpgate records as `tls_incomplete` — never a logon attempt
// (protocol/nla_judge.hpp). Real clients' sessions end `completed` (tests/e2e).
inline constexpr std::string_view relayed = "tls_incomplete";

// Field accessors that fail softly.
std::string str(const json::object& o, std::string_view key);
std::int64_t num(const json::object& o, std::string_view key);

// Polls `pred` every 10 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& pred, Millis timeout = 5s);

}  // namespace rdpgate::itest
