// `portal:` — the self-service access portal (SPEC §8). Bounds as documented in config.hpp.

#include "decode.hpp"

namespace rdpgate::config::detail {

void decode_portal(Walker& walker, const Field& field, Decoded& out) {
  PortalConfig portal;
  const MapReader map{walker,
                      field,
                      {"address", "tls", "public_address", "users_file", "grant_duration",
                       "max_grant_duration", "trusted_proxies"}};
  if (!map.valid()) return;
  if (auto f = map.get("address")) {
    out.portal_address = f->where;
    set(portal.address, walker.endpoint(*f, false, true));
  }
  if (auto f = map.require("tls")) {
    const MapReader tls{walker, *f, {"cert_file", "key_file"}};
    for (const auto* key : {"cert_file", "key_file"}) {
      auto g = tls.require(key);
      if (!g) continue;
      auto& target = std::string_view{key} == "cert_file" ? portal.cert_file : portal.key_file;
      set(target, walker.string(*g));
      if (target.empty() && g->node.IsScalar()) walker.error(g->where, "empty path");
    }
  }
  if (auto f = map.require("public_address")) {
    set(portal.public_address, walker.endpoint(*f, true, false));
    if (portal.public_address.port == 0 && !portal.public_address.text.empty()) {
      walker.error(f->where, "public_address needs a port clients can reach (not 0)");
    }
  }
  if (auto f = map.get("users_file")) {
    set(portal.users_file, walker.string(*f));
    if (portal.users_file.empty()) walker.error(f->where, "empty path");
  }
  constexpr Duration longest = std::chrono::hours{24 * 30};
  if (auto f = map.get("grant_duration")) {
    set(portal.grant_duration, walker.duration(*f, std::chrono::minutes{1}, longest));
  }
  std::optional<Field> max = map.get("max_grant_duration");
  if (max) set(portal.max_grant_duration, walker.duration(*max, std::chrono::minutes{1}, longest));
  if (portal.max_grant_duration < portal.grant_duration) {
    walker.error(max ? max->where : map.where(),
                 "max_grant_duration " + format_duration(portal.max_grant_duration) +
                     " is below grant_duration " + format_duration(portal.grant_duration));
  }
  if (auto f = map.get("trusted_proxies")) set(portal.trusted_proxies, walker.cidrs(*f));
  out.config.portal = std::move(portal);
}

}  // namespace rdpgate::config::detail
