#include "rdpgate/gateway/metrics.hpp"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "rdpgate/gateway/log_writer.hpp"
#include "rdpgate/protocol/rdp.hpp"

namespace rdpgate::gateway {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// Latency buckets in seconds, from 0.5 ms to 10 s: loopback handshakes take a few hundred
// microseconds, real ones across a WAN tens to hundreds of milliseconds.
prometheus::Histogram::BucketBoundaries latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// The usual process_* metrics (Prometheus client conventions), read from /proc at scrape time.
class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    std::ifstream stat("/proc/self/stat");
    std::string line;
    std::getline(stat, line);
    // Fields after the command name (which may contain spaces) start at the last ')'.
    double utime = 0, stime = 0, starttime = 0, rss_pages = 0;
    if (auto pos = line.rfind(')'); pos != std::string::npos) {
      std::istringstream in(line.substr(pos + 2));
      std::string field;
      for (int i = 3; in >> field; ++i) {
        if (i == 14) utime = std::stod(field);
        if (i == 15) stime = std::stod(field);
        if (i == 22) starttime = std::stod(field);
        if (i == 24) {
          rss_pages = std::stod(field);
          break;
        }
      }
    }
    double boot_time = 0;
    std::ifstream proc_stat("/proc/stat");
    while (std::getline(proc_stat, line)) {
      if (line.rfind("btime ", 0) == 0) boot_time = std::stod(line.substr(6));
    }
    double fds = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      ++fds;
    }
    auto add = [&](const char* name, const char* help, prometheus::MetricType type, double v) {
      prometheus::MetricFamily f;
      f.name = name;
      f.help = help;
      f.type = type;
      prometheus::ClientMetric m;
      if (type == prometheus::MetricType::Counter) {
        m.counter.value = v;
      } else {
        m.gauge.value = v;
      }
      f.metric.push_back(std::move(m));
      out.push_back(std::move(f));
    };
    add("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
        prometheus::MetricType::Counter, (utime + stime) / ticks);
    add("process_resident_memory_bytes", "Resident memory size in bytes.",
        prometheus::MetricType::Gauge, rss_pages * page);
    add("process_open_fds", "Number of open file descriptors.", prometheus::MetricType::Gauge, fds);
    add("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
        prometheus::MetricType::Gauge, boot_time + starttime / ticks);
    return out;
  }
};

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  connections_ = &BuildCounter()
                      .Name("rdpgate_connections_total")
                      .Help("Connections by listener and final outcome, counted when they end.")
                      .Register(r);
  refusals_ = &BuildCounter()
                   .Name("rdpgate_refusals_total")
                   .Help("Refused connections by listener, phase and reason.")
                   .Register(r);
  observed_ = &BuildCounter()
                   .Name("rdpgate_observed_refusals_total")
                   .Help(
                       "Connections a rule in observe mode would have refused, by listener and "
                       "the outcome they would have had.")
                   .Register(r);
  sessions_active_ = &BuildGauge()
                          .Name("rdpgate_sessions_active")
                          .Help("Connections currently relaying, by listener.")
                          .Register(r);
  route_sessions_active_ = &BuildGauge()
                                .Name("rdpgate_route_sessions_active")
                                .Help("Connections currently relaying, by route.")
                                .Register(r);
  relay_bytes_ = &BuildCounter()
                      .Name("rdpgate_relay_bytes_total")
                      .Help("Bytes relayed, by direction.")
                      .Register(r);
  relay_c2s_ = &relay_bytes_->Add({{"direction", "client_to_server"}});
  relay_s2c_ = &relay_bytes_->Add({{"direction", "server_to_client"}});
  handshake_ = &BuildHistogram()
                    .Name("rdpgate_handshake_duration_seconds")
                    .Help("Time from accept to the server's X.224 Connection Confirm.")
                    .Register(r);
  connect_ = &BuildHistogram()
                  .Name("rdpgate_backend_connect_duration_seconds")
                  .Help("Time to establish the TCP connection to a backend.")
                  .Register(r);
  requested_ = &BuildCounter()
                    .Name("rdpgate_requested_protocols_total")
                    .Help(
                        "Security protocols offered by clients (one increment per offered "
                        "protocol; `none` for a request without negotiation data).")
                    .Register(r);
  selected_ = &BuildCounter()
                   .Name("rdpgate_selected_protocol_total")
                   .Help("Security protocol selected by the server in its Connection Confirm.")
                   .Register(r);
  backend_up_ = &BuildGauge()
                     .Name("rdpgate_backend_up")
                     .Help("1 if the backend is considered healthy, else 0.")
                     .Register(r);
  backend_active_ = &BuildGauge()
                         .Name("rdpgate_backend_connections_active")
                         .Help("Connections currently relayed to the backend.")
                         .Register(r);
  backend_failures_ = &BuildCounter()
                           .Name("rdpgate_backend_connect_failures_total")
                           .Help("Failed connection attempts to the backend.")
                           .Register(r);
  inspection_bytes_ = &BuildCounter()
                           .Name("rdpgate_inspection_bytes_total")
                           .Help("Bytes read from clients during inspection.")
                           .Register(r);
  accept_errors_ = &BuildCounter()
                        .Name("rdpgate_accept_errors_total")
                        .Help("Errors from accept() (e.g. EMFILE); the listener backs off.")
                        .Register(r);
  worker_busy_ = &BuildCounter()
                      .Name("rdpgate_worker_busy_total")
                      .Help(
                          "Times a worker had not started a connection given to it within "
                          "100 ms; its connections went to the other workers.")
                      .Register(r);
  tokens_ = &BuildCounter()
                 .Name("rdpgate_tokens_total")
                 .Help("Signed access tokens checked, by result.")
                 .Register(r);
  bans_active_ = &BuildGauge()
                      .Name("rdpgate_bans_active")
                      .Help("Bans currently in force.")
                      .Register(r)
                      .Add({});
  usernames_throttled_ = &BuildGauge()
                              .Name("rdpgate_usernames_throttled")
                              .Help("Usernames throttled now by the password-spray defence.")
                              .Register(r)
                              .Add({});
  auto& bans_total =
      BuildCounter().Name("rdpgate_bans_total").Help("Bans created, by origin.").Register(r);
  bans_auto_ = &bans_total.Add({{"origin", "auto"}});
  bans_manual_ = &bans_total.Add({{"origin", "manual"}});
  grants_active_ = &BuildGauge()
                        .Name("rdpgate_grants_active")
                        .Help("Just-in-time grants currently live.")
                        .Register(r)
                        .Add({});
  grants_total_ = &BuildCounter()
                       .Name("rdpgate_grants_total")
                       .Help("Just-in-time grants created.")
                       .Register(r)
                       .Add({});
  auth_failures_ = &BuildCounter()
                        .Name("rdpgate_auth_failures_total")
                        .Help("Failed NLA logons inferred from the shape of a session.")
                        .Register(r)
                        .Add({});
  auto& reloads = BuildCounter()
                      .Name("rdpgate_config_reloads_total")
                      .Help("Configuration reloads, by result.")
                      .Register(r);
  reloads_success_ = &reloads.Add({{"result", "success"}});
  reloads_failure_ = &reloads.Add({{"result", "failure"}});
  log_suppressed_ = &BuildCounter()
                         .Name("rdpgate_log_suppressed_total")
                         .Help("Refusal log lines suppressed by the rate-limited logger.")
                         .Register(r)
                         .Add({});
  log_dropped_ = &BuildCounter()
                      .Name("rdpgate_log_dropped_total")
                      .Help(
                          "Log lines dropped because the log output did not keep up (a full "
                          "pipe, a stalled journald, a slow disk).")
                      .Register(r)
                      .Add({});
  // Lines dropped before this registry existed (an earlier App in this process) are not its.
  log_dropped_seen_ = log_lines_dropped();
  state_errors_ = &BuildCounter()
                       .Name("rdpgate_state_errors_total")
                       .Help("Failed writes to the durable state store.")
                       .Register(r)
                       .Add({});
  portal_signins_ = &BuildCounter()
                         .Name("rdpgate_portal_signins_total")
                         .Help("Sign-in attempts at the self-service portal, by result.")
                         .Register(r);
  portal_grants_ = &BuildCounter()
                        .Name("rdpgate_portal_grants_total")
                        .Help("Just-in-time grants created through the self-service portal.")
                        .Register(r)
                        .Add({});
  BuildGauge()
      .Name("rdpgate_build_info")
      .Help("Build information; always 1.")
      .Register(r)
      .Add({{"version", RDPGATE_VERSION}})
      .Set(1);
  // Resolved once: the data path indexes these arrays instead of looking labels up.
  const char* names[] = {"none",   "rdp",       "ssl",    "hybrid",
                         "rdstls", "hybrid_ex", "rdsaad", "negotiation_failure"};
  for (std::size_t i = 0; i < 7; ++i) requested_by_[i] = &requested_->Add({{"protocol", names[i]}});
  for (std::size_t i = 1; i < 8; ++i) selected_by_[i] = &selected_->Add({{"protocol", names[i]}});
  token_valid_ = &tokens("valid");
  token_invalid_ = &tokens("invalid");
}

