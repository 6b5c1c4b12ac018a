#pragma once
// "host:port" / "[v6]:port" endpoints (standard library and POSIX only).

#include <optional>
#include <string>
#include <string_view>

#include "rdpgate/config/config.hpp"

namespace rdpgate::config {

// Parses "192.0.2.1:3389", "[2001:db8::1]:3389" or, when `allow_dns`, "rdp1.example.net:3389".
// Ports 0..65535 are accepted: callers decide whether 0 (the OS picks one) makes sense. On
// failure `error` (if given) says why, e.g. "expected host:port".
[[nodiscard]] std::optional<Endpoint> parse_endpoint(std::string_view text, bool allow_dns,
                                                     std::string* error = nullptr);

// Whether `host` is a syntactically valid DNS name (letters, digits, '-', dots; labels of at
// most 63 characters, 253 in all).
[[nodiscard]] bool is_dns_name(std::string_view host) noexcept;

}  // namespace rdpgate::config
