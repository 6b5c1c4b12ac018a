// The portal's request handler against an in-memory PortalService: sign-in (password, TOTP,
// CSRF, bans, throttles), cookies and headers, sessions, grants and the .rdp file.
#include "rdpgate/portal/portal.hpp"

#include <gtest/gtest.h>

#include "../common/addresses.hpp"
#include "rdpgate/portal/totp.hpp"

namespace rdpgate::portal {
namespace {

namespace http = boost::beast::http;
using test::ip;
using test::t0;

class FakeService final : public PortalService {
 public:
  std::set<std::string> banned_sources;
  std::vector<std::string> failures;  // "source user"
  std::vector<SigninResult> results;
  std::vector<security::Grant> granted;
  std::string token = "rdpgate1.k.r.x.j.-.sig";

  bool banned(const config::IpAddress& source, TimePoint) override {
    return banned_sources.contains(source.to_string());
  }
  bool user_blocked(std::string_view user, TimePoint) override { return user == "blocked"; }
  void signin_failed(const config::IpAddress& source, std::string_view user, TimePoint) override {
    failures.push_back(source.to_string() + " " + std::string(user));
  }
  void signin(SigninResult result, std::string_view, const config::IpAddress&) override {
    results.push_back(result);
  }
  bool route_exists(std::string_view route) override { return route != "gone"; }
  std::variant<security::Grant, std::string> add_grant(const config::Cidr& cidr,
                                                       const std::string& route,
                                                       config::Duration duration,
                                                       const std::string& reason,
                                                       std::string_view) override {
    security::Grant g{"g" + std::to_string(granted.size()), cidr, route, t0 + duration, reason,
                      t0};
    granted.push_back(g);
    return g;
  }
  std::vector<security::Grant> grants(TimePoint) override { return granted; }
  bool end_grant(std::string_view id, std::string_view) override {
    return std::erase_if(granted, [&](const auto& g) { return g.id == id; }) > 0;
  }
  SignedToken routing_token(const std::string&, const config::Cidr&, TimePoint) override {
    return {token, ""};
  }
};

class PortalTest : public ::testing::Test {
 protected:
  PortalTest() {
    settings.public_address = {"rdp.example.com:13389", "rdp.example.com", 13389};
    settings.trusted_proxies = test::cidrs({"10.0.0.1/32"});
    user.name = "alice";
    user.routes = {"finance", "dev", "gone"};
    user.totp_secret = new_totp_secret();
    user.password_hash = hash_password("s3cret-pass");
    portal = std::make_unique<Portal>(settings, std::make_shared<const Users>(Users{user}),
                                      service);
  }

  Response send(http::verb method, std::string target, std::string body = {},
                std::string cookies = {}, std::string source = "192.0.2.7",
                TimePoint now = t0, std::string forwarded = {}) {
    Request request{method, target, 11};
    if (!cookies.empty()) request.set(http::field::cookie, cookies);
    if (!forwarded.empty()) request.set("X-Forwarded-For", forwarded);
    request.set(http::field::content_type, "application/x-www-form-urlencoded");
    request.body() = std::move(body);
    request.prepare_payload();
    return portal->handle(request, ip(source), now);
  }

  // The sign-in form's CSRF token and its cookie, from GET /.
  std::pair<std::string, std::string> signin_form(std::string source = "192.0.2.7") {
    const auto page = send(http::verb::get, "/", {}, {}, source);
    const auto cookie = std::string(page[http::field::set_cookie]);
    const auto value = cookie.substr(cookie.find('=') + 1, 64);
    return {value, std::string(signin_cookie) + "=" + value};
  }

  Response sign_in(std::string password, std::string code, std::string source = "192.0.2.7",
                   TimePoint now = t0, bool with_csrf = true, std::string forwarded = {}) {
    auto [csrf, cookie] = signin_form(source);
    std::string body = "username=alice&password=" + password + "&otp=" + code;
    if (with_csrf) body += "&csrf=" + csrf;
    return send(http::verb::post, "/signin", body, cookie, source, now, forwarded);
  }

  // Signs in and returns the session cookie and the page's CSRF token.
  std::pair<std::string, std::string> session() {
    const auto r = sign_in("s3cret-pass", totp(user.totp_secret, t0));
    EXPECT_EQ(r.result(), http::status::see_other);
    std::string cookie;
    for (const auto& f : r.base()) {
      if (f.name() != http::field::set_cookie) continue;
      const std::string v(f.value());
      if (v.starts_with(session_cookie)) cookie = v.substr(0, v.find(';'));
    }
    const auto page = send(http::verb::get, "/routes", {}, cookie);
    const std::string& html = page.body();
    const auto at = html.find("name=\"csrf\" value=\"") + 19;
    return {cookie, html.substr(at, 64)};
  }

