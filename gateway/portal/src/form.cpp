#include "form.hpp"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

#include "rdpgate/protocol/hex.hpp"
#include "rdpgate/protocol/percent.hpp"

namespace rdpgate::portal::detail {

std::optional<Form> parse_form(std::string_view body) {
  Form form;
  while (!body.empty()) {
    const auto amp = body.find('&');
    const auto pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    auto key = protocol::percent::decode(pair.substr(0, eq), protocol::percent::Plus::space);
    auto value = protocol::percent::decode(
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1),
        protocol::percent::Plus::space);
    if (!key || !value) return std::nullopt;
    form.emplace(std::move(*key), std::move(*value));
  }
  return form;
}

std::string cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto semi = header.find(';');
    auto item = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    const auto eq = item.find('=');
    if (eq != std::string_view::npos && item.substr(0, eq) == name) {
      return std::string(item.substr(eq + 1));
    }
  }
  return {};
}

bool is_token(std::string_view text) noexcept {
  return text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::string random_token() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  std::string out;
  protocol::append_hex(out, bytes);
  return out;
}

}  // namespace rdpgate::portal::detail
