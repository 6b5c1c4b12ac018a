#pragma once
// Brute-force bans with fail2ban semantics (SPEC §2), and password-spray blocking.
//
//   record_failure(source, username, now)
//     source exempt?                      -> ignored
//     failures of source within find_time -> max_failures reached: ban the source (its
//       sources.per_source range: /32, IPv6 /64) for ban_time * ban_time_factor^offenses,
//       capped at ban_time_max, where `offenses` is how many times the source was banned before
//       (remembered for offender_memory)
//       -> prefix_ban.threshold sources of one /24 (IPv6 /48) banned within find_time: ban the
//          prefix for the same time, unless it overlaps an exempt range
//     failures of username (case-insensitive, any source) within username.find_time
//       -> username.max_failures reached: username_blocked() for username.block_time
//
// Threading: every method is thread-safe. cover() runs at admission for every connection,
// so it takes only a shared lock: a hash lookup of the exact-address bans (all automatic bans
// and manual /32 | /128 bans) and a scan of the few wider manual bans.
//
// Time is passed in (`now`): no hidden clock, so tests drive it. Expired bans and blocks stop
// counting at once; their memory is reclaimed by purge() and lazily by the writers.
//
// Observe mode (`bruteforce.observe_only`): failures are counted as usual, but a ban they
// complete (and a prefix ban that follows) is filed as `observed`: listed, found by find(),
// never by is_banned(); kept in memory only and not counted as an offense. An observed ban stays
// observed when observe mode is turned off: it was never an enforcement decision.
//
// Durability: with a StateStore, bans and offender counts are loaded on construction and
// written through the store's writer thread (state_store.hpp). A manual ban or unban returns
// once its write is durable (the admin API acknowledges only then); an automatic ban is queued
// and record_failure() returns at once, so a slow disk never holds up the worker that judged the
// failure (a crash can lose the automatic bans of its last few milliseconds). A store error does
// not stop the in-memory defence: the store reports it to its StateHealth (state/health.hpp).
// Failure counters and username blocks are short-lived and kept in memory only.

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rdpgate/config/cidr.hpp"
#include "rdpgate/config/config.hpp"
#include "rdpgate/security/address_hash.hpp"
#include "rdpgate/state/state_store.hpp"

namespace rdpgate::security {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;
using state::BanOrigin;

struct Ban {
  config::Cidr cidr;
  TimePoint until;
  std::string reason;
  BanOrigin origin = BanOrigin::automatic;
  std::uint32_t offenses = 0;  // automatic bans: bans this source had before this one
  bool observed = false;       // computed in observe mode: listed, never enforced
  friend bool operator==(const Ban&, const Ban&) = default;
};

class BanManager {
 public:
  // How long a banned source's offense count is remembered after its latest ban was created
  // (fail2ban's `dbpurgeage` idea): a source that comes back within it gets a longer ban.
  static constexpr std::chrono::hours offender_memory{24 * 7};

  explicit BanManager(config::BruteforceConfig config, state::StateStore* store = nullptr);

  // A failed logon judged for `source` (and its cookie `username`, "" when none). Returns the
  // source ban it created, if any, and puts a prefix ban it created in `*prefix_ban`. Ignored
  // when bruteforce is disabled, the source is exempt or it is already banned.
  std::optional<Ban> record_failure(const config::IpAddress& source, std::string_view username,
                                    TimePoint now, std::optional<Ban>* prefix_ban = nullptr);

  // An enforced ban covers `source`.
  [[nodiscard]] bool is_banned(const config::IpAddress& source, TimePoint now) const;
  // The live ban covering `source`: an enforced one (the exact one first), else an observed one.
  [[nodiscard]] std::optional<Ban> find(const config::IpAddress& source, TimePoint now) const;
  // find() for admission: what kind of ban covers `source`, without copying it.
  struct Cover {
    BanOrigin origin;
    bool observed;
  };
  [[nodiscard]] std::optional<Cover> cover(const config::IpAddress& source, TimePoint now) const;
  [[nodiscard]] bool username_blocked(std::string_view username, TimePoint now) const;

  // A manual ban; replaces any ban of the same CIDR. Manual bans apply to exempt ranges too: an
  // operator's explicit decision wins over the automatic rule.
  Ban ban(const config::Cidr& cidr, std::chrono::milliseconds duration, std::string reason,
          TimePoint now);
  // Removes the ban of exactly this CIDR (automatic or manual) and forgets the failures counted
  // for it. True if there was one.
  bool unban(const config::Cidr& cidr);

