#include "support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "rdpgate/config/load.hpp"

namespace rdpgate::itest {

// ---- bytes ------------------------------------------------------------------------------------

Bytes hex(std::string_view text) {
  Bytes out;
  int hi = -1;
  for (char c : text) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      continue;
    }
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

std::string to_hex(const Bytes& b) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i != 0) s += ' ';
    s += digits[b[i] >> 4];
    s += digits[b[i] & 0xF];
  }
  return s;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes ascii(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes confirm_selecting(std::uint32_t selected) {
  return {0x03, 0x00, 0x00, 0x13,                          // TPKT: version 3, length 19
          0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00,        // X.224 CC: LI 14, dst, src 0x1234, class
          0x02, 0x01, 0x08, 0x00,                          // RDP_NEG_RSP, flags, length 8 (LE)
          static_cast<std::uint8_t>(selected), static_cast<std::uint8_t>(selected >> 8),
          static_cast<std::uint8_t>(selected >> 16), static_cast<std::uint8_t>(selected >> 24)};
}

Bytes connection_request(std::string_view line, std::optional<std::uint32_t> requested, bool crlf) {
  const std::size_t length = 4                                            // TPKT header
                             + 7                                          // X.224 CR fixed part
                             + line.size() + (crlf && !line.empty() ? 2 : 0)  // cookie / token
                             + (requested ? 8 : 0);                       // RDP_NEG_REQ
  Bytes b = {0x03, 0x00, static_cast<std::uint8_t>(length >> 8),
             static_cast<std::uint8_t>(length & 0xFF),
             static_cast<std::uint8_t>(length - 5),  // LI: octets after itself
             0xe0,                                   // CR, CDT 0
             0x00, 0x00,                             // dst-ref
             0x00, 0x00,                             // src-ref
             0x00};                                  // class 0
  b.reserve(length);
  // Byte by byte: GCC 12 reports a false -Warray-bounds for a range insert here.
  for (char ch : line) b.push_back(static_cast<std::uint8_t>(ch));
  if (crlf && !line.empty()) {
    b.push_back('\r');
    b.push_back('\n');
  }
  if (requested) {
    const std::uint32_t p = *requested;
    const Bytes neg = {0x01, 0x00, 0x08, 0x00,  // TYPE_RDP_NEG_REQ, flags, length 8 (LE)
                       static_cast<std::uint8_t>(p), static_cast<std::uint8_t>(p >> 8),
                       static_cast<std::uint8_t>(p >> 16), static_cast<std::uint8_t>(p >> 24)};
    for (auto v : neg) b.push_back(v);
  }
  return b;
}

Bytes preconnection_pdu(std::uint32_t id, std::string_view blob) {
  const std::size_t cch = blob.size() + 1;  // with the U+0000 FreeRDP appends
  const std::size_t size = 16 + 2 + 2 * cch;
  auto le32 = [](Bytes& b, std::size_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  Bytes b;
  le32(b, size);  // cbSize
  le32(b, 0);     // Flags
  le32(b, 2);     // Version: V2
  le32(b, id);    // Id
  b.push_back(static_cast<std::uint8_t>(cch));
  b.push_back(static_cast<std::uint8_t>(cch >> 8));
  for (char c : blob) {
    b.push_back(static_cast<std::uint8_t>(c));
    b.push_back(0);
  }
  b.push_back(0);
  b.push_back(0);
  return b;
}

std::optional<Bytes> vector_file(const std::string& name) {
  std::ifstream in(std::filesystem::path(RDPGATE_VECTORS_DIR) / name);
  if (!in) return std::nullopt;
  std::string all, line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '#') continue;
    all += line;
  }
  return hex(all);
}

// ---- sockets ----------------------------------------------------------------------------------

