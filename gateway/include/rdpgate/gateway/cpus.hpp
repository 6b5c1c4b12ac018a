#pragma once
// How many CPUs rdpgate may use, for `workers: 0`: the CPUs of its affinity mask (taskset,
// systemd's CPUAffinity=, a container's cpuset), capped by its cgroup's CPU quota (cgroup v2
// `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`; a Kubernetes CPU limit, systemd's
// CPUQuota=), rounded up — as HAProxy and Go choose their defaults. Never less than 1.

#include <optional>
#include <string_view>

namespace rdpgate::gateway {

[[nodiscard]] unsigned usable_cpus();

// Pure parts, for tests. A quota as whole CPUs, rounded up; nullopt when unlimited or not a
// quota: cgroup v2 `cpu.max` text ("max 100000", "150000 100000"), or v1 microseconds (quota
// -1 = unlimited).
[[nodiscard]] std::optional<unsigned> quota_cpus(std::string_view cpu_max);
[[nodiscard]] std::optional<unsigned> quota_cpus(long long quota_us, long long period_us);
// The cgroup path of `controller` ("" for the v2 unified hierarchy) in /proc/self/cgroup text.
[[nodiscard]] std::optional<std::string_view> cgroup_path(std::string_view proc_self_cgroup,
                                                          std::string_view controller);

}  // namespace rdpgate::gateway
