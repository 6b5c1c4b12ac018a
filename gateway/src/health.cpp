#include "rdpgate/gateway/health.hpp"

#include "rdpgate/gateway/deadline.hpp"
#include "rdpgate/gateway/log.hpp"
#include "rdpgate/gateway/upstream.hpp"
#include "rdpgate/protocol/writers.hpp"

namespace rdpgate::gateway {

void HealthChecks::restart(const config::Config& cfg) {
  const auto generation = generation_.fetch_add(1) + 1;
  for (const auto& r : cfg.routes) {
    if (r.health_check) asio::co_spawn(io_, run(r.name, generation), asio::detached);
  }
  // Posted, so it runs after any checker step of the previous generation already under way.
  asio::post(io_, [this] { release_unchecked(); });
}

void HealthChecks::release_unchecked() {
  const auto policy = policies_.current();
  for (const auto& route : policy->routes()) {
    if (route.cfg.health_check) continue;
    for (const auto& b : route.pool->backends()) {
      b->successes = 0;
      b->failures = 0;
      if (b->up.load()) continue;
      b->set_up(true);
      log_event(spdlog::level::warn, "backend_up",
                {{"route", route.cfg.name},
                 {"backend", b->endpoint.text},
                 {"reason", "health_check removed"}});
    }
  }
}

awaitable<bool> HealthChecks::probe(const BackendState& backend,
                                    const config::HealthCheckConfig& hc) {
  Socket socket(io_);
  Deadline deadline(io_.get_executor(), [&socket] {
    error_code ignored;
    socket.cancel(ignored);
  });
  deadline.arm_after(hc.timeout);
  if (co_await connect_endpoint(socket, backend.endpoint, deadline, names_)) co_return false;
  if (!hc.rdp_probe) co_return true;
  // An RDP probe: a Connection Request offering TLS and CredSSP, answered by a Confirm.
  namespace p = protocol::proto;
  const auto request =
      protocol::write_connection_request("rdpgate-hc", p::ssl | p::hybrid | p::hybrid_ex);
  const auto confirm = co_await exchange_confirm(socket, request, true, std::nullopt, deadline);
  co_return confirm.parsed;
}

awaitable<void> HealthChecks::run(std::string route_name, std::uint64_t generation) {
  asio::steady_timer timer(io_);
  for (;;) {
    if (generation_.load() != generation) co_return;
    const auto policy = policies_.current();
    const auto index = policy->find_route(route_name);
    if (!index) co_return;
    const auto& route = policy->routes()[*index];
    if (!route.cfg.health_check) co_return;
    const auto hc = *route.cfg.health_check;
    for (const auto& b : route.pool->backends()) {
      const bool success = co_await probe(*b, hc);
      // A reload during the probe: the new generation decides (a route that lost its health
      // check was just released, and a late "down" from here must not undo that).
      if (generation_.load() != generation) co_return;
      const bool was_up = b->up.load();
      if (success) {
        b->failures = 0;
        if (!was_up && ++b->successes >= hc.rise) {
          b->set_up(true);
          log_event(spdlog::level::warn, "backend_up",
                    {{"route", route_name}, {"backend", b->endpoint.text}});
        }
      } else {
        b->successes = 0;
        if (was_up && ++b->failures >= hc.fall) {
          b->set_up(false);
          log_event(spdlog::level::warn, "backend_down",
                    {{"route", route_name}, {"backend", b->endpoint.text}});
        }
      }
    }
    timer.expires_after(hc.interval);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    if (ec) co_return;
  }
}

}  // namespace rdpgate::gateway