namespace {

sockaddr_in loopback(const std::string& ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

std::uint16_t local_port_of(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

void set_timeouts(int fd, Millis t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool send_all(int fd, const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    const auto w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// Waits until `fd` is readable or the deadline passes.
bool readable(int fd, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

}  // namespace

Client::Client(int fd) : fd_(fd), local_port_(local_port_of(fd)) {}

std::unique_ptr<Client> Client::connect(std::uint16_t port, const std::string& source) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ADD_FAILURE() << "socket: " << std::strerror(errno);
    return nullptr;
  }
  set_timeouts(fd, 30s);
  auto src = loopback(source, 0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
    ADD_FAILURE() << "bind " << source << ": " << std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  auto dst = loopback("127.0.0.1", port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    ADD_FAILURE() << "connect 127.0.0.1:" << port << ": " << std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return std::unique_ptr<Client>(new Client(fd));
}

Client::~Client() { close(); }

bool Client::send(const Bytes& b) { return send_all(fd_, b.data(), b.size()); }

Bytes Client::recv_exact(std::size_t n, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Bytes out;
  std::uint8_t buf[4096];
  while (out.size() < n && readable(fd_, deadline)) {
    const auto r = ::recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out.insert(out.end(), buf, buf + r);
  }
  return out;
}

Client::Drained Client::drain(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Drained d;
  std::uint8_t buf[65536];
  while (readable(fd_, deadline)) {
    const auto r = ::recv(fd_, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      d.closed = true;
      break;
    }
    if (r < 0) {
      d.closed = true;
      d.reset = errno == ECONNRESET;
      break;
    }
    d.bytes.insert(d.bytes.end(), buf, buf + r);
  }
  return d;
}

void Client::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

void Client::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto a = loopback("127.0.0.1", 0);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  const auto port = local_port_of(fd);
  ::close(fd);  // never listened: connections to it are refused
  return port;
}

// ---- streams ----------------------------------------------------------------------------------

void StreamHash::update(const std::uint8_t* p, std::size_t n) {
  total_ += n;
  while (n > 0 && npending_ != 0) {
    pending_ |= std::uint64_t{*p++} << (8 * npending_);
    --n;
    if (++npending_ == 8) {
      mix(pending_);
      pending_ = 0;
      npending_ = 0;
    }
  }
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    mix(w);
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    pending_ |= std::uint64_t{*p++} << (8 * npending_++);
    --n;
  }
}

std::uint64_t StreamHash::digest() const {
  StreamHash copy = *this;
  copy.mix(copy.pending_ ^ (std::uint64_t{copy.npending_} << 56));
  copy.mix(copy.total_);
  return copy.h_;
}

void fill_stream(std::uint64_t seed, std::uint64_t offset, std::uint8_t* out, std::size_t n) {
  std::uint64_t i = offset / 8;
  for (std::size_t k = 0; k < n; k += 8, ++i) {
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + i;  // splitmix64 of the word index
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    std::memcpy(out + k, &x, std::min<std::size_t>(8, n - k));
  }
}

StreamResult exchange_streams(int fd, std::uint64_t seed, std::uint64_t bytes) {
  StreamResult result;
  std::atomic<bool> read_ok{false};
  StreamHash received;
  std::thread reader([&] {
    std::vector<std::uint8_t> buf(1 << 20);
    for (;;) {
      const auto r = ::recv(fd, buf.data(), buf.size(), 0);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) {
        read_ok = true;
        return;
      }
      if (r < 0) return;  // reset, or the socket's receive timeout
      received.update(buf.data(), static_cast<std::size_t>(r));
    }
  });
  constexpr std::size_t chunk = 1 << 20;  // big writes: few system calls
  std::vector<std::uint8_t> buf(chunk);
  StreamHash sent;
  bool write_ok = true;
  for (std::uint64_t off = 0; off < bytes && write_ok; off += chunk) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, bytes - off));
    fill_stream(seed, off, buf.data(), n);
    sent.update(buf.data(), n);
    write_ok = send_all(fd, buf.data(), n);
  }
  ::shutdown(fd, SHUT_WR);
  reader.join();
  result.sent_bytes = sent.size();
  result.sent_digest = sent.digest();
  result.received_bytes = received.size();
  result.received_digest = received.digest();
  result.ok = write_ok && read_ok;
  return result;
}

// ---- fake backend -----------------------------------------------------------------------------

FakeBackend::FakeBackend(Options options) : options_(std::move(options)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  auto a = loopback("127.0.0.1", 0);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, 128) != 0) {
    ADD_FAILURE() << "fake backend: " << std::strerror(errno);
  }
  port_ = local_port_of(listen_fd_);
  acceptor_ = std::thread([this] { accept_loop(); });
}

FakeBackend::~FakeBackend() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  acceptor_.join();
  ::close(listen_fd_);
  {
    std::lock_guard lock(mutex_);
    for (auto& c : conns_) ::shutdown(c->fd, SHUT_RDWR);  // wakes recv() and send()
  }
  for (auto& t : threads_) t.join();
  for (auto& c : conns_) ::close(c->fd);
}

void FakeBackend::accept_loop() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    set_timeouts(fd, 60s);
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    auto c = std::make_shared<Conn>();
    c->fd = fd;
    conns_.push_back(c);
    const auto index = conns_.size() - 1;
    threads_.emplace_back([this, index, fd] { serve(index, fd); });
  }
}

