// SharedState's full resync and what it applies from the other instances: see shared_state.hpp.

#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include <algorithm>
#include <cstdlib>
#include <unordered_map>
#include <unordered_set>

#include "rdpgate/gateway/services.hpp"
#include "rdpgate/gateway/shared_state.hpp"

namespace rdpgate::gateway {
namespace {

using Reply = state::RedisReply;
using Command = state::RedisConnection::Command;

// Lifted bans and revoked grants are remembered this long: an instance away for longer may
// bring back what was lifted meanwhile (until it expires on its own).
constexpr auto tombstone_life = std::chrono::hours{24};

// A HGETALL reply as field -> value.
std::unordered_map<std::string, std::string> as_map(Reply&& reply) {
  std::unordered_map<std::string, std::string> out;
  out.reserve(reply.elements.size() / 2);
  for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    out.emplace(std::move(reply.elements[i].text), std::move(reply.elements[i + 1].text));
  }
  reply.elements.clear();
  return out;
}

}  // namespace

bool SharedState::resync(bool full) {
  auto version = commander_->command({"GET", key("version")});
  if (auto* err = std::get_if<std::string>(&version)) {
    failed_->Increment();
    went_down(*err);
    return false;
  }
  const std::string now_version = std::get<0>(version).text;  // "" when no change was ever made
  if (!full && now_version == version_) {
    last_resync_->Set(static_cast<double>(fleet::to_ms(std::chrono::system_clock::now())) / 1000.0);
    return true;  // nothing changed since the last one: the replica is in step
  }
  auto replies = commander_->pipeline({{"HGETALL", key("bans")},
                                       {"HGETALL", key("unbans")},
                                       {"HGETALL", key("grants")},
                                       {"HGETALL", key("revoked")}});
  if (auto* err = std::get_if<std::string>(&replies)) {
    failed_->Increment();
    went_down(*err);
    return false;
  }
  auto& got = std::get<0>(replies);
  const auto now = std::chrono::system_clock::now();
  const auto remote_bans = as_map(std::move(got[0]));
  const auto unbans = as_map(std::move(got[1]));
  const auto remote_grants = as_map(std::move(got[2]));
  const auto revoked = as_map(std::move(got[3]));
  std::vector<Command> fixes;

  // Entries whose value is the one the last resync applied are not decoded or applied again
  // (the messages kept them in step); a full resync applies everything.
  if (full) {
    seen_bans_.clear();
    seen_grants_.clear();
  }
  // One hash: applies the entries that changed since the last resync, queues the removal of
  // expired or unreadable ones, remembers what it applied; returns the keys still live.
  auto apply_changed = [&](const std::unordered_map<std::string, std::string>& remote, Seen& last,
                           const std::string& hash, auto decode, auto apply) {
    Seen seen;
    std::unordered_set<std::string> live;
    for (const auto& [field, value] : remote) {
      if (const auto it = last.find(field); it != last.end() && it->second.value == value) {
        if (it->second.until > now) {
          live.insert(field);
          seen.insert(last.extract(it));
          continue;
        }
      }
      auto entry = decode(value);
      if (!entry || entry->until <= now) {
        fixes.push_back({"HDEL", hash, field});  // expired or unreadable: nobody needs it
        continue;
      }
      live.insert(field);
      seen.emplace(field, Applied{value, entry->until});
      apply(std::move(*entry));
    }
    last = std::move(seen);
    return live;
  };
  auto live = apply_changed(remote_bans, seen_bans_, key("bans"), fleet::decode_ban,
                            [&](security::Ban ban) { parts_.bans.apply_ban(std::move(ban)); });
  for (const auto& ban : parts_.bans.list(now)) {
    const auto cidr = ban.cidr.to_string();
    if (ban.observed || live.contains(cidr)) continue;
    if (unbans.contains(cidr)) {
      parts_.bans.apply_unban(ban.cidr);
    } else {
      fixes.push_back({"HSET", key("bans"), cidr, fleet::encode_ban(ban)});
    }
  }
  live = apply_changed(remote_grants, seen_grants_, key("grants"), fleet::decode_grant,
                       [&](const security::Grant& grant) { parts_.grants.apply_grant(grant); });
  for (const auto& grant : parts_.grants.list(now)) {
    if (live.contains(grant.id)) continue;
    if (revoked.contains(grant.id)) {
      parts_.grants.apply_revoke(grant.id);
    } else {
      fixes.push_back({"HSET", key("grants"), grant.id, fleet::encode_grant(grant)});
    }
  }
  const auto old = fleet::to_ms(now - tombstone_life);
  for (const auto* tombstones : {&unbans, &revoked}) {
    const auto name = tombstones == &unbans ? key("unbans") : key("revoked");
    for (const auto& [field, when] : *tombstones) {
      if (std::strtoll(when.c_str(), nullptr, 10) < old) fixes.push_back({"HDEL", name, field});
    }
  }
  if (std::any_of(fixes.begin(), fixes.end(), [](const Command& c) { return c[0] == "HSET"; })) {
    fixes.push_back({"INCR", key("version")});  // the others pick up what was pushed back
  }
  if (!fixes.empty()) {
    auto fixed = commander_->pipeline(fixes);
    if (auto* err = std::get_if<std::string>(&fixed)) {
      failed_->Increment();
      went_down(*err);
      return false;
    }
  }
  version_ = now_version;
  resyncs_->Increment();
  last_resync_->Set(static_cast<double>(fleet::to_ms(now)) / 1000.0);
  return true;
}

void SharedState::apply(const fleet::Message& message) {
  const bool mine = message.instance == instance_;
  const auto& e = message.event;
  if (const auto* ban = std::get_if<security::Ban>(&e)) {
    parts_.bans.apply_ban(*ban);  // idempotent: its own come back after a resync, harmlessly
  } else if (const auto* unban = std::get_if<fleet::Unban>(&e)) {
    parts_.bans.apply_unban(unban->cidr);
  } else if (const auto* grant = std::get_if<security::Grant>(&e)) {
    parts_.grants.apply_grant(*grant);
  } else if (const auto* revoke = std::get_if<fleet::Revoke>(&e)) {
    parts_.grants.apply_revoke(revoke->id);
  } else if (mine) {
    return;  // its own counts are counted already
  } else if (const auto* failure = std::get_if<fleet::Failure>(&e)) {
    parts_.bans.apply_failure(failure->source, failure->username, failure->at);
  } else if (const auto* admitted = std::get_if<fleet::Admitted>(&e)) {
    auto limiter = parts_.services.rate_limiter(admitted->listener);
    for (const auto& [source, count] : admitted->counts) limiter->charge(source, count);
  }
}

}  // namespace rdpgate::gateway
