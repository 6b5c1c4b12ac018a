// The admin API's routing, authorization and validation (SPEC §8 "Admin API"): one request in,
// one response out, no I/O.
//
//   GET    /healthz               no token
//   GET    /v1/sessions           DELETE /v1/sessions/{id}
//   GET    /v1/bans               POST /v1/bans     DELETE /v1/bans/{cidr with "/" as "_"}
//   GET    /v1/grants             POST /v1/grants   DELETE /v1/grants/{id}
//   POST   /v1/reload
//
// Every /v1 path, known or not, is authorized first, so an unauthorized client learns nothing
// about which paths exist and never reaches the service.

#include "rdpgate/admin/handler.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <array>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>
#include <exception>
#include <optional>
#include <span>
#include <vector>

#include "rdpgate/admin/json.hpp"
#include "rdpgate/config/cidr.hpp"
#include "rdpgate/protocol/percent.hpp"

namespace rdpgate::admin {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;

Response json_response(http::status status, const json::value& body, unsigned version) {
  Response response{status, version};
  response.set(http::field::content_type, "application/json");
  response.set(http::field::cache_control, "no-store");
  response.body() = json::serialize(body);
  response.prepare_payload();
  return response;
}

Response ok(unsigned version) {
  return json_response(http::status::ok, json::object{{"status", "ok"}}, version);
}

Response method_not_allowed(std::string_view allow, unsigned version) {
  Response response =
      error_response(http::status::method_not_allowed, "method not allowed", version);
  response.set(http::field::allow, allow);
  return response;
}

template <class View>
json::array to_json_array(const std::vector<View>& views) {
  json::array out;
  out.reserve(views.size());
  for (const auto& view : views) out.push_back(to_json(view));
  return out;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> segments;
  while (!path.empty()) {
    const auto slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
    if (path.empty()) segments.emplace_back();  // a trailing "/" leaves an empty segment
  }
  return segments;
}

// Fields of a POST body, checked for presence and type. Unknown fields are refused so that a
// typo ("durtion") is an error rather than a silently ignored default.
class BodyFields {
 public:
  static std::variant<BodyFields, std::string> parse(std::string_view body,
                                                     std::span<const std::string_view> known) {
    boost::system::error_code ec;
    json::value value = json::parse(body, ec);
    if (ec) return std::string{"body is not valid JSON"};
    if (!value.is_object()) return std::string{"body must be a JSON object"};
    for (const auto& entry : value.as_object()) {
      bool is_known = false;
      for (const auto name : known) is_known = is_known || entry.key() == name;
      if (!is_known) return "unknown field \"" + std::string{entry.key()} + "\"";
    }
    return BodyFields{std::move(value.as_object())};
  }

  // nullopt with `error` set when present but not a string; nullopt alone when absent.
  std::optional<std::string> string(std::string_view name, std::string& error) const {
    const auto* value = object_.if_contains(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) {
      // Appended piece by piece: `"literal" + std::string` trips a false -Wrestrict in GCC 12.
      error.assign("\"").append(name).append("\" must be a string");
      return std::nullopt;
    }
    return std::string{value->as_string()};
  }

