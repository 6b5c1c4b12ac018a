// The admin API over real loopback HTTP: status codes, JSON shapes, authorization, limits.

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "test_server.hpp"

namespace rdpgate::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using testing::RunningServer;
using testing::body_json;
using testing::test_token;

// Writes `bytes` (unless empty), then reads until the server closes or `limit` passes.
struct RawResult {
  std::string received;
  bool closed_by_server = false;
};
RawResult raw_exchange(unsigned short port, const std::string& bytes,
                       std::chrono::milliseconds limit = std::chrono::seconds{5}) {
  asio::io_context io;
  beast::tcp_stream stream{io};
  RawResult result;
  std::array<char, 4096> chunk{};
  std::function<void()> read_more = [&] {
    stream.async_read_some(asio::buffer(chunk), [&](beast::error_code ec, std::size_t n) {
      result.received.append(chunk.data(), n);
      if (ec == asio::error::eof || ec == asio::error::connection_reset) {
        result.closed_by_server = true;
      }
      if (!ec) read_more();
    });
  };
  stream.expires_after(limit);
  stream.async_connect(asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), port},
                       [&](beast::error_code ec) {
                         if (ec) return;
                         if (bytes.empty()) return read_more();
                         asio::async_write(stream, asio::buffer(bytes),
                                           [&](beast::error_code, std::size_t) { read_more(); });
                       });
  io.run();
  return result;
}

std::string get_request(std::string_view target, std::string_view connection) {
  return "GET " + std::string{target} + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
         std::string{test_token} + "\r\nConnection: " + std::string{connection} + "\r\n\r\n";
}

