// The request handler without a network: authorization, RFC 3339 times, JSON shapes.

#include "rdpgate/admin/handler.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "fake_service.hpp"
#include "rdpgate/admin/client.hpp"
#include "rdpgate/admin/json.hpp"

namespace rdpgate::admin {
namespace {

namespace http = boost::beast::http;
using testing::fixed_now;

TEST(BearerToken, MatchesOnlyTheExactToken) {
  EXPECT_TRUE(bearer_token_matches("Bearer abc123", "abc123"));
  EXPECT_TRUE(bearer_token_matches("bearer abc123", "abc123"));  // the scheme is case-insensitive
  EXPECT_TRUE(bearer_token_matches("Bearer   abc123  ", "abc123"));
  EXPECT_FALSE(bearer_token_matches("Bearer abc12", "abc123"));
  EXPECT_FALSE(bearer_token_matches("Bearer abc1234", "abc123"));
  EXPECT_FALSE(bearer_token_matches("Bearer ABC123", "abc123"));  // the token is not
  EXPECT_FALSE(bearer_token_matches("Basic abc123", "abc123"));
  EXPECT_FALSE(bearer_token_matches("Bearerabc123", "abc123"));
  EXPECT_FALSE(bearer_token_matches("abc123", "abc123"));
  EXPECT_FALSE(bearer_token_matches("", "abc123"));
  EXPECT_FALSE(bearer_token_matches("Bearer ", "abc123"));
}

TEST(BearerToken, AnEmptyConfiguredTokenNeverMatches) {
  EXPECT_FALSE(bearer_token_matches("Bearer ", ""));
  EXPECT_FALSE(bearer_token_matches("Bearer x", ""));
  EXPECT_FALSE(bearer_token_matches("", ""));
}

TEST(Rfc3339, FormatsUtcWholeSeconds) {
  using namespace std::chrono;
  EXPECT_EQ(format_rfc3339(fixed_now()), "2026-11-22T10:00:00Z");
  EXPECT_EQ(format_rfc3339(fixed_now() + hours{14} + minutes{3} + seconds{9} + milliseconds{999}),
            "2026-11-23T00:03:09Z");
  EXPECT_EQ(format_rfc3339(system_clock::time_point{}), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(sys_days{year{2024} / February / 29} + hours{23} + minutes{59}),
            "2024-02-29T23:59:00Z");
}

TEST(JsonShapes, AreExactlyTheContractsFields) {
  const SessionView session{"s",   "198.51.100.4:1", "public", "r", "10.0.0.1:3389",
                            "bob", fixed_now(),      7,        8};
  EXPECT_EQ(to_json(session),
            boost::json::parse(R"({"id":"s","source":"198.51.100.4:1","listener":"public",
              "route":"r","backend":"10.0.0.1:3389","user":"bob",
              "started":"2026-11-22T10:00:00Z","bytes_in":7,"bytes_out":8})"));
  const BanView ban{"192.0.2.0/24", fixed_now(), "why", "manual"};
  EXPECT_EQ(to_json(ban), boost::json::parse(R"({"cidr":"192.0.2.0/24",
              "until":"2026-11-22T10:00:00Z","reason":"why","origin":"manual"})"));
  BanView observed{"192.0.2.7/32", fixed_now(), "5 failures", "auto"};
  observed.observed = true;  // computed in observe mode: the one extra field
  EXPECT_EQ(to_json(observed), boost::json::parse(R"({"cidr":"192.0.2.7/32",
              "until":"2026-11-22T10:00:00Z","reason":"5 failures","origin":"auto",
              "observed":true})"));
  const GrantView grant{"g", "192.0.2.0/24", "finance", fixed_now(), "t"};
  EXPECT_EQ(to_json(grant), boost::json::parse(R"({"id":"g","cidr":"192.0.2.0/24",
              "route":"finance","until":"2026-11-22T10:00:00Z","reason":"t"})"));
}

Request make_request(http::verb method, std::string target, std::string token,
                     std::string body = {}) {
  Request request{method, target, 11};
  if (!token.empty()) request.set(http::field::authorization, "Bearer " + token);
  request.body() = std::move(body);
  request.prepare_payload();
  return request;
}

TEST(Handler, AThrowingServiceIsA500AndNotACrash) {
  class Broken final : public AdminService {
   public:
    std::vector<SessionView> list_sessions() override { throw std::runtime_error{"boom"}; }
    bool kill_session(std::string_view) override { return false; }
    std::vector<BanView> list_bans() override { return {}; }
    std::variant<BanView, std::string> add_ban(std::string_view, config::Duration,
                                               std::string_view) override {
      return std::string{"no"};
    }
    bool remove_ban(std::string_view) override { return false; }
    std::vector<GrantView> list_grants() override { return {}; }
    std::variant<GrantView, std::string> add_grant(std::string_view, std::string_view,
                                                   config::Duration, std::string_view) override {
      return std::string{"no"};
    }
    bool revoke_grant(std::string_view) override { return false; }
    std::optional<std::string> reload() override { return std::nullopt; }
  } broken;
  const auto response =
      handle_request(make_request(http::verb::get, "/v1/sessions", "k"), "k", broken);
  EXPECT_EQ(response.result(), http::status::internal_server_error);
  EXPECT_EQ(boost::json::parse(response.body()),
            boost::json::parse(R"({"error":"internal error"})"));
  EXPECT_EQ(response.body().find("boom"), std::string::npos);
}

TEST(Handler, IgnoresTheQueryString) {
  testing::FakeService service;
  const auto response =
      handle_request(make_request(http::verb::get, "/v1/bans?x=1", "k"), "k", service);
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(boost::json::parse(response.body()).as_array().size(), 1U);
}

TEST(Handler, AnswersInTheRequestsHttpVersion) {
  testing::FakeService service;
  Request request{http::verb::get, "/healthz", 10};
  EXPECT_EQ(handle_request(request, "k", service).version(), 10U);
}

TEST(HostPort, ParsesV4V6AndNames) {
  auto a = parse_host_port("127.0.0.1:9488");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, "9488");
  auto b = parse_host_port("[::1]:1");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_TRUE(parse_host_port("localhost:80"));
  EXPECT_FALSE(parse_host_port("127.0.0.1"));
  EXPECT_FALSE(parse_host_port("127.0.0.1:"));
  EXPECT_FALSE(parse_host_port("127.0.0.1:0"));
  EXPECT_FALSE(parse_host_port("127.0.0.1:65536"));
  EXPECT_FALSE(parse_host_port(":80"));
  EXPECT_FALSE(parse_host_port("::1:80"));
}

TEST(PercentEncode, KeepsUnreservedOnly) {
  EXPECT_EQ(percent_encode_segment("203.0.113.7_32"), "203.0.113.7_32");
  EXPECT_EQ(percent_encode_segment("2001:db8::_32"), "2001%3Adb8%3A%3A_32");
  EXPECT_EQ(percent_encode_segment("a/b c"), "a%2Fb%20c");
}

}  // namespace
}  // namespace rdpgate::admin
