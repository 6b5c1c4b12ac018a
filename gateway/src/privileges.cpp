#include "rdpgate/gateway/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rdpgate::gateway {

std::optional<std::string> drop_privileges(const config::Config& cfg) {
  if (cfg.user.empty()) {
    if (::geteuid() == 0 && !cfg.allow_root && std::getenv("RDPGATE_ALLOW_ROOT") == nullptr) {
      return "refusing to run as root: set `user` (and `group`) to drop privileges after binding, "
             "or `allow_root: true`";
    }
    return std::nullopt;
  }
  errno = 0;
  const passwd* pw = ::getpwnam(cfg.user.c_str());
  if (pw == nullptr) return "user \"" + cfg.user + "\": no such user";
  const uid_t uid = pw->pw_uid;
  gid_t gid = pw->pw_gid;
  if (!cfg.group.empty()) {
    const group* gr = ::getgrnam(cfg.group.c_str());
    if (gr == nullptr) return "group \"" + cfg.group + "\": no such group";
    gid = gr->gr_gid;
  }
  if (::geteuid() != 0) {
    if (::geteuid() == uid) return std::nullopt;  // already that user
    return "user \"" + cfg.user + "\": changing user needs root";
  }
  if (::setgroups(1, &gid) != 0) return std::string("setgroups: ") + std::strerror(errno);
  if (::setgid(gid) != 0) return std::string("setgid: ") + std::strerror(errno);
  if (::setuid(uid) != 0) return std::string("setuid: ") + std::strerror(errno);
  if (uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0)) {
    return "privilege drop failed: root could be regained";
  }
  return std::nullopt;
}

std::optional<std::string> check_privileges(const config::Config& cfg) {
  if (cfg.user.empty()) return drop_privileges(cfg);  // only the root refusal; changes nothing
  const passwd* pw = ::getpwnam(cfg.user.c_str());
  if (pw == nullptr) return "user \"" + cfg.user + "\": no such user";
  if (!cfg.group.empty() && ::getgrnam(cfg.group.c_str()) == nullptr) {
    return "group \"" + cfg.group + "\": no such group";
  }
  if (::geteuid() != 0 && ::geteuid() != pw->pw_uid) {
    return "user \"" + cfg.user + "\": changing user needs root";
  }
  return std::nullopt;
}

}  // namespace rdpgate::gateway
