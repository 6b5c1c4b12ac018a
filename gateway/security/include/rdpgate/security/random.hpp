#pragma once
// Identifiers from OpenSSL's CSPRNG (RAND_bytes).

#include <cstddef>
#include <string>

namespace rdpgate::security {

// `bytes` random bytes as 2*bytes lowercase hex characters, e.g. random_hex(8) -> 16 chars.
// Aborts if the system's random source fails: an identifier that might repeat is worse.
[[nodiscard]] std::string random_hex(std::size_t bytes);

}  // namespace rdpgate::security
