#pragma once
// The admin API's HTTP/1.1 server (SPEC §6): Boost.Beast, one coroutine per connection on its
// own strand, keep-alive, bounded requests and a deadline on every read and write.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "rdpgate/admin/service.hpp"

namespace rdpgate::admin {

struct AdminServerLimits {
  std::size_t max_body = 64 * 1024;   // larger request bodies get 413 and the connection closes
  std::size_t max_header = 8 * 1024;  // request line + headers; larger gets 431
  std::chrono::milliseconds read_timeout{10'000};   // one whole request, also idle keep-alive
  std::chrono::milliseconds write_timeout{10'000};  // one whole response
  std::size_t max_connections = 64;  // more concurrent connections are closed at once
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
