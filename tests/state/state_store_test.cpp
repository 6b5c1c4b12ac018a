// StateStore: round trips, purge, errors on bad paths and full disks, and durability across a
// SIGKILL right after a write was acknowledged.

#include "rdpgate/state/state_store.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "../common/addresses.hpp"
#include "../common/temp_dir.hpp"

namespace rdpgate::state {
namespace {

using namespace std::chrono_literals;
using test::TempDir;

using test::t0;

std::unique_ptr<StateStore> open_or_fail(const std::string& dir) {
  auto opened = StateStore::open(dir);
  if (auto* error = std::get_if<std::string>(&opened)) {
    ADD_FAILURE() << *error;
    return nullptr;
  }
  return std::move(std::get<std::unique_ptr<StateStore>>(opened));
}

TEST(StateStore, CreatesDirectoryAndDatabase) {
  TempDir tmp;
  auto store = open_or_fail(tmp.sub("a/b/c"));
  ASSERT_TRUE(store);
  EXPECT_TRUE(std::filesystem::exists(tmp.sub("a/b/c/rdpgate.db")));
  EXPECT_EQ(store->path(), tmp.sub("a/b/c/rdpgate.db"));
}

// Bans, grants and token replays are readable by rdpgate's user only, whatever the umask: the
// directory it creates is 0700, the database and its write-ahead files 0600 (a database left
// 0644 by an older version is tightened).
TEST(StateStore, DirectoryIs0700AndFilesAre0600) {
  namespace fs = std::filesystem;
  TempDir tmp;
  const mode_t old_umask = ::umask(022);
  {
    auto store = open_or_fail(tmp.sub("state"));
    ASSERT_TRUE(store);
    ASSERT_EQ(store->put_ban({"192.0.2.1/32", t0 + 1h, "x", BanOrigin::manual, 0}), std::nullopt);
    EXPECT_EQ(fs::status(tmp.sub("state")).permissions(), fs::perms::owner_all);
    for (const char* file : {"rdpgate.db", "rdpgate.db-wal", "rdpgate.db-shm"}) {
      const auto path = tmp.sub("state/") + file;
      ASSERT_TRUE(fs::exists(path)) << path;
      EXPECT_EQ(fs::status(path).permissions(), fs::perms::owner_read | fs::perms::owner_write)
          << path;
    }
  }
  fs::permissions(tmp.sub("state/rdpgate.db"), fs::perms::group_read | fs::perms::others_read,
                  fs::perm_options::add);
  {
    auto store = open_or_fail(tmp.sub("state"));
    ASSERT_TRUE(store);
    EXPECT_EQ(fs::status(tmp.sub("state/rdpgate.db")).permissions(),
              fs::perms::owner_read | fs::perms::owner_write);
  }
  ::umask(old_umask);
}

TEST(StateStore, BanRoundTripAndReplace) {
  TempDir tmp;
  auto store = open_or_fail(tmp.path());
  ASSERT_TRUE(store);
  const BanRecord a{"203.0.113.7/32", t0 + 15min, "5 failures in 10m", BanOrigin::automatic, 2};
  const BanRecord b{"198.51.100.0/24", t0 + 1h, "abuse ticket 7", BanOrigin::manual, 0};
  ASSERT_EQ(store->put_ban(a), std::nullopt);
  ASSERT_EQ(store->put_ban(b), std::nullopt);
  std::string error;
  auto bans = store->load_bans(&error);
  EXPECT_EQ(error, "");
  ASSERT_EQ(bans.size(), 2U);
  EXPECT_EQ(bans[0], b);  // ordered by cidr text
  EXPECT_EQ(bans[1], a);

  BanRecord longer = a;
  longer.until = t0 + 30min;
  ASSERT_EQ(store->put_ban(longer), std::nullopt);
  bans = store->load_bans();
  ASSERT_EQ(bans.size(), 2U);
  EXPECT_EQ(bans[1].until, t0 + 30min);

  ASSERT_EQ(store->delete_ban("198.51.100.0/24"), std::nullopt);
  bans = store->load_bans();
  ASSERT_EQ(bans.size(), 1U);
  EXPECT_EQ(bans[0].cidr, "203.0.113.7/32");
}

TEST(StateStore, GrantsOffendersReplaysRoundTrip) {
  TempDir tmp;
  {
    auto store = open_or_fail(tmp.path());
    ASSERT_TRUE(store);
    ASSERT_EQ(store->put_grant({"0123456789abcdef", "203.0.113.7/32", "finance", t0 + 2h,
                                "ticket 1234", t0}),
              std::nullopt);
    ASSERT_EQ(store->put_offender({"2001:db8::1", 3, t0}), std::nullopt);
    ASSERT_EQ(store->put_replay({"jti-1", t0 + 5min}), std::nullopt);
  }
  // A second process (or a restart) sees the same rows.
  auto store = open_or_fail(tmp.path());
  ASSERT_TRUE(store);
  const auto grants = store->load_grants();
  ASSERT_EQ(grants.size(), 1U);
  EXPECT_EQ(grants[0], (GrantRecord{"0123456789abcdef", "203.0.113.7/32", "finance", t0 + 2h,
                                    "ticket 1234", t0}));
  const auto offenders = store->load_offenders();
  ASSERT_EQ(offenders.size(), 1U);
  EXPECT_EQ(offenders[0], (OffenderRecord{"2001:db8::1", 3, t0}));
  const auto replays = store->load_replays();
  ASSERT_EQ(replays.size(), 1U);
  EXPECT_EQ(replays[0], (ReplayRecord{"jti-1", t0 + 5min}));

  ASSERT_EQ(store->delete_grant("0123456789abcdef"), std::nullopt);
  EXPECT_TRUE(store->load_grants().empty());
}

TEST(StateStore, PurgeExpiredKeepsLiveRows) {
  TempDir tmp;
  auto store = open_or_fail(tmp.path());
  ASSERT_TRUE(store);
  ASSERT_EQ(store->put_ban({"192.0.2.1/32", t0 + 1s, "", BanOrigin::automatic, 0}), std::nullopt);
  ASSERT_EQ(store->put_ban({"192.0.2.2/32", t0 + 1h, "", BanOrigin::manual, 0}), std::nullopt);
  ASSERT_EQ(store->put_grant({"g1", "192.0.2.0/24", "*", t0 + 1s, "", t0}), std::nullopt);
  ASSERT_EQ(store->put_grant({"g2", "192.0.2.0/24", "*", t0 + 1h, "", t0}), std::nullopt);
  ASSERT_EQ(store->put_replay({"old", t0 + 1s}), std::nullopt);
  ASSERT_EQ(store->put_replay({"new", t0 + 1h}), std::nullopt);
  ASSERT_EQ(store->put_offender({"192.0.2.9", 1, t0 - 8 * 24h}), std::nullopt);
  ASSERT_EQ(store->put_offender({"192.0.2.8", 1, t0}), std::nullopt);

  ASSERT_EQ(store->purge_expired(t0 + 1s), std::nullopt);  // `until` == now is expired
  const auto bans = store->load_bans();
  ASSERT_EQ(bans.size(), 1U);
  EXPECT_EQ(bans[0].cidr, "192.0.2.2/32");
  const auto grants = store->load_grants();
  ASSERT_EQ(grants.size(), 1U);
  EXPECT_EQ(grants[0].id, "g2");
  const auto replays = store->load_replays();
  ASSERT_EQ(replays.size(), 1U);
  EXPECT_EQ(replays[0].jti, "new");
  const auto offenders = store->load_offenders();
  ASSERT_EQ(offenders.size(), 1U);
  EXPECT_EQ(offenders[0].address, "192.0.2.8");
}

TEST(StateStore, UnwritableDirectoryIsAClearError) {
  TempDir tmp;
  // A regular file where a directory is expected: refused even for root, unlike chmod 0500.
  std::ofstream{tmp.sub("file")} << "x";
  auto opened = StateStore::open(tmp.sub("file/state"));
  ASSERT_TRUE(std::holds_alternative<std::string>(opened));
  const auto& error = std::get<std::string>(opened);
  EXPECT_NE(error.find("state directory"), std::string::npos) << error;
  EXPECT_NE(error.find(tmp.sub("file/state")), std::string::npos) << error;
  EXPECT_NE(error.find("Not a directory"), std::string::npos) << error;

  if (::geteuid() != 0) {
    std::filesystem::create_directory(tmp.sub("ro"));
    std::filesystem::permissions(tmp.sub("ro"), std::filesystem::perms::owner_read |
                                                    std::filesystem::perms::owner_exec);
    auto ro = StateStore::open(tmp.sub("ro"));
    ASSERT_TRUE(std::holds_alternative<std::string>(ro));
    EXPECT_NE(std::get<std::string>(ro).find("rdpgate.db"), std::string::npos)
        << std::get<std::string>(ro);
  }
}

TEST(StateStore, NotADatabaseIsAClearError) {
  TempDir tmp;
  std::ofstream{tmp.sub("rdpgate.db")} << std::string(4096, 'z');
  auto opened = StateStore::open(tmp.path());
  ASSERT_TRUE(std::holds_alternative<std::string>(opened));
  EXPECT_NE(std::get<std::string>(opened).find("not a database"), std::string::npos)
      << std::get<std::string>(opened);
}

// A database with an intact header and a damaged page opens fine in SQLite and fails only when
// that page is read: open() finds it at once.
TEST(StateStore, DamagedPageIsACorruptDatabase) {
  TempDir tmp;
  {
    auto store = open_or_fail(tmp.path());
    ASSERT_TRUE(store);
    const std::string reason(500, 'r');
    for (int i = 0; i < 200; ++i) {
      ASSERT_EQ(store->put_ban({"192.0.2." + std::to_string(i) + "/32", t0 + 1h, reason,
                                BanOrigin::manual, 0}),
                std::nullopt);
    }
  }  // the last connection checkpoints the WAL into the database file
  const auto db = tmp.sub("rdpgate.db");
  ASSERT_GT(std::filesystem::file_size(db), 8U * 4096U);
  {
    std::fstream file{db, std::ios::in | std::ios::out | std::ios::binary};
    file.seekp(4 * 4096);  // a b-tree page, past the header and the schema
    const std::string garbage(4096, 'z');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto opened = StateStore::open(tmp.path());
  ASSERT_TRUE(std::holds_alternative<std::string>(opened));
  const auto& error = std::get<std::string>(opened);
  EXPECT_NE(error.find("corrupt database"), std::string::npos) << error;
  EXPECT_NE(error.find(db), std::string::npos) << error;
}

// A full disk, simulated with RLIMIT_FSIZE in a child process: writes fail with a message and
// the process goes on (no crash, no exception).
TEST(StateStore, FullDiskReturnsAnErrorAndDoesNotCrash) {
  TempDir tmp;
  {
    auto store = open_or_fail(tmp.path());  // create the schema with no limit
    ASSERT_TRUE(store);
  }
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);  // make the kernel answer EFBIG instead of killing us
    auto opened = StateStore::open(tmp.path());
    if (!std::holds_alternative<std::unique_ptr<StateStore>>(opened)) ::_exit(10);
    auto& store = *std::get<std::unique_ptr<StateStore>>(opened);
    const rlimit limit{64 * 1024, 64 * 1024};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    const std::string reason(2000, 'r');
    for (int i = 0; i < 10'000; ++i) {
      auto error = store.put_ban({"192.0.2." + std::to_string(i) + "/32", t0 + 1h, reason,
                                  BanOrigin::manual, 0});
      if (error) ::_exit(error->find("state \"") == 0 ? 0 : 11);
    }
    ::_exit(12);  // 20 MB written under a 64 KiB limit: the limit did not bite
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "child died with signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// Reads one byte from `fd` within `timeout`; false on timeout or EOF.
bool read_ack(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
  char byte = 0;
  return ::read(fd, &byte, 1) == 1;
}

// The durability promise: a write that returned is on disk even if the process is killed the
// next instant. The child keeps writing (so it is killed in the middle of a later write) and
// acknowledges each write through a pipe; the parent SIGKILLs it right after an acknowledgment.
TEST(StateStore, AcknowledgedWritesSurviveSigkill) {
  TempDir tmp;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    auto opened = StateStore::open(tmp.path());
    if (!std::holds_alternative<std::unique_ptr<StateStore>>(opened)) ::_exit(10);
    auto& store = *std::get<std::unique_ptr<StateStore>>(opened);
    const char ack = 'k';
    if (store.put_ban({"203.0.113.7/32", t0 + 1h, "crash test", BanOrigin::manual, 0})) {
      ::_exit(11);
    }
    if (::write(pipe_fds[1], &ack, 1) != 1) ::_exit(12);
    if (store.put_grant({"feedfacecafebeef", "198.51.100.0/24", "finance", t0 + 2h,
                         "crash test", t0})) {
      ::_exit(13);
    }
    if (::write(pipe_fds[1], &ack, 1) != 1) ::_exit(14);
    for (int i = 0;; ++i) {  // until killed
      if (store.put_replay({"jti-" + std::to_string(i), t0 + 1h})) ::_exit(15);
      if (::write(pipe_fds[1], &ack, 1) != 1) ::_exit(16);
    }
  }
  ::close(pipe_fds[1]);
  constexpr int extra = 25;  // acknowledged replay entries before the kill
  bool acked = true;
  for (int i = 0; i < 2 + extra && acked; ++i) acked = read_ack(pipe_fds[0], 10s);
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ::close(pipe_fds[0]);
  ASSERT_TRUE(acked) << "the child did not acknowledge its writes in time";
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);

