#pragma once
#include <optional>
#include <string>

#include "rdpgate/config/config.hpp"

namespace rdpgate::gateway {
// After binding: switch to `user`/`group` when configured (supplementary groups cleared, and
// verified that root cannot be regained). Running as root without `user` is refused unless
// `allow_root: true`. Returns the error, if any.
std::optional<std::string> drop_privileges(const config::Config& cfg);
// Before binding: the checks drop_privileges() would fail on (root without `user` and without
// `allow_root`, an unknown user or group, a user change without root). Changes nothing.
std::optional<std::string> check_privileges(const config::Config& cfg);
}  // namespace rdpgate::gateway
