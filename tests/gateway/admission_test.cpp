// ConnectionTracker (global and per-source caps) and RateLimiter (per-source token buckets),
// driven by an injected clock: no sleeps.

#include "rdpgate/gateway/admission.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "test_support.hpp"

namespace rdpgate::gateway {
namespace {

using namespace std::chrono_literals;
using test::ip;
using Result = ConnectionTracker::Result;

TEST(ConnectionTracker, PerSourceCapCountsEachAddressApart) {
  ConnectionTracker t;
  const auto a = ip("198.51.100.1");
  const auto b = ip("198.51.100.2");
  EXPECT_EQ(t.acquire(a, 0, 2), Result::admitted);
  EXPECT_EQ(t.acquire(a, 0, 2), Result::admitted);
  EXPECT_EQ(t.acquire(a, 0, 2), Result::too_many_per_source);
  EXPECT_EQ(t.acquire(b, 0, 2), Result::admitted);
  EXPECT_EQ(t.count(a), 2u);
  EXPECT_EQ(t.count(b), 1u);
  EXPECT_EQ(t.total(), 3u);  // the refused attempt holds nothing
  t.release(a);
  EXPECT_EQ(t.acquire(a, 0, 2), Result::admitted);
}

TEST(ConnectionTracker, GlobalCapCountsEverySource) {
  ConnectionTracker t;
  EXPECT_EQ(t.acquire(ip("10.0.0.1"), 2, 0), Result::admitted);
  EXPECT_EQ(t.acquire(ip("10.0.0.2"), 2, 0), Result::admitted);
  EXPECT_EQ(t.acquire(ip("10.0.0.3"), 2, 0), Result::too_many_total);
  EXPECT_EQ(t.total(), 2u);
  EXPECT_EQ(t.count(ip("10.0.0.3")), 0u);
  t.release(ip("10.0.0.1"));
  EXPECT_EQ(t.acquire(ip("10.0.0.3"), 2, 0), Result::admitted);
}

TEST(ConnectionTracker, ZeroMeansNoCap) {
  ConnectionTracker t;
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(t.acquire(ip("10.0.0.1"), 0, 0), Result::admitted);
  EXPECT_EQ(t.count(ip("10.0.0.1")), 1000u);
}

TEST(ConnectionTracker, SlotsReleaseOnDestructionAndMove) {
  ConnectionTracker t;
  const auto a = ip("2001:db8::1");
  {
    ASSERT_EQ(t.acquire(a, 0, 1), Result::admitted);
    ConnectionSlot slot(&t, a);
    EXPECT_EQ(t.acquire(a, 0, 1), Result::too_many_per_source);
    ConnectionSlot moved(std::move(slot));
    EXPECT_EQ(t.count(a), 1u);
    slot.reset();  // moved-from: releases nothing
    EXPECT_EQ(t.count(a), 1u);
  }
  EXPECT_EQ(t.count(a), 0u);
  EXPECT_EQ(t.total(), 0u);
}

using Clock = RateLimiter::Clock;
const Clock::time_point t0 = Clock::time_point{} + 1000h;

TEST(RateLimiter, BurstThenRefusalThenRefill) {
  RateLimiter r;
  const auto a = ip("203.0.113.5");
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(r.allow(a, 2.0, 4, t0)) << i;
  EXPECT_FALSE(r.allow(a, 2.0, 4, t0));
  EXPECT_FALSE(r.allow(a, 2.0, 4, t0 + 400ms));  // 0.8 token
  EXPECT_TRUE(r.allow(a, 2.0, 4, t0 + 600ms));   // 1.2 tokens at 2/s
  EXPECT_FALSE(r.allow(a, 2.0, 4, t0 + 600ms));  // 0.2 left
  // A long pause refills up to the burst, never beyond.
  const auto later = t0 + 1h;
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(r.allow(a, 2.0, 4, later)) << i;
  EXPECT_FALSE(r.allow(a, 2.0, 4, later));
}

TEST(RateLimiter, SourcesHaveTheirOwnBuckets) {
  RateLimiter r;
  EXPECT_TRUE(r.allow(ip("203.0.113.5"), 1.0, 1, t0));
  EXPECT_FALSE(r.allow(ip("203.0.113.5"), 1.0, 1, t0));
  EXPECT_TRUE(r.allow(ip("203.0.113.6"), 1.0, 1, t0));
  EXPECT_TRUE(r.allow(ip("2001:db8::5"), 1.0, 1, t0));
  EXPECT_EQ(r.size(), 3u);
}

TEST(RateLimiter, ZeroRateIsUnlimitedAndTracksNothing) {
  RateLimiter r;
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(r.allow(ip("203.0.113.5"), 0.0, 1, t0));
  EXPECT_EQ(r.size(), 0u);
}

TEST(RateLimiter, ZeroBurstStillAllowsOneConnection) {
  RateLimiter r;
  EXPECT_TRUE(r.allow(ip("203.0.113.5"), 1.0, 0, t0));
  EXPECT_FALSE(r.allow(ip("203.0.113.5"), 1.0, 0, t0));
}

TEST(RateLimiter, SweepDropsOnlyRefilledBuckets) {
  RateLimiter r;
  const auto busy = ip("203.0.113.1");
  const auto quiet = ip("203.0.113.2");
  EXPECT_TRUE(r.allow(quiet, 1.0, 2, t0));
  EXPECT_TRUE(r.allow(busy, 1.0, 2, t0 + 10s));
  EXPECT_TRUE(r.allow(busy, 1.0, 2, t0 + 10s));
  // At t0+11s the quiet bucket has refilled (2 tokens); the busy one holds 1.
  EXPECT_EQ(r.sweep(1.0, 2, t0 + 11s), 1u);
  EXPECT_EQ(r.size(), 1u);
  // The busy source's state survived the sweep: 1 token left, then empty.
  EXPECT_TRUE(r.allow(busy, 1.0, 2, t0 + 11s));
  EXPECT_FALSE(r.allow(busy, 1.0, 2, t0 + 11s));
  EXPECT_EQ(r.sweep(1.0, 2, t0 + 1h), 0u);
}

}  // namespace
TEST(RateLimiter, SharedCountsWhatItAdmitsAndPaysForWhatOthersAdmitted) {
  RateLimiter r;
  const auto a = ip("203.0.113.5");
  const auto b = ip("203.0.113.6");
  EXPECT_TRUE(r.allow(a, 1.0, 4, t0));
  EXPECT_TRUE(r.drain_admitted().empty()) << "counted before share()";
  r.share();
  EXPECT_TRUE(r.allow(a, 1.0, 4, t0));
  EXPECT_TRUE(r.allow(a, 1.0, 4, t0));
  EXPECT_TRUE(r.allow(b, 1.0, 4, t0));
  const auto counts = r.drain_admitted();
  ASSERT_EQ(counts.size(), 2u);
  for (const auto& [source, n] : counts) EXPECT_EQ(n, source == a ? 2u : 1u);
  EXPECT_TRUE(r.drain_admitted().empty()) << "drained twice";
  // Another instance admitted 3 from b: b's bucket (3 tokens left) is empty at its next allow.
  r.charge(b, 3);
  EXPECT_FALSE(r.allow(b, 1.0, 4, t0));
  EXPECT_TRUE(r.allow(b, 1.0, 4, t0 + 1s));  // and refills as usual
  // A source this instance never saw starts with its burst less what the others admitted.
  const auto c = ip("203.0.113.7");
  r.charge(c, 3);
  EXPECT_TRUE(r.allow(c, 1.0, 4, t0));
  EXPECT_FALSE(r.allow(c, 1.0, 4, t0));
}

}  // namespace rdpgate::gateway
