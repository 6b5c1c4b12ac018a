// StateStore's writes: one queue, one writer thread, group commit (state_store.hpp).
#include <sqlite3.h>

#include <future>
#include <memory>

#include "rdpgate/state/state_store.hpp"
#include "sqlite_util.hpp"

namespace rdpgate::state {

using detail::Prepared;
using detail::to_millis;

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

void StateStore::put_grant(const GrantRecord& grant, Done done) {
  submit({{put_grant_sql,
           {grant.id, grant.cidr, grant.route, to_millis(grant.until), grant.reason,
            to_millis(grant.created)}}},
         std::move(done));
}

std::optional<std::string> StateStore::delete_grant(std::string_view id) {
  return submit_and_wait({{delete_grant_sql, {std::string(id)}}});
}

void StateStore::delete_grant(std::string_view id, Done done) {
  submit({{delete_grant_sql, {std::string(id)}}}, std::move(done));
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
