#pragma once
// The portal's HTTPS server: Boost.Beast over OpenSSL, on its own thread and io_context (an
// Argon2id check takes tens of milliseconds and must not hold up the control thread). One
// coroutine per connection; a deadline on the handshake, every read and every write; bounded
// requests; at most max_connections open (a new one beyond that is closed at once).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "rdpgate/portal/portal.hpp"

namespace rdpgate::portal {

struct PortalServerLimits {
  std::size_t max_body = 16 * 1024;
  std::size_t max_header = 8 * 1024;
  std::chrono::milliseconds handshake_timeout{5'000};
  std::chrono::milliseconds request_timeout{10'000};  // a whole request, header and body
  std::chrono::milliseconds idle_timeout{15'000};     // a kept-alive connection between requests
  std::chrono::milliseconds write_timeout{10'000};
  std::size_t max_connections = 256;
};

// A TLS server context from PEM files: TLS 1.2 or newer. The key file is a secret (it must be
// readable by its owner only, security/secret_file.hpp). Returns the error, naming the file.
[[nodiscard]] std::variant<std::shared_ptr<boost::asio::ssl::context>, std::string>
make_tls_context(const std::string& cert_file, const std::string& key_file);

class PortalServer {
 public:
  // Binds at once (throws boost::system::system_error on failure); port 0 picks a free port.
  PortalServer(const boost::asio::ip::tcp::endpoint& endpoint,
               std::shared_ptr<boost::asio::ssl::context> tls, Portal& portal,
               PortalServerLimits limits = {});
  ~PortalServer();  // stops and joins the thread
  PortalServer(const PortalServer&) = delete;
  PortalServer& operator=(const PortalServer&) = delete;

  void start();  // starts the thread
  void stop();   // closes the listener and every connection, joins the thread
  [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const { return local_; }

  struct State;  // implementation detail, defined in server.cpp

 private:
  // INVARIANT: io_ before state_. The connections' coroutines, queued in io_, hold state_; the
  // io_context destroys them when it goes, last, so nothing keeps State alive after it.
  std::unique_ptr<boost::asio::io_context> io_;
  std::shared_ptr<State> state_;
  boost::asio::ip::tcp::endpoint local_;
  std::thread thread_;
};

}  // namespace rdpgate::portal