std::size_t count(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

struct Endpoint {
  http::verb method;
  std::string target;
  std::optional<std::string> body;
};

// Every /v1 endpoint, with bodies and keys that would succeed with the right token.
std::vector<Endpoint> every_v1_endpoint() {
  return {
      {http::verb::get, "/v1/sessions", {}},
      {http::verb::delete_, "/v1/sessions/s-1", {}},
      {http::verb::get, "/v1/bans", {}},
      {http::verb::post, "/v1/bans", R"({"cidr":"203.0.113.7/32","duration":"1h"})"},
      {http::verb::delete_, "/v1/bans/192.0.2.66_32", {}},
      {http::verb::get, "/v1/grants", {}},
      {http::verb::post, "/v1/grants",
       R"({"cidr":"203.0.113.7","route":"finance","duration":"2h"})"},
      {http::verb::delete_, "/v1/grants/g-1", {}},
      {http::verb::post, "/v1/reload", {}},
      {http::verb::get, "/v1/nonexistent", {}},
      {http::verb::get, "/v1", {}},
  };
}

void expect_unauthorized(const ClientResult& result, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_FALSE(result.error) << result.error.message();
  EXPECT_EQ(result.response.result(), http::status::unauthorized);
  EXPECT_EQ(result.response[http::field::www_authenticate], "Bearer");
  EXPECT_EQ(body_json(result), json::parse(R"({"error":"unauthorized"})"));
  EXPECT_EQ(result.response.body().find(test_token), std::string::npos);
}

TEST(AdminServer, HealthzNeedsNoToken) {
  RunningServer server;
  const auto result = server.call(http::verb::get, "/healthz", std::nullopt);
  ASSERT_FALSE(result.error) << result.error.message();
  EXPECT_EQ(result.response.result(), http::status::ok);
  EXPECT_EQ(result.response[http::field::content_type], "application/json");
  EXPECT_EQ(body_json(result), json::parse(R"({"status":"ok","state":{"persistent":true,)"
                                           R"("errors":0,"last_error":"","last_error_at":null}})"));
  EXPECT_EQ(server.call(http::verb::post, "/healthz", std::nullopt).response.result(),
            http::status::method_not_allowed);
}

TEST(AdminServer, HealthzReportsStateFailuresAsDegradedButStaysUp) {
  RunningServer server;
  HealthView failing;
  failing.state_failures = 3;
  failing.state_last_error = "state \"/x/rdpgate.db\": write: disk I/O error";
  failing.state_last_failure = std::chrono::system_clock::now();
  server.service().set_health(failing);
  auto result = server.call(http::verb::get, "/healthz", std::nullopt);
  ASSERT_FALSE(result.error) << result.error.message();
  EXPECT_EQ(result.response.result(), http::status::ok);  // still relaying: not a dead process
  auto body = body_json(result).as_object();
  EXPECT_EQ(body.at("status").as_string(), "degraded");
  EXPECT_EQ(body.at("state").at("errors").to_number<int>(), 3);
  EXPECT_EQ(body.at("state").at("last_error").as_string(), failing.state_last_error);

  // An old failure no longer degrades; memory-only state always does.
  failing.state_last_failure = std::chrono::system_clock::now() - std::chrono::hours{1};
  server.service().set_health(failing);
  EXPECT_EQ(body_json(server.call(http::verb::get, "/healthz", std::nullopt)).at("status").as_string(),
            "ok");
  HealthView memory_only;
  memory_only.state_persistent = false;
  server.service().set_health(memory_only);
  EXPECT_EQ(body_json(server.call(http::verb::get, "/healthz", std::nullopt)).at("status").as_string(),
            "degraded");
}

// A reload that re-read the token file hands the server the new token: from then on the old
// one is refused.
TEST(AdminServer, SetTokenReplacesTheBearerToken) {
  RunningServer server;
  ASSERT_EQ(server.call(http::verb::get, "/v1/bans").response.result(), http::status::ok);
  const std::string rotated = "r0tated-token-with-enough-entropy-43";
  server.server().set_token(rotated);
  EXPECT_EQ(server.call(http::verb::get, "/v1/bans").response.result(),
            http::status::unauthorized);
  EXPECT_EQ(server.call(http::verb::get, "/v1/bans", rotated).response.result(), http::status::ok);
}

TEST(AdminServer, EveryV1EndpointRefusesAMissingOrWrongTokenAndChangesNothing) {
  RunningServer server;
  const std::vector<std::optional<std::string>> bad_tokens{
      std::nullopt, "wrong", std::string{test_token} + "x", std::string{test_token}.substr(1),
      ""};
  for (const auto& endpoint : every_v1_endpoint()) {
    for (const auto& token : bad_tokens) {
      expect_unauthorized(server.call(endpoint.method, endpoint.target, token, endpoint.body),
                          endpoint.target + " token=" + token.value_or("<none>"));
    }
  }
  // Basic authentication with the right secret is still not a bearer token.
  ClientRequest basic{http::verb::get, "/v1/sessions", std::nullopt, std::nullopt};
  auto result = call_admin_api(server.address(), basic);
  expect_unauthorized(result, "no header at all");
  EXPECT_EQ(server.service().mutations(), 0);
  EXPECT_EQ(server.service().reloads(), 0);
  EXPECT_EQ(server.service().list_bans().size(), 1U);
  EXPECT_EQ(server.service().list_grants().size(), 1U);
  EXPECT_EQ(server.service().list_sessions().size(), 1U);
}

TEST(AdminServer, OtherAuthorizationSchemesAreRefused) {
  RunningServer server;
  const std::string request = "GET /v1/bans HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " +
                              std::string{test_token} + "\r\nConnection: close\r\n\r\n";
  const auto result = raw_exchange(server.port(), request);
  EXPECT_TRUE(result.received.starts_with("HTTP/1.1 401 ")) << result.received;
}

TEST(AdminServer, AnEmptyConfiguredTokenRefusesEverything) {
  RunningServer server{""};
  for (const auto& endpoint : every_v1_endpoint()) {
    for (const auto& token : {std::optional<std::string>{},
                                                   std::optional<std::string>{""},
                                                   std::optional<std::string>{"anything"}}) {
      expect_unauthorized(server.call(endpoint.method, endpoint.target, token, endpoint.body),
                          endpoint.target);
    }
  }
  EXPECT_EQ(server.service().mutations(), 0);
  EXPECT_EQ(server.service().reloads(), 0);
  EXPECT_EQ(server.call(http::verb::get, "/healthz", std::nullopt).response.result(),
            http::status::ok);
}

TEST(AdminServer, ListsSessions) {
  RunningServer server;
  const auto result = server.call(http::verb::get, "/v1/sessions");
  ASSERT_FALSE(result.error);
  EXPECT_EQ(result.response.result(), http::status::ok);
  EXPECT_EQ(result.response[http::field::content_type], "application/json");
  EXPECT_EQ(body_json(result), json::parse(R"([{"id":"s-1","source":"198.51.100.4:50123",
      "listener":"public","route":"default","backend":"10.1.0.5:3389","user":"alice",
      "started":"2026-11-22T09:55:00Z","bytes_in":1234,"bytes_out":56789}])"));
}