std::shared_ptr<prometheus::Collectable> make_process_collector() {
  // prometheus::Exposer::RegisterCollectable keeps only a weak_ptr, so the collector must outlive
  // the caller's temporary. It reads /proc/self: one instance serves every App in the process.
  static const auto collector = std::make_shared<ProcessCollector>();
  return collector;
}

ListenerMetrics& Metrics::listener(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto& slot = listeners_[name];
  if (!slot) {
    slot = std::make_unique<ListenerMetrics>();
    for (auto kind : all_outcomes()) {
      slot->connections[static_cast<std::size_t>(kind)] =
          &connections_->Add({{"listener", name}, {"outcome", std::string(to_string(kind))}});
    }
    // The outcomes of the rules `observe_only` covers (sources, inspection, bruteforce).
    for (auto kind : {OutcomeKind::denied_source, OutcomeKind::banned, OutcomeKind::rate_limited,
                      OutcomeKind::too_many_connections, OutcomeKind::not_rdp,
                      OutcomeKind::malformed, OutcomeKind::inspect_timeout,
                      OutcomeKind::protocol_not_allowed, OutcomeKind::username_denied}) {
      slot->observed[static_cast<std::size_t>(kind)] =
          &observed_->Add({{"listener", name}, {"reason", std::string(to_string(kind))}});
    }
    slot->sessions_active = &sessions_active_->Add({{"listener", name}});
    slot->handshake_seconds = &handshake_->Add({{"listener", name}}, latency_buckets());
    slot->inspection_bytes = &inspection_bytes_->Add({{"listener", name}});
    slot->accept_errors = &accept_errors_->Add({{"listener", name}});
  }
  return *slot;
}

