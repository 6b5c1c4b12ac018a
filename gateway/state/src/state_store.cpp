// StateStore over one SQLite connection. See state_store.hpp for why SQLite and what
// "acknowledged" means.

#include "rdpgate/state/state_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <future>
#include <system_error>

namespace rdpgate::state {
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

std::int64_t to_millis(TimePoint t) noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

TimePoint from_millis(std::int64_t ms) noexcept {
  return TimePoint{std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds{ms})};
}

std::string column_text(sqlite3_stmt* stmt, int column) {
  const auto* text = sqlite3_column_text(stmt, column);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text),
          static_cast<std::size_t>(sqlite3_column_bytes(stmt, column))};
}

// Owns a prepared statement.
struct Prepared {
  sqlite3_stmt* stmt = nullptr;
  Prepared() = default;
  Prepared(const Prepared&) = delete;
  Prepared& operator=(const Prepared&) = delete;
  ~Prepared() { sqlite3_finalize(stmt); }
};

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

void StateStore::close() {
  {
    std::lock_guard lock{queue_mutex_};
    if (closing_ && !writer_.joinable()) return;
    closing_ = true;
  }
  queue_changed_.notify_all();
  if (writer_.joinable() && writer_.get_id() != std::this_thread::get_id()) writer_.join();
}

std::optional<std::string> StateStore::flush() { return submit_and_wait({}); }

std::size_t StateStore::queued() const {
  std::lock_guard lock{queue_mutex_};
  return queue_.size();
}

void StateStore::submit(std::vector<Statement> statements, Done done) {
  {
    std::lock_guard lock{queue_mutex_};
    if (!closing_) {
      queue_.push_back(Write{std::move(statements), std::move(done)});
      queue_changed_.notify_one();
      return;
    }
  }
  if (done) done("state \"" + path_ + "\": closed");
}

std::optional<std::string> StateStore::submit_and_wait(std::vector<Statement> statements) {
  auto answer = std::make_shared<std::promise<std::optional<std::string>>>();
  auto result = answer->get_future();
  submit(std::move(statements),
         [answer](const std::optional<std::string>& error) { answer->set_value(error); });
  return result.get();
}

void StateStore::write_loop() {
  // At most this many writes per transaction: one commit's latency stays bounded.
  constexpr std::size_t max_batch = 512;
  for (;;) {
    std::vector<Write> batch;
    {
      std::unique_lock lock{queue_mutex_};
      queue_changed_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing, and everything queued was applied
      while (!queue_.empty() && batch.size() < max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<std::optional<std::string>> results(batch.size());
    {
      std::lock_guard lock{mutex_};
      std::optional<std::string> failed;
      if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
        failed = error_message("begin");
      } else {
        for (std::size_t i = 0; i < batch.size(); ++i) {
          for (const auto& statement : batch[i].statements) {
            if ((results[i] = run_locked(statement))) break;
          }
        }
        // COMMIT is where the WAL is written and fsync'ed (synchronous=FULL): durable after.
        if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
          failed = error_message("commit");
          sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        }
      }
      if (failed) {
        for (auto& r : results) r = failed;
      }
    }
    std::optional<std::string> reported;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      // One report per distinct failure of the batch (a failed commit fails every write).
      if (results[i] && health_ != nullptr && results[i] != reported) {
        health_->failed(*results[i]);
        reported = results[i];
      }
      if (batch[i].done) batch[i].done(results[i]);
    }
  }
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

std::optional<std::string> StateStore::run_locked(const Statement& statement) {
  Prepared s;
  if (sqlite3_prepare_v2(db_, statement.sql, -1, &s.stmt, nullptr) != SQLITE_OK) {
    return error_message("prepare");
  }
  int index = 1;
  for (const auto& param : statement.params) {
    int rc = SQLITE_OK;
    if (const auto* text = std::get_if<std::string>(&param)) {
      rc = sqlite3_bind_text(s.stmt, index, text->data(), static_cast<int>(text->size()),
                             SQLITE_TRANSIENT);
    } else {
      rc = sqlite3_bind_int64(s.stmt, index, std::get<std::int64_t>(param));
    }
    if (rc != SQLITE_OK) return error_message("bind");
    ++index;
  }
  if (sqlite3_step(s.stmt) != SQLITE_DONE) return error_message("write");
  return std::nullopt;
}

