#include "rdpgate/portal/users.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "rdpgate/portal/totp.hpp"
#include "rdpgate/security/secret_file.hpp"

namespace rdpgate::portal {
namespace {

void ensure_sodium() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
}

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto at = text.find(separator, start);
    out.emplace_back(text.substr(start, at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

std::string system_message(int error) { return std::generic_category().message(error); }

}  // namespace

bool valid_name(std::string_view name) noexcept {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

std::string hash_password(std::string_view password) {
  ensure_sodium();
  std::string out(crypto_pwhash_STRBYTES, '\0');
  if (crypto_pwhash_str(out.data(), password.data(), password.size(),
                        crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    throw std::runtime_error("crypto_pwhash_str: out of memory");
  }
  out.resize(out.find('\0'));
  return out;
}

bool valid_password_hash(const std::string& hash) {
  ensure_sodium();
  if (!hash.starts_with("$argon2id$")) return false;
  // -1: not a hash string libsodium understands (0 or 1: well formed, current or old limits).
  return crypto_pwhash_str_needs_rehash(hash.c_str(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != -1;
}

bool verify_password(const std::string& hash, std::string_view password) {
  ensure_sodium();
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

const User* find_user(const Users& users, std::string_view name) noexcept {
  for (const auto& u : users) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

std::variant<Users, std::vector<std::string>> parse_users(std::string_view text,
                                                          const std::string& file) {
  Users users;
  std::vector<std::string> errors;
  std::size_t line_no = 0;
  for (const auto& raw : split(text, '\n')) {
    ++line_no;
    std::string_view line = raw;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const auto where = file + ":" + std::to_string(line_no) + ": ";
    // The hash is the last field and has no ':' of its own.
    const auto fields = split(line, ':');
    if (fields.size() != 4) {
      errors.push_back(where + "expected NAME:ROUTES:TOTP_SECRET:PASSWORD_HASH (" +
                       std::to_string(fields.size()) + " fields)");
      continue;
    }
    User user;
    user.name = fields[0];
    if (!valid_name(user.name)) {
      errors.push_back(where + "bad user name: use 1 to 64 letters, digits, '_', '-' or '.'");
      continue;
    }
    if (find_user(users, user.name) != nullptr) {
      errors.push_back(where + "duplicate user \"" + user.name + "\"");
      continue;
    }
    bool ok = true;
    if (!fields[1].empty()) {
      for (auto& route : split(fields[1], ',')) {
        if (!valid_name(route)) {
          errors.push_back(where);
          errors.back().append("bad route name \"").append(route).append("\"");
          ok = false;
          break;
        }
        user.routes.push_back(std::move(route));
      }
    }
    auto secret = base32_decode(fields[2]);
    if (ok && (!secret || secret->size() < 10)) {
      errors.push_back(where + "malformed TOTP secret (expected base32, at least 80 bits)");
      ok = false;
    }
    if (ok && !valid_password_hash(fields[3])) {
      errors.push_back(where +
                       "malformed password hash (expected an Argon2id hash from \"rdpgate user "
                       "add\")");
      ok = false;
    }
    if (!ok) continue;
    user.totp_secret = std::move(*secret);
    user.password_hash = fields[3];
    users.push_back(std::move(user));
  }
  if (!errors.empty()) return errors;
  return users;
}

std::string format_users(const Users& users) {
  std::string out =
      "# rdpgate portal users: NAME:ROUTES:TOTP_SECRET:PASSWORD_HASH (rdpgate user)\n";
  for (const auto& u : users) {
    out += u.name + ":";
    for (std::size_t i = 0; i < u.routes.size(); ++i) out += (i ? "," : "") + u.routes[i];
    out += ":" + base32_encode(u.totp_secret) + ":" + u.password_hash + "\n";
  }
  return out;
}

std::variant<Users, std::string> load_users_file(const std::string& path, bool missing_ok) {
  const std::string where = "users file \"" + path + "\": ";
  auto read = security::read_secret_file(path);
  if (!read.ok()) {
    if (missing_ok && !read.too_open && ::access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
      return Users{};
    }
    return where + read.error;
  }
  auto parsed = parse_users(read.contents, path);
  if (auto* errors = std::get_if<std::vector<std::string>>(&parsed)) {
    std::string all;
    for (const auto& e : *errors) all += (all.empty() ? "" : "; ") + e;
    return all;
  }
  return std::get<Users>(std::move(parsed));
}

std::optional<std::string> save_users_file(const std::string& path, const Users& users) {
  const std::string temp = path + ".tmp";
  const std::string text = format_users(users);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return "\"" + temp + "\": " + system_message(errno);
  std::optional<std::string> error;
  if (::fchmod(fd, 0600) != 0) error = system_message(errno);
  std::size_t written = 0;
  while (!error && written < text.size()) {
    const auto n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = system_message(errno);
      break;
    }
    written += static_cast<std::size_t>(n);
  }
  if (!error && ::fsync(fd) != 0) error = system_message(errno);
  ::close(fd);
  if (!error && ::rename(temp.c_str(), path.c_str()) != 0) error = system_message(errno);
  if (error) {
    ::unlink(temp.c_str());
    return "\"" + path + "\": " + *error;
  }
  return std::nullopt;
}

}  // namespace rdpgate::portal
