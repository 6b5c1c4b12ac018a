#pragma once
// An AdminServer on 127.0.0.1:0 served by a thread of its own, and helpers to talk to it.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "fake_service.hpp"
#include "rdpgate/admin/client.hpp"
#include "rdpgate/admin/server.hpp"

namespace rdpgate::admin::testing {

inline constexpr std::string_view test_token = "t0ken-with-enough-entropy-42";

class RunningServer {
 public:
  explicit RunningServer(std::string token = std::string{test_token},
                         AdminServerLimits limits = {})
      : server_(io_,
                boost::asio::ip::tcp::endpoint{boost::asio::ip::make_address("127.0.0.1"), 0},
                std::move(token), service_, limits) {
    server_.start();
    thread_ = std::thread{[this] { io_.run(); }};
  }
  ~RunningServer() {
    server_.stop();
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;

  FakeService& service() { return service_; }
  AdminServer& server() { return server_; }
  [[nodiscard]] unsigned short port() const { return server_.local_endpoint().port(); }
  [[nodiscard]] HostPort address() const { return {"127.0.0.1", std::to_string(port())}; }

  ClientResult call(boost::beast::http::verb method, std::string target,
                    std::optional<std::string> token = std::string{test_token},
                    std::optional<std::string> body = std::nullopt) {
    return call_admin_api(address(), {method, std::move(target), std::move(token), std::move(body)},
                          std::chrono::seconds{5});
  }

 private:
  FakeService service_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{
      io_.get_executor()};
  AdminServer server_;
  std::thread thread_;
};

inline boost::json::value body_json(const ClientResult& result) {
  return boost::json::parse(result.response.body());
}

}  // namespace rdpgate::admin::testing
