#include "rdpgate/portal/portal.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>

#include "form.hpp"
#include "pages.hpp"
#include "rdpgate/portal/totp.hpp"

namespace rdpgate::portal {
namespace {

namespace http = boost::beast::http;

// CSP: nothing but this origin's style sheet; no scripts, frames, plugins or foreign forms.
constexpr std::string_view content_security_policy =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'";

// A well-formed Argon2id hash no password matches, verified for unknown users so that an
// unknown name costs the same time as a wrong password.
const std::string& decoy_hash() {
  static const std::string hash = hash_password(detail::random_token());
  return hash;
}

Response base(const Request& request, http::status status, std::string_view type,
              std::string body) {
  Response r{status, request.version()};
  r.set(http::field::content_type, type);
  r.set(http::field::cache_control, "no-store");
  r.set("Content-Security-Policy", content_security_policy);
  r.set("X-Content-Type-Options", "nosniff");
  r.set("X-Frame-Options", "DENY");
  r.set("Referrer-Policy", "no-referrer");
  r.set("Strict-Transport-Security", "max-age=31536000");
  r.body() = std::move(body);
  r.prepare_payload();
  return r;
}

Response html(const Request& request, http::status status, std::string body) {
  return base(request, status, "text/html; charset=utf-8", std::move(body));
}

Response redirect(const Request& request, std::string_view location) {
  Response r = base(request, http::status::see_other, "text/plain; charset=utf-8", "");
  r.set(http::field::location, location);
  return r;
}

std::string cookie(std::string_view name, std::string_view value, std::int64_t max_age) {
  return std::string(name) + "=" + std::string(value) +
         "; Path=/; Max-Age=" + std::to_string(max_age) + "; Secure; HttpOnly; SameSite=Strict";
}

Response refused(const Request& request, http::status status, std::string_view title,
                 std::string_view message) {
  return html(request, status, detail::message_page(title, message));
}

std::string field(const detail::Form& form, std::string_view key) {
  const auto it = form.find(key);
  return it == form.end() ? std::string() : it->second;
}

}  // namespace

std::string_view to_string(SigninResult result) noexcept {
  switch (result) {
    case SigninResult::success: return "success";
    case SigninResult::bad_credentials: return "bad_credentials";
    case SigninResult::banned: return "banned";
    case SigninResult::throttled: return "throttled";
    case SigninResult::bad_request: return "bad_request";
  }
  return "bad_request";
}

Portal::Portal(config::PortalConfig settings, UsersSnapshot users, PortalService& service)
    : settings_(std::move(settings)),
      trusted_(settings_.trusted_proxies),
      users_(std::move(users)),
      service_(service) {
  (void)decoy_hash();  // computed now rather than during the first sign-in
}

void Portal::update(config::PortalConfig settings, UsersSnapshot users) {
  std::lock_guard lock{mutex_};
  settings_ = std::move(settings);
  trusted_ = config::CidrSet(settings_.trusted_proxies);
  users_ = std::move(users);
  std::erase_if(sessions_, [this](const auto& entry) {
    return find_user(*users_, entry.second.user) == nullptr;
  });
}

std::size_t Portal::session_count() const {
  std::lock_guard lock{mutex_};
  return sessions_.size();
}

config::IpAddress Portal::client_address(const Request& request, const config::IpAddress& peer,
                                         const config::CidrSet& trusted) {
  if (trusted.empty() || !trusted.contains(peer)) return peer;
  std::string_view header = request["X-Forwarded-For"];
  // Right to left: the rightmost entry was added by the proxy that connected to us.
  config::IpAddress client = peer;
  while (!header.empty()) {
    const auto comma = header.rfind(',');
    auto item = comma == std::string_view::npos ? header : header.substr(comma + 1);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    const auto address = config::parse_ip(item);
    if (!address) return client;  // garbage: stop at the last address we could trust
    client = *address;
    if (!trusted.contains(client)) return client;
  }
  return client;
}

void Portal::purge(TimePoint now) {
  std::erase_if(sessions_, [&](const auto& entry) {
    const auto& s = entry.second;
    return now - s.last_used > settings_.session_idle || now - s.created > settings_.session_max;
  });
}

Portal::Session* Portal::find_session(const Request& request, TimePoint now) {
  const auto id = detail::cookie_value(request[http::field::cookie], session_cookie);
  if (id.size() != 64) return nullptr;
  purge(now);
  const auto it = sessions_.find(id);
  if (it == sessions_.end()) return nullptr;
  it->second.last_used = now;
  return &it->second;
}

Response Portal::handle(const Request& request, const config::IpAddress& peer, TimePoint now) {
  try {
    std::lock_guard lock{mutex_};
    const auto client = client_address(request, peer, trusted_);
    const std::string_view target = request.target();
    const auto path = target.substr(0, target.find('?'));
    const bool get = request.method() == http::verb::get;
    const bool post = request.method() == http::verb::post;
    if (get && path == "/style.css") {
      return base(request, http::status::ok, "text/css; charset=utf-8",
                  std::string(detail::style_sheet()));
    }
    if (get && path == "/") {
      if (find_session(request, now) != nullptr) return redirect(request, "/routes");
      // The sign-in form's CSRF token: a random value in a cookie and in the form; a POST
      // must carry both, equal (a cross-site form cannot read or set the cookie). A browser
      // that has one keeps it, so two open sign-in pages (or a page's own favicon request)
      // do not invalidate each other.
      auto token = detail::cookie_value(request[http::field::cookie], signin_cookie);
      if (!detail::is_token(token)) token = detail::random_token();
      Response r = html(request, http::status::ok, detail::signin_page(token, ""));
      r.insert(http::field::set_cookie, cookie(signin_cookie, token, 3600));
      return r;
    }
    if (post && path == "/signin") return signin(request, client, now);
    Session* session = find_session(request, now);
    const bool page = path == "/routes" || path == "/grants";
    if (session == nullptr) {
      if (get && page) return redirect(request, "/");
      if (get) return refused(request, http::status::not_found, "Not found", "No such page.");
      return refused(request, http::status::forbidden, "Signed out",
                     "Your session has expired. Please sign in again.");
    }
    if (get && path == "/routes") return routes_page(request, *session);
    if (get && path == "/grants") return grants_page(request, *session, now);
    if (!post) {
      return refused(request, http::status::not_found, "Not found", "There is no such page.");
    }
    // Every POST of a signed-in user carries the session's CSRF token.
    auto form = detail::parse_form(request.body());
    if (!form || !equal_constant_time(field(*form, "csrf"), session->csrf)) {
      return refused(request, http::status::forbidden, "Refused",
                     "The form was not sent by this portal (missing or wrong CSRF token).");
    }
    if (path == "/grant") return grant(request, *session, client);
    if (path == "/grants/end") return end_grant(request, *session, now);
    if (path == "/signout") {
      const auto id = detail::cookie_value(request[http::field::cookie], session_cookie);
      sessions_.erase(id);
      Response r = redirect(request, "/");
      r.insert(http::field::set_cookie, cookie(session_cookie, "", 0));
      return r;
    }
    return refused(request, http::status::not_found, "Not found", "There is no such page.");
  } catch (const std::exception&) {
    return refused(request, http::status::internal_server_error, "Error",
                   "Something went wrong; please try again.");
  }
}

Response Portal::signin(const Request& request, const config::IpAddress& client, TimePoint now) {
  const auto form = detail::parse_form(request.body());
  const std::string user = form ? field(*form, "username") : std::string();
  auto again = [&](http::status status, std::string_view message) {
    const auto token = detail::random_token();
    Response r = html(request, status, detail::signin_page(token, message));
    r.insert(http::field::set_cookie, cookie(signin_cookie, token, 3600));
    return r;
  };
  // A banned source is not even checked: its guesses would cost it nothing.
  if (service_.banned(client, now)) {
    service_.signin(SigninResult::banned, user, client);
    return again(http::status::forbidden,
                 "Too many failed sign-ins from your address. Try again later.");
  }
  const auto expected = detail::cookie_value(request[http::field::cookie], signin_cookie);
  if (!form || expected.empty() || !equal_constant_time(field(*form, "csrf"), expected)) {
    service_.signin(SigninResult::bad_request, user, client);
    return again(http::status::forbidden,
                 "The form was not sent by this portal (missing or wrong CSRF token). "
                 "Please try again.");
  }
  if (!valid_name(user)) {
    service_.signin(SigninResult::bad_request, "", client);
    return again(http::status::bad_request, "Please enter your user name.");
  }
  if (service_.user_blocked(user, now)) {
    service_.signin(SigninResult::throttled, user, client);
    return again(http::status::forbidden,
                 "Too many failed sign-ins for this user. Try again later.");
  }
  const User* account = find_user(*users_, user);
  // Both checks always run, so neither the time taken nor the answer says which one failed.
  const bool password_ok =
      verify_password(account ? account->password_hash : decoy_hash(), field(*form, "password"));
  std::optional<std::uint64_t> step;
  if (account != nullptr) step = totp_match(account->totp_secret, field(*form, "otp"), now);
  const auto last = last_step_.find(user);
  const bool fresh = step && (last == last_step_.end() || *step > last->second);
  if (account == nullptr || !password_ok || !fresh) {
    service_.signin_failed(client, user, now);
    service_.signin(SigninResult::bad_credentials, user, client);
    return again(http::status::unauthorized, "Wrong user name, password or code.");
  }
  last_step_[user] = *step;
  purge(now);
  if (sessions_.size() >= max_sessions) {
    // Make room: the session used least recently goes.
    auto oldest = sessions_.begin();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second.last_used < oldest->second.last_used) oldest = it;
    }
    sessions_.erase(oldest);
  }
  const auto id = detail::random_token();
  sessions_.emplace(id, Session{user, detail::random_token(), now, now});
  service_.signin(SigninResult::success, user, client);
  Response r = redirect(request, "/routes");
  const auto max_age = std::chrono::duration_cast<std::chrono::seconds>(settings_.session_max);
  r.insert(http::field::set_cookie, cookie(session_cookie, id, max_age.count()));
  r.insert(http::field::set_cookie, cookie(signin_cookie, "", 0));
  return r;
}

