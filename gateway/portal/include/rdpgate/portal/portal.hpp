#pragma once
// The portal as a function from one HTTP request (and the address it came from) to one
// response, with no I/O: pages, sign-in, sessions, CSRF tokens, grants and .rdp files.
// PortalServer (server.hpp) feeds it. Thread-safe (one mutex for the sessions and the users).
//
//   GET  /             sign-in form (username, password, otp); signed in: 303 to /routes
//   POST /signin       checks, in order: ban of the source, CSRF, user-name block, then the
//                      password (Argon2id) and the TOTP code; sets the session cookie
//   GET  /routes       one form per route the user may request: "Connect to NAME"
//   POST /grant        grants the source its /32 (IPv6 /64) for the route, answers ROUTE.rdp
//   GET  /grants       the user's live grants, each with an "End" button
//   POST /grants/end   ends one of them
//   POST /signout      ends the session
//   GET  /style.css    the only style sheet (the CSP forbids inline styles and all scripts)

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <map>
#include <mutex>
#include <string>

#include "rdpgate/config/config.hpp"
#include "rdpgate/portal/service.hpp"
#include "rdpgate/portal/users.hpp"

namespace rdpgate::portal {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

inline constexpr std::string_view session_cookie = "__Host-rdpgate_session";
inline constexpr std::string_view signin_cookie = "__Host-rdpgate_signin";  // sign-in CSRF
inline constexpr std::size_t max_sessions = 10'000;

class Portal {
 public:
  Portal(config::PortalConfig settings, UsersSnapshot users, PortalService& service);

  // A reload: new settings and users. Sessions of users that are gone end.
  void update(config::PortalConfig settings, UsersSnapshot users);

  // `peer` is the TCP peer; behind a trusted proxy the client is taken from X-Forwarded-For.
  [[nodiscard]] Response handle(const Request& request, const config::IpAddress& peer,
                                TimePoint now);

  [[nodiscard]] std::size_t session_count() const;

  // The client address of a request: `peer`, or, when `peer` is a trusted proxy, the rightmost
  // X-Forwarded-For address that is not itself a trusted proxy.
  [[nodiscard]] static config::IpAddress client_address(const Request& request,
                                                        const config::IpAddress& peer,
                                                        const config::CidrSet& trusted);

 private:
  struct Session {
    std::string user;
    std::string csrf;
    TimePoint created;
    TimePoint last_used;
  };

  Response signin(const Request& request, const config::IpAddress& client, TimePoint now);
  Response grant(const Request& request, const Session& session, const config::IpAddress& client);
  Response end_grant(const Request& request, const Session& session, TimePoint now);
  Response routes_page(const Request& request, const Session& session);
  Response grants_page(const Request& request, const Session& session, TimePoint now);
  // The live session of the request's cookie (its last use refreshed), or nullptr.
  Session* find_session(const Request& request, TimePoint now);
  void purge(TimePoint now);

  mutable std::mutex mutex_;  // INVARIANT: guards everything below
  config::PortalConfig settings_;
  config::CidrSet trusted_;
  UsersSnapshot users_;
  PortalService& service_;
  std::map<std::string, Session, std::less<>> sessions_;
  // The TOTP step last accepted per user: a code is good for one sign-in only.
  std::map<std::string, std::uint64_t, std::less<>> last_step_;
};

}  // namespace rdpgate::portal
