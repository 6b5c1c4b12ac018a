// Value syntaxes of the configuration file (SPEC §4): durations, sizes and rates.

#include "rdpgate/config/units.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <limits>

namespace rdpgate::config {
namespace {

// Reads the leading decimal digits of `text` into `value`; false when there are none or the
// number does not fit in 64 bits.
bool take_unsigned(std::string_view& text, std::uint64_t& value) {
  const char* const begin = text.data();
  const char* const end = begin + text.size();
  const auto [stop, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc{} || stop == begin) return false;
  text.remove_prefix(static_cast<std::size_t>(stop - begin));
  return true;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  struct Unit {
    std::string_view suffix;
    std::uint64_t millis;
  };
  // "ms" before "m": the longest suffix that matches wins.
  constexpr std::array<Unit, 5> units{{{"ms", 1},
                                       {"s", 1000},
                                       {"m", 60 * 1000},
                                       {"h", 60 * 60 * 1000},
                                       {"d", 24 * 60 * 60 * 1000}}};
  constexpr std::uint64_t max_millis =
      static_cast<std::uint64_t>(std::numeric_limits<Duration::rep>::max());
  if (text.empty()) return std::nullopt;
  std::uint64_t total = 0;
  while (!text.empty()) {
    std::uint64_t amount = 0;
    if (!take_unsigned(text, amount)) return std::nullopt;
    const Unit* unit = nullptr;
    for (const auto& candidate : units) {
      if (text.starts_with(candidate.suffix)) {
        unit = &candidate;
        break;
      }
    }
    if (unit == nullptr) return std::nullopt;  // a bare number or an unknown unit
    text.remove_prefix(unit->suffix.size());
    if (!text.empty() && !is_digit(text.front())) return std::nullopt;  // "5sec", "1h30mx"
    if (amount > (max_millis - total) / unit->millis) return std::nullopt;
    total += amount * unit->millis;
  }
  return Duration{static_cast<Duration::rep>(total)};
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  struct Unit {
    std::string_view suffix;
    std::uint64_t factor;
  };
  constexpr std::array<Unit, 9> units{{{"B", 1},
                                       {"KiB", 1ULL << 10},
                                       {"MiB", 1ULL << 20},
                                       {"GiB", 1ULL << 30},
                                       {"TiB", 1ULL << 40},
                                       {"KB", 1000ULL},
                                       {"MB", 1000ULL * 1000},
                                       {"GB", 1000ULL * 1000 * 1000},
                                       {"TB", 1000ULL * 1000 * 1000 * 1000}}};
  std::uint64_t amount = 0;
  if (!take_unsigned(text, amount)) return std::nullopt;
  if (text.empty()) return amount;  // a plain number of bytes
  for (const auto& unit : units) {
    if (text == unit.suffix) {
      if (amount > std::numeric_limits<std::uint64_t>::max() / unit.factor) return std::nullopt;
      return amount * unit.factor;
    }
  }
  return std::nullopt;
}

std::optional<Rate> parse_rate(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  const std::string_view number = text.substr(0, slash);
  const std::string_view per = text.substr(slash + 1);
  if (!is_digit(number.front())) return std::nullopt;  // no sign, no "inf", no ".5"
  double amount = 0;
  const auto [stop, ec] = std::from_chars(number.data(), number.data() + number.size(), amount,
                                          std::chars_format::fixed);
  if (ec != std::errc{} || stop != number.data() + number.size() || !std::isfinite(amount)) {
    return std::nullopt;
  }
  double seconds = 0;
  if (per == "s" || per == "sec" || per == "second") {
    seconds = 1;
  } else if (per == "min" || per == "minute") {
    seconds = 60;
  } else if (per == "h" || per == "hour") {
    seconds = 3600;
  } else if (per == "d" || per == "day") {
    seconds = 86400;
  } else {
    return std::nullopt;
  }
  return Rate{amount / seconds};
}

std::string format_duration(Duration d) {
  if (d.count() == 0) return "0s";
  std::string out;
  auto rest = d.count();
  if (rest < 0) {
    out += '-';
    rest = -rest;
  }
  struct Unit {
    const char* suffix;
    Duration::rep millis;
  };
  constexpr std::array<Unit, 5> units{{{"d", 24LL * 60 * 60 * 1000},
                                       {"h", 60LL * 60 * 1000},
                                       {"m", 60LL * 1000},
                                       {"s", 1000},
                                       {"ms", 1}}};
  for (const auto& unit : units) {
    if (rest >= unit.millis) {
      out += std::to_string(rest / unit.millis);
      out += unit.suffix;
      rest %= unit.millis;
    }
  }
  return out;
}

}  // namespace rdpgate::config