RouteMetrics& Metrics::route(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto& slot = routes_[name];
  if (!slot) {
    slot = std::make_unique<RouteMetrics>();
    slot->sessions_active = &route_sessions_active_->Add({{"route", name}});
    slot->connect_seconds = &connect_->Add({{"route", name}}, latency_buckets());
  }
  return *slot;
}

BackendMetrics& Metrics::backend(const std::string& route, const std::string& backend) {
  std::lock_guard lock(mutex_);
  auto& slot = backends_[route + '\n' + backend];
  if (!slot) {
    slot = std::make_unique<BackendMetrics>();
    slot->up = &backend_up_->Add({{"route", route}, {"backend", backend}});
    slot->connections_active = &backend_active_->Add({{"route", route}, {"backend", backend}});
    slot->connect_failures = &backend_failures_->Add({{"route", route}, {"backend", backend}});
  }
  return *slot;
}

void Metrics::refusal(const std::string& listener, const Outcome& outcome) {
  // Outcomes without a reason are named for their kind: the kind is part of the key then.
  const std::uint32_t reason_key = outcome.reason.empty()
                                       ? 0x10000u | static_cast<std::uint32_t>(outcome.kind)
                                       : outcome.reason.key();
  const std::uint32_t key = (static_cast<std::uint32_t>(outcome.phase) << 24) | reason_key;
  prometheus::Counter* c = nullptr;
  {
    std::lock_guard lock(mutex_);
    auto& slot = refusal_cache_[listener][key];  // copies `listener` only the first time
    if (slot == nullptr) {
      const auto reason = outcome.reason.empty() ? to_string(outcome.kind) : outcome.reason.name();
      slot = &refusals_->Add({{"listener", listener},
                              {"phase", std::string(to_string(outcome.phase))},
                              {"reason", std::string(reason)}});
    }
    c = slot;
  }
  c->Increment();
}

prometheus::Counter& Metrics::worker_busy(std::size_t worker) {
  std::lock_guard lock(mutex_);
  auto& slot = worker_busy_by_[worker];
  if (slot == nullptr) slot = &worker_busy_->Add({{"worker", std::to_string(worker)}});
  return *slot;
}

void Metrics::sync_log_dropped() {
  const auto total = log_lines_dropped();
  double delta = 0;
  {
    std::lock_guard lock(mutex_);
    if (total > log_dropped_seen_) {
      delta = static_cast<double>(total - log_dropped_seen_);
      log_dropped_seen_ = total;
    }
  }
  if (delta > 0) log_dropped_->Increment(delta);
}

prometheus::Counter& Metrics::portal_signins(std::string_view result) {
  return portal_signins_->Add({{"result", std::string(result)}});
}

prometheus::Counter& Metrics::tokens(std::string_view result) {
  return tokens_->Add({{"result", std::string(result)}});
}

namespace {
// Index of a single protocol value in the label arrays: rdp 1, ssl 2, hybrid 3, rdstls 4,
// hybrid_ex 5, rdsaad 6; 0 for anything else.
std::size_t protocol_index(std::uint32_t single) noexcept {
  namespace p = protocol::proto;
  switch (single) {
    case p::rdp: return 1;
    case p::ssl: return 2;
    case p::hybrid: return 3;
    case p::rdstls: return 4;
    case p::hybrid_ex: return 5;
    case p::rdsaad: return 6;
    default: return 0;
  }
}
}  // namespace

void Metrics::requested_protocols(std::uint32_t requested, bool has_negotiation) {
  namespace p = protocol::proto;
  if (!has_negotiation) {
    requested_by_[0]->Increment();
    return;
  }
  if (requested == 0) requested_by_[1]->Increment();
  for (auto bit : {p::ssl, p::hybrid, p::rdstls, p::hybrid_ex, p::rdsaad}) {
    if ((requested & bit) != 0) requested_by_[protocol_index(bit)]->Increment();
  }
}

void Metrics::selected_protocol(std::uint32_t selected) {
  if (selected == negotiation_failure) {
    selected_by_[7]->Increment();
    return;
  }
  // Not a single known protocol: never a label value.
  if (const auto i = protocol_index(selected); i != 0) selected_by_[i]->Increment();
}

}  // namespace rdpgate::gateway