  config::PortalConfig settings;
  User user;
  FakeService service;
  std::unique_ptr<Portal> portal;
};

TEST_F(PortalTest, SigninPageHasFieldsHeadersAndCookie) {
  const auto r = send(http::verb::get, "/");
  EXPECT_EQ(r.result(), http::status::ok);
  for (const auto* name : {"name=\"username\"", "name=\"password\"", "name=\"otp\"", "csrf"}) {
    EXPECT_NE(r.body().find(name), std::string::npos) << name;
  }
  EXPECT_EQ(r["Content-Security-Policy"],
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'");
  EXPECT_EQ(r.body().find("<script"), std::string::npos);
  const std::string cookie(r[http::field::set_cookie]);
  EXPECT_NE(cookie.find("; Secure; HttpOnly; SameSite=Strict"), std::string::npos) << cookie;
}

TEST_F(PortalTest, SigninTokenKeptAcrossPagesAndUnknownPagesAre404) {
  auto [csrf, cookie] = signin_form();
  const auto again = send(http::verb::get, "/", {}, cookie);
  EXPECT_NE(again.body().find(csrf), std::string::npos);  // the same token: both forms work
  EXPECT_EQ(send(http::verb::get, "/favicon.ico", {}, cookie).result(), http::status::not_found);
}

TEST_F(PortalTest, GoodSigninSetsSessionCookie) {
  const auto r = sign_in("s3cret-pass", totp(user.totp_secret, t0));
  EXPECT_EQ(r.result(), http::status::see_other);
  EXPECT_EQ(r[http::field::location], "/routes");
  EXPECT_EQ(service.results, std::vector<SigninResult>{SigninResult::success});
  EXPECT_EQ(portal->session_count(), 1u);
}

TEST_F(PortalTest, WrongPasswordWrongCodeExpiredCodeRefusedAndCounted) {
  EXPECT_EQ(sign_in("wrong-pass", totp(user.totp_secret, t0)).result(),
            http::status::unauthorized);
  const auto code = totp(user.totp_secret, t0);
  const auto wrong = std::string(1, code[0] == '0' ? '1' : '0') + code.substr(1);
  EXPECT_EQ(sign_in("s3cret-pass", wrong).result(), http::status::unauthorized);
  EXPECT_EQ(sign_in("s3cret-pass", totp(user.totp_secret, t0 - std::chrono::minutes{2})).result(),
            http::status::unauthorized);
  EXPECT_EQ(service.failures.size(), 3u);
  EXPECT_EQ(service.failures[0], "192.0.2.7 alice");
  EXPECT_EQ(portal->session_count(), 0u);
}

TEST_F(PortalTest, CodeIsSingleUse) {
  const auto code = totp(user.totp_secret, t0);
  EXPECT_EQ(sign_in("s3cret-pass", code).result(), http::status::see_other);
  EXPECT_EQ(sign_in("s3cret-pass", code).result(), http::status::unauthorized);
}

TEST_F(PortalTest, MissingCsrfRefused) {
  const auto r = sign_in("s3cret-pass", totp(user.totp_secret, t0), "192.0.2.7", t0, false);
  EXPECT_EQ(r.result(), http::status::forbidden);
  EXPECT_EQ(service.results, std::vector<SigninResult>{SigninResult::bad_request});
  EXPECT_EQ(portal->session_count(), 0u);
}

TEST_F(PortalTest, BannedSourceCannotSignIn) {
  service.banned_sources.insert("192.0.2.7");
  const auto r = sign_in("s3cret-pass", totp(user.totp_secret, t0));
  EXPECT_EQ(r.result(), http::status::forbidden);
  EXPECT_EQ(service.results, std::vector<SigninResult>{SigninResult::banned});
}

TEST_F(PortalTest, BlockedUserNameRefusedBeforeItsPasswordIsChecked) {
  auto [csrf, cookie] = signin_form();
  const auto r = send(http::verb::post, "/signin",
                      "username=blocked&password=x&otp=123456&csrf=" + csrf, cookie);
  EXPECT_EQ(r.result(), http::status::forbidden);
  EXPECT_EQ(service.results, std::vector<SigninResult>{SigninResult::throttled});
  EXPECT_TRUE(service.failures.empty());
}

TEST_F(PortalTest, UnknownUserCountsAsAFailure) {
  auto [csrf, cookie] = signin_form();
  const auto r = send(http::verb::post, "/signin",
                      "username=mallory&password=s3cret-pass&otp=123456&csrf=" + csrf, cookie);
  EXPECT_EQ(r.result(), http::status::unauthorized);
  EXPECT_EQ(service.failures, std::vector<std::string>{"192.0.2.7 mallory"});
}

TEST_F(PortalTest, ForwardedForBelievedOnlyFromTrustedProxy) {
  // From the trusted proxy: the client named in the header is the one checked and banned.
  service.banned_sources.insert("198.51.100.9");
  EXPECT_EQ(sign_in("s3cret-pass", totp(user.totp_secret, t0), "10.0.0.1", t0, true,
                    "203.0.113.5, 198.51.100.9")
                .result(),
            http::status::forbidden);
  // From anyone else the header is ignored.
  EXPECT_EQ(sign_in("s3cret-pass", totp(user.totp_secret, t0), "192.0.2.8", t0, true,
                    "198.51.100.9")
                .result(),
            http::status::see_other);
}

TEST_F(PortalTest, RoutesPageListsExistingRoutes) {
  auto [cookie, csrf] = session();
  const auto r = send(http::verb::get, "/routes", {}, cookie);
  EXPECT_NE(r.body().find(">Connect to finance<"), std::string::npos);
  EXPECT_NE(r.body().find(">Connect to dev<"), std::string::npos);
  EXPECT_EQ(r.body().find("Connect to gone"), std::string::npos);
  EXPECT_EQ(send(http::verb::get, "/routes").result(), http::status::see_other);  // no session
}

TEST_F(PortalTest, GrantDownloadsRdpFileForTheSource) {
  auto [cookie, csrf] = session();
  const auto r = send(http::verb::post, "/grant", "csrf=" + csrf + "&route=finance&minutes=60",
                      cookie, "192.0.2.7");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  EXPECT_EQ(r[http::field::content_disposition], "attachment; filename=\"finance.rdp\"");
  EXPECT_NE(r.body().find("full address:s:rdp.example.com:13389\r\n"), std::string::npos);
  EXPECT_NE(r.body().find("loadbalanceinfo:s:rdpgate1.k.r.x.j.-.sig\r\n"), std::string::npos);
  EXPECT_NE(r.body().find("enablecredsspsupport:i:1\r\n"), std::string::npos);
  ASSERT_EQ(service.granted.size(), 1u);
  EXPECT_EQ(service.granted[0].cidr.to_string(), "192.0.2.7/32");
  EXPECT_EQ(service.granted[0].route, "finance");
  EXPECT_EQ(service.granted[0].reason, "portal: alice");
  EXPECT_EQ(service.granted[0].until, t0 + std::chrono::hours{1});
}

TEST_F(PortalTest, GrantForIpv6IsTheSlash64) {
  auto [cookie, csrf] = session();
  send(http::verb::post, "/grant", "csrf=" + csrf + "&route=dev", cookie, "2001:db8:1:2::99");
  ASSERT_EQ(service.granted.size(), 1u);
  EXPECT_EQ(service.granted[0].cidr.to_string(), "2001:db8:1:2::/64");
  EXPECT_EQ(service.granted[0].until, t0 + std::chrono::hours{8});  // grant_duration
}

TEST_F(PortalTest, GrantRefusals) {
  auto [cookie, csrf] = session();
  EXPECT_EQ(send(http::verb::post, "/grant", "route=finance", cookie).result(),
            http::status::forbidden);  // no CSRF token
  EXPECT_EQ(send(http::verb::post, "/grant", "csrf=" + csrf + "&route=other", cookie).result(),
            http::status::forbidden);  // not the user's route
  EXPECT_EQ(
      send(http::verb::post, "/grant", "csrf=" + csrf + "&route=dev&minutes=721", cookie).result(),
      http::status::bad_request);  // longer than max_grant_duration
  EXPECT_TRUE(service.granted.empty());
}

TEST_F(PortalTest, GrantsPageAndEnd) {
  auto [cookie, csrf] = session();
  send(http::verb::post, "/grant", "csrf=" + csrf + "&route=finance", cookie);
  service.granted.push_back({"other", test::cidr("192.0.2.9/32"), "dev", t0, "portal: bob", t0});
  const auto page = send(http::verb::get, "/grants", {}, cookie);
  EXPECT_NE(page.body().find("192.0.2.7/32"), std::string::npos);
  EXPECT_EQ(page.body().find("192.0.2.9/32"), std::string::npos);  // bob's
  EXPECT_EQ(send(http::verb::post, "/grants/end", "csrf=" + csrf + "&id=other", cookie).result(),
            http::status::not_found);
  EXPECT_EQ(send(http::verb::post, "/grants/end", "csrf=" + csrf + "&id=g0", cookie).result(),
            http::status::see_other);
  ASSERT_EQ(service.granted.size(), 1u);
  EXPECT_EQ(service.granted[0].id, "other");
}

TEST_F(PortalTest, SessionsExpire) {
  auto [cookie, csrf] = session();
  const auto later = t0 + settings.session_idle + std::chrono::seconds{1};
  EXPECT_EQ(send(http::verb::get, "/routes", {}, cookie, "192.0.2.7", later).result(),
            http::status::see_other);
  EXPECT_EQ(portal->session_count(), 0u);
}

TEST_F(PortalTest, SignoutEndsSession) {
  auto [cookie, csrf] = session();
  EXPECT_EQ(send(http::verb::post, "/signout", "csrf=" + csrf, cookie).result(),
            http::status::see_other);
  EXPECT_EQ(portal->session_count(), 0u);
}

TEST_F(PortalTest, ReloadWithoutTheUserEndsTheirSessions) {
  auto [cookie, csrf] = session();
  portal->update(settings, std::make_shared<const Users>());
  EXPECT_EQ(portal->session_count(), 0u);
}

}  // namespace
}  // namespace rdpgate::portal