 private:
  explicit BodyFields(json::object object) : object_(std::move(object)) {}
  json::object object_;
};

struct Cidr {
  std::string canonical;
};

std::variant<Cidr, std::string> checked_cidr(std::string_view text) {
  std::string why;
  const auto cidr = config::parse_cidr(text, &why);
  if (!cidr) return "bad cidr \"" + std::string{text} + "\": " + (why.empty() ? "invalid" : why);
  return Cidr{cidr->to_string()};
}

std::variant<config::Duration, std::string> checked_duration(std::string_view text) {
  const auto duration = config::parse_duration(text);
  if (!duration) {
    return "bad duration \"" + std::string{text} + "\": expected e.g. \"30m\", \"2h\", \"1d\"";
  }
  if (duration->count() <= 0) return std::string{"duration must be positive"};
  if (*duration > max_admin_duration) return std::string{"duration must be at most 3650d"};
  return *duration;
}

// Everything a POST that creates a ban or a grant carries, validated.
struct CreateRequest {
  std::string cidr;
  std::string route;
  config::Duration duration{};
  std::string reason;
};

std::variant<CreateRequest, std::string> parse_create(std::string_view body, bool is_grant) {
  static constexpr std::array<std::string_view, 3> ban_fields{"cidr", "duration", "reason"};
  static constexpr std::array<std::string_view, 4> grant_fields{"cidr", "route", "duration",
                                                                "reason"};
  auto parsed =
      is_grant ? BodyFields::parse(body, grant_fields) : BodyFields::parse(body, ban_fields);
  if (auto* error = std::get_if<std::string>(&parsed)) return std::move(*error);
  const auto& fields = std::get<BodyFields>(parsed);

  std::string error;
  CreateRequest out;
  const auto cidr = fields.string("cidr", error);
  const auto route = fields.string("route", error);
  const auto duration = fields.string("duration", error);
  const auto reason = fields.string("reason", error);
  if (!error.empty()) return error;
  if (!cidr) return std::string{"missing field \"cidr\""};
  auto checked = checked_cidr(*cidr);
  if (auto* bad = std::get_if<std::string>(&checked)) return std::move(*bad);
  out.cidr = std::get<Cidr>(checked).canonical;
  if (is_grant) {
    if (!route) return std::string{"missing field \"route\""};
    if (route->empty()) return std::string{"\"route\" must not be empty"};
    out.route = *route;
    if (!duration) return std::string{"missing field \"duration\""};
  }
  if (duration) {
    auto parsed_duration = checked_duration(*duration);
    if (auto* bad = std::get_if<std::string>(&parsed_duration)) return std::move(*bad);
    out.duration = std::get<config::Duration>(parsed_duration);
  } else {
    out.duration = default_ban_duration;
  }
  out.reason = reason.value_or("");
  return out;
}

Response handle_v1(const Request& request, std::span<const std::string_view> path,
                   AdminService& service) {
  const unsigned version = request.version();
  const auto method = request.method();
  const auto not_found = [&] {
    return error_response(http::status::not_found, "not found", version);
  };
  if (path.empty()) return not_found();
  const std::string_view collection = path[0];

  // Item paths: /v1/{collection}/{key}. A ban's key may also arrive as two raw segments
  // ("/v1/bans/203.0.113.7/32"), which is what an unescaped CIDR looks like.
  if (path.size() >= 2) {
    const bool is_ban = collection == "bans";
    if (path.size() > (is_ban ? 3U : 2U)) return not_found();
    if (collection != "sessions" && collection != "grants" && !is_ban) return not_found();
    for (std::size_t i = 1; i < path.size(); ++i) {
      if (path[i].empty()) return not_found();  // "/v1/bans/", "/v1/bans/a//b"
    }
    if (method != http::verb::delete_) return method_not_allowed("DELETE", version);
    std::string key;
    for (std::size_t i = 1; i < path.size(); ++i) {
      auto decoded = protocol::percent::decode(path[i], protocol::percent::Plus::literal);
      if (!decoded) return error_response(http::status::bad_request, "bad escape in path", version);
      if (i > 1) key += '/';
      key += *decoded;
    }
    if (collection == "sessions") {
      return service.kill_session(key)
                 ? ok(version)
                 : error_response(http::status::not_found, "no such session", version);
    }
    if (collection == "grants") {
      return service.revoke_grant(key)
                 ? ok(version)
                 : error_response(http::status::not_found, "no such grant", version);
    }
    for (auto& c : key) {
      if (c == '_') c = '/';
    }
    auto cidr = checked_cidr(key);
    if (auto* bad = std::get_if<std::string>(&cidr)) {
      return error_response(http::status::bad_request, *bad, version);
    }
    return service.remove_ban(std::get<Cidr>(cidr).canonical)
               ? ok(version)
               : error_response(http::status::not_found, "no such ban", version);
  }

  if (collection == "sessions") {
    if (method != http::verb::get) return method_not_allowed("GET", version);
    return json_response(http::status::ok, to_json_array(service.list_sessions()), version);
  }
  if (collection == "bans" || collection == "grants") {
    const bool is_grant = collection == "grants";
    if (method == http::verb::get) {
      return json_response(
          http::status::ok,
          is_grant ? to_json_array(service.list_grants()) : to_json_array(service.list_bans()),
          version);
    }
    if (method != http::verb::post) return method_not_allowed("GET, POST", version);
    auto parsed = parse_create(request.body(), is_grant);
    if (auto* bad = std::get_if<std::string>(&parsed)) {
      return error_response(http::status::bad_request, *bad, version);
    }
    const auto& create = std::get<CreateRequest>(parsed);
    if (is_grant) {
      auto grant = service.add_grant(create.cidr, create.route, create.duration, create.reason);
      if (auto* refused = std::get_if<std::string>(&grant)) {
        return error_response(http::status::bad_request, *refused, version);
      }
      return json_response(http::status::created, to_json(std::get<GrantView>(grant)), version);
    }
    auto ban = service.add_ban(create.cidr, create.duration, create.reason);
    if (auto* refused = std::get_if<std::string>(&ban)) {
      return error_response(http::status::bad_request, *refused, version);
    }
    return json_response(http::status::created, to_json(std::get<BanView>(ban)), version);
  }
  if (collection == "reload") {
    if (method != http::verb::post) return method_not_allowed("POST", version);
    if (auto failure = service.reload()) {
      return error_response(http::status::internal_server_error, *failure, version);
    }
    return ok(version);
  }
  return not_found();
}

}  // namespace

