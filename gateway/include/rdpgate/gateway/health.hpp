#pragma once
// Backend health checks (SPEC §6): per route with `health_check`, every `interval` each backend
// gets a probe — a TCP connect, or with `rdp_probe` a Connection Request answered by a Confirm
// (upstream.cpp's steps) — within `timeout`; `rise` successes mark it up, `fall` failures down.

#include <atomic>
#include <cstdint>
#include <string>

#include "rdpgate/config/config.hpp"
#include "rdpgate/gateway/asio.hpp"
#include "rdpgate/gateway/backends.hpp"
#include "rdpgate/gateway/names.hpp"
#include "rdpgate/gateway/policy.hpp"

namespace rdpgate::gateway {

class HealthChecks {
 public:
  HealthChecks(asio::io_context& io, const PolicyStore& policies, NameCache& names)
      : io_(io), policies_(policies), names_(names) {}
  // (Re)starts one checker per route of `cfg` that has a health check; the previous
  // generation's checkers end at their next wake-up. The backends of every route without one
  // (its health check removed by a reload) are up again: nothing would ever bring them back.
  // Call after publishing the policy built from `cfg`.
  void restart(const config::Config& cfg);
  void stop() { generation_.fetch_add(1); }

 private:
  awaitable<void> run(std::string route, std::uint64_t generation);
  awaitable<bool> probe(const BackendState& backend, const config::HealthCheckConfig& hc);
  void release_unchecked();  // on io_

  asio::io_context& io_;
  const PolicyStore& policies_;
  NameCache& names_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace rdpgate::gateway