Response Portal::routes_page(const Request& request, const Session& session) {
  const User* user = find_user(*users_, session.user);
  std::vector<std::string> routes;
  for (const auto& r : user->routes) {
    if (service_.route_exists(r)) routes.push_back(r);
  }
  return html(request, http::status::ok,
              detail::routes_page(session.user, routes, session.csrf, settings_));
}

Response Portal::grants_page(const Request& request, const Session& session, TimePoint now) {
  const auto reason = "portal: " + session.user;
  std::vector<security::Grant> mine;
  for (auto& g : service_.grants(now)) {
    if (g.reason == reason) mine.push_back(std::move(g));
  }
  return html(request, http::status::ok, detail::grants_page(session.user, mine, session.csrf));
}

Response Portal::grant(const Request& request, const Session& session,
                       const config::IpAddress& client) {
  const auto form = detail::parse_form(request.body());
  const std::string route = field(*form, "route");
  const User* user = find_user(*users_, session.user);
  const bool allowed =
      std::find(user->routes.begin(), user->routes.end(), route) != user->routes.end();
  if (!allowed || !service_.route_exists(route)) {
    return refused(request, http::status::forbidden, "Refused",
                   "This route is not available to you.");
  }
  config::Duration duration = settings_.grant_duration;
  if (const auto minutes = field(*form, "minutes"); !minutes.empty()) {
    long value = 0;
    try {
      value = std::stol(minutes);
    } catch (const std::exception&) {
      value = -1;
    }
    if (value <= 0 || std::chrono::minutes{value} > settings_.max_grant_duration) {
      return refused(request, http::status::bad_request, "Refused",
                     "The duration asked for is longer than allowed.");
    }
    duration = std::chrono::minutes{value};
  }
  // The requesting address's /32, or its /64 for IPv6 (one host usually owns a whole /64).
  const auto cidr = config::source_range(client, 32, 64);
  auto added = service_.add_grant(cidr, route, duration, "portal: " + session.user, session.user);
  if (auto* err = std::get_if<std::string>(&added)) {
    return refused(request, http::status::service_unavailable, "Refused", *err);
  }
  const auto& g = std::get<security::Grant>(added);
  const auto token = service_.routing_token(route, cidr, g.until);
  if (!token.error.empty()) {
    return refused(request, http::status::internal_server_error, "Error",
                   "Access was granted, but the .rdp file could not be signed.");
  }
  Response r = base(request, http::status::ok, "application/x-rdp",
                    detail::rdp_file(settings_.public_address, token.token));
  r.set(http::field::content_disposition, "attachment; filename=\"" + route + ".rdp\"");
  return r;
}

Response Portal::end_grant(const Request& request, const Session& session, TimePoint now) {
  const auto form = detail::parse_form(request.body());
  const std::string id = field(*form, "id");
  // Only the user's own grants: the id must name one made for them by the portal.
  bool mine = false;
  for (const auto& g : service_.grants(now)) {
    if (g.id == id && g.reason == "portal: " + session.user) mine = true;
  }
  if (!mine || !service_.end_grant(id, session.user)) {
    return refused(request, http::status::not_found, "Not found", "No such active access.");
  }
  return redirect(request, "/grants");
}

}  // namespace rdpgate::portal