bool bearer_token_matches(std::string_view authorization, std::string_view expected) noexcept {
  constexpr std::string_view scheme = "bearer";
  if (expected.empty() || authorization.size() <= scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    const char c = authorization[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != scheme[i]) return false;
  }
  std::string_view presented = authorization.substr(scheme.size());
  if (presented.front() != ' ') return false;
  while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
  while (!presented.empty() && (presented.back() == ' ' || presented.back() == '\t')) {
    presented.remove_suffix(1);
  }
  if (presented.empty()) return false;
  // Comparing digests rather than the tokens makes the time independent of where the tokens
  // differ and of their lengths.
  std::array<unsigned char, SHA256_DIGEST_LENGTH> want{};
  std::array<unsigned char, SHA256_DIGEST_LENGTH> got{};
  SHA256(reinterpret_cast<const unsigned char*>(expected.data()), expected.size(), want.data());
  SHA256(reinterpret_cast<const unsigned char*>(presented.data()), presented.size(), got.data());
  return CRYPTO_memcmp(want.data(), got.data(), want.size()) == 0;
}

Response error_response(http::status status, std::string_view message, unsigned version) {
  return json_response(status, json::object{{"error", message}}, version);
}

Response handle_request(const Request& request, std::string_view token, AdminService& service) {
  const unsigned version = request.version();
  std::string_view target = request.target();
  if (const auto query = target.find('?'); query != std::string_view::npos) {
    target = target.substr(0, query);
  }
  try {
    if (target == "/healthz") {
      if (request.method() != http::verb::get) return method_not_allowed("GET", version);
      return json_response(http::status::ok,
                           to_json(service.health(), std::chrono::system_clock::now()), version);
    }
    if (target != "/v1" && !target.starts_with("/v1/")) {
      return error_response(http::status::not_found, "not found", version);
    }
    if (!bearer_token_matches(request[http::field::authorization], token)) {
      Response response = error_response(http::status::unauthorized, "unauthorized", version);
      response.set(http::field::www_authenticate, "Bearer");
      return response;
    }
    target.remove_prefix(std::string_view{"/v1"}.size());
    if (!target.empty()) target.remove_prefix(1);
    const auto segments = split_path(target);
    return handle_v1(request, segments, service);
  } catch (const std::exception&) {
    return error_response(http::status::internal_server_error, "internal error", version);
  }
}

}  // namespace rdpgate::admin
