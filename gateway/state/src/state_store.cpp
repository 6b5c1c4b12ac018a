// StateStore over one SQLite connection. See state_store.hpp for why SQLite and what
// "acknowledged" means.

#include "rdpgate/state/state_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "sqlite_util.hpp"

namespace rdpgate::state {

using detail::Prepared;
using detail::to_millis;
namespace {

constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS bans (
  cidr     TEXT PRIMARY KEY,
  until    INTEGER NOT NULL,
  reason   TEXT NOT NULL,
  origin   TEXT NOT NULL CHECK (origin IN ('auto', 'manual')),
  offenses INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS grants (
  id      TEXT PRIMARY KEY,
  cidr    TEXT NOT NULL,
  route   TEXT NOT NULL,
  until   INTEGER NOT NULL,
  reason  TEXT NOT NULL,
  created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS offenders (
  address  TEXT PRIMARY KEY,
  offenses INTEGER NOT NULL,
  last_ban INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS replay_cache (
  jti     TEXT PRIMARY KEY,
  expires INTEGER NOT NULL
);
)sql";

TimePoint from_millis(std::int64_t ms) noexcept {
  return TimePoint{std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds{ms})};
}

std::string column_text(sqlite3_stmt* stmt, int column) {
  const auto* text = sqlite3_column_text(stmt, column);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text),
          static_cast<std::size_t>(sqlite3_column_bytes(stmt, column))};
}

// Reads every row of `sql`, handing each to `row`; returns an error message or "".
template <class Row>
std::string select_all(sqlite3* db, const char* sql, Row&& row) {
  Prepared s;
  if (sqlite3_prepare_v2(db, sql, -1, &s.stmt, nullptr) != SQLITE_OK) return sqlite3_errmsg(db);
  for (;;) {
    const int rc = sqlite3_step(s.stmt);
    if (rc == SQLITE_DONE) return {};
    if (rc != SQLITE_ROW) return sqlite3_errmsg(db);
    row(s.stmt);
  }
}

// The database file, created 0600 when missing, and any write-ahead log and shared-memory
// index beside it: made 0600 when they are not. SQLite creates its -wal and -shm files with
// the database file's mode, so they follow.
std::optional<std::string> restrict_files(const std::string& db_path) {
  const int fd = ::open(db_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0) return std::generic_category().message(errno);
  const int chmod_error = ::fchmod(fd, 0600) == 0 ? 0 : errno;
  ::close(fd);
  if (chmod_error != 0) return "chmod 0600: " + std::generic_category().message(chmod_error);
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::string file = db_path + suffix;
    if (::chmod(file.c_str(), 0600) != 0 && errno != ENOENT) {
      return "\"" + file + "\": chmod 0600: " + std::generic_category().message(errno);
    }
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(BanOrigin origin) noexcept {
  return origin == BanOrigin::manual ? "manual" : "auto";
}

std::optional<BanOrigin> parse_ban_origin(std::string_view text) noexcept {
  if (text == "auto") return BanOrigin::automatic;
  if (text == "manual") return BanOrigin::manual;
  return std::nullopt;
}

std::variant<std::unique_ptr<StateStore>, std::string> StateStore::open(
    const std::string& directory, StateHealth* health) {
  namespace fs = std::filesystem;
  std::error_code ec;
  // Bans, grants and token replays are nobody else's business: the directory rdpgate creates
  // is 0700 whatever the umask (one that exists keeps the mode its owner gave it).
  const bool created = fs::create_directories(directory, ec);
  if (ec) return "state directory \"" + directory + "\": " + ec.message();
  if (!fs::is_directory(directory, ec)) {
    return "state directory \"" + directory + "\": not a directory";
  }
  if (created) {
    fs::permissions(directory, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec) return "state directory \"" + directory + "\": chmod 0700: " + ec.message();
  }
  const std::string path = (fs::path{directory} / "rdpgate.db").string();
  const std::string where = "state \"" + path + "\": ";
  if (auto error = restrict_files(path)) return where + *error;

  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
  if (const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr); rc != SQLITE_OK) {
    std::string message = where + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    if (db != nullptr && sqlite3_system_errno(db) != 0) {
      message += " (" + std::generic_category().message(sqlite3_system_errno(db)) + ")";
    }
    sqlite3_close(db);
    return message;
  }
  sqlite3_extended_result_codes(db, 1);
  // Another process (the CLI, a second gateway by mistake) may hold a lock briefly.
  sqlite3_busy_timeout(db, 2000);

  // journal_mode answers with a row; the others answer nothing. A read-only file system or a
  // file that is not a database fails here, before anything is acknowledged.
  const char* setup[] = {
      "PRAGMA journal_mode=WAL",
      "PRAGMA synchronous=FULL",
      "PRAGMA foreign_keys=ON",
  };
  for (const char* sql : setup) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      std::string error = where + (message != nullptr ? message : sqlite3_errmsg(db));
      sqlite3_free(message);
      sqlite3_close(db);
      return error;
    }
  }
  // journal_mode=WAL silently stays "delete" when WAL is impossible; say so rather than run
  // with weaker guarantees than documented.
  std::string mode;
  select_all(db, "PRAGMA journal_mode", [&](sqlite3_stmt* s) { mode = column_text(s, 0); });
  if (mode != "wal") {
    sqlite3_close(db);
    return where + "cannot enable write-ahead logging (journal_mode is \"" + mode + "\")";
  }
  // A damaged file (a torn copy, a bad disk) with an intact header opens fine and fails only
  // at the first read of a damaged page: find it now, while refusing to start is still an
  // answer. quick_check reads every page once (O(size); the store holds small rows).
  std::string check;
  const auto failed = select_all(db, "PRAGMA quick_check(1)", [&](sqlite3_stmt* s) {
    if (check.empty()) check = column_text(s, 0);
  });
  if (!failed.empty() || check != "ok") {
    std::string error = where + "corrupt database: " + (failed.empty() ? check : failed);
    sqlite3_close(db);
    return error;
  }
  char* message = nullptr;
  if (sqlite3_exec(db, schema, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string error = where + (message != nullptr ? message : sqlite3_errmsg(db));
    sqlite3_free(message);
    sqlite3_close(db);
    return error;
  }
  return std::unique_ptr<StateStore>(new StateStore(db, path, health));
}