TEST(AdminServer, KillsASessionOnceThen404) {
  RunningServer server;
  auto first = server.call(http::verb::delete_, "/v1/sessions/s-1");
  EXPECT_EQ(first.response.result(), http::status::ok);
  EXPECT_EQ(body_json(first), json::parse(R"({"status":"ok"})"));
  EXPECT_TRUE(server.service().list_sessions().empty());
  auto again = server.call(http::verb::delete_, "/v1/sessions/s-1");
  EXPECT_EQ(again.response.result(), http::status::not_found);
  EXPECT_EQ(body_json(again), json::parse(R"({"error":"no such session"})"));
}

TEST(AdminServer, ListsBans) {
  RunningServer server;
  const auto result = server.call(http::verb::get, "/v1/bans");
  EXPECT_EQ(result.response.result(), http::status::ok);
  EXPECT_EQ(body_json(result), json::parse(R"([{"cidr":"192.0.2.66/32",
      "until":"2026-11-22T10:15:00Z","reason":"5 failures","origin":"auto"}])"));
}

TEST(AdminServer, AddsABanWith201AndTheCanonicalCidr) {
  RunningServer server;
  const auto result = server.call(http::verb::post, "/v1/bans", std::string{test_token},
                                  R"({"cidr":"203.0.113.7","duration":"2h","reason":"spray"})");
  EXPECT_EQ(result.response.result(), http::status::created);
  EXPECT_EQ(body_json(result), json::parse(R"({"cidr":"203.0.113.7/32",
      "until":"2026-11-22T12:00:00Z","reason":"spray","origin":"manual"})"));
  EXPECT_EQ(server.service().list_bans().size(), 2U);
}

TEST(AdminServer, ABanWithoutDurationLastsOneHourAndWithoutReasonHasAnEmptyOne) {
  RunningServer server;
  const auto result = server.call(http::verb::post, "/v1/bans", std::string{test_token},
                                  R"({"cidr":"2001:db8::/32"})");
  EXPECT_EQ(result.response.result(), http::status::created);
  EXPECT_EQ(body_json(result), json::parse(R"({"cidr":"2001:db8::/32",
      "until":"2026-11-22T11:00:00Z","reason":"","origin":"manual"})"));
}

TEST(AdminServer, RemovesABanWrittenWithUnderscoreOrPercentEncoded) {
  RunningServer server;
  ASSERT_EQ(server.call(http::verb::post, "/v1/bans", std::string{test_token},
                        R"({"cidr":"2001:db8::/32","duration":"1h"})")
                .response.result(),
            http::status::created);
  ASSERT_EQ(server.call(http::verb::post, "/v1/bans", std::string{test_token},
                        R"({"cidr":"198.51.100.0/24","duration":"1h"})")
                .response.result(),
            http::status::created);
  EXPECT_EQ(server.call(http::verb::delete_, "/v1/bans/192.0.2.66_32").response.result(),
            http::status::ok);
  EXPECT_EQ(server.call(http::verb::delete_, "/v1/bans/2001%3Adb8%3A%3A%2F32").response.result(),
            http::status::ok);
  EXPECT_EQ(server.call(http::verb::delete_, "/v1/bans/198.51.100.0%2f24").response.result(),
            http::status::ok);
  EXPECT_TRUE(server.service().list_bans().empty());
  const auto gone = server.call(http::verb::delete_, "/v1/bans/192.0.2.66_32");
  EXPECT_EQ(gone.response.result(), http::status::not_found);
  EXPECT_EQ(body_json(gone), json::parse(R"({"error":"no such ban"})"));
}

