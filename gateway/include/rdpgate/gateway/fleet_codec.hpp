#pragma once
// What instances sharing a Redis (state.redis) tell each other, and how bans and grants are
// stored there: JSON objects, pure functions, no I/O (tests/gateway/fleet_codec_test.cpp and the
// `fleet_codec` fuzz target).
//
// Keys, under `key_prefix` P:
//   P bans      hash  CIDR -> ban      (encode_ban)       every live enforced ban
//   P unbans    hash  CIDR -> ms       when it was lifted (a tombstone: a resync never revives it)
//   P grants    hash  id   -> grant    (encode_grant)
//   P revoked   hash  id   -> ms       when it was revoked
//   P version   integer, INCR by every change: a periodic resync is skipped while it stands still
//   P replay:J  string, SET NX with the token's remaining lifetime: the first use of jti J
//   P events    the pub/sub channel of the messages below
// Messages: {"i": instance, "k": kind, "v": value}, kind one of ban, unban, grant, revoke,
// fail (a judged failed logon: source, user, at) and rate (a listener's admissions per source).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "rdpgate/config/cidr.hpp"
#include "rdpgate/security/ban_manager.hpp"
#include "rdpgate/security/grant_table.hpp"

namespace rdpgate::gateway::fleet {

using TimePoint = std::chrono::system_clock::time_point;

struct Unban {
  config::Cidr cidr;
  friend bool operator==(const Unban&, const Unban&) = default;
};
struct Revoke {
  std::string id;
  friend bool operator==(const Revoke&, const Revoke&) = default;
};
struct Failure {
  config::IpAddress source;
  std::string username;
  TimePoint at;
  friend bool operator==(const Failure&, const Failure&) = default;
};
struct Admitted {
  std::string listener;
  std::vector<std::pair<config::IpAddress, std::uint32_t>> counts;
  friend bool operator==(const Admitted&, const Admitted&) = default;
};
using Event = std::variant<security::Ban, Unban, security::Grant, Revoke, Failure, Admitted>;

struct Message {
  std::string instance;  // who sent it
  Event event;
  friend bool operator==(const Message&, const Message&) = default;
};

[[nodiscard]] std::string encode(const Message& message);
[[nodiscard]] std::optional<Message> decode(std::string_view text);

// The values of the `bans` and `grants` hashes.
[[nodiscard]] std::string encode_ban(const security::Ban& ban);
[[nodiscard]] std::optional<security::Ban> decode_ban(std::string_view text);
[[nodiscard]] std::string encode_grant(const security::Grant& grant);
[[nodiscard]] std::optional<security::Grant> decode_grant(std::string_view text);

[[nodiscard]] std::int64_t to_ms(TimePoint t) noexcept;
[[nodiscard]] TimePoint from_ms(std::int64_t ms) noexcept;

}  // namespace rdpgate::gateway::fleet
