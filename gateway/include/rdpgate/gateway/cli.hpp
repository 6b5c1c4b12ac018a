#pragma once
// The gateway's own subcommands; argv excludes the program and command names.

namespace rdpgate::gateway {
int cli_run(int argc, char** argv);
int cli_check_config(int argc, char** argv);
int cli_inspect(int argc, char** argv);
int cli_token(int argc, char** argv);
}  // namespace rdpgate::gateway