  // Live bans, enforced and observed, ordered by CIDR (an enforced one first).
  [[nodiscard]] std::vector<Ban> list(TimePoint now) const;
  [[nodiscard]] std::size_t active_count(TimePoint now) const;  // enforced only
  [[nodiscard]] std::size_t blocked_username_count(TimePoint now) const;
  // On the `exempt` list: never banned, never throttled.
  [[nodiscard]] bool exempt(const config::IpAddress& source) const;

  // Sharing with other instances (state.redis, gateway/shared_state.hpp). The listener hears of
  // every enforced ban made or lifted here and every failure judged here, in the order memory
  // changed; its callbacks must only queue (they run under this manager's writer lock).
  struct Listener {
    std::function<void(const Ban&)> banned;
    std::function<void(const config::Cidr&)> unbanned;
    std::function<void(const config::IpAddress& source, std::string_view username, TimePoint)>
        failed;
  };
  void set_listener(Listener listener);
  // What another instance did, applied here (memory and store) without telling the listener
  // again: a ban or unban, and a failure it judged (counted as if judged here; a ban it
  // completes is made here, and told, like any other).
  void apply_ban(Ban ban);
  void apply_unban(const config::Cidr& cidr);
  void apply_failure(const config::IpAddress& source, std::string_view username, TimePoint at);

  // New thresholds apply to the next failure; bans, counters and offenses are kept.
  void reconfigure(config::BruteforceConfig config);
  // Drops expired bans, blocks and counters from memory and from the store.
  void purge(TimePoint now);

 private:
  struct Offender {
    std::uint32_t offenses = 0;
    TimePoint last_ban;
  };

  // Bans by range: those of exactly one source range (IPv4 /32, IPv6 /64 by default) by its
  // network address, found by hash; any other range in `wide`, found by a scan (they are few).
  struct Index {
    std::unordered_map<config::IpAddress, Ban, AddressHash> exact;
    std::vector<Ban> wide;
    [[nodiscard]] const Ban* find(const config::Cidr& source_range, const config::IpAddress& source,
                                  TimePoint now) const;
    bool erase(const config::Cidr& cidr);
    void expire(TimePoint now);
    [[nodiscard]] std::size_t live(TimePoint now) const;
    void append_live(TimePoint now, std::vector<Ban>& out) const;
  };

  std::optional<Ban> record(const config::IpAddress& source, std::string_view username,
                            TimePoint now, std::optional<Ban>* prefix_ban, bool local);
  [[nodiscard]] std::chrono::milliseconds ban_duration(std::uint32_t offenses) const;
  void sweep_locked(TimePoint now);
  // The source range of `address` (sources.per_source prefixes): what failures and bans key on.
  [[nodiscard]] config::Cidr source_of(const config::IpAddress& address) const noexcept;
  void file_locked(Ban ban);  // into enforced_ or observed_, by ban.observed; mutex_ held
  // The live enforced ban covering `source`, else (with `observed`) the live observed one.
  [[nodiscard]] const Ban* find_locked(const config::IpAddress& source, TimePoint now,
                                       bool observed = false) const;
  // After a source ban at `now`: the prefix ban it completes, if any (and files it).
  std::optional<Ban> prefix_ban_locked(const config::Cidr& source, TimePoint now,
                                       std::chrono::milliseconds duration, bool observed);
  void record_username_locked(std::string_view username, TimePoint now);

  state::StateStore* store_;
  // Writers hold writer_mutex_ across "change memory, then queue the store write" so the store
  // sees changes in the order memory did; nobody waits for a disk write while holding it.
  // INVARIANT: guards every store_ call; taken before mutex_, never after.
  mutable std::mutex writer_mutex_;
  Listener listener_;                // set before use; called with writer_mutex_ held
  mutable std::shared_mutex mutex_;  // INVARIANT: guards everything below
  config::BruteforceConfig config_;
  config::CidrSet exempt_;
  Index enforced_;
  Index observed_;  // computed in observe mode
  // Failure times per source within find_time, newest last, at most max_failures of them.
  std::unordered_map<config::IpAddress, std::vector<TimePoint>, AddressHash> failures_;
  std::unordered_map<config::IpAddress, Offender, AddressHash> offenders_;
  // Times of automatic source bans per prefix_ban prefix (network address), within find_time.
  std::unordered_map<config::IpAddress, std::vector<TimePoint>, AddressHash> prefix_bans_;
  std::unordered_map<std::string, std::vector<TimePoint>> username_failures_;  // lower case
  std::unordered_map<std::string, TimePoint> username_blocks_;                 // until
  std::size_t sweep_at_ = 1024;  // sweep the counters when they grow past this
};

}  // namespace rdpgate::security
