#pragma once
// Stage 1 of loading (STYLE.md §7): the YAML document, key by key, into a Config, with the
// position of every value that stage 2 (validate.cpp) cross-checks. Rather than a RawConfig of
// optionals we decode straight into Config and keep the positions beside it: the defaults live
// in config.hpp only once, and listener overrides merge by decoding onto a copy of the globals.

#include <vector>

#include "rdpgate/config/config.hpp"
#include "yaml_walk.hpp"

namespace rdpgate::config::detail {

struct ListenerMarks {
  Where self, name, address, route;  // route: !known() when absent
};
struct RouteMarks {
  Where self, name, match_listener, require_token;
  std::vector<Where> backends;
};

struct Decoded {
  Config config;
  Where root;
  std::vector<ListenerMarks> listeners;  // one per config.listeners entry, same order
  std::vector<RouteMarks> routes;        // one per config.routes entry, same order
  std::vector<Where> key_ids;            // one per config.tokens.keys entry
  Where metrics_address, admin_address;
};

// Decodes `document` (the root node). Errors go to `walker`; what could be read is in the result.
[[nodiscard]] Decoded decode(Walker& walker, const YAML::Node& document);

// Stage 2: names, references and cross-field rules. Errors go to `walker`.
void validate(Walker& walker, const Decoded& decoded);

}  // namespace rdpgate::config::detail
