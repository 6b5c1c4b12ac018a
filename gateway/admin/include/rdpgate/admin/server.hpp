#pragma once
// The admin API's HTTP/1.1 server (SPEC §6): Boost.Beast, one coroutine per connection on its
// own strand, keep-alive, bounded requests, a deadline on every read and write, and a bounded
// number of connections of which idle ones give way to new ones.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "rdpgate/admin/service.hpp"

namespace rdpgate::admin {

// Every connection is either serving an authorized request (a /v1 request whose bearer token
// matched, from its header until its response is written) or idle: waiting for a request,
// reading one that is not authorized (yet), or answering one that was not. Idle connections
// time out quickly and give way to new ones, so connections that never authenticate cannot
// starve an authorized call (docs/faults.md "Idle admin connections").
struct AdminServerLimits {
  std::size_t max_body = 64 * 1024;   // larger request bodies get 413 and the connection closes
  std::size_t max_header = 8 * 1024;  // request line + headers; larger gets 431
  // A new connection must deliver a complete request header within this time of its accept; a
  // kept-alive one within this time of the request's first byte. Else it is closed unanswered.
  std::chrono::milliseconds header_timeout{3'000};
  // A kept-alive connection that starts no new request for this long after a response closes.
  std::chrono::milliseconds idle_timeout{5'000};
  std::chrono::milliseconds read_timeout{10'000};   // the body, once the header is in
  std::chrono::milliseconds write_timeout{10'000};  // one whole response
  // Open connections at most. When all are open, a new connection closes the oldest idle one,
  // preferring one that never made an authorized request; when every one is serving an
  // authorized request, the new connection is closed at once.
  std::size_t max_connections = 64;
};

class AdminServer {
 public:
  // Binds at once (throws boost::system::system_error on failure), so local_endpoint() is
  // valid right after construction; port 0 picks a free port. An empty `bearer_token` refuses
  // every /v1 request with 401. `service` must outlive the io_context's handlers.
  AdminServer(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& endpoint,
              std::string bearer_token, AdminService& service, AdminServerLimits limits = {});
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Starts accepting; connections are served by whoever runs the io_context.
  void start();
  // Replaces the bearer token (a reload re-read it); requests read after the call need the
  // new one. Safe from any thread.
  void set_token(std::string bearer_token);
  // Closes the listening socket and every open admin connection. Safe from any thread;
  // takes effect once the io_context runs the posted work.
  void stop();
  [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const;

  struct State;  // implementation detail, defined in server.cpp

 private:
  std::shared_ptr<State> state_;  // shared with the coroutines, so they may outlive *this
  boost::asio::ip::tcp::endpoint local_;
};

}  // namespace rdpgate::admin
