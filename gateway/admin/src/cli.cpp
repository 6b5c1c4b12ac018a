// The admin subcommands: parse the words, make one admin API call, print the answer.

#include "rdpgate/admin/cli.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "rdpgate/admin/client.hpp"
#include "rdpgate/config/cidr.hpp"
#include "rdpgate/config/units.hpp"

namespace rdpgate::admin {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;

constexpr std::string_view default_admin_address = "127.0.0.1:9488";
constexpr std::string_view token_variable = "RDPGATE_ADMIN_TOKEN";

constexpr std::string_view usage_text =
    "usage:\n"
    "  rdpgate ban list\n"
    "  rdpgate ban add CIDR [--duration 1h] [--reason TEXT]\n"
    "  rdpgate ban remove CIDR\n"
    "  rdpgate grant list\n"
    "  rdpgate grant add CIDR --route ROUTE --duration 2h [--reason TEXT]\n"
    "  rdpgate grant revoke ID\n"
    "  rdpgate session list\n"
    "  rdpgate session kill ID\n"
    "  rdpgate reload\n"
    "options: --admin HOST:PORT (default 127.0.0.1:9488), --token-file FILE (default: the\n"
    "  RDPGATE_ADMIN_TOKEN environment variable), --table\n";

struct Arguments {
  std::vector<std::string> words;
  std::string admin{default_admin_address};
  std::optional<std::string> token_file;
  std::optional<std::string> duration;
  std::optional<std::string> reason;
  std::optional<std::string> route;
  bool table = false;
  bool help = false;
};

struct UsageError {
  std::string message;
};

std::variant<Arguments, UsageError> parse_arguments(int argc, char** argv) {
  Arguments out;
  const std::vector<std::string_view> words(argv, argv + std::max(argc, 0));
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string_view word = words[i];
    if (word == "--table") {
      out.table = true;
      continue;
    }
    if (word == "--help" || word == "-h") {
      out.help = true;
      continue;
    }
    if (!word.starts_with("--")) {
      out.words.emplace_back(word);
      continue;
    }
    std::string_view name = word;
    std::optional<std::string_view> value;
    if (const auto equals = word.find('='); equals != std::string_view::npos) {
      name = word.substr(0, equals);
      value = word.substr(equals + 1);
    } else if (i + 1 < words.size()) {
      value = words[++i];
    }
    std::optional<std::string>* slot = nullptr;
    std::optional<std::string> admin;
    if (name == "--admin") {
      slot = &admin;
    } else if (name == "--token-file") {
      slot = &out.token_file;
    } else if (name == "--duration") {
      slot = &out.duration;
    } else if (name == "--reason") {
      slot = &out.reason;
    } else if (name == "--route") {
      slot = &out.route;
    } else {
      return UsageError{"unknown option " + std::string{name}};
    }
    if (!value) return UsageError{"option " + std::string{name} + " needs a value"};
    *slot = std::string{*value};
    if (admin) out.admin = *admin;
  }
  return out;
}

std::optional<std::string> read_token(const Arguments& arguments, std::string& error) {
  std::string token;
  if (arguments.token_file) {
    std::ifstream file{*arguments.token_file, std::ios::binary};
    if (!file) {
      error = "cannot read token file \"" + *arguments.token_file + "\"";
      return std::nullopt;
    }
    std::ostringstream text;
    text << file.rdbuf();
    token = text.str();
  } else if (const char* from_environment = std::getenv(token_variable.data())) {
    token = from_environment;
  } else {
    error = "no admin token: pass --token-file FILE or set RDPGATE_ADMIN_TOKEN";
    return std::nullopt;
  }
  // Token files usually end with a newline.
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ' ||
                            token.back() == '\t')) {
    token.pop_back();
  }
  if (token.empty()) {
    error = "the admin token is empty";
    return std::nullopt;
  }
  return token;
}

std::string cell(const json::value& value) {
  if (value.is_string()) return std::string{value.as_string()};
  return json::serialize(value);
}

