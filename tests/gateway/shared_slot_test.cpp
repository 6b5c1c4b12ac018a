// SharedSlot: readers on several threads and one writer replacing the value, as the accept
// thread, the workers and the control thread read the policy snapshot while a reload publishes
// a new one. Under ThreadSanitizer (build-tsan) this is the race check.
#include "rdpgate/gateway/shared_slot.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace rdpgate::gateway {
namespace {

struct Snapshot {
  int version;
};

TEST(SharedSlot, ReadersSeeWholeValuesThatOnlyMoveForward) {
  SharedSlot<const Snapshot> slot(std::make_shared<const Snapshot>(Snapshot{0}));
  constexpr int versions = 2000;
  constexpr int reader_count = 3;
  std::atomic<bool> done{false};
  std::atomic<int> reading{0};
  std::atomic<int> regressions{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < reader_count; ++r) {
    readers.emplace_back([&] {
      int last = 0;
      bool counted = false;
      while (!done.load(std::memory_order_acquire)) {
        const auto snapshot = slot.load();
        if (snapshot->version < last) regressions.fetch_add(1);
        last = snapshot->version;
        if (!counted) reading.fetch_add(1);
        counted = true;
      }
    });
  }
  // The stores start once every reader is reading, so they overlap (at most 10 s of waiting).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (reading.load() < reader_count && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  const bool all_reading = reading.load() == reader_count;
  for (int v = 1; v <= versions; ++v) slot.store(std::make_shared<const Snapshot>(Snapshot{v}));
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();
  EXPECT_TRUE(all_reading) << "the reader threads did not start within 10 s";
  EXPECT_EQ(regressions.load(), 0);
  EXPECT_EQ(slot.load()->version, versions);
}

}  // namespace
}  // namespace rdpgate::gateway