void FakeBackend::serve(std::size_t index, int fd) {
  std::shared_ptr<Conn> c;
  {
    std::lock_guard lock(mutex_);
    c = conns_[index];
  }
  // The first flight: an optional Preconnection PDU (LE cbSize first), then one TPKT.
  Bytes first;
  auto need = [&](std::size_t n) {
    std::uint8_t buf[4096];
    while (first.size() < n) {
      const auto r = ::recv(fd, buf, std::min(sizeof buf, n - first.size()), 0);
      if (r <= 0) return false;
      first.insert(first.end(), buf, buf + r);
    }
    return true;
  };
  std::size_t at = 0;
  bool ok = need(4);
  if (ok && first[0] != 0x03) {
    const std::size_t pcb = first[0] | first[1] << 8 | first[2] << 16 | std::size_t{first[3]} << 24;
    at = pcb;
    ok = pcb <= 65536 && need(pcb + 4);
  }
  if (ok) ok = need(at + (std::size_t{first[at + 2]} << 8 | first[at + 3]));
  {
    std::lock_guard lock(mutex_);
    c->first = first;
  }
  if (!ok) return;
  if (options_.mode == Mode::silent) {
    std::uint8_t buf[4096];
    while (::recv(fd, buf, sizeof buf, 0) > 0) {
    }
    return;
  }
  if (!options_.confirm.empty() && !send_all(fd, options_.confirm.data(), options_.confirm.size())) {
    return;
  }
  if (options_.mode == Mode::stream) {
    auto r = exchange_streams(fd, options_.stream_seed, options_.stream_bytes);
    std::lock_guard lock(mutex_);
    c->stream = r;
    return;
  }
  std::vector<std::uint8_t> buf(65536);
  for (;;) {
    const auto r = ::recv(fd, buf.data(), buf.size(), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return;
    if (r == 0) {
      if (!options_.trailer.empty()) {
        std::this_thread::sleep_for(options_.trailer_delay);
        send_all(fd, options_.trailer.data(), options_.trailer.size());
      }
      ::shutdown(fd, SHUT_WR);
      return;
    }
    {
      std::lock_guard lock(mutex_);
      if (c->after.size() < (1u << 20)) c->after.insert(c->after.end(), buf.data(), buf.data() + r);
    }
    if (!send_all(fd, buf.data(), static_cast<std::size_t>(r))) return;
  }
}

std::size_t FakeBackend::connections() const {
  std::lock_guard lock(mutex_);
  return conns_.size();
}

bool FakeBackend::wait_connections(std::size_t n, Millis timeout) const {
  return eventually([&] { return connections() >= n; }, timeout);
}

Bytes FakeBackend::first_flight(std::size_t i) const {
  std::lock_guard lock(mutex_);
  return i < conns_.size() ? conns_[i]->first : Bytes{};
}

Bytes FakeBackend::received(std::size_t i) const {
  std::lock_guard lock(mutex_);
  return i < conns_.size() ? conns_[i]->after : Bytes{};
}

std::optional<StreamResult> FakeBackend::wait_stream(std::size_t i, Millis timeout) const {
  std::optional<StreamResult> r;
  eventually(
      [&] {
        std::lock_guard lock(mutex_);
        if (i < conns_.size() && conns_[i]->stream) r = conns_[i]->stream;
        return r.has_value();
      },
      timeout);
  return r;
}

// ---- gateway ----------------------------------------------------------------------------------

struct Gateway::Capture final : spdlog::sinks::base_sink<std::mutex> {
  std::vector<std::string> lines;
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mutex_);
    return lines;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    lines.emplace_back(msg.payload.data(), msg.payload.size());
  }
  void flush_() override {}
};

