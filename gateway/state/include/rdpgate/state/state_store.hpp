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
// Writes never run on the caller's thread: every write is queued for one writer thread, which
// applies them in the order they were queued, as many as are waiting in one transaction (group
// commit: one WAL fsync for the lot). A slow or stuck disk therefore delays only the writes,
// never an I/O worker. Each writer comes in two forms: with a `Done` callback, which returns at
// once and calls `done` on the writer thread once the write is durable (nullopt) or failed;
// and without, which waits for that answer (for callers that must acknowledge only a durable
// write: the admin API).
//
// Times are stored as integer milliseconds since the Unix epoch.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
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

  // A write's answer, on the writer thread: nullopt once it is durable, else the error (also
  // reported to the StateHealth).
  using Done = std::function<void(const std::optional<std::string>& error)>;

  // Writers: insert or replace by primary key; durable when they return std::nullopt. The
  // forms with `done` return at once (an empty `done`: nobody waits for the answer).
  [[nodiscard]] std::optional<std::string> put_ban(const BanRecord& ban);
  void put_ban(const BanRecord& ban, Done done);
  [[nodiscard]] std::optional<std::string> delete_ban(std::string_view cidr);
  void delete_ban(std::string_view cidr, Done done);
  [[nodiscard]] std::optional<std::string> put_grant(const GrantRecord& grant);
  void put_grant(const GrantRecord& grant, Done done);
  [[nodiscard]] std::optional<std::string> delete_grant(std::string_view id);
  void delete_grant(std::string_view id, Done done);
  [[nodiscard]] std::optional<std::string> put_offender(const OffenderRecord& offender);
  void put_offender(const OffenderRecord& offender, Done done);
  [[nodiscard]] std::optional<std::string> put_replay(const ReplayRecord& replay);
  void put_replay(const ReplayRecord& replay, Done done);

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
  void purge_expired(TimePoint now, std::chrono::milliseconds offender_memory, Done done);

  // Waits until every write queued before it was applied; its answer is that of the last batch.
  std::optional<std::string> flush();
  // Applies every write queued so far and stops the writer thread (the destructor does too).
  // The `done` callbacks of the writes have run when it returns.
  void close();
  // Writes waiting for the writer thread (for tests and health views).
  [[nodiscard]] std::size_t queued() const;

 private:
  StateStore(sqlite3* db, std::string path, StateHealth* health);

  // One statement with bound text/integer parameters.
  using Param = std::variant<std::string, std::int64_t>;
  struct Statement {
    const char* sql;
    std::vector<Param> params;
  };
  struct Write {
    std::vector<Statement> statements;  // applied in order; the first failure ends the write
    Done done;
  };
  void submit(std::vector<Statement> statements, Done done);
  std::optional<std::string> submit_and_wait(std::vector<Statement> statements);
  void write_loop();                                                  // the writer thread
  std::optional<std::string> run_locked(const Statement& statement);  // mutex_ held
  std::string error_message(std::string_view what) const;
  // Reports a loader's failure (mutex_ not held) and hands it to the caller.
  void loaded(std::string failure, std::string* error);

  std::mutex mutex_;  // INVARIANT: held around every use of db_
  sqlite3* db_ = nullptr;
  std::string path_;
  StateHealth* health_ = nullptr;

  mutable std::mutex queue_mutex_;  // INVARIANT: guards queue_ and closing_
  std::condition_variable queue_changed_;
  std::deque<Write> queue_;
  bool closing_ = false;
  std::thread writer_;  // started by the constructor, joined by close()
};

}  // namespace rdpgate::state
