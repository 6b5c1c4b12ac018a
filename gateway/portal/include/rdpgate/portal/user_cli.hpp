#pragma once
// `rdpgate user add|list|remove|reset-otp` (SPEC §8): manages the portal's users file.
//
//   rdpgate user add --users-file FILE NAME --routes R1,R2 --password-stdin
//       a new user; prints its otpauth://totp/... URI (for an authenticator app) on stdout
//   rdpgate user list --users-file FILE           NAME<TAB>ROUTES, one user a line
//   rdpgate user remove --users-file FILE NAME
//   rdpgate user reset-otp --users-file FILE NAME a new TOTP secret; prints the new URI
//
// Exit status: 0 done, 1 failed (a message on stderr), 64 usage. The gateway picks the change
// up at its next reload (SIGHUP, `rdpgate reload`).

namespace rdpgate::portal {
int run_user_cli(int argc, char** argv);  // argv excludes the program and command names
}
