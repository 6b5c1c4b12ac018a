#include "rdpgate/portal/user_cli.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "rdpgate/portal/totp.hpp"
#include "rdpgate/portal/users.hpp"

namespace rdpgate::portal {
namespace {

constexpr int exit_usage = 64;
constexpr std::string_view issuer = "rdpgate";

void usage(std::FILE* out) {
  std::fputs(
      "usage: rdpgate user add --users-file FILE NAME --routes R1,R2 --password-stdin\n"
      "       rdpgate user list --users-file FILE\n"
      "       rdpgate user remove --users-file FILE NAME\n"
      "       rdpgate user reset-otp --users-file FILE NAME\n"
      "add and reset-otp print the otpauth://totp/ URI of the user's new TOTP secret.\n",
      out);
}

int fail(const std::string& message) {
  std::fprintf(stderr, "rdpgate user: %s\n", message.c_str());
  return 1;
}

struct Args {
  std::string command, file, name, routes;
  bool routes_given = false;
  bool password_stdin = false;
};

}  // namespace

int run_user_cli(int argc, char** argv) {
  if (argc < 1 || std::string_view(argv[0]) == "--help" || std::string_view(argv[0]) == "-h") {
    usage(argc < 1 ? stderr : stdout);
    return argc < 1 ? exit_usage : 0;
  }
  Args a;
  a.command = argv[0];
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--users-file" || arg == "--routes") {
      if (i + 1 >= argc) {
        fail(std::string(arg) + " needs a value");
        return exit_usage;
      }
      (arg == "--users-file" ? a.file : a.routes) = argv[++i];
      if (arg == "--routes") a.routes_given = true;
    } else if (arg == "--password-stdin") {
      a.password_stdin = true;
    } else if (arg.starts_with("-")) {
      fail("unknown option \"" + std::string(arg) + "\"");
      return exit_usage;
    } else if (a.name.empty()) {
      a.name = arg;
    } else {
      usage(stderr);
      return exit_usage;
    }
  }
  const bool needs_name = a.command != "list";
  if ((a.command != "add" && a.command != "list" && a.command != "remove" &&
       a.command != "reset-otp") ||
      a.file.empty() || needs_name == a.name.empty()) {
    usage(stderr);
    return exit_usage;
  }
  if (needs_name && !valid_name(a.name)) {
    return fail("bad user name \"" + a.name + "\": use 1 to 64 letters, digits, '_', '-' or '.'");
  }
  auto loaded = load_users_file(a.file, a.command == "add");
  if (auto* err = std::get_if<std::string>(&loaded)) return fail(*err);
  auto users = std::get<Users>(std::move(loaded));
  auto it =
      std::find_if(users.begin(), users.end(), [&](const User& u) { return u.name == a.name; });

  if (a.command == "list") {
    for (const auto& u : users) {
      std::string routes;
      for (const auto& r : u.routes) routes += (routes.empty() ? "" : ",") + r;
      std::printf("%s\t%s\n", u.name.c_str(), routes.c_str());
    }
    return 0;
  }
  if (a.command == "add") {
    if (!a.password_stdin || !a.routes_given) {
      usage(stderr);
      return exit_usage;
    }
    if (it != users.end()) return fail("user \"" + a.name + "\" exists already");
    User user;
    user.name = a.name;
    std::size_t start = 0;
    while (!a.routes.empty()) {
      const auto comma = a.routes.find(',', start);
      auto route = a.routes.substr(start, comma - start);
      if (!valid_name(route)) return fail("bad route name \"" + route + "\"");
      user.routes.push_back(std::move(route));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    std::string password;
    std::getline(std::cin, password);
    if (!password.empty() && password.back() == '\r') password.pop_back();
    if (password.size() < 8)
      return fail("the password on standard input needs 8 characters or more");
    user.password_hash = hash_password(password);
    user.totp_secret = new_totp_secret();
    const auto uri = otpauth_uri(issuer, user.name, user.totp_secret);
    users.push_back(std::move(user));
    if (auto err = save_users_file(a.file, users)) return fail(*err);
    std::printf("%s\n", uri.c_str());
    return 0;
  }
  if (it == users.end()) return fail("no user \"" + a.name + "\" in \"" + a.file + "\"");
  if (a.command == "remove") {
    users.erase(it);
    if (auto err = save_users_file(a.file, users)) return fail(*err);
    return 0;
  }
  it->totp_secret = new_totp_secret();  // reset-otp
  const auto uri = otpauth_uri(issuer, it->name, it->totp_secret);
  if (auto err = save_users_file(a.file, users)) return fail(*err);
  std::printf("%s\n", uri.c_str());
  return 0;
}

}  // namespace rdpgate::portal