  auto store = open_or_fail(tmp.path());
  ASSERT_TRUE(store);
  const auto bans = store->load_bans();
  ASSERT_EQ(bans.size(), 1U);
  EXPECT_EQ(bans[0].cidr, "203.0.113.7/32");
  EXPECT_EQ(bans[0].until, t0 + 1h);
  const auto grants = store->load_grants();
  ASSERT_EQ(grants.size(), 1U);
  EXPECT_EQ(grants[0].id, "feedfacecafebeef");
  EXPECT_EQ(grants[0].route, "finance");
  const auto replays = store->load_replays();
  EXPECT_GE(replays.size(), static_cast<std::size_t>(extra));
  for (int i = 0; i < extra; ++i) {
    const std::string jti = "jti-" + std::to_string(i);
    EXPECT_TRUE(std::any_of(replays.begin(), replays.end(),
                            [&](const ReplayRecord& r) { return r.jti == jti; }))
        << jti << " was acknowledged but is lost";
  }
}

TEST(StateStore, ConcurrentWritersFromThreads) {
  TempDir tmp;
  auto store = open_or_fail(tmp.path());
  ASSERT_TRUE(store);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        EXPECT_EQ(store->put_replay({std::to_string(t) + "-" + std::to_string(i), t0 + 1h}),
                  std::nullopt);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(store->load_replays().size(), 100U);
}

}  // namespace
}  // namespace rdpgate::state
