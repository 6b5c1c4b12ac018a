// Architectural invariant (STYLE.md §2): protocol/ uses the standard library only.
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "test_support.hpp"

namespace rdpgate::protocol::test {
namespace {

TEST(Purity, ProtocolIncludesOnlyTheStandardLibrary) {
  const std::filesystem::path root = RDPGATE_PROTOCOL_SOURCE_DIR;
  ASSERT_TRUE(std::filesystem::is_directory(root)) << root;
  const std::regex forbidden(
      R"(^\s*#\s*include\s*[<"](boost/|asio|openssl/|spdlog/|yaml-cpp/|prometheus/))");
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    const auto ext = entry.path().extension();
    if (!entry.is_regular_file() || (ext != ".hpp" && ext != ".cpp" && ext != ".h")) continue;
    ++files;
    std::ifstream in(entry.path());
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      EXPECT_FALSE(std::regex_search(line, forbidden))
          << entry.path() << ":" << number << ": " << line;
    }
  }
  // The scan must have seen the library, or it proves nothing.
  EXPECT_GE(files, 20);
}

TEST(Purity, PatternCatchesForbiddenIncludes) {
  const std::regex forbidden(
      R"(^\s*#\s*include\s*[<"](boost/|asio|openssl/|spdlog/|yaml-cpp/|prometheus/))");
  EXPECT_TRUE(std::regex_search("#include <boost/asio.hpp>", forbidden));
  EXPECT_TRUE(std::regex_search("  #  include \"openssl/ssl.h\"", forbidden));
  EXPECT_TRUE(std::regex_search("#include <spdlog/spdlog.h>", forbidden));
  EXPECT_TRUE(std::regex_search("#include <yaml-cpp/yaml.h>", forbidden));
  EXPECT_TRUE(std::regex_search("#include <prometheus/counter.h>", forbidden));
  EXPECT_FALSE(std::regex_search("#include <string_view>", forbidden));
}

}  // namespace
}  // namespace rdpgate::protocol::test
