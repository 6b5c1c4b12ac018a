#pragma once
#include <optional>
#include <string>

#include "rdpgate/config/config.hpp"

namespace rdpgate::gateway {
// After binding: switch to `user`/`group` when configured (supplementary groups cleared, and
// verified that root cannot be regained). Running as root without `user` is refused unless
// `allow_root: true`. Returns the error, if any.
std::optional<std::string> drop_privileges(const config::Config& cfg);
}  // namespace rdpgate::gateway
