// Typed, located reading of yaml-cpp nodes (see yaml_walk.hpp).

#include "yaml_walk.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "rdpgate/config/endpoint.hpp"

namespace rdpgate::config::detail {
namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0U : 1U)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "a mapping", "a sequence", "null" or the quoted scalar, for "expected X, got Y".
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a sequence";
    case YAML::NodeType::Scalar: return quote(node.Scalar());
    default: return "an empty value";
  }
}

std::string format_size(std::uint64_t bytes) {
  if (bytes != 0 && bytes % (1ULL << 30) == 0) return std::to_string(bytes >> 30) + "GiB";
  if (bytes != 0 && bytes % (1ULL << 20) == 0) return std::to_string(bytes >> 20) + "MiB";
  if (bytes != 0 && bytes % (1ULL << 10) == 0) return std::to_string(bytes >> 10) + "KiB";
  return std::to_string(bytes) + "B";
}

}  // namespace

std::string closest(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string_view best;
  std::size_t best_distance = 3;  // more than two edits away is not a typo
  for (const auto candidate : candidates) {
    const std::size_t distance = edit_distance(word, candidate);
    if (distance < best_distance && distance < std::max(word.size(), candidate.size())) {
      best = candidate;
      best_distance = distance;
    }
  }
  return std::string{best};
}

std::string join(const std::string& base, std::string_view key) {
  if (base.empty()) return std::string{key};
  return base + "." + std::string{key};
}

std::string quote(std::string_view text) {
  constexpr std::size_t max_shown = 60;
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < max_shown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > max_shown) out += "...";
  out += '"';
  return out;
}

void Walker::error(const Where& where, std::string message) {
  errors_.push_back(ConfigError{file_, where.line, where.column, where.path, std::move(message)});
}

Field Walker::root(const YAML::Node& node) const {
  Field field{node, {1, 1, ""}};
  const auto mark = node.Mark();
  if (mark.line >= 0) field.where = {mark.line + 1, mark.column + 1, ""};
  return field;
}

Field Walker::child(const YAML::Node& node, std::string path, const Where& fallback) const {
  Field field{node, fallback};
  field.where.path = std::move(path);
  const auto mark = node.Mark();
  // yaml-cpp marks an empty value (`key:` then a newline) where the next token starts, often
  // on a later line; the key's position reads better.
  if (mark.line >= 0 && !node.IsNull()) {
    field.where.line = mark.line + 1;
    field.where.column = mark.column + 1;
  }
  return field;
}

std::vector<Field> Walker::sequence(const Field& field) {
  std::vector<Field> out;
  if (!field.node.IsSequence()) {
    type_error(field, "a sequence");
    return out;
  }
  std::size_t index = 0;
  for (const auto& element : field.node) {
    out.push_back(
        child(element, field.where.path + "[" + std::to_string(index) + "]", field.where));
    ++index;
  }
  return out;
}

void Walker::type_error(const Field& field, std::string_view expected) {
  error(field.where, "expected " + std::string{expected} + ", got " + describe(field.node));
}

std::optional<std::string> Walker::string(const Field& field) {
  if (!field.node.IsScalar()) {
    type_error(field, "a string");
    return std::nullopt;
  }
  return field.node.Scalar();
}

