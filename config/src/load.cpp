// load_config_file / load_config_string: parse the YAML, decode (stage 1), validate (stage 2),
// and hand back a Config only when no stage found anything wrong.

#include "rdpgate/config/load.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "decode.hpp"

namespace rdpgate::config {

std::string ConfigError::to_string() const {
  // Appended piece by piece: chained operator+ trips a false -Wrestrict in GCC 12 at -O2+.
  std::string out = file;
  if (line > 0) {
    out.append(":").append(std::to_string(line)).append(":").append(std::to_string(column));
  }
  out.append(": ");
  if (!path.empty()) out.append(path).append(": ");
  out.append(message);
  return out;
}

LoadResult load_config_string(std::string_view yaml, const std::string& file) {
  YAML::Node document;
  try {
    document = YAML::Load(std::string{yaml});
  } catch (const YAML::ParserException& e) {
    // yaml-cpp marks are 0-based; messages are already lowercase ("end of map not found").
    return std::vector<ConfigError>{
        ConfigError{file, e.mark.line + 1, e.mark.column + 1, "", "yaml syntax error: " + e.msg}};
  } catch (const YAML::Exception& e) {
    return std::vector<ConfigError>{
        ConfigError{file, e.mark.line + 1, e.mark.column + 1, "", "yaml error: " + e.msg}};
  }
  detail::Walker walker{file};
  detail::Decoded decoded = detail::decode(walker, document);
  detail::validate(walker, decoded);
  if (walker.failed()) {
    // In file order, however the stages found them.
    auto errors = walker.take_errors();
    std::stable_sort(errors.begin(), errors.end(), [](const ConfigError& a, const ConfigError& b) {
      return std::pair{a.line, a.column} < std::pair{b.line, b.column};
    });
    return errors;
  }
  decoded.config.file = file;
  return std::move(decoded.config);
}

LoadResult load_config_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    return std::vector<ConfigError>{
        ConfigError{path, 0, 0, "", std::string{"cannot open: "} + std::strerror(errno)}};
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return std::vector<ConfigError>{ConfigError{path, 0, 0, "", "cannot read the file"}};
  }
  return load_config_string(text.str(), path);
}

}  // namespace rdpgate::config