TEST(AdminServer, RemovingABanByABadCidrIs400) {
  RunningServer server;
  const auto result = server.call(http::verb::delete_, "/v1/bans/not-a-cidr");
  EXPECT_EQ(result.response.result(), http::status::bad_request);
  EXPECT_TRUE(body_json(result).as_object().at("error").as_string().starts_with("bad cidr"));
  EXPECT_EQ(server.call(http::verb::delete_, "/v1/bans/1.2.3.4%zz").response.result(),
            http::status::bad_request);
  EXPECT_EQ(server.service().mutations(), 0);
}

TEST(AdminServer, ListsAddsAndRevokesGrants) {
  RunningServer server;
  auto list = server.call(http::verb::get, "/v1/grants");
  EXPECT_EQ(list.response.result(), http::status::ok);
  EXPECT_EQ(body_json(list), json::parse(R"([{"id":"g-1","cidr":"203.0.113.0/24",
      "route":"finance","until":"2026-11-22T11:00:00Z","reason":"ticket 1"}])"));

  auto created = server.call(http::verb::post, "/v1/grants", std::string{test_token},
                             R"({"cidr":"198.51.100.7/32","route":"finance","duration":"2h",
                                 "reason":"ticket 1234"})");
  EXPECT_EQ(created.response.result(), http::status::created);
  EXPECT_EQ(body_json(created), json::parse(R"({"id":"g-2","cidr":"198.51.100.7/32",
      "route":"finance","until":"2026-11-22T12:00:00Z","reason":"ticket 1234"})"));
  EXPECT_EQ(server.service().list_grants().size(), 2U);

  EXPECT_EQ(server.call(http::verb::delete_, "/v1/grants/g-2").response.result(), http::status::ok);
  EXPECT_EQ(server.call(http::verb::delete_, "/v1/grants/g-2").response.result(),
            http::status::not_found);
  EXPECT_EQ(server.service().list_grants().size(), 1U);
}

TEST(AdminServer, ServiceRefusalsAre400WithTheirMessage) {
  RunningServer server;
  auto grant = server.call(http::verb::post, "/v1/grants", std::string{test_token},
                           R"({"cidr":"198.51.100.7","route":"nope","duration":"2h"})");
  EXPECT_EQ(grant.response.result(), http::status::bad_request);
  EXPECT_EQ(body_json(grant), json::parse(R"({"error":"unknown route \"nope\""})"));
  auto ban = server.call(http::verb::post, "/v1/bans", std::string{test_token},
                         R"({"cidr":"0.0.0.0/0"})");
  EXPECT_EQ(ban.response.result(), http::status::bad_request);
  EXPECT_EQ(body_json(ban), json::parse(R"({"error":"refusing to ban every address"})"));
  EXPECT_EQ(server.service().mutations(), 0);
}

