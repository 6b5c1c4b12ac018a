#pragma once
// Reading typed values out of yaml-cpp nodes while remembering where each came from. Every
// problem becomes a ConfigError (FILE:LINE:COL, path, message) and reading goes on, so one pass
// reports all of them. Internal to rdpgate_config.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rdpgate/config/config.hpp"
#include "rdpgate/config/load.hpp"

namespace rdpgate::config::detail {

// A position in the file (1-based) and the dotted path of the value written there.
struct Where {
  int line = 0;
  int column = 0;
  std::string path;
  [[nodiscard]] bool known() const noexcept { return line > 0; }
};

// One value in the document: the node, its path, and where it was written.
struct Field {
  YAML::Node node;
  Where where;
};

// The closest of `candidates` to `word` when it is plausibly a typo, else "".
[[nodiscard]] std::string closest(std::string_view word,
                                  const std::vector<std::string_view>& candidates);

class Walker {
 public:
  explicit Walker(std::string file) : file_(std::move(file)) {}

  void error(const Where& where, std::string message);
  [[nodiscard]] bool failed() const noexcept { return !errors_.empty(); }
  [[nodiscard]] std::vector<ConfigError> take_errors() { return std::move(errors_); }

  // The document root, or a sub-value: `fallback` is used when the node carries no mark (an
  // empty value such as `address:` has none in some yaml-cpp versions).
  [[nodiscard]] Field root(const YAML::Node& node) const;
  [[nodiscard]] Field child(const YAML::Node& node, std::string path, const Where& fallback) const;
  // The elements of a sequence, or an error and nothing.
  [[nodiscard]] std::vector<Field> sequence(const Field& field);

  [[nodiscard]] std::optional<std::string> string(const Field& field);
  [[nodiscard]] std::optional<bool> boolean(const Field& field);
  [[nodiscard]] std::optional<std::uint64_t> integer(const Field& field, std::uint64_t min,
                                                     std::uint64_t max);
  [[nodiscard]] std::optional<double> number(const Field& field, double min, double max);
  [[nodiscard]] std::optional<Duration> duration(const Field& field, Duration min, Duration max);
  [[nodiscard]] std::optional<std::uint64_t> size(const Field& field, std::uint64_t min,
                                                  std::uint64_t max);
  [[nodiscard]] std::optional<Rate> rate(const Field& field);
  [[nodiscard]] std::optional<Cidr> cidr(const Field& field);
  [[nodiscard]] std::optional<std::vector<Cidr>> cidrs(const Field& field);
  [[nodiscard]] std::optional<std::vector<std::string>> strings(const Field& field);
  // "host:port" or "[v6]:port". Listening addresses need an IP literal; backends may name a
  // DNS host. Port 0 (the OS picks one) only where `allow_port_zero`.
  [[nodiscard]] std::optional<Endpoint> endpoint(const Field& field, bool allow_dns,
                                                 bool allow_port_zero);

  template <class E>
  [[nodiscard]] std::optional<E> choice(
      const Field& field, std::initializer_list<std::pair<std::string_view, E>> names) {
    const auto text = string(field);
    if (!text) return std::nullopt;
    std::vector<std::string_view> known;
    for (const auto& [name, value] : names) {
      if (*text == name) return value;
      known.push_back(name);
    }
    choice_error(field, *text, known);
    return std::nullopt;
  }

 private:
  void choice_error(const Field& field, const std::string& text,
                    const std::vector<std::string_view>& known);
  void type_error(const Field& field, std::string_view expected);

  std::string file_;
  std::vector<ConfigError> errors_;
};

// A mapping whose keys are checked once against the known ones: unknown keys (with a hint) and
// duplicate keys are errors; get() then returns the named values.
class MapReader {
 public:
  MapReader(Walker& walker, const Field& field, std::vector<std::string_view> known);
  [[nodiscard]] bool valid() const noexcept { return valid_; }
  [[nodiscard]] std::optional<Field> get(std::string_view key) const;
  // As get(), and an error at the mapping when the key is absent.
  [[nodiscard]] std::optional<Field> require(std::string_view key) const;
  [[nodiscard]] const Where& where() const noexcept { return where_; }

 private:
  Walker& walker_;
  Where where_;
  bool valid_ = false;
  std::vector<std::pair<std::string, Field>> entries_;
};

// "a.b" or "b" when `base` is empty.
[[nodiscard]] std::string join(const std::string& base, std::string_view key);
// `text` in double quotes, control characters escaped, long values cut.
[[nodiscard]] std::string quote(std::string_view text);

}  // namespace rdpgate::config::detail