Gateway::Gateway() : capture_(std::make_shared<Capture>()) {
  auto logger = std::make_shared<spdlog::logger>("rdpgate", capture_);
  logger->set_level(spdlog::level::info);
  spdlog::set_default_logger(logger);
  std::random_device rd;
  auto dir = std::filesystem::temp_directory_path() /
             ("rdpgate-itest-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  state_dir_ = dir.string();
}

Gateway::~Gateway() {
  if (app_) {
    app_->request_shutdown();
    app_->wait();
    app_.reset();
  }
  std::error_code ec;
  std::filesystem::remove_all(state_dir_, ec);
  if (std::getenv("RDPGATE_ITEST_LOG") != nullptr) {
    for (const auto& l : capture_->snapshot()) std::fprintf(stderr, "%s\n", l.c_str());
  }
}

std::string main_route(const std::vector<std::string>& backends, std::string_view more) {
  std::string list;
  for (const auto& b : backends) {
    if (!list.empty()) list += ", ";
    list += "\"" + b + "\"";
  }
  return "\n  - {name: main, backends: [" + list + "], connect_timeout: 2s" +
         (more.empty() ? "" : ", " + std::string(more)) + "}\n";
}

std::string Gateway::yaml(const GatewayConfig& c) const {
  std::ostringstream y;
  y << "allow_root: true\n"
    << "workers: 2\n"
    << "listeners:" << c.listeners << "\n"
    << "routes:" << c.routes << "\n"
    << "sources: " << c.sources << "\n"
    << "inspection: " << c.inspection << "\n"
    << "session: " << c.session << "\n"
    << "shutdown: {drain_timeout: 1s}\n"
    << "bruteforce: " << c.bruteforce << "\n"
    << "metrics: {address: \"" << (c.metrics ? "127.0.0.1:0" : "") << "\"}\n"
    << "admin: {address: \"\"}\n"
    << "state: {path: \"" << state_dir_ << "\"}\n"
    << "logging: {level: info, format: json}\n"
    << c.extra;
  return y.str();
}

std::optional<config::Config> Gateway::load(const GatewayConfig& c) {
  const auto text = yaml(c);
  auto loaded = config::load_config_string(text, "test.yaml");
  if (auto* errors = std::get_if<std::vector<config::ConfigError>>(&loaded)) {
    for (const auto& e : *errors) ADD_FAILURE() << e.to_string() << "\n" << text;
    return std::nullopt;
  }
  return std::get<config::Config>(std::move(loaded));
}

bool Gateway::start(const GatewayConfig& c) {
  auto cfg = load(c);
  if (!cfg) return false;
  app_ = std::make_unique<gateway::App>(std::move(*cfg));
  if (auto err = app_->start()) {
    ADD_FAILURE() << "start: " << *err;
    return false;
  }
  return true;
}

std::uint16_t Gateway::port(const std::string& listener) const {
  for (const auto& b : app_->listeners()) {
    if (b.name == listener) return b.endpoint.port();
  }
  ADD_FAILURE() << "no listener " << listener;
  return 0;
}

std::vector<std::string> Gateway::lines() const { return capture_->snapshot(); }

std::vector<json::object> Gateway::records() const {
  std::vector<json::object> out;
  for (const auto& line : capture_->snapshot()) {
    boost::system::error_code ec;
    auto v = json::parse(line, ec);
    if (ec || !v.is_object()) continue;
    const auto& o = v.as_object();
    if (auto* e = o.if_contains("event"); e && e->is_string() && e->as_string() == "connection") {
      out.push_back(o);
    }
  }
  return out;
}

std::optional<json::object> Gateway::wait_record(std::uint16_t client_port, Millis timeout) const {
  std::optional<json::object> found;
  eventually(
      [&] {
        for (auto& r : records()) {
          if (num(r, "src_port") == client_port) {
            found = r;
            return true;
          }
        }
        return false;
      },
      timeout);
  if (!found) ADD_FAILURE() << "no audit record for client port " << client_port;
  return found;
}

double Gateway::metric(const std::string& name, const std::map<std::string, std::string>& labels) {
  double total = 0;
  for (const auto& family : app_->metrics().registry()->Collect()) {
    if (family.name != name) continue;
    for (const auto& m : family.metric) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        bool found = false;
        for (const auto& l : m.label) found = found || (l.name == k && l.value == v);
        match = match && found;
      }
      if (!match) continue;
      switch (family.type) {
        case prometheus::MetricType::Counter: total += m.counter.value; break;
        case prometheus::MetricType::Gauge: total += m.gauge.value; break;
        default: total += m.untyped.value; break;
      }
    }
  }
  return total;
}

std::string Gateway::scrape() {
  auto ep = app_->metrics_endpoint();
  if (!ep) {
    ADD_FAILURE() << "metrics endpoint not enabled";
    return {};
  }
  auto c = Client::connect(ep->port());
  if (!c) return {};
  c->send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  auto d = c->drain(10s);
  return std::string(d.bytes.begin(), d.bytes.end());
}

std::unique_ptr<Client> Client::send_flight(std::uint16_t port, const Bytes& flight) {
  auto c = connect(port);
  EXPECT_TRUE(c);
  if (!c) return c;
  EXPECT_TRUE(c->send(flight));
  EXPECT_EQ(c->recv_exact(19).size(), 19u);
  return c;
}

json::object Gateway::expect_record(
    std::uint16_t client_port,
    std::initializer_list<std::pair<std::string_view, std::string_view>> fields) const {
  auto r = wait_record(client_port);
  EXPECT_TRUE(r) << "no audit record for client port " << client_port;
  if (!r) return {};
  for (const auto& [name, expected] : fields) {
    EXPECT_EQ(str(*r, name), expected) << name << " in " << json::serialize(*r);
  }
  return *r;
}

std::string str(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::int64_t num(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (v == nullptr) return -1;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->as_double());
  return -1;
}

bool eventually(const std::function<bool()>& pred, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

}  // namespace rdpgate::itest
