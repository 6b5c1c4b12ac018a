#pragma once
// The admin subcommands of the rdpgate binary (SPEC §6), each a client of the admin API:
//
//   rdpgate ban list | add CIDR [--duration 1h] [--reason TEXT] | remove CIDR
//   rdpgate grant list | add CIDR --route R --duration 2h [--reason TEXT] | revoke ID
//   rdpgate session list | kill ID
//   rdpgate reload
//
// Common options: --admin HOST:PORT (default 127.0.0.1:9488), --token-file FILE (else the
// environment variable RDPGATE_ADMIN_TOKEN), --table (a table instead of JSON).

#include <string_view>

namespace rdpgate::admin {

inline constexpr int cli_ok = 0;
inline constexpr int cli_api_error = 1;  // the API refused, or could not be reached
inline constexpr int cli_usage = 64;     // EX_USAGE: bad arguments

// `command` is "ban", "grant", "session" or "reload"; argv[0..argc) are the words after it
// (for "rdpgate ban add 203.0.113.7 --reason x": argc 4, argv {"add", "203.0.113.7",
// "--reason", "x"}). Prints the API's JSON (or a table) on stdout, errors on stderr.
int run_admin_cli(std::string_view command, int argc, char** argv);

}  // namespace rdpgate::admin
