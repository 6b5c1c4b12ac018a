#pragma once
// The portal's HTML, rendered on the server (no scripts: the CSP forbids them), and its .rdp
// files. Every value written into a page goes through escape().

#include <string>
#include <string_view>
#include <vector>

#include "rdpgate/config/config.hpp"
#include "rdpgate/security/grant_table.hpp"

namespace rdpgate::portal::detail {

[[nodiscard]] std::string escape(std::string_view text);
[[nodiscard]] std::string_view style_sheet();

// `message`: shown above the form ("" for none).
[[nodiscard]] std::string signin_page(std::string_view csrf, std::string_view message);
[[nodiscard]] std::string routes_page(std::string_view user, const std::vector<std::string>& routes,
                                      std::string_view csrf, const config::PortalConfig& settings);
[[nodiscard]] std::string grants_page(std::string_view user,
                                      const std::vector<security::Grant>& grants,
                                      std::string_view csrf);
[[nodiscard]] std::string message_page(std::string_view title, std::string_view message);

// An .rdp file (the format mstsc and xfreerdp read): `full address:s:` the public address,
// `loadbalanceinfo:s:` the routing token when there is one, and settings that make the client
// use NLA (CredSSP) and insist on a verified server.
[[nodiscard]] std::string rdp_file(const config::Endpoint& public_address,
                                   std::string_view routing_token);

// Durations offered on the routes page: grant_duration, then longer ones up to
// max_grant_duration (in minutes).
[[nodiscard]] std::vector<long> duration_choices(const config::PortalConfig& settings);

}  // namespace rdpgate::portal::detail
