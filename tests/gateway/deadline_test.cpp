// The one deadline mechanism (deadline.hpp) and the registry's "last session gone" signal that
// shutdown waits on. Real timers on a private io_context; every run is bounded by run_for().

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "rdpgate/gateway/deadline.hpp"
#include "rdpgate/gateway/registry.hpp"

namespace rdpgate::gateway {
namespace {

using namespace std::chrono_literals;

TEST(Deadline, ExpiresOnceAndRunsItsAction) {
  asio::io_context io;
  int fired = 0;
  Deadline d(io.get_executor(), [&] { ++fired; });
  d.arm_after(5ms);
  EXPECT_FALSE(d.expired());
  io.run_for(2s);
  EXPECT_EQ(fired, 1);
  EXPECT_TRUE(d.expired());
}

TEST(Deadline, DisarmedOrRearmedNeverFiresTheOldDeadline) {
  asio::io_context io;
  int fired = 0;
  Deadline d(io.get_executor(), [&] { ++fired; });
  d.arm_after(1ms);
  d.disarm();
  io.run_for(50ms);
  EXPECT_EQ(fired, 0);
  EXPECT_FALSE(d.expired());

  io.restart();
  d.arm_after(1h);
  d.arm_after(5ms);  // re-armed: only the new time counts
  io.run_for(2s);
  EXPECT_EQ(fired, 1);
  EXPECT_TRUE(d.expired());
  d.arm_after(1h);
  EXPECT_FALSE(d.expired());  // arming clears it
  d.disarm();
}

TEST(Deadline, AnExpiryDueButNotRunYetIsDroppedByDisarmAndByDestruction) {
  // The session and relay rely on this: their expiry actions touch sockets that are gone once
  // the phase ended. (Under ASan, a handler reaching a destroyed Deadline would be reported.)
  asio::io_context io;
  int fired = 0;
  Deadline kept(io.get_executor(), [&] { ++fired; });
  kept.arm(Deadline::Clock::now() - 1s);  // due: the timer's completion is ready to run
  kept.disarm();
  {
    Deadline gone(io.get_executor(), [&] { ++fired; });
    gone.arm(Deadline::Clock::now() - 1s);
  }
  io.run_for(50ms);
  EXPECT_EQ(fired, 0);
  EXPECT_FALSE(kept.expired());
}

TEST(Deadline, MovedLaterItFiresAtTheNewTimeNotTheOld) {
  // A later arm() keeps the pending wait (no timer re-arm); when that ends early, the deadline
  // waits again for the rest rather than firing.
  asio::io_context io;
  int fired = 0;
  Deadline d(io.get_executor(), [&] { ++fired; });
  const auto start = Deadline::Clock::now();
  d.arm(start + 5ms);
  d.arm(start + 80ms);
  io.run_for(40ms);
  EXPECT_EQ(fired, 0);
  EXPECT_FALSE(d.expired());
  io.restart();
  io.run_for(2s);
  EXPECT_EQ(fired, 1);
  EXPECT_GE(Deadline::Clock::now() - start, 80ms);

  // Disarmed, then armed later again, within the life of one pending wait.
  io.restart();
  fired = 0;
  const auto again = Deadline::Clock::now();
  d.arm(again + 5ms);
  d.disarm();
  d.arm(again + 60ms);
  io.run_for(30ms);
  EXPECT_EQ(fired, 0);
  io.restart();
  io.run_for(2s);
  EXPECT_EQ(fired, 1);

  // Moved earlier: the new, earlier time counts.
  io.restart();
  fired = 0;
  d.arm_after(1h);
  d.arm_after(5ms);
  io.run_for(2s);
  EXPECT_EQ(fired, 1);
}

TEST(Deadline, ReportsWhenItWasArmedFor) {
  asio::io_context io;
  Deadline d(io.get_executor(), [] {});
  const auto when = Deadline::Clock::now() + 1h;
  d.arm(when);
  EXPECT_EQ(d.when(), when);
  d.disarm();
}

std::shared_ptr<SessionEntry> entry(std::string id) {
  static asio::io_context io;  // the executor a session would run on; nothing runs here
  auto e = std::make_shared<SessionEntry>(io.get_executor());
  e->id = std::move(id);
  return e;
}

TEST(SessionRegistry, SignalsWhenTheLastSessionIsGone) {
  SessionRegistry registry;
  int signalled = 0;
  registry.notify_when_empty([&] { ++signalled; });
  EXPECT_EQ(signalled, 1);  // already empty: at once

  registry.add(entry("a"));
  registry.add(entry("b"));
  registry.notify_when_empty([&] { ++signalled; });
  registry.remove("a");
  EXPECT_EQ(signalled, 1);
  registry.remove("b");
  EXPECT_EQ(signalled, 2);
  registry.add(entry("c"));
  registry.remove("c");
  EXPECT_EQ(signalled, 2);  // once per request

  registry.add(entry("d"));
  registry.notify_when_empty([&] { ++signalled; });
  registry.notify_when_empty(nullptr);  // cleared
  registry.remove("d");
  EXPECT_EQ(signalled, 2);
}

TEST(SessionEntry, StringsAreSetUnderTheEntryLock) {
  SessionRegistry registry;
  auto e = entry("x");
  e->set_source("192.0.2.1:50000");
  registry.add(e);
  e->set_source("198.51.100.7:1234");  // a PROXY header named the real client
  e->set_user("alice");
  const auto listed = registry.list();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].source, "198.51.100.7:1234");
  EXPECT_EQ(listed[0].user, "alice");
}

}  // namespace
}  // namespace rdpgate::gateway
