#pragma once
#include <string_view>

namespace rdpgate::gateway {
// Shell-style glob: `*` any run, `?` one character; ASCII case-insensitive when asked.
// Iterative with one backtrack point: O(n*m) worst case, no recursion.
[[nodiscard]] bool glob_match(std::string_view pattern, std::string_view text,
                              bool case_insensitive = true) noexcept;
}  // namespace rdpgate::gateway