TEST(AdminServer, BadBodiesAre400AndChangeNothing) {
  RunningServer server;
  const std::vector<std::pair<std::string, std::string>> bans{
      {"", "body is not valid JSON"},
      {"{", "body is not valid JSON"},
      {"[]", "body must be a JSON object"},
      {R"("cidr")", "body must be a JSON object"},
      {R"({})", "missing field \"cidr\""},
      {R"({"cidr":7})", "\"cidr\" must be a string"},
      {R"({"cidr":"203.0.113.7","duration":60})", "\"duration\" must be a string"},
      {R"({"cidr":"203.0.113.7","reason":null})", "\"reason\" must be a string"},
      {R"({"cidr":"203.0.113.7","durtion":"1h"})", "unknown field \"durtion\""},
      {R"({"cidr":"203.0.113.7","duration":"0s"})", "duration must be positive"},
      {R"({"cidr":"203.0.113.7","duration":"99999d"})", "duration must be at most 3650d"},
  };
  for (const auto& [body, message] : bans) {
    const auto result = server.call(http::verb::post, "/v1/bans", std::string{test_token}, body);
    EXPECT_EQ(result.response.result(), http::status::bad_request) << body;
    EXPECT_EQ(body_json(result), json::value({{"error", message}})) << body;
  }
  for (const std::string body : {R"({"cidr":"203.0.113.7","duration":"1 hour"})",
                                 R"({"cidr":"203.0.113.7","duration":"5"})",
                                 R"({"cidr":"203.0.113.7","duration":"-1h"})"}) {
    const auto result = server.call(http::verb::post, "/v1/bans", std::string{test_token}, body);
    EXPECT_EQ(result.response.result(), http::status::bad_request) << body;
    EXPECT_TRUE(body_json(result).at("error").as_string().starts_with("bad duration")) << body;
  }
  for (const std::string body : {R"({"cidr":"203.0.113.7/24"})", R"({"cidr":"example.com"})",
                                 R"({"cidr":"10.0.0.0/33"})"}) {
    const auto result = server.call(http::verb::post, "/v1/bans", std::string{test_token}, body);
    EXPECT_EQ(result.response.result(), http::status::bad_request) << body;
    EXPECT_TRUE(body_json(result).at("error").as_string().starts_with("bad cidr")) << body;
  }
  const std::vector<std::pair<std::string, std::string>> grants{
      {R"({"cidr":"203.0.113.7","duration":"2h"})", "missing field \"route\""},
      {R"({"cidr":"203.0.113.7","route":"finance"})", "missing field \"duration\""},
      {R"({"cidr":"203.0.113.7","route":"","duration":"2h"})", "\"route\" must not be empty"},
      {R"({"cidr":"203.0.113.7","route":["finance"],"duration":"2h"})",
       "\"route\" must be a string"},
      {R"({"route":"finance","duration":"2h"})", "missing field \"cidr\""},
  };
  for (const auto& [body, message] : grants) {
    const auto result = server.call(http::verb::post, "/v1/grants", std::string{test_token}, body);
    EXPECT_EQ(result.response.result(), http::status::bad_request) << body;
    EXPECT_EQ(body_json(result), json::value({{"error", message}})) << body;
  }
  EXPECT_EQ(server.service().mutations(), 0);
  EXPECT_EQ(server.service().list_bans().size(), 1U);
  EXPECT_EQ(server.service().list_grants().size(), 1U);
}

TEST(AdminServer, ReloadSucceedsOrReports500) {
  RunningServer server;
  auto ok = server.call(http::verb::post, "/v1/reload");
  EXPECT_EQ(ok.response.result(), http::status::ok);
  EXPECT_EQ(body_json(ok), json::parse(R"({"status":"ok"})"));
  server.service().fail_reload_with("config.yaml:3:5: unknown key \"listenr\"");
  auto failed = server.call(http::verb::post, "/v1/reload");
  EXPECT_EQ(failed.response.result(), http::status::internal_server_error);
  EXPECT_EQ(body_json(failed),
            json::value({{"error", "config.yaml:3:5: unknown key \"listenr\""}}));
  EXPECT_EQ(server.service().reloads(), 2);
}

TEST(AdminServer, UnknownPathsAre404) {
  RunningServer server;
  for (const std::string target : {"/", "/metrics", "/v2/bans", "/v1", "/v1/", "/v1/ban",
                                   "/v1/bans/", "/v1/sessions/", "/v1/sessions/a/b",
                                   "/v1/bans/1/2/3", "/v1/reload/now"}) {
    const auto result = server.call(http::verb::get, target);
    EXPECT_EQ(result.response.result(), http::status::not_found) << target;
    EXPECT_EQ(body_json(result).at("error"), "not found") << target;
  }
  // Unknown paths outside /v1 need no token to be told so.
  EXPECT_EQ(server.call(http::verb::get, "/favicon.ico", std::nullopt).response.result(),
            http::status::not_found);
}

