#pragma once
// Structured logging through spdlog: one event per line, fixed field names, rendered as JSON
// lines or as `event key=value ...` text (logging.format). Refusals go through RefusalLog, which
// caps lines per second for each kind and summarises the rest, so a flood cannot fill the disk.
//
// Logging never blocks the thread that logs: each destination (standard error or
// logging.file, and logging.audit_file for the audit records) has a bounded queue and one writer
// thread (log_writer.hpp). When the reader does not keep up, lines are dropped, counted
// (rdpgate_log_dropped_total) and summarised by a `log_dropped` line once the queue drains.

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>

#include "rdpgate/config/config.hpp"

namespace rdpgate::gateway {

struct Field {
  std::string_view key;
  std::variant<std::string_view, std::int64_t, std::uint64_t, double, bool> value;
  bool omit = false;  // skip (e.g. an empty optional field)
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  template <class I>
  requires std::is_integral_v<I> Field(std::string_view k, I v) {
    key = k;
    if constexpr (std::is_signed_v<I>) {
      value = static_cast<std::int64_t>(v);
    } else {
      value = static_cast<std::uint64_t>(v);
    }
  }
};

// Configures the process-wide logger "rdpgate" (stderr or logging.file) and the audit logger
// (logging.audit_file, or the same destination), each behind a bounded queue. Returns an error
// text.
std::string configure_logging(const config::LoggingConfig& cfg);
// Writes what is queued, waiting at most `limit` in all, and stops the writer threads; later
// lines are written synchronously (or dropped if a destination stayed stuck). Call once, at
// exit: a clean exit loses nothing that was queued.
void stop_logging(std::chrono::milliseconds limit);
// Renders and logs one event.
void log_event(spdlog::level::level_enum level, std::string_view event,
               std::initializer_list<Field> fields);
// Renders and logs one event of the audit trail (`connection` records and their
// `refusals_suppressed` summaries): to logging.audit_file when set, else with everything else.
void log_audit_event(spdlog::level::level_enum level, std::string_view event,
                     std::initializer_list<Field> fields);
[[nodiscard]] std::string render_event(std::string_view event, std::initializer_list<Field> fields,
                                       config::LogFormat format);
[[nodiscard]] std::string json_escape(std::string_view s);
[[nodiscard]] std::string rfc3339(std::chrono::system_clock::time_point t);

// Rate-limited refusal logging: for each kind (the caller's `reason`, an outcome name), at most
// `per_second` lines each second after a burst of as many; the rest are counted and summarised
// once per `window`: "suppressed N refusals in the last 10 s, top reasons ...". One bucket per
// kind, so a flood of one kind never hides the few lines of another.
class RefusalLog {
 public:
  explicit RefusalLog(double per_second = 20,
                      std::chrono::seconds window = std::chrono::seconds(10))
      : per_second_(per_second), window_(window) {}
  // True if the caller should write its line; false if it was counted as suppressed. `reason`
  // comes from a bounded set (outcome names): one bucket each.
  bool admit(std::string_view reason, std::chrono::steady_clock::time_point now);
  // Emits the summary if a window has passed with suppressed lines. Returns lines suppressed.
  std::uint64_t flush(std::chrono::steady_clock::time_point now, bool force = false);

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point updated{};
    std::uint64_t suppressed = 0;  // in the current window
  };
  std::mutex mutex_;
  double per_second_;
  std::chrono::seconds window_;
  std::chrono::steady_clock::time_point window_start_{};
  std::uint64_t suppressed_ = 0;
  std::map<std::string, Bucket, std::less<>> buckets_;
};

}  // namespace rdpgate::gateway
