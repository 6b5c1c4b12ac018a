#pragma once
// The portal's users file: one user per line,
//
//   NAME:ROUTE1,ROUTE2:TOTP_SECRET_BASE32:ARGON2ID_HASH
//
// e.g. `alice:finance,dev:JBSWY3DPEHPK3PXP...:$argon2id$v=19$m=65536,t=2,p=1$...`. Blank lines
// and lines starting with '#' are ignored. Names and routes use the characters of a route name
// (letters, digits, '_', '-', '.'). The password hash is libsodium's crypto_pwhash_str
// (Argon2id, its own salt and parameters in the string); the TOTP secret is RFC 4648 base32.
// The file holds secrets: it must be readable by its owner only (security/secret_file.hpp).
// `rdpgate user ...` (user_cli.cpp) writes it; the gateway reads it at start and at reload.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rdpgate::portal {

struct User {
  std::string name;
  std::vector<std::string> routes;
  std::vector<std::uint8_t> totp_secret;
  std::string password_hash;  // crypto_pwhash_str format, "$argon2id$..."
  friend bool operator==(const User&, const User&) = default;
};

using Users = std::vector<User>;

// Parses the text of a users file. Errors name the file and line, e.g.
// `/etc/rdpgate/users:3: malformed password hash (expected an Argon2id hash from
// "rdpgate user add")`; every bad line is reported.
[[nodiscard]] std::variant<Users, std::vector<std::string>> parse_users(std::string_view text,
                                                                        const std::string& file);
// The file text of `users` (parse_users(format_users(u)) == u).
[[nodiscard]] std::string format_users(const Users& users);

// Reads and parses `path`, refusing a file group or others may read (the message names the
// file). A missing file is an error unless `missing_ok` (then: no users).
[[nodiscard]] std::variant<Users, std::string> load_users_file(const std::string& path,
                                                               bool missing_ok = false);
// Writes `users` to `path` atomically (a temporary file in the same directory, mode 0600,
// fsync, rename). Returns the error, if any.
[[nodiscard]] std::optional<std::string> save_users_file(const std::string& path,
                                                         const Users& users);

// A name usable as a user or route name: 1 to 64 of [A-Za-z0-9_.-].
[[nodiscard]] bool valid_name(std::string_view name) noexcept;

// Argon2id via libsodium (crypto_pwhash_str, interactive limits). Throws on an allocation
// failure of the hash's memory.
[[nodiscard]] std::string hash_password(std::string_view password);
// Constant-time verification (crypto_pwhash_str_verify). False for a malformed hash.
[[nodiscard]] bool verify_password(const std::string& hash, std::string_view password);
// Whether `hash` is a well-formed Argon2id hash string libsodium can verify.
[[nodiscard]] bool valid_password_hash(const std::string& hash);

// The users of a users file, shared immutably between reloads.
using UsersSnapshot = std::shared_ptr<const Users>;
[[nodiscard]] const User* find_user(const Users& users, std::string_view name) noexcept;

}  // namespace rdpgate::portal