// Columns in the order of the first object; every row padded to the widest cell.
void print_table(const json::value& body, std::ostream& out) {
  std::vector<const json::object*> rows;
  if (body.is_array()) {
    for (const auto& item : body.as_array()) {
      if (item.is_object()) rows.push_back(&item.as_object());
    }
    if (rows.empty()) {
      out << "(none)\n";
      return;
    }
  } else if (body.is_object()) {
    rows.push_back(&body.as_object());
  } else {
    out << cell(body) << '\n';
    return;
  }
  std::vector<std::string> columns;
  for (const auto& entry : *rows.front()) columns.emplace_back(entry.key());
  std::vector<std::vector<std::string>> cells;
  std::vector<std::size_t> widths;
  for (const auto& column : columns) {
    std::string title = column;
    std::transform(title.begin(), title.end(), title.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    widths.push_back(title.size());
    if (cells.empty()) cells.emplace_back();
    cells.front().push_back(std::move(title));
  }
  for (const auto* row : rows) {
    auto& line = cells.emplace_back();
    for (std::size_t i = 0; i < columns.size(); ++i) {
      const auto* value = row->if_contains(columns[i]);
      line.push_back(value != nullptr ? cell(*value) : "");
      widths[i] = std::max(widths[i], line.back().size());
    }
  }
  for (const auto& line : cells) {
    std::string text;
    for (std::size_t i = 0; i < line.size(); ++i) {
      text += line[i];
      if (i + 1 < line.size()) text += std::string(widths[i] - line[i].size() + 2, ' ');
    }
    out << text << '\n';
  }
}

// Which request a command line asks for; a usage error otherwise.
std::variant<ClientRequest, UsageError> build_request(std::string_view command,
                                                      const Arguments& arguments) {
  const auto& words = arguments.words;
  const std::string_view verb = words.empty() ? std::string_view{} : std::string_view{words[0]};
  const auto expect_words = [&](std::size_t count) -> std::optional<UsageError> {
    if (words.size() < count) return UsageError{"missing argument"};
    if (words.size() > count) return UsageError{"unexpected argument \"" + words[count] + "\""};
    return std::nullopt;
  };
  const bool create = (command == "ban" || command == "grant") && verb == "add";
  if (!create && (arguments.duration || arguments.reason)) {
    return UsageError{"--duration and --reason apply to \"ban add\" and \"grant add\" only"};
  }
  if (!(command == "grant" && verb == "add") && arguments.route) {
    return UsageError{"--route applies to \"grant add\" only"};
  }
  if (arguments.duration) {
    const auto duration = config::parse_duration(*arguments.duration);
    if (!duration || duration->count() <= 0) {
      return UsageError{"bad duration \"" + *arguments.duration + "\": expected e.g. 30m, 2h"};
    }
  }

  ClientRequest request;
  if (command == "reload") {
    if (auto bad = expect_words(0)) return *bad;
    request.method = http::verb::post;
    request.target = "/v1/reload";
    return request;
  }
  const std::string collection = command == "session" ? "sessions"
                                 : command == "ban"   ? "bans"
                                 : command == "grant" ? "grants"
                                                      : "";
  if (collection.empty()) return UsageError{"unknown command \"" + std::string{command} + "\""};
  if (verb == "list") {
    if (auto bad = expect_words(1)) return *bad;
    request.target = "/v1/" + collection;
    return request;
  }
  const bool remove = (command == "ban" && verb == "remove") ||
                      (command == "grant" && verb == "revoke") ||
                      (command == "session" && verb == "kill");
  if (remove) {
    if (auto bad = expect_words(2)) return *bad;
    std::string key = words[1];
    if (command == "ban") {
      if (!config::parse_cidr(key)) return UsageError{"bad cidr \"" + key + "\""};
      std::replace(key.begin(), key.end(), '/', '_');  // the API's spelling of a CIDR in a path
    }
    request.method = http::verb::delete_;
    request.target = "/v1/" + collection + "/" + percent_encode_segment(key);
    return request;
  }
  if (create) {
    if (auto bad = expect_words(2)) return *bad;
    std::string why;
    if (!config::parse_cidr(words[1], &why)) {
      return UsageError{"bad cidr \"" + words[1] + "\": " + why};
    }
    json::object body{{"cidr", words[1]}};
    if (command == "grant") {
      if (!arguments.route) return UsageError{"grant add needs --route ROUTE"};
      if (!arguments.duration) return UsageError{"grant add needs --duration DURATION"};
      body["route"] = *arguments.route;
    }
    if (arguments.duration) body["duration"] = *arguments.duration;
    if (arguments.reason) body["reason"] = *arguments.reason;
    request.method = http::verb::post;
    request.target = "/v1/" + collection;
    request.body = json::serialize(body);
    return request;
  }
  if (verb.empty()) return UsageError{"missing subcommand"};
  return UsageError{"unknown subcommand \"" + std::string{verb} + "\""};
}

}  // namespace

int run_admin_cli(std::string_view command, int argc, char** argv) {
  auto parsed = parse_arguments(argc, argv);
  if (auto* bad = std::get_if<UsageError>(&parsed)) {
    std::cerr << "rdpgate " << command << ": " << bad->message << '\n' << usage_text;
    return cli_usage;
  }
  const auto& arguments = std::get<Arguments>(parsed);
  if (arguments.help) {
    std::cout << usage_text;
    return cli_ok;
  }
  auto built = build_request(command, arguments);
  if (auto* bad = std::get_if<UsageError>(&built)) {
    std::cerr << "rdpgate " << command << ": " << bad->message << '\n' << usage_text;
    return cli_usage;
  }
  auto request = std::get<ClientRequest>(std::move(built));
  const auto server = parse_host_port(arguments.admin);
  if (!server) {
    std::cerr << "rdpgate " << command << ": bad --admin \"" << arguments.admin
              << "\": expected HOST:PORT\n";
    return cli_usage;
  }
  std::string token_error;
  request.token = read_token(arguments, token_error);
  if (!request.token) {
    std::cerr << "rdpgate " << command << ": " << token_error << '\n';
    return arguments.token_file ? cli_api_error : cli_usage;
  }

  const auto result = call_admin_api(*server, request);
  if (result.error) {
    std::cerr << "rdpgate " << command << ": admin API at " << arguments.admin
              << " unreachable: " << result.error.message() << '\n';
    return cli_api_error;
  }
  const auto status = result.response.result_int();
  boost::system::error_code json_error;
  const json::value body = json::parse(result.response.body(), json_error);
  if (status < 200 || status >= 300) {
    std::string message = "HTTP " + std::to_string(status);
    if (!json_error && body.is_object()) {
      if (const auto* error = body.as_object().if_contains("error"); error && error->is_string()) {
        message = std::string{error->as_string()} + " (" + message + ")";
      }
    }
    std::cerr << "rdpgate " << command << ": " << message << '\n';
    return cli_api_error;
  }
  if (json_error) {
    std::cerr << "rdpgate " << command << ": the admin API answered something not JSON\n";
    return cli_api_error;
  }
  if (arguments.table) {
    print_table(body, std::cout);
  } else {
    std::cout << json::serialize(body) << '\n';
  }
  return cli_ok;
}

}  // namespace rdpgate::admin