namespace {

constexpr const char* put_ban_sql =
    "INSERT OR REPLACE INTO bans (cidr, until, reason, origin, offenses) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
constexpr const char* delete_ban_sql = "DELETE FROM bans WHERE cidr = ?1";
constexpr const char* put_grant_sql =
    "INSERT OR REPLACE INTO grants (id, cidr, route, until, reason, created) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char* delete_grant_sql = "DELETE FROM grants WHERE id = ?1";
constexpr const char* put_offender_sql =
    "INSERT OR REPLACE INTO offenders (address, offenses, last_ban) VALUES (?1, ?2, ?3)";
constexpr const char* put_replay_sql =
    "INSERT OR REPLACE INTO replay_cache (jti, expires) VALUES (?1, ?2)";

}  // namespace

std::optional<std::string> StateStore::put_ban(const BanRecord& ban) {
  return submit_and_wait(
      {{put_ban_sql,
        {ban.cidr, to_millis(ban.until), ban.reason, std::string(to_string(ban.origin)),
         static_cast<std::int64_t>(ban.offenses)}}});
}

void StateStore::put_ban(const BanRecord& ban, Done done) {
  submit({{put_ban_sql,
           {ban.cidr, to_millis(ban.until), ban.reason, std::string(to_string(ban.origin)),
            static_cast<std::int64_t>(ban.offenses)}}},
         std::move(done));
}

std::optional<std::string> StateStore::delete_ban(std::string_view cidr) {
  return submit_and_wait({{delete_ban_sql, {std::string(cidr)}}});
}

void StateStore::delete_ban(std::string_view cidr, Done done) {
  submit({{delete_ban_sql, {std::string(cidr)}}}, std::move(done));
}

std::optional<std::string> StateStore::put_grant(const GrantRecord& grant) {
  return submit_and_wait({{put_grant_sql,
                           {grant.id, grant.cidr, grant.route, to_millis(grant.until), grant.reason,
                            to_millis(grant.created)}}});
}

std::optional<std::string> StateStore::delete_grant(std::string_view id) {
  return submit_and_wait({{delete_grant_sql, {std::string(id)}}});
}

std::optional<std::string> StateStore::put_offender(const OffenderRecord& offender) {
  return submit_and_wait({{put_offender_sql,
                           {offender.address, static_cast<std::int64_t>(offender.offenses),
                            to_millis(offender.last_ban)}}});
}

void StateStore::put_offender(const OffenderRecord& offender, Done done) {
  submit({{put_offender_sql,
           {offender.address, static_cast<std::int64_t>(offender.offenses),
            to_millis(offender.last_ban)}}},
         std::move(done));
}

std::optional<std::string> StateStore::put_replay(const ReplayRecord& replay) {
  return submit_and_wait({{put_replay_sql, {replay.jti, to_millis(replay.expires)}}});
}

void StateStore::put_replay(const ReplayRecord& replay, Done done) {
  submit({{put_replay_sql, {replay.jti, to_millis(replay.expires)}}}, std::move(done));
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

namespace {

std::vector<std::pair<const char*, std::int64_t>> purge_statements(
    TimePoint now, std::chrono::milliseconds offender_memory) {
  const std::int64_t t = to_millis(now);
  return {{"DELETE FROM bans WHERE until <= ?1", t},
          {"DELETE FROM grants WHERE until <= ?1", t},
          {"DELETE FROM replay_cache WHERE expires <= ?1", t},
          {"DELETE FROM offenders WHERE last_ban <= ?1",
           t - static_cast<std::int64_t>(offender_memory.count())}};
}

}  // namespace

std::optional<std::string> StateStore::purge_expired(TimePoint now,
                                                     std::chrono::milliseconds offender_memory) {
  std::vector<Statement> statements;
  for (const auto& [sql, t] : purge_statements(now, offender_memory)) {
    statements.push_back({sql, {t}});
  }
  return submit_and_wait(std::move(statements));
}

void StateStore::purge_expired(TimePoint now, std::chrono::milliseconds offender_memory,
                               Done done) {
  std::vector<Statement> statements;
  for (const auto& [sql, t] : purge_statements(now, offender_memory)) {
    statements.push_back({sql, {t}});
  }
  submit(std::move(statements), std::move(done));
}

}  // namespace rdpgate::state