std::optional<bool> Walker::boolean(const Field& field) {
  if (field.node.IsScalar()) {
    std::string text = field.node.Scalar();
    std::transform(text.begin(), text.end(), text.begin(),
                   [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
    if (text == "true" || text == "yes" || text == "on") return true;
    if (text == "false" || text == "no" || text == "off") return false;
  }
  type_error(field, "true or false");
  return std::nullopt;
}

std::optional<std::uint64_t> Walker::integer(const Field& field, std::uint64_t min,
                                             std::uint64_t max) {
  if (!field.node.IsScalar()) {
    type_error(field, "an integer");
    return std::nullopt;
  }
  const std::string& text = field.node.Scalar();
  long long value = 0;
  const auto [stop, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || stop != text.data() + text.size() ||
      (ec != std::errc{} && ec != std::errc::result_out_of_range)) {
    type_error(field, "an integer");
    return std::nullopt;
  }
  if (ec == std::errc::result_out_of_range || value < 0 ||
      static_cast<std::uint64_t>(value) < min || static_cast<std::uint64_t>(value) > max) {
    // Caps as large as the type are not worth printing.
    error(field.where,
          (max >= std::numeric_limits<std::uint32_t>::max()
               ? "must be at least " + std::to_string(min)
               : "must be between " + std::to_string(min) + " and " + std::to_string(max)) +
              ", got " + text);
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(value);
}

std::optional<double> Walker::number(const Field& field, double min, double max) {
  if (!field.node.IsScalar()) {
    type_error(field, "a number");
    return std::nullopt;
  }
  const std::string& text = field.node.Scalar();
  double value = 0;
  const auto [stop, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
  if (text.empty() || ec != std::errc{} || stop != text.data() + text.size() ||
      !std::isfinite(value)) {
    type_error(field, "a number");
    return std::nullopt;
  }
  if (value < min || value > max) {
    auto shown = [](double d) {
      std::string s = std::to_string(d);
      s.erase(s.find_last_not_of('0') + 1);
      if (s.back() == '.') s.pop_back();
      return s;
    };
    error(field.where, "must be between " + shown(min) + " and " + shown(max) + ", got " + text);
    return std::nullopt;
  }
  return value;
}

std::optional<Duration> Walker::duration(const Field& field, Duration min, Duration max) {
  if (!field.node.IsScalar()) {
    type_error(field, "a duration");
    return std::nullopt;
  }
  const std::string& text = field.node.Scalar();
  const auto value = parse_duration(text);
  if (!value) {
    error(field.where,
          "bad duration " + quote(text) + ": expected a number and a unit (ms, s, m, h, d)");
    return std::nullopt;
  }
  if (*value < min || *value > max) {
    error(field.where, "must be between " + format_duration(min) + " and " + format_duration(max) +
                           ", got " + text);
    return std::nullopt;
  }
  return value;
}

std::optional<std::uint64_t> Walker::size(const Field& field, std::uint64_t min,
                                          std::uint64_t max) {
  if (!field.node.IsScalar()) {
    type_error(field, "a size");
    return std::nullopt;
  }
  const std::string& text = field.node.Scalar();
  const auto value = parse_size(text);
  if (!value) {
    error(field.where,
          "bad size " + quote(text) + ": expected bytes, optionally with a unit (KiB, MiB, GiB)");
    return std::nullopt;
  }
  if (*value < min || *value > max) {
    error(field.where,
          "must be between " + format_size(min) + " and " + format_size(max) + ", got " + text);
    return std::nullopt;
  }
  return value;
}

std::optional<Rate> Walker::rate(const Field& field) {
  if (!field.node.IsScalar()) {
    type_error(field, "a rate");
    return std::nullopt;
  }
  const std::string& text = field.node.Scalar();
  const auto value = parse_rate(text);
  if (!value) {
    error(field.where, "bad rate " + quote(text) + ": expected a count per unit, e.g. 5/s, 30/min");
  }
  return value;
}

std::optional<Cidr> Walker::cidr(const Field& field) {
  const auto text = string(field);
  if (!text) return std::nullopt;
  std::string why;
  auto value = parse_cidr(*text, &why);
  if (!value) error(field.where, "bad cidr " + quote(*text) + ": " + why);
  return value;
}

std::optional<std::vector<Cidr>> Walker::cidrs(const Field& field) {
  if (!field.node.IsSequence()) {
    type_error(field, "a sequence of cidrs");
    return std::nullopt;
  }
  std::vector<Cidr> out;
  bool ok = true;
  for (const auto& element : sequence(field)) {
    if (auto value = cidr(element)) {
      out.push_back(*value);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::vector<std::string>> Walker::strings(const Field& field) {
  if (!field.node.IsSequence()) {
    type_error(field, "a sequence of strings");
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const auto& element : sequence(field)) {
    if (auto value = string(element)) {
      out.push_back(std::move(*value));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<Endpoint> Walker::endpoint(const Field& field, bool allow_dns, bool allow_port_zero) {
  const auto text = string(field);
  if (!text) return std::nullopt;
  std::string why;
  auto value = parse_endpoint(*text, allow_dns, &why);
  if (value && value->port == 0 && !allow_port_zero) {
    value.reset();
    why = "bad port: expected 1..65535";
  }
  if (!value) error(field.where, "bad address " + quote(*text) + ": " + why);
  return value;
}

void Walker::choice_error(const Field& field, const std::string& text,
                          const std::vector<std::string_view>& known) {
  std::string list;
  for (const auto name : known) {
    if (!list.empty()) list += ", ";
    list += name;
  }
  error(field.where, "unknown value " + quote(text) + ": expected one of " + list);
}

MapReader::MapReader(Walker& walker, const Field& field, std::vector<std::string_view> known)
    : walker_(walker), where_(field.where) {
  if (!field.node.IsMap()) {
    walker.error(field.where, "expected a mapping, got " + describe(field.node));
    return;
  }
  valid_ = true;
  for (const auto& entry : field.node) {
    const Field key = walker.child(entry.first, field.where.path, field.where);
    if (!entry.first.IsScalar()) {
      walker.error(key.where, "expected a key, got " + describe(entry.first));
      continue;
    }
    const std::string& name = entry.first.Scalar();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string message = "unknown key " + quote(name);
      if (const auto hint = closest(name, known); !hint.empty()) {
        message += " (did you mean \"" + hint + "\")";
      }
      walker.error(key.where, std::move(message));
      continue;
    }
    const bool duplicate = std::any_of(entries_.begin(), entries_.end(),
                                       [&](const auto& seen) { return seen.first == name; });
    if (duplicate) {
      walker.error(key.where, "duplicate key " + quote(name));
      continue;
    }
    entries_.emplace_back(name,
                          walker.child(entry.second, join(field.where.path, name), key.where));
  }
}

std::optional<Field> MapReader::get(std::string_view key) const {
  for (const auto& [name, field] : entries_) {
    if (name == key) return field;
  }
  return std::nullopt;
}

std::optional<Field> MapReader::require(std::string_view key) const {
  auto field = get(key);
  if (!field && valid_) walker_.error(where_, "missing required key " + quote(key));
  return field;
}

}  // namespace rdpgate::config::detail
