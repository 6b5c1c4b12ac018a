// The messages and records instances share through Redis: see fleet_codec.hpp.

#include "rdpgate/gateway/fleet_codec.hpp"

#include <boost/json.hpp>

namespace rdpgate::gateway::fleet {
namespace json = boost::json;
namespace {

// Field readers that fail (nullopt) on a missing field or a wrong type, never throw.
std::optional<std::string> text(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

std::optional<std::int64_t> integer(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_int64()) return std::nullopt;
  return v->get_int64();
}

std::optional<config::Cidr> cidr(const json::object& o, std::string_view key) {
  auto t = text(o, key);
  return t ? config::parse_cidr(*t) : std::nullopt;
}

json::object ban_object(const security::Ban& ban) {
  return {{"cidr", ban.cidr.to_string()},
          {"until", to_ms(ban.until)},
          {"reason", ban.reason},
          {"origin", std::string(state::to_string(ban.origin))},
          {"offenses", ban.offenses}};
}

std::optional<security::Ban> ban_from(const json::object& o) {
  auto range = cidr(o, "cidr");
  auto until = integer(o, "until");
  auto reason = text(o, "reason");
  auto origin_text = text(o, "origin");
  auto offenses = integer(o, "offenses");
  if (!range || !until || !reason || !origin_text || !offenses || *offenses < 0) {
    return std::nullopt;
  }
  auto origin = state::parse_ban_origin(*origin_text);
  if (!origin) return std::nullopt;
  return security::Ban{*range,
                       from_ms(*until),
                       std::move(*reason),
                       *origin,
                       static_cast<std::uint32_t>(std::min<std::int64_t>(*offenses, 1 << 20)),
                       false};
}

json::object grant_object(const security::Grant& grant) {
  return {{"id", grant.id},         {"cidr", grant.cidr.to_string()},
          {"route", grant.route},   {"until", to_ms(grant.until)},
          {"reason", grant.reason}, {"created", to_ms(grant.created)}};
}

std::optional<security::Grant> grant_from(const json::object& o) {
  auto id = text(o, "id");
  auto range = cidr(o, "cidr");
  auto route = text(o, "route");
  auto until = integer(o, "until");
  auto reason = text(o, "reason");
  auto created = integer(o, "created");
  if (!id || id->empty() || !range || !route || route->empty() || !until || !reason || !created) {
    return std::nullopt;
  }
  return security::Grant{std::move(*id),     *range,           std::move(*route), from_ms(*until),
                         std::move(*reason), from_ms(*created)};
}

std::optional<json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  auto value = json::parse(text, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.get_object());
}

struct ValueOf {
  json::value operator()(const security::Ban& ban) const { return ban_object(ban); }
  json::value operator()(const Unban& u) const {
    return json::object{{"cidr", u.cidr.to_string()}};
  }
  json::value operator()(const security::Grant& grant) const { return grant_object(grant); }
  json::value operator()(const Revoke& r) const { return json::object{{"id", r.id}}; }
  json::value operator()(const Failure& f) const {
    return json::object{
        {"source", f.source.to_string()}, {"user", f.username}, {"at", to_ms(f.at)}};
  }
  json::value operator()(const Admitted& a) const {
    json::array counts;
    for (const auto& [address, n] : a.counts) counts.push_back(json::array{address.to_string(), n});
    return json::object{{"listener", a.listener}, {"counts", std::move(counts)}};
  }
};

constexpr std::string_view kinds[] = {"ban", "unban", "grant", "revoke", "fail", "rate"};

std::optional<Event> event_from(std::string_view kind, const json::object& v) {
  if (kind == "ban") {
    if (auto ban = ban_from(v)) return Event{std::move(*ban)};
  } else if (kind == "unban") {
    if (auto c = cidr(v, "cidr")) return Event{Unban{*c}};
  } else if (kind == "grant") {
    if (auto grant = grant_from(v)) return Event{std::move(*grant)};
  } else if (kind == "revoke") {
    if (auto id = text(v, "id")) return Event{Revoke{std::move(*id)}};
  } else if (kind == "fail") {
    auto source = text(v, "source");
    auto address = source ? config::parse_ip(*source) : std::nullopt;
    auto user = text(v, "user");
    auto at = integer(v, "at");
    if (address && user && at) return Event{Failure{*address, std::move(*user), from_ms(*at)}};
  } else if (kind == "rate") {
    auto listener = text(v, "listener");
    const auto* counts = v.if_contains("counts");
    if (!listener || counts == nullptr || !counts->is_array()) return std::nullopt;
    Admitted admitted{std::move(*listener), {}};
    for (const auto& entry : counts->get_array()) {
      const auto* pair = entry.if_array();
      if (pair == nullptr || pair->size() != 2 || !(*pair)[0].is_string() ||
          !(*pair)[1].is_int64() || (*pair)[1].get_int64() <= 0) {
        return std::nullopt;
      }
      auto address = config::parse_ip(std::string((*pair)[0].get_string()));
      if (!address) return std::nullopt;
      admitted.counts.emplace_back(*address, static_cast<std::uint32_t>(std::min<std::int64_t>(
                                                 (*pair)[1].get_int64(), 1'000'000)));
    }
    return Event{std::move(admitted)};
  }
  return std::nullopt;
}

}  // namespace

std::int64_t to_ms(TimePoint t) noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Saturates: a peer's (or a corrupted) timestamp beyond what the clock can hold means "never" or
// "long ago", not an overflow.
TimePoint from_ms(std::int64_t ms) noexcept {
  constexpr auto limit =
      std::chrono::duration_cast<std::chrono::milliseconds>(TimePoint::duration::max()).count();
  if (ms >= limit) return TimePoint::max();
  if (ms <= -limit) return TimePoint::min();
  return TimePoint{std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds{ms})};
}

std::string encode(const Message& message) {
  return json::serialize(json::object{{"i", message.instance},
                                      {"k", kinds[message.event.index()]},
                                      {"v", std::visit(ValueOf{}, message.event)}});
}

std::optional<Message> decode(std::string_view text_in) {
  auto o = parse_object(text_in);
  if (!o) return std::nullopt;
  auto instance = text(*o, "i");
  auto kind = text(*o, "k");
  const auto* value = o->if_contains("v");
  if (!instance || !kind || value == nullptr || !value->is_object()) return std::nullopt;
  auto event = event_from(*kind, value->get_object());
  if (!event) return std::nullopt;
  return Message{std::move(*instance), std::move(*event)};
}

std::string encode_ban(const security::Ban& ban) { return json::serialize(ban_object(ban)); }

std::optional<security::Ban> decode_ban(std::string_view text_in) {
  auto o = parse_object(text_in);
  return o ? ban_from(*o) : std::nullopt;
}

std::string encode_grant(const security::Grant& grant) {
  return json::serialize(grant_object(grant));
}

std::optional<security::Grant> decode_grant(std::string_view text_in) {
  auto o = parse_object(text_in);
  return o ? grant_from(*o) : std::nullopt;
}

}  // namespace rdpgate::gateway::fleet
