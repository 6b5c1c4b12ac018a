// `rdpgate token issue`: mints a signed access token with a key from the configuration.
#include <cstdio>
#include <string>
#include <string_view>

#include "rdpgate/config/load.hpp"
#include "rdpgate/gateway/cli.hpp"
#include "rdpgate/security/token_keys.hpp"
#include "rdpgate/security/token_verifier.hpp"

namespace rdpgate::gateway {
namespace {

constexpr int exit_usage = 64;

void token_usage(std::FILE* out) {
  std::fputs(
      "usage: rdpgate token issue --config FILE --route ROUTE [--key KID] [--ttl 1h]\n"
      "                           [--not-before 0s] [--source CIDR] [--subject NAME]\n"
      "                           [--jti ID] [--format jws|routing]\n"
      "  jws      a compact JWS for the Preconnection PDU (xfreerdp /pcb:TOKEN, .rdp pcb:s:TOKEN)\n"
      "  routing  a compact token for the X.224 routing token (.rdp loadbalanceinfo:s:TOKEN)\n"
      "The key (default: the first of tokens.keys) must have its secret or private key.\n",
      out);
}

}  // namespace

int cli_token(int argc, char** argv) {
  if (argc < 1 || std::string_view(argv[0]) != "issue") {
    token_usage(argc >= 1 && (std::string_view(argv[0]) == "--help") ? stdout : stderr);
    return argc >= 1 && std::string_view(argv[0]) == "--help" ? 0 : exit_usage;
  }
  std::string config_path, route, kid, source, subject, jti, format = "jws";
  config::Duration ttl = std::chrono::hours(1);
  config::Duration not_before{0};
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--help") {
      token_usage(stdout);
      return 0;
    }
    if (a != "--config" && a != "--route" && a != "--key" && a != "--ttl" && a != "--source" &&
        a != "--subject" && a != "--jti" && a != "--format" && a != "--not-before") {
      std::fprintf(stderr, "rdpgate token issue: unknown option \"%s\"\n", argv[i]);
      return exit_usage;
    }
    if ((v = value()) == nullptr) {
      std::fprintf(stderr, "rdpgate token issue: %s needs a value\n", argv[i]);
      return exit_usage;
    }
    if (a == "--config") config_path = v;
    if (a == "--route") route = v;
    if (a == "--key") kid = v;
    if (a == "--source") source = v;
    if (a == "--subject") subject = v;
    if (a == "--jti") jti = v;
    if (a == "--format") format = v;
    if (a == "--ttl" || a == "--not-before") {
      auto d = config::parse_duration(v);
      if (!d) {
        std::fprintf(stderr, "rdpgate token issue: bad duration \"%s\"\n", v);
        return exit_usage;
      }
      (a == "--ttl" ? ttl : not_before) = *d;
    }
  }
  if (config_path.empty() || route.empty() || (format != "jws" && format != "routing")) {
    token_usage(stderr);
    return exit_usage;
  }
  auto loaded = config::load_config_file(config_path);
  if (auto* errors = std::get_if<std::vector<config::ConfigError>>(&loaded)) {
    for (const auto& e : *errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    return 1;
  }
  const auto& cfg = std::get<config::Config>(loaded);
  const config::TokenKey* key = nullptr;
  for (const auto& k : cfg.tokens.keys) {
    if (kid.empty() || k.id == kid) {
      key = &k;
      break;
    }
  }
  if (key == nullptr) {
    std::fprintf(stderr, "rdpgate token issue: no key \"%s\" in tokens.keys\n", kid.c_str());
    return 1;
  }
  bool route_known = false;
  for (const auto& r : cfg.routes) route_known = route_known || r.name == route;
  if (!route_known) {
    std::fprintf(stderr, "rdpgate token issue: no route \"%s\" in the configuration\n",
                 route.c_str());
    return 1;
  }
  auto material = security::load_token_key(*key, true);
  if (auto* err = std::get_if<std::string>(&material)) {
    std::fprintf(stderr, "rdpgate token issue: %s\n", err->c_str());
    return 1;
  }
  security::TokenRequest request;
  request.route = route;
  request.jti = jti;
  const auto now = std::chrono::system_clock::now();
  request.not_before = now + not_before;
  request.expires = now + not_before + ttl;
  if (!source.empty()) {
    std::string error;
    auto cidr = config::parse_cidr(source, &error);
    if (!cidr) {
      std::fprintf(stderr, "rdpgate token issue: bad --source \"%s\": %s\n", source.c_str(),
                   error.c_str());
      return exit_usage;
    }
    request.source = *cidr;
  }
  if (!subject.empty()) request.subject = subject;
  const auto& km = std::get<security::TokenKeyMaterial>(material);
  auto issued = format == "jws" ? security::issue_jws(km, request)
                                : security::issue_routing_token(km, request);
  if (auto* err = std::get_if<std::string>(&issued)) {
    std::fprintf(stderr, "rdpgate token issue: %s\n", err->c_str());
    return 1;
  }
  std::printf("%s\n", std::get<security::IssuedToken>(issued).token.c_str());
  return 0;
}

}  // namespace rdpgate::gateway
