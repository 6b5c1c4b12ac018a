#pragma once
// `rdpgate inspect`: decode captured first bytes to one JSON object (SPEC §8).

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rdpgate/protocol/limits.hpp"

namespace rdpgate::protocol {

enum class InspectStatus { complete = 0, invalid = 1, truncated = 2 };

struct InspectReport {
  InspectStatus status = InspectStatus::invalid;
  std::string json;  // one JSON object, no trailing newline
};

// Decodes `bytes` as a client's first flight; never reads past the span. The JSON is one of
//   {"status":"complete","classification":"tpkt|preconnection|tls","consumed":N,
//    "pcb":{"size","version","id","cch","string"}, "request":{"length","dst_ref","src_ref",
//    "class_options","cookie"|null,"token_kind","routing_token"|null,"negotiation":{"flags",
//    "flag_names","requested_protocols","requested_protocol_names"}|null,"correlation":{"id",
//    "reserved_nonzero","id_questionable"}|null}, "tls":{"record_version","legacy_version",
//    "supported_versions","sni"|null,"fragmented"}}   (pcb / request / tls only when present)
//   {"status":"invalid","reason":"<errc name>","offset":N}
//   {"status":"truncated","needed":N}   (N: bytes needed in all, 0 if not yet known)
[[nodiscard]] InspectReport inspect_first_bytes(std::span<const std::byte> bytes,
                                                const Limits& limits = {});

// Parses the hex form: hex digit pairs, whitespace ignored, lines whose first non-blank
// character is '#' ignored. nullopt on an odd digit count or a non-hex character.
[[nodiscard]] std::optional<std::vector<std::byte>> parse_hex_dump(std::string_view text);

}  // namespace rdpgate::protocol
