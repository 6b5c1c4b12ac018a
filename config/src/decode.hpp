#pragma once
// Stage 1 of loading (STYLE.md §7): the YAML document, key by key, into a Config, with the
// position of every value that stage 2 (validate.cpp) cross-checks. Rather than a RawConfig of
// optionals we decode straight into Config and keep the positions beside it: the defaults live
// in config.hpp only once, and listener overrides merge by decoding onto a copy of the globals.

#include <algorithm>
#include <optional>
#include <string>
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
  Where portal_address;
};

// Helpers shared by the decoders (decode.cpp, decode_routes.cpp).
template <class T, class U>
void set(T& target, const std::optional<U>& value) {
  if (value) target = static_cast<T>(*value);
}

inline bool is_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

// Listener and route names become metric label values and appear in logs: keep them plain.
inline std::optional<std::string> name(Walker& walker, const Field& field) {
  auto text = walker.string(field);
  if (!text) return std::nullopt;
  if (text->empty() || text->size() > 64 ||
      !std::all_of(text->begin(), text->end(), is_name_char)) {
    walker.error(field.where,
                 "bad name " + quote(*text) + ": use 1 to 64 letters, digits, '_', '-' or '.'");
    return std::nullopt;
  }
  return text;
}

inline std::optional<AccessMode> mode(Walker& walker, const Field& field) {
  return walker.choice<AccessMode>(field, {{"open", AccessMode::open}, {"jit", AccessMode::jit}});
}

// Sections decoded in decode_routes.cpp.
void decode_routes(Walker& walker, const Field& field, Decoded& out);
void decode_tokens(Walker& walker, const Field& field, Decoded& out);
// `portal:`, in decode_portal.cpp.
void decode_portal(Walker& walker, const Field& field, Decoded& out);

// Decodes `document` (the root node). Errors go to `walker`; what could be read is in the result.
[[nodiscard]] Decoded decode(Walker& walker, const YAML::Node& document);

// Stage 2: names, references and cross-field rules. Errors go to `walker`.
void validate(Walker& walker, const Decoded& decoded);

}  // namespace rdpgate::config::detail
