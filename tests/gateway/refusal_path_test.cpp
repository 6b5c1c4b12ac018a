// The refusal path allocates nothing once its series exist (a flood of denied sources must cost
// an accept and a close, not the allocator), and still counts each refusal in its own series.
// Its own executable: it replaces the global operator new to count allocations.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <new>
#include <set>
#include <string>

#include "rdpgate/gateway/log.hpp"
#include "rdpgate/gateway/metrics.hpp"
#include "rdpgate/gateway/outcome.hpp"
#include "rdpgate/gateway/recorder.hpp"

namespace {
std::atomic<std::size_t> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace rdpgate::gateway {
namespace {

double refusals(Metrics& m, const std::string& listener, const std::string& phase,
                const std::string& reason) {
  for (const auto& family : m.registry()->Collect()) {
    if (family.name != "rdpgate_refusals_total") continue;
    for (const auto& metric : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : metric.label) labels[l.name] = l.value;
      if (labels["listener"] == listener && labels["phase"] == phase &&
          labels["reason"] == reason) {
        return metric.counter.value;
      }
    }
  }
  return -1;
}

TEST(RefusalPath, EachListenerPhaseAndReasonHasItsOwnSeries) {
  Metrics m;
  const Outcome denied{Phase::admission, OutcomeKind::denied_source, Why::deny_list};
  const Outcome timeout{Phase::inspection, OutcomeKind::inspect_timeout, {}};
  m.refusal("edge", denied);
  m.refusal("edge", denied);
  m.refusal("internal", denied);
  m.refusal("edge", timeout);
  m.refusal("edge", Outcome{Phase::policy, OutcomeKind::inspect_timeout, {}});
  EXPECT_EQ(refusals(m, "edge", "admission", "deny_list"), 2);
  EXPECT_EQ(refusals(m, "internal", "admission", "deny_list"), 1);
  // Without a reason the series is named for the outcome.
  EXPECT_EQ(refusals(m, "edge", "inspection", "inspect_timeout"), 1);
  EXPECT_EQ(refusals(m, "edge", "policy", "inspect_timeout"), 1);
  EXPECT_EQ(refusals(m, "internal", "inspection", "inspect_timeout"), -1);
}

TEST(RefusalPath, ARepeatedRefusalAllocatesNothing) {
  Metrics m;
  RefusalLog log(1);
  const std::string listener = "a-listener-name-longer-than-sso";
  const Outcome denied{Phase::admission, OutcomeKind::denied_source, Why::deny_list};
  const auto now = std::chrono::steady_clock::now();
  m.refusal(listener, denied);  // creates the series
  (void)log.admit(to_string(denied.kind), now);
  const auto before = allocations.load();
  for (int i = 0; i < 1000; ++i) {
    const auto id = next_session_id();
    ASSERT_EQ(id.view().size(), 16u);
    m.refusal(listener, denied);
    (void)log.admit(to_string(denied.kind), now);
  }
  EXPECT_EQ(allocations.load() - before, 0u);
  EXPECT_EQ(refusals(m, listener, "admission", "deny_list"), 1001);
}

TEST(RefusalPath, SessionIdsAreSixteenHexDigitsAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id(next_session_id().view());
    ASSERT_EQ(id.size(), 16u);
    for (char c : id) ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace rdpgate::gateway
