// workers: 0 follows the CPU affinity mask and the cgroup CPU quota (cpus.hpp).

#include "rdpgate/gateway/cpus.hpp"

#include <gtest/gtest.h>
#include <sched.h>

namespace rdpgate::gateway {
namespace {

TEST(Cpus, CgroupV2CpuMax) {
  EXPECT_EQ(quota_cpus("max 100000\n"), std::nullopt);
  EXPECT_EQ(quota_cpus("100000 100000\n"), 1U);
  EXPECT_EQ(quota_cpus("150000 100000\n"), 2U);  // 1.5 CPUs: rounded up
  EXPECT_EQ(quota_cpus("50000 100000"), 1U);     // never 0
  EXPECT_EQ(quota_cpus("400000 100000"), 4U);
  EXPECT_EQ(quota_cpus(""), std::nullopt);
  EXPECT_EQ(quota_cpus("lots 100000"), std::nullopt);
  EXPECT_EQ(quota_cpus("100000 0"), std::nullopt);
}

TEST(Cpus, CgroupV1Quota) {
  EXPECT_EQ(quota_cpus(-1, 100000), std::nullopt);
  EXPECT_EQ(quota_cpus(200000, 100000), 2U);
  EXPECT_EQ(quota_cpus(250000, 100000), 3U);
}

TEST(Cpus, CgroupPathOfAController) {
  constexpr std::string_view v1 =
      "12:cpuset:/\n4:cpu,cpuacct:/kubepods/pod1/abc\n1:name=systemd:/x\n0::/\n";
  EXPECT_EQ(cgroup_path(v1, "cpu"), "/kubepods/pod1/abc");
  EXPECT_EQ(cgroup_path(v1, "cpuacct"), "/kubepods/pod1/abc");
  EXPECT_EQ(cgroup_path(v1, ""), "/");
  EXPECT_EQ(cgroup_path("0::/system.slice/rdpgate.service\n", ""), "/system.slice/rdpgate.service");
  EXPECT_EQ(cgroup_path("0::/system.slice/rdpgate.service\n", "cpu"), std::nullopt);
  EXPECT_EQ(cgroup_path("garbage\n", ""), std::nullopt);
}

// The live answer never exceeds the affinity mask this test runs with (ctest may run it under
// taskset), and is at least 1.
TEST(Cpus, UsableCpusFollowsTheAffinityMask) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  const auto mask = static_cast<unsigned>(CPU_COUNT(&set));
  EXPECT_GE(usable_cpus(), 1U);
  EXPECT_LE(usable_cpus(), mask);
}

}  // namespace
}  // namespace rdpgate::gateway
