#include "rdpgate/gateway/cli.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "rdpgate/config/load.hpp"
#include "rdpgate/gateway/app.hpp"
#include "rdpgate/gateway/log.hpp"
#include "rdpgate/gateway/net.hpp"
#include "rdpgate/gateway/privileges.hpp"
#include "rdpgate/protocol/inspect.hpp"

namespace rdpgate::gateway {
namespace {

constexpr int exit_usage = 64;

std::variant<config::Config, int> load_or_report(const std::string& path) {
  auto loaded = config::load_config_file(path);
  if (auto* errors = std::get_if<std::vector<config::ConfigError>>(&loaded)) {
    for (const auto& e : *errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    return 1;
  }
  return std::move(std::get<config::Config>(loaded));
}

}  // namespace

int cli_check_config(int argc, char** argv) {
  if (argc != 1) {
    std::fputs("usage: rdpgate check-config FILE\n", stderr);
    return exit_usage;
  }
  auto loaded = load_or_report(argv[0]);
  if (auto* code = std::get_if<int>(&loaded)) return *code;
  std::printf("%s: ok\n", argv[0]);
  return 0;
}

int cli_run(int argc, char** argv) {
  std::string path;
  for (int i = 0; i < argc; ++i) {
    const std::string_view a = argv[i];
    if ((a == "--config" || a == "-c") && i + 1 < argc) {
      path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      path = std::string(a.substr(9));
    } else {
      std::fprintf(stderr, "rdpgate run: unexpected argument \"%s\"\n", argv[i]);
      return exit_usage;
    }
  }
  if (path.empty()) {
    std::fputs("usage: rdpgate run --config FILE\n", stderr);
    return exit_usage;
  }
  auto loaded = load_or_report(path);
  if (auto* code = std::get_if<int>(&loaded)) return *code;
  auto cfg = std::move(std::get<config::Config>(loaded));
  if (auto err = configure_logging(cfg.logging); !err.empty()) {
    std::fprintf(stderr, "rdpgate: %s\n", err.c_str());
    return 1;
  }
  // On every way out below, after the App is gone: write what is still queued for a slow
  // reader, but never hang the exit on a reader that stopped reading.
  struct StopLogging {
    StopLogging() = default;
    StopLogging(const StopLogging&) = delete;
    StopLogging& operator=(const StopLogging&) = delete;
    ~StopLogging() { stop_logging(std::chrono::seconds(5)); }
  } stop_logging_at_exit;
  // Everything the privilege drop needs is checked before a port is bound or the state opened
  // (running as root without `user`, an unknown user or group), so a refused start never
  // accepts a connection.
  if (auto err = check_privileges(cfg)) {
    std::fprintf(stderr, "rdpgate: %s\n", err->c_str());
    log_event(spdlog::level::critical, "start_failed", {{"error", *err}});
    return 1;
  }
  App app(cfg);
  if (auto err = app.start()) {
    std::fprintf(stderr, "rdpgate: %s\n", err->c_str());
    log_event(spdlog::level::critical, "start_failed", {{"error", *err}});
    return 1;  // no thread was started: the App's destructor cleans up
  }
  if (auto err = drop_privileges(cfg)) {
    std::fprintf(stderr, "rdpgate: %s\n", err->c_str());
    log_event(spdlog::level::critical, "start_failed", {{"error", *err}});
    app.request_shutdown();
    app.wait();
    return 1;
  }
  // Ready lines on stdout: scripts and tests learn the ports (port 0 = chosen by the OS).
  for (const auto& l : app.listeners()) {
    std::printf("listening %s %s\n", l.name.c_str(),
                endpoint_text(peer_of(l.endpoint, 0).address, l.endpoint.port()).c_str());
  }
  if (auto m = app.metrics_endpoint()) {
    std::printf("metrics %s\n", endpoint_text(peer_of(*m, 0).address, m->port()).c_str());
  }
  if (auto a = app.admin_endpoint()) {
    std::printf("admin %s\n", endpoint_text(peer_of(*a, 0).address, a->port()).c_str());
  }
  if (auto p = app.portal_endpoint()) {
    std::printf("portal %s\n", endpoint_text(peer_of(*p, 0).address, p->port()).c_str());
  }
  std::fflush(stdout);
  log_event(spdlog::level::info, "started", {{"version", RDPGATE_VERSION}, {"config", path}});
  app.wait();
  return 0;
}

int cli_inspect(int argc, char** argv) {
  bool hex = false;
  std::string file = "-";
  int positional = 0;
  for (int i = 0; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--hex") {
      hex = true;
    } else if (a == "--help" || a == "-h") {
      std::puts("usage: rdpgate inspect [--hex] [FILE|-]");
      return 0;
    } else if (a.size() > 1 && a[0] == '-') {
      std::fprintf(stderr, "rdpgate inspect: unknown option \"%s\"\n", argv[i]);
      return exit_usage;
    } else if (positional++ == 0) {
      file = argv[i];
    } else {
      std::fputs("usage: rdpgate inspect [--hex] [FILE|-]\n", stderr);
      return exit_usage;
    }
  }
  std::string data;
  if (file == "-") {
    data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "rdpgate inspect: cannot read \"%s\"\n", file.c_str());
      return exit_usage;
    }
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::vector<std::byte> bytes;
  if (hex) {
    auto parsed = protocol::parse_hex_dump(data);
    if (!parsed) {
      std::fputs("rdpgate inspect: not a hex dump (odd digit count or a non-hex character)\n",
                 stderr);
      return exit_usage;
    }
    bytes = std::move(*parsed);
  } else {
    bytes.resize(data.size());
    std::memcpy(bytes.data(), data.data(), data.size());
  }
  const auto report = protocol::inspect_first_bytes(bytes);
  std::printf("%s\n", report.json.c_str());
  return static_cast<int>(report.status);
}

}  // namespace rdpgate::gateway
