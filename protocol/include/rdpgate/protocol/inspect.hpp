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

// Decodes `bytes` as a client's first flight; never throws, never reads past the span.
[[nodiscard]] InspectReport inspect_first_bytes(std::span<const std::byte> bytes,
                                                const Limits& limits = {});

// Parses the hex form: hex digit pairs, whitespace ignored, lines whose first non-blank
// character is '#' ignored. nullopt on an odd digit count or a non-hex character.
[[nodiscard]] std::optional<std::vector<std::byte>> parse_hex_dump(std::string_view text);

}  // namespace rdpgate::protocol
