// usable_cpus(): see cpus.hpp.

#include "rdpgate/gateway/cpus.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace rdpgate::gateway {
namespace {

std::optional<long long> number(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

unsigned affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return static_cast<unsigned>(count);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

// The quota of this process's cgroup (v2 first, then v1), if it has one.
std::optional<unsigned> cgroup_quota() {
  const std::string self = read("/proc/self/cgroup");
  if (const auto v2 = cgroup_path(self, "")) {
    auto path = std::string("/sys/fs/cgroup") + std::string(*v2);
    if (path.back() != '/') path += '/';
    if (const auto text = read(path + "cpu.max"); !text.empty()) return quota_cpus(text);
  }
  if (const auto v1 = cgroup_path(self, "cpu")) {
    for (const auto& dir : {std::string("/sys/fs/cgroup/cpu") + std::string(*v1),
                            std::string("/sys/fs/cgroup/cpu")}) {
      const auto quota = number(read(dir + "/cpu.cfs_quota_us"));
      const auto period = number(read(dir + "/cpu.cfs_period_us"));
      if (quota && period) return quota_cpus(*quota, *period);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<unsigned> quota_cpus(long long quota_us, long long period_us) {
  if (quota_us <= 0 || period_us <= 0) return std::nullopt;
  return static_cast<unsigned>(std::max(1LL, (quota_us + period_us - 1) / period_us));
}

std::optional<unsigned> quota_cpus(std::string_view cpu_max) {
  const auto space = cpu_max.find(' ');
  if (space == std::string_view::npos || cpu_max.substr(0, space) == "max") return std::nullopt;
  const auto quota = number(cpu_max.substr(0, space));
  const auto period = number(cpu_max.substr(space + 1));
  if (!quota || !period) return std::nullopt;
  return quota_cpus(*quota, *period);
}

std::optional<std::string_view> cgroup_path(std::string_view text, std::string_view controller) {
  // Lines "ID:CONTROLLERS:PATH"; v2 has "0::PATH", v1 lists controllers like "cpu,cpuacct".
  while (!text.empty()) {
    const auto eol = text.find('\n');
    const auto line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    if (first == std::string_view::npos || second == std::string_view::npos) continue;
    const auto controllers = line.substr(first + 1, second - first - 1);
    const auto path = line.substr(second + 1);
    if (controller.empty()) {
      if (controllers.empty()) return path;
      continue;
    }
    for (std::string_view rest = controllers; !rest.empty();) {
      const auto comma = rest.find(',');
      if (rest.substr(0, comma) == controller) return path;
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
  return std::nullopt;
}

unsigned usable_cpus() {
  const unsigned cpus = affinity_cpus();
  const auto quota = cgroup_quota();
  return std::max(1u, quota ? std::min(cpus, *quota) : cpus);
}

}  // namespace rdpgate::gateway