TEST(AdminServer, WrongMethodsAre405WithAllow) {
  RunningServer server;
  const std::vector<std::tuple<http::verb, std::string, std::string>> cases{
      {http::verb::post, "/v1/sessions", "GET"},
      {http::verb::delete_, "/v1/sessions", "GET"},
      {http::verb::get, "/v1/sessions/s-1", "DELETE"},
      {http::verb::put, "/v1/bans", "GET, POST"},
      {http::verb::delete_, "/v1/bans", "GET, POST"},
      {http::verb::post, "/v1/bans/192.0.2.66_32", "DELETE"},
      {http::verb::patch, "/v1/grants", "GET, POST"},
      {http::verb::get, "/v1/grants/g-1", "DELETE"},
      {http::verb::get, "/v1/reload", "POST"},
  };
  for (const auto& [method, target, allow] : cases) {
    const auto result = server.call(method, target);
    EXPECT_EQ(result.response.result(), http::status::method_not_allowed) << target;
    EXPECT_EQ(result.response[http::field::allow], allow) << target;
    EXPECT_EQ(body_json(result), json::parse(R"({"error":"method not allowed"})")) << target;
  }
  EXPECT_EQ(server.service().mutations(), 0);
  EXPECT_EQ(server.service().list_sessions().size(), 1U);
}

TEST(AdminServer, ABodyOfExactly64KiBIsAcceptedAndOneByteMoreIs413) {
  RunningServer server;
  const std::string head = R"({"cidr":"203.0.113.9","reason":")";
  const std::string tail = R"("})";
  const std::string fits = head + std::string(64 * 1024 - head.size() - tail.size(), 'x') + tail;
  ASSERT_EQ(fits.size(), 64U * 1024U);
  const auto accepted = server.call(http::verb::post, "/v1/bans", std::string{test_token}, fits);
  EXPECT_EQ(accepted.response.result(), http::status::created);

  const std::string too_big = head + std::string(64 * 1024 + 1 - head.size() - tail.size(), 'x') +
                              tail;
  const auto refused = server.call(http::verb::post, "/v1/bans", std::string{test_token}, too_big);
  ASSERT_FALSE(refused.error) << refused.error.message();
  EXPECT_EQ(refused.response.result(), http::status::payload_too_large);
  EXPECT_EQ(body_json(refused), json::parse(R"({"error":"request body too large"})"));
  EXPECT_EQ(server.service().mutations(), 1);
}

TEST(AdminServer, HugeHeadersAre431) {
  RunningServer server;
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " +
                              std::string(16 * 1024, 'p') + "\r\n\r\n";
  const auto result = raw_exchange(server.port(), request);
  EXPECT_TRUE(result.received.starts_with("HTTP/1.1 431 ")) << result.received.substr(0, 40);
  EXPECT_TRUE(result.closed_by_server);
}

TEST(AdminServer, GarbageIs400AndTheConnectionCloses) {
  RunningServer server;
  const auto result = raw_exchange(server.port(), "\x16\x03\x01\x02\x00garbage\r\n\r\n");
  EXPECT_TRUE(result.received.starts_with("HTTP/1.1 400 ")) << result.received;
  EXPECT_TRUE(result.closed_by_server);
}

TEST(AdminServer, KeepsTheConnectionAliveAcrossRequests) {
  RunningServer server;
  // Three pipelined requests on one connection; the last asks to close.
  const auto result = raw_exchange(
      server.port(), get_request("/v1/bans", "keep-alive") + get_request("/healthz", "keep-alive") +
                         get_request("/v1/grants", "close"));
  EXPECT_EQ(count(result.received, "HTTP/1.1 200 OK"), 3U) << result.received;
  EXPECT_NE(result.received.find("\"origin\":\"auto\""), std::string::npos);
  EXPECT_NE(result.received.find("\"route\":\"finance\""), std::string::npos);
  EXPECT_TRUE(result.closed_by_server);
}

