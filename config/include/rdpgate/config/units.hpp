#pragma once
// Parsers for the value syntaxes of the configuration file (SPEC §4).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rdpgate::config {

using Duration = std::chrono::milliseconds;

// "500ms", "5s", "10m", "2h", "1d", "0s"; also compound "1h30m". No bare numbers.
[[nodiscard]] std::optional<Duration> parse_duration(std::string_view text);
// "4096", "4KiB", "64KiB", "1MiB", "1GiB" (also "KB"/"MB" as powers of 1000).
[[nodiscard]] std::optional<std::uint64_t> parse_size(std::string_view text);

// Events per second from "5/s", "30/min", "100/h".
struct Rate {
  double per_second = 0;
  friend bool operator==(const Rate&, const Rate&) = default;
};
[[nodiscard]] std::optional<Rate> parse_rate(std::string_view text);

// "1h30m" style, for messages and the admin API.
[[nodiscard]] std::string format_duration(Duration d);

}  // namespace rdpgate::config
