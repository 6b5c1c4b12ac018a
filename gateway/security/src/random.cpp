#include "rdpgate/security/random.hpp"

#include <openssl/rand.h>

#include <cstdlib>
#include <vector>

#include "rdpgate/protocol/hex.hpp"

namespace rdpgate::security {

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) std::abort();
  std::string out;
  out.reserve(bytes * 2);
  protocol::append_hex(out, raw);
  return out;
}

}  // namespace rdpgate::security