TEST(AdminServer, AHeaderNotCompleteInTimeIsClosedUnanswered) {
  AdminServerLimits limits;
  limits.header_timeout = std::chrono::milliseconds{200};
  RunningServer server{std::string{test_token}, limits};
  const auto started = std::chrono::steady_clock::now();
  const auto result =
      raw_exchange(server.port(), "GET /healthz HTTP/1.1\r\nHost:", std::chrono::seconds{5});
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(result.closed_by_server);
  EXPECT_TRUE(result.received.empty()) << result.received;
  EXPECT_LT(elapsed, std::chrono::seconds{3});
  // A connection that sends nothing at all is closed the same way.
  const auto silent = raw_exchange(server.port(), "", std::chrono::seconds{5});
  EXPECT_TRUE(silent.closed_by_server);
}

TEST(AdminServer, AnIdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  AdminServerLimits limits;
  limits.idle_timeout = std::chrono::milliseconds{300};
  RunningServer server{std::string{test_token}, limits};
  const auto started = std::chrono::steady_clock::now();
  const auto result =
      raw_exchange(server.port(), get_request("/healthz", "keep-alive"), std::chrono::seconds{5});
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(count(result.received, "HTTP/1.1 200 OK"), 1U) << result.received;
  EXPECT_TRUE(result.closed_by_server);
  EXPECT_GE(elapsed, std::chrono::milliseconds{250});
  EXPECT_LT(elapsed, std::chrono::seconds{3});
}

TEST(AdminServer, StopClosesOpenConnectionsAndTheListener) {
  RunningServer server;
  asio::io_context io;
  beast::tcp_stream stream{io};
  stream.connect(asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), server.port()});
  const std::string request = get_request("/healthz", "keep-alive");
  asio::write(stream.socket(), asio::buffer(request));
  // Wait for the answer so the connection is known to be served before stopping.
  std::string received;
  std::array<char, 1024> chunk{};
  bool closed = false;
  std::function<void()> read_more = [&] {
    stream.async_read_some(asio::buffer(chunk), [&](beast::error_code ec, std::size_t n) {
      received.append(chunk.data(), n);
      if (received.find("\r\n\r\n") != std::string::npos && received.find("\"ok\"") !=
                                                                 std::string::npos &&
          !closed && !ec) {
        server.server().stop();
      }
      if (ec) {
        closed = true;
        return;
      }
      read_more();
    });
  };
  stream.expires_after(std::chrono::seconds{5});
  read_more();
  io.run();
  EXPECT_TRUE(closed);
  EXPECT_NE(received.find("HTTP/1.1 200 OK"), std::string::npos);
  // The listener is gone: a new connection is refused (or closed at once).
  const auto after = server.call(http::verb::get, "/healthz", std::nullopt);
  EXPECT_TRUE(after.error);
}

// Opens a connection, sends `bytes` (unless empty) and keeps it open.
std::unique_ptr<asio::ip::tcp::socket> hold(asio::io_context& io, unsigned short port,
                                            const std::string& bytes) {
  auto socket = std::make_unique<asio::ip::tcp::socket>(io);
  socket->connect(asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), port});
  if (!bytes.empty()) asio::write(*socket, asio::buffer(bytes));
  return socket;
}

// True once the server closed `socket` (EOF or reset) within `limit`.
bool closed_within(asio::ip::tcp::socket& socket, std::chrono::milliseconds limit) {
  beast::tcp_stream stream{std::move(socket)};
  stream.expires_after(limit);
  std::array<char, 512> chunk{};
  bool closed = false;
  std::function<void()> read_more = [&] {
    stream.async_read_some(asio::buffer(chunk), [&](beast::error_code ec, std::size_t) {
      if (ec == asio::error::eof || ec == asio::error::connection_reset) closed = true;
      if (!ec) read_more();
    });
  };
  read_more();
  auto& io = static_cast<asio::io_context&>(stream.get_executor().context());
  io.restart();
  io.run();
  return closed;
}

