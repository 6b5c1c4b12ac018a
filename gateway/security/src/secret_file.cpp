#include "rdpgate/security/secret_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <system_error>

namespace rdpgate::security {
namespace {

constexpr std::size_t max_secret_file = 1 << 20;

std::string system_message(int error) { return std::generic_category().message(error); }

// Closes a descriptor on every path out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::optional<std::string> secret_mode_error(unsigned mode, unsigned owner_uid) {
  const unsigned group_allowed = owner_uid == 0 ? S_IRGRP : 0;
  if ((mode & S_IRWXO) == 0 && (mode & S_IRWXG & ~group_allowed) == 0) return std::nullopt;
  std::array<char, 8> octal{};
  std::snprintf(octal.data(), octal.size(), "%04o", mode & 07777);
  return "permissions " + std::string(octal.data()) +
         " are too open: group or others may read it (chmod 600; root-owned 0640 is accepted)";
}

SecretFile read_secret_file(const std::string& path) {
  SecretFile out;
  // One descriptor for the check and the read: the file checked is the file read.
  const Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY)};
  struct stat st {};
  if (file.fd < 0 || ::fstat(file.fd, &st) != 0) {
    out.error = system_message(errno);
    return out;
  }
  if (auto loose = secret_mode_error(st.st_mode, st.st_uid)) {
    out.error = std::move(*loose);
    out.too_open = true;
    return out;
  }
  std::array<char, 4096> buffer{};
  for (;;) {
    const auto n = ::read(file.fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      out.error = system_message(errno);
      out.contents.clear();
      return out;
    }
    if (n == 0) return out;
    out.contents.append(buffer.data(), static_cast<std::size_t>(n));
    if (out.contents.size() > max_secret_file) {
      out.error = "larger than 1 MiB: not a secret file";
      out.contents.clear();
      return out;
    }
  }
}

}  // namespace rdpgate::security
