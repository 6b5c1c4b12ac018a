#pragma once
// Files that hold secrets — the admin token, HS256 secrets, Ed25519 private keys — are refused
// when their permissions let someone else read them, as ssh refuses an unprotected private key
// (and PostgreSQL its ssl_key_file). A leaked token key mints tokens for every route; a
// refused start says so before anyone relies on it.
//
// The rule, on the file's mode (read through a symbolic link, as a Kubernetes Secret volume
// presents its files):
//   others: no access at all;
//   group:  no access, except read when the file belongs to root — how a root-managed secret
//           reaches an unprivileged service: `root:rdpgate 0640`, or the 0440 files a
//           Kubernetes Secret volume makes with fsGroup;
//   owner:  anything (0600, 0400).
// Public keys are not secrets: they are read without this check.

#include <optional>
#include <string>

namespace rdpgate::security {

struct SecretFile {
  std::string contents;
  std::string error;      // "" when read; else why not, without the path (the caller adds it)
  bool too_open = false;  // the error is the permission check's
  [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

// Reads the whole file at `path` (at most 1 MiB). Errors: the system's message (`No such file
// or directory`), or `permissions 0644 are too open: group or others may read it (chmod 600;
// root-owned 0640 is accepted)`.
[[nodiscard]] SecretFile read_secret_file(const std::string& path);

// The same check on a mode and owner (for tests and callers that already have them).
[[nodiscard]] std::optional<std::string> secret_mode_error(unsigned mode, unsigned owner_uid);

}  // namespace rdpgate::security
