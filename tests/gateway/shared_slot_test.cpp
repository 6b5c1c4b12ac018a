// SharedSlot: readers on several threads and one writer replacing the value, as the accept
// thread, the workers and the control thread read the policy snapshot while a reload publishes
// a new one. Under ThreadSanitizer (build-tsan) this is the race check.
#include "rdpgate/gateway/shared_slot.hpp"

#include <gtest/gtest.h>

#include <atomic>
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
  std::atomic<bool> done{false};
  std::atomic<int> regressions{0};
  std::atomic<long> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      int last = 0;
      while (!done.load(std::memory_order_acquire)) {
        const auto snapshot = slot.load();
        if (snapshot->version < last) regressions.fetch_add(1);
        last = snapshot->version;
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (int v = 1; v <= versions; ++v) slot.store(std::make_shared<const Snapshot>(Snapshot{v}));
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();
  EXPECT_EQ(regressions.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(slot.load()->version, versions);
}

}  // namespace
}  // namespace rdpgate::gateway