// Sends `requests` on a new connection, waits for `answers` 200s and keeps it open.
std::unique_ptr<asio::ip::tcp::socket> hold_answered(asio::io_context& io, unsigned short port,
                                                     const std::string& requests,
                                                     std::size_t answers) {
  auto socket = hold(io, port, requests);
  std::array<char, 4096> chunk{};
  std::string received;
  while (count(received, "HTTP/1.1 200 OK") < answers) {
    received.append(chunk.data(), socket->read_some(asio::buffer(chunk)));
  }
  return socket;
}

TEST(AdminServer, AFullServerClosesItsOldestIdleConnectionForANewOne) {
  AdminServerLimits limits;
  limits.max_connections = 3;
  RunningServer server{std::string{test_token}, limits};
  asio::io_context io;
  // Three idle connections take every slot: one silent, one with half a header, one that made
  // an authorized request and stays open.
  auto silent = hold(io, server.port(), "");
  std::this_thread::sleep_for(std::chrono::milliseconds{50});
  auto partial = hold(io, server.port(), "GET /v1/bans HTTP/1.1\r\nHost:");
  std::this_thread::sleep_for(std::chrono::milliseconds{50});
  auto authorized = hold_answered(io, server.port(), get_request("/v1/bans", "keep-alive"), 1);
  // New kept-alive authorized calls are served, each closing the oldest idle connection that
  // never made an authorized request: the silent one, then the partial header...
  auto second = hold_answered(io, server.port(), get_request("/v1/sessions", "keep-alive"), 1);
  EXPECT_TRUE(closed_within(*silent, std::chrono::seconds{2}));
  auto third = hold_answered(io, server.port(), get_request("/v1/sessions", "keep-alive"), 1);
  EXPECT_TRUE(closed_within(*partial, std::chrono::seconds{2}));
  // ...then, all of them idle after an authorized request, the oldest of those.
  const auto call = server.call(http::verb::get, "/v1/sessions");
  ASSERT_FALSE(call.error) << call.error.message();
  EXPECT_EQ(call.response.result(), http::status::ok);
  EXPECT_TRUE(closed_within(*authorized, std::chrono::seconds{2}));
}

TEST(AdminServer, ConnectionsServingAuthorizedRequestsAreNeverClosedForRoom) {
  AdminServerLimits limits;
  limits.max_connections = 2;
  RunningServer server{std::string{test_token}, limits};
  asio::io_context io;
  // Two authorized requests whose bodies are still arriving.
  const std::string head = "POST /v1/bans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                           std::string{test_token} +
                           "\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{";
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> held;
  for (int i = 0; i < 2; ++i) held.push_back(hold(io, server.port(), head));
  std::this_thread::sleep_for(std::chrono::milliseconds{100});
  // No slot can be freed: the new connection is closed at once, unanswered.
  const auto third = raw_exchange(server.port(), get_request("/healthz", "close"));
  EXPECT_TRUE(third.closed_by_server);
  EXPECT_TRUE(third.received.empty()) << third.received;
  held.clear();
  // Once those close, new connections are served again (the server notices asynchronously).
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    served = server.call(http::verb::get, "/healthz", std::nullopt).response.result() ==
             http::status::ok;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  EXPECT_TRUE(served);
}

TEST(AdminServer, UnauthorizedRequestsStillArrivingGiveWay) {
  AdminServerLimits limits;
  limits.max_connections = 2;
  RunningServer server{std::string{test_token}, limits};
  asio::io_context io;
  // Two requests with a wrong token, bodies still arriving: idle as far as room goes.
  const std::string head =
      "POST /v1/bans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n"
      "Content-Length: 40\r\n\r\n{";
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> held;
  for (int i = 0; i < 2; ++i) held.push_back(hold(io, server.port(), head));
  std::this_thread::sleep_for(std::chrono::milliseconds{100});
  const auto call = server.call(http::verb::get, "/v1/sessions");
  ASSERT_FALSE(call.error) << call.error.message();
  EXPECT_EQ(call.response.result(), http::status::ok);
  EXPECT_TRUE(closed_within(*held.front(), std::chrono::seconds{2}));
}

}  // namespace
}  // namespace rdpgate::admin
