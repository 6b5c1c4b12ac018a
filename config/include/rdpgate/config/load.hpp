#pragma once
// YAML -> validated Config (STYLE.md §7): every error at once, each as FILE:LINE:COL: message.

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rdpgate/config/config.hpp"

namespace rdpgate::config {

struct ConfigError {
  std::string file;
  int line = 0;         // 1-based
  int column = 0;       // 1-based
  std::string path;     // e.g. "listeners[0].address"
  std::string message;  // lowercase, no trailing period
  // "FILE:LINE:COL: message"
  [[nodiscard]] std::string to_string() const;
};

using LoadResult = std::variant<Config, std::vector<ConfigError>>;

// Reads and validates `path`. An unreadable file is one error at line 0, column 0.
[[nodiscard]] LoadResult load_config_file(const std::string& path);
// Validates YAML text; `file` is used in messages.
[[nodiscard]] LoadResult load_config_string(std::string_view yaml, const std::string& file);

}  // namespace rdpgate::config
