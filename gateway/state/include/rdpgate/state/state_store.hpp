#pragma once
// The durable state of rdpgate: bans, just-in-time grants, repeat offenders and the replay cache
// of signed tokens (SPEC §2: "a crash or kill -9 at any moment loses none that were
// acknowledged; a restart reloads them").
//
// Why SQLite (Debian's libsqlite3) rather than a file format of our own: every write is an
// atomic, durable transaction; WAL mode lets readers run beside the single writer; and its
// crash-safety (torn pages, power loss, kill -9 half-way through a write) has been tested for
// decades, which a hand-made append log or rewrite-and-rename scheme would have to earn again.
// The database lives in `<state.path>/rdpgate.db` with `journal_mode=WAL` and
// `synchronous=FULL`: when a put_*() returned no error, the row is on disk, and the WAL is
// fsync'ed at every commit, so nothing acknowledged is lost even to a power cut.
//
// Every method is thread-safe (one internal mutex around the one connection). Failures (disk
// full, read-only file system, a corrupt file) come back as an error message and never as an
// exception or a crash: the gateway keeps relaying and logs the message.
//
// Times are stored as integer milliseconds since the Unix epoch.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rdpgate/state/health.hpp"

struct sqlite3;

namespace rdpgate::state {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

// Who created a ban: the brute-force detector ("auto") or an operator ("manual").
enum class BanOrigin { automatic, manual };
[[nodiscard]] std::string_view to_string(BanOrigin origin) noexcept;  // "auto" | "manual"
[[nodiscard]] std::optional<BanOrigin> parse_ban_origin(std::string_view text) noexcept;

struct BanRecord {
  std::string cidr;  // canonical text, e.g. "203.0.113.7/32"; the primary key
  TimePoint until;
  std::string reason;
  BanOrigin origin = BanOrigin::automatic;
  std::uint32_t offenses = 0;  // automatic bans: how many bans this source had before this one
  friend bool operator==(const BanRecord&, const BanRecord&) = default;
};

struct GrantRecord {
  std::string id;  // the primary key
  std::string cidr;
  std::string route;  // a route name, or "*" for any route
  TimePoint until;
  std::string reason;
  TimePoint created;
  friend bool operator==(const GrantRecord&, const GrantRecord&) = default;
};

// A source that was banned before: its next ban grows (ban_time * factor^offenses).
struct OffenderRecord {
  std::string address;  // canonical text, e.g. "203.0.113.7"; the primary key
  std::uint32_t offenses = 0;
  TimePoint last_ban;  // when the latest ban was created
  friend bool operator==(const OffenderRecord&, const OffenderRecord&) = default;
};

// A signed token's `jti`, remembered until its expiry (plus clock skew) to refuse a replay.
struct ReplayRecord {
  std::string jti;  // the primary key
  TimePoint expires;
  friend bool operator==(const ReplayRecord&, const ReplayRecord&) = default;
};

// Marks a store call whose error needs no more handling than the report its StateHealth got
// (the in-memory state goes on working; SPEC §7).
inline void reported(const std::optional<std::string>& /*error*/) noexcept {}

class StateStore {
 public:
  // Opens (and creates when needed) `<directory>/rdpgate.db`, creating `directory` first
  // (0700; the database files are made 0600). A file that is not a database, or one whose
  // pages fail SQLite's quick_check, is an error. The error names the path and the cause,
  // e.g. `state "/x/rdpgate.db": unable to open database file (permission denied)`.
  // Every later failure is also reported to `health` when one is given.
  [[nodiscard]] static std::variant<std::unique_ptr<StateStore>, std::string> open(
      const std::string& directory, StateHealth* health = nullptr);

  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;
  ~StateStore();

  [[nodiscard]] const std::string& path() const noexcept { return path_; }

  // Writers: insert or replace by primary key; durable when they return std::nullopt.
  [[nodiscard]] std::optional<std::string> put_ban(const BanRecord& ban);
  [[nodiscard]] std::optional<std::string> delete_ban(std::string_view cidr);
  [[nodiscard]] std::optional<std::string> put_grant(const GrantRecord& grant);
  [[nodiscard]] std::optional<std::string> delete_grant(std::string_view id);
  [[nodiscard]] std::optional<std::string> put_offender(const OffenderRecord& offender);
  [[nodiscard]] std::optional<std::string> put_replay(const ReplayRecord& replay);

  // Loaders: every row, expired or not (callers filter by time). On failure they return what
  // they could read and set `*error` when it is given.
  [[nodiscard]] std::vector<BanRecord> load_bans(std::string* error = nullptr);
  [[nodiscard]] std::vector<GrantRecord> load_grants(std::string* error = nullptr);
  [[nodiscard]] std::vector<OffenderRecord> load_offenders(std::string* error = nullptr);
  [[nodiscard]] std::vector<ReplayRecord> load_replays(std::string* error = nullptr);

  // Deletes bans and grants whose `until` <= now, replay entries whose `expires` <= now, and
  // offenders whose last ban is older than `offender_memory`.
  [[nodiscard]] std::optional<std::string> purge_expired(
      TimePoint now, std::chrono::milliseconds offender_memory = std::chrono::hours{24 * 7});

 private:
  StateStore(sqlite3* db, std::string path, StateHealth* health) noexcept
      : db_(db), path_(std::move(path)), health_(health) {}

  // Runs one statement with bound text/integer parameters, in its own transaction.
  using Param = std::variant<std::string_view, std::int64_t>;
  std::optional<std::string> execute(const char* sql, std::initializer_list<Param> params);
  std::optional<std::string> execute_locked(const char* sql, std::initializer_list<Param> params);
  std::string error_message(std::string_view what) const;
  // Reports a loader's failure (mutex_ not held) and hands it to the caller.
  void loaded(std::string failure, std::string* error);

  std::mutex mutex_;  // INVARIANT: held around every use of db_
  sqlite3* db_ = nullptr;
  std::string path_;
  StateHealth* health_ = nullptr;
};

}  // namespace rdpgate::state
