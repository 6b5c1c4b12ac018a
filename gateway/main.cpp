// rdpgate: an RDP-aware TCP gateway. Commands (SPEC §8):
//   rdpgate run --config FILE        exit 0 after a clean drain, 1 on a bad config or bind failure
//   rdpgate check-config FILE        exit 0 valid, 1 invalid (errors as FILE:LINE:COL: message)
//   rdpgate inspect [--hex] [FILE|-] exit 0 complete, 1 invalid, 2 truncated, 64 usage
//   rdpgate token issue ...          mint a signed access token
//   rdpgate ban|grant|session|reload talk to the admin API
//   rdpgate user add|list|remove|reset-otp   manage the portal's users file
//   rdpgate version

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>

#include "rdpgate/admin/cli.hpp"
#include "rdpgate/gateway/cli.hpp"
#include "rdpgate/portal/user_cli.hpp"

namespace {

constexpr int exit_usage = 64;

void usage(std::FILE* out) {
  std::fputs(
      "usage: rdpgate <command> [options]\n"
      "  run --config FILE            run the gateway\n"
      "  check-config FILE            validate a configuration file\n"
      "  inspect [--hex] [FILE|-]     decode a client's first bytes to JSON\n"
      "  token issue ...              mint a signed access token (see `rdpgate token --help`)\n"
      "  ban|grant|session ...        manage bans, grants and sessions via the admin API\n"
      "  reload                       reload the configuration via the admin API\n"
      "  user add|list|remove|reset-otp  manage the self-service portal's users file\n"
      "  version                      print the version\n",
      out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return exit_usage;
  }
  const std::string_view command = argv[1];
  if (command == "run") return rdpgate::gateway::cli_run(argc - 2, argv + 2);
  if (command == "check-config") return rdpgate::gateway::cli_check_config(argc - 2, argv + 2);
  if (command == "inspect") return rdpgate::gateway::cli_inspect(argc - 2, argv + 2);
  if (command == "token") return rdpgate::gateway::cli_token(argc - 2, argv + 2);
  if (command == "user") return rdpgate::portal::run_user_cli(argc - 2, argv + 2);
  if (command == "version" || command == "--version") {
    std::printf("rdpgate %s\n", RDPGATE_VERSION);
    return 0;
  }
  if (command == "ban" || command == "grant" || command == "session" || command == "reload") {
    return rdpgate::admin::run_admin_cli(command, argc - 2, argv + 2);
  }
  if (command == "help" || command == "--help" || command == "-h") {
    usage(stdout);
    return 0;
  }
  std::fprintf(stderr, "rdpgate: unknown command \"%s\"\n", argv[1]);
  usage(stderr);
  return exit_usage;
}