StateStore::StateStore(sqlite3* db, std::string path, StateHealth* health)
    : db_(db), path_(std::move(path)), health_(health), writer_([this] { write_loop(); }) {}

StateStore::~StateStore() {
  close();
  sqlite3_close(db_);
}

std::string StateStore::error_message(std::string_view what) const {
  std::string message =
      "state \"" + path_ + "\": " + std::string{what} + ": " + sqlite3_errmsg(db_);
  if (const int err = sqlite3_system_errno(db_); err != 0) {
    message += " (" + std::generic_category().message(err) + ")";
  }
  return message;
}

void StateStore::loaded(std::string failure, std::string* error) {
  if (failure.empty()) return;
  if (health_ != nullptr) health_->failed(failure);
  if (error != nullptr) *error = std::move(failure);
}

std::vector<BanRecord> StateStore::load_bans(std::string* error) {
  std::vector<BanRecord> out;
  std::string failure;
  {
    std::lock_guard lock{mutex_};
    auto failed = select_all(
        db_, "SELECT cidr, until, reason, origin, offenses FROM bans ORDER BY cidr",
        [&](sqlite3_stmt* s) {
          BanRecord ban;
          ban.cidr = column_text(s, 0);
          ban.until = from_millis(sqlite3_column_int64(s, 1));
          ban.reason = column_text(s, 2);
          ban.origin = parse_ban_origin(column_text(s, 3)).value_or(BanOrigin::automatic);
          ban.offenses = static_cast<std::uint32_t>(sqlite3_column_int64(s, 4));
          out.push_back(std::move(ban));
        });
    if (!failed.empty()) failure = error_message("load bans");
  }
  loaded(std::move(failure), error);
  return out;
}

std::vector<GrantRecord> StateStore::load_grants(std::string* error) {
  std::vector<GrantRecord> out;
  std::string failure;
  {
    std::lock_guard lock{mutex_};
    auto failed = select_all(
        db_, "SELECT id, cidr, route, until, reason, created FROM grants ORDER BY created, id",
        [&](sqlite3_stmt* s) {
          GrantRecord grant;
          grant.id = column_text(s, 0);
          grant.cidr = column_text(s, 1);
          grant.route = column_text(s, 2);
          grant.until = from_millis(sqlite3_column_int64(s, 3));
          grant.reason = column_text(s, 4);
          grant.created = from_millis(sqlite3_column_int64(s, 5));
          out.push_back(std::move(grant));
        });
    if (!failed.empty()) failure = error_message("load grants");
  }
  loaded(std::move(failure), error);
  return out;
}

std::vector<OffenderRecord> StateStore::load_offenders(std::string* error) {
  std::vector<OffenderRecord> out;
  std::string failure;
  {
    std::lock_guard lock{mutex_};
    auto failed =
        select_all(db_, "SELECT address, offenses, last_ban FROM offenders ORDER BY address",
                   [&](sqlite3_stmt* s) {
                     OffenderRecord offender;
                     offender.address = column_text(s, 0);
                     offender.offenses = static_cast<std::uint32_t>(sqlite3_column_int64(s, 1));
                     offender.last_ban = from_millis(sqlite3_column_int64(s, 2));
                     out.push_back(std::move(offender));
                   });
    if (!failed.empty()) failure = error_message("load offenders");
  }
  loaded(std::move(failure), error);
  return out;
}

std::vector<ReplayRecord> StateStore::load_replays(std::string* error) {
  std::vector<ReplayRecord> out;
  std::string failure;
  {
    std::lock_guard lock{mutex_};
    auto failed =
        select_all(db_, "SELECT jti, expires FROM replay_cache ORDER BY jti", [&](sqlite3_stmt* s) {
          out.push_back({column_text(s, 0), from_millis(sqlite3_column_int64(s, 1))});
        });
    if (!failed.empty()) failure = error_message("load replay cache");
  }
  loaded(std::move(failure), error);
  return out;
}

}  // namespace rdpgate::state
