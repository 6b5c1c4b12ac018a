#include "rdpgate/security/random.hpp"

#include <openssl/rand.h>

#include <cstdlib>
#include <vector>

namespace rdpgate::security {

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) std::abort();
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (const unsigned char b : raw) {
    out += digits[b >> 4];
    out += digits[b & 0x0f];
  }
  return out;
}

}  // namespace rdpgate::security
