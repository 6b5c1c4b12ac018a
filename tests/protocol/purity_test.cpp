// Architectural invariants (STYLE.md §2), checked on the sources:
//   protocol/  the standard library only (pure, fuzzed parsers);
//   config/    the standard library, POSIX address functions and yaml-cpp: no I/O framework,
//              no crypto, no logging or metrics, nothing from the gateway tier.
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "test_support.hpp"

namespace rdpgate::protocol::test {
namespace {

// Every #include in `root` that matches `forbidden`, as "file:line: text"; `files` counts the
// sources seen.
std::vector<std::string> forbidden_includes(const std::filesystem::path& root,
                                            const std::regex& forbidden, int& files) {
  std::vector<std::string> found;
  files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    const auto ext = entry.path().extension();
    if (!entry.is_regular_file() || (ext != ".hpp" && ext != ".cpp" && ext != ".h")) continue;
    ++files;
    std::ifstream in(entry.path());
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      if (std::regex_search(line, forbidden)) {
        found.push_back(entry.path().string() + ":" + std::to_string(number) + ": " + line);
      }
    }
  }
  return found;
}

const std::regex protocol_forbidden(
    R"(^\s*#\s*include\s*[<"](boost/|asio|openssl/|spdlog/|yaml-cpp/|prometheus/|rdpgate/(?!protocol/)))");
const std::regex config_forbidden(
    R"(^\s*#\s*include\s*[<"](boost/|asio|openssl/|spdlog/|prometheus/|sqlite|rdpgate/(?!config/)))");

TEST(Purity, ProtocolIncludesOnlyTheStandardLibrary) {
  int files = 0;
  for (const auto& hit : forbidden_includes(RDPGATE_PROTOCOL_SOURCE_DIR, protocol_forbidden, files)) {
    ADD_FAILURE() << hit;
  }
  EXPECT_GE(files, 20);  // the scan must have seen the library, or it proves nothing
}

TEST(Purity, ConfigIncludesNoFrameworkAndNothingOfTheGateway) {
  int files = 0;
  for (const auto& hit : forbidden_includes(RDPGATE_CONFIG_SOURCE_DIR, config_forbidden, files)) {
    ADD_FAILURE() << hit;
  }
  EXPECT_GE(files, 10);
}

TEST(Purity, PatternsCatchForbiddenIncludes) {
  EXPECT_TRUE(std::regex_search("#include <boost/asio.hpp>", protocol_forbidden));
  EXPECT_TRUE(std::regex_search("  #  include \"openssl/ssl.h\"", protocol_forbidden));
  EXPECT_TRUE(std::regex_search("#include <spdlog/spdlog.h>", protocol_forbidden));
  EXPECT_TRUE(std::regex_search("#include <yaml-cpp/yaml.h>", protocol_forbidden));
  EXPECT_TRUE(std::regex_search("#include <prometheus/counter.h>", protocol_forbidden));
  EXPECT_TRUE(std::regex_search("#include \"rdpgate/gateway/log.hpp\"", protocol_forbidden));
  EXPECT_FALSE(std::regex_search("#include \"rdpgate/protocol/x224.hpp\"", protocol_forbidden));
  EXPECT_FALSE(std::regex_search("#include <string_view>", protocol_forbidden));

  EXPECT_TRUE(std::regex_search("#include <boost/asio.hpp>", config_forbidden));
  EXPECT_TRUE(std::regex_search("#include \"rdpgate/security/jws.hpp\"", config_forbidden));
  EXPECT_TRUE(std::regex_search("#include <sqlite3.h>", config_forbidden));
  EXPECT_FALSE(std::regex_search("#include <yaml-cpp/yaml.h>", config_forbidden));
  EXPECT_FALSE(std::regex_search("#include \"rdpgate/config/cidr.hpp\"", config_forbidden));
}

}  // namespace
}  // namespace rdpgate::protocol::test
