// "host:port" endpoints.

#include "rdpgate/config/endpoint.hpp"

#include <charconv>

namespace rdpgate::config {
namespace {

bool is_alnum(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

}  // namespace

bool is_dns_name(std::string_view host) noexcept {
  if (host.empty() || host.size() > 253) return false;
  if (host.back() == '.') host.remove_suffix(1);  // a fully qualified "name."
  bool all_numeric = true;
  std::size_t label = 0;
  for (std::size_t i = 0; i <= host.size(); ++i) {
    if (i == host.size() || host[i] == '.') {
      if (label == 0 || label > 63) return false;
      if (host[i - 1] == '-' || host[i - label] == '-') return false;
      label = 0;
      continue;
    }
    const char c = host[i];
    if (!is_alnum(c) && c != '-') return false;
    if (c < '0' || c > '9') all_numeric = false;
    ++label;
  }
  // "999.1.1.1" is a mistyped IPv4 address, not a name (RFC 1123 §2.1).
  return !all_numeric;
}

std::optional<Endpoint> parse_endpoint(std::string_view text, bool allow_dns, std::string* error) {
  auto fail = [error](std::string message) -> std::optional<Endpoint> {
    if (error != nullptr) *error = std::move(message);
    return std::nullopt;
  };
  Endpoint endpoint;
  endpoint.text = std::string{text};
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail("expected host:port");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    const auto address = parse_ip(host);
    if (!address || host.find(':') == std::string_view::npos) {
      return fail("expected an IPv6 address in brackets");
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return fail("expected host:port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return fail("write an IPv6 address in brackets, e.g. \"[::1]:3389\"");
    }
    if (!parse_ip(host)) {
      if (!allow_dns) return fail("expected an IP address, not a host name");
      if (!is_dns_name(host)) return fail("bad host name");
    }
  }
  unsigned value = 0;
  const auto [stop, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || stop != port.data() + port.size() || value > 65535) {
    return fail("bad port: expected 0..65535");
  }
  endpoint.host = std::string{host};
  endpoint.port = static_cast<std::uint16_t>(value);
  return endpoint;
}

}  // namespace rdpgate::config
