#include "rdpgate/gateway/log.hpp"

#include <fcntl.h>
#include <spdlog/sinks/base_sink.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <vector>

#include "rdpgate/gateway/log_writer.hpp"
#include "rdpgate/protocol/json.hpp"

namespace rdpgate::gateway {
namespace {
std::atomic<config::LogFormat> g_format{config::LogFormat::json};

using protocol::json::append_escaped;
using protocol::json::needs_escape;

template <class N>
void append_number(std::string& out, N v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec == std::errc{}) out.append(buf, end);
}

void append_value(std::string& out, const Field& f, bool json) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string_view>) {
          const bool quote =
              json || v.empty() || std::any_of(v.begin(), v.end(), [](char c) {
                return c == ' ' || c == '=' || needs_escape(static_cast<unsigned char>(c));
              });
          if (quote) out += '"';
          append_escaped(out, v);
          if (quote) out += '"';
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          // Fixed with microsecond resolution: durations in ms, ratios.
          append_number(out, std::isfinite(v) ? static_cast<std::int64_t>(v) : 0);
          const auto frac =
              std::isfinite(v)
                  ? static_cast<std::int64_t>(std::llround(std::fabs(v - std::trunc(v)) * 1000))
                  : 0;
          if (frac != 0) {
            char buf[8];
            std::snprintf(buf, sizeof buf, ".%03d",
                          static_cast<int>(std::min<std::int64_t>(frac, 999)));
            out += buf;
          }
        } else {
          append_number(out, v);
        }
      },
      f.value);
}

void append_two(std::string& out, int v) {
  out += static_cast<char>('0' + v / 10);
  out += static_cast<char>('0' + v % 10);
}

void append_rfc3339(std::string& out, std::chrono::system_clock::time_point t) {
  const auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  const auto ms =
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count());
  // The "YYYY-MM-DDTHH:MM:SS" part changes once a second: keep it per thread.
  thread_local std::chrono::system_clock::time_point cached_second{};
  thread_local std::string cached_text;
  if (secs == cached_second && !cached_text.empty()) {
    out += cached_text;
    out += '.';
    out += static_cast<char>('0' + ms / 100);
    append_two(out, ms % 100);
    out += 'Z';
    return;
  }
  const auto start = out.size();
  const std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  append_number(out, tm.tm_year + 1900);
  out += '-';
  append_two(out, tm.tm_mon + 1);
  out += '-';
  append_two(out, tm.tm_mday);
  out += 'T';
  append_two(out, tm.tm_hour);
  out += ':';
  append_two(out, tm.tm_min);
  out += ':';
  append_two(out, tm.tm_sec);
  cached_second = secs;
  cached_text.assign(out, start, out.size() - start);
  out += '.';
  out += static_cast<char>('0' + ms / 100);
  append_two(out, ms % 100);
  out += 'Z';
}

void render_into(std::string& out, std::string_view event, std::string_view level,
                 std::initializer_list<Field> fields, config::LogFormat format) {
  const bool json = format == config::LogFormat::json;
  if (json) {
    out += "{\"time\":\"";
    append_rfc3339(out, std::chrono::system_clock::now());
    out += '"';
    if (!level.empty()) {
      out += ",\"level\":\"";
      out += level;
      out += '"';
    }
    out += ",\"event\":\"";
    append_escaped(out, event);
    out += '"';
  } else {
    out += event;
  }
  for (const auto& f : fields) {
    if (f.omit) continue;
    if (json) {
      // Keys are string literals of rdpgate's own: nothing to escape.
      out += ",\"";
      out += f.key;
      out += "\":";
    } else {
      out += ' ';
      out += f.key;
      out += '=';
    }
    append_value(out, f, json);
  }
  if (json) out += '}';
}
}  // namespace

std::string json_escape(std::string_view s) { return protocol::json::escape(s); }

std::string rfc3339(std::chrono::system_clock::time_point t) {
  std::string out;
  out.reserve(24);
  append_rfc3339(out, t);
  return out;
}

std::string render_event(std::string_view event, std::initializer_list<Field> fields,
                         config::LogFormat format) {
  std::string out;
  out.reserve(384);
  render_into(out, event, {}, fields, format);
  return out;
}

namespace {

// Formats on the logging thread (cheap: the line is already rendered) and hands the line to a
// LogWriter, which never blocks: the sink is as fast as a full queue.
class QueueSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit QueueSink(std::shared_ptr<LogWriter> writer) : writer_(std::move(writer)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    writer_->push(std::string_view(formatted.data(), formatted.size()));
  }
  // Lines reach the kernel as soon as the writer thread writes them; nothing to flush here.
  void flush_() override {}

 private:
  std::shared_ptr<LogWriter> writer_;
};

// The writers of the running configuration, kept for stop_logging().
std::mutex g_writers_mutex;
std::vector<std::shared_ptr<LogWriter>> g_writers;
// The audit logger, read on every audit record without a lock (like spdlog's own
// default_logger_raw()); null: audit records go to the default logger. Loggers once configured
// are kept to the end of the process, so a record being written never loses its logger.
std::atomic<spdlog::logger*> g_audit{nullptr};
std::vector<std::shared_ptr<spdlog::logger>> g_audit_keep;

// The `log_dropped` line a writer writes itself, in the configured format.
std::string dropped_summary(config::LogFormat format, std::uint64_t dropped, double seconds) {
  const auto level = spdlog::level::to_string_view(spdlog::level::warn);
  const std::string_view level_name(level.data(), level.size());
  const auto msg = "the log output did not keep up: dropped " + std::to_string(dropped) +
                   " lines in the last " + std::to_string(std::lround(std::ceil(seconds))) + " s";
  std::string line;
  if (format == config::LogFormat::text) {
    // The same shape as the text pattern below: time, level, event.
    line = rfc3339(std::chrono::system_clock::now());
    line += ' ';
    line += level_name;
    line += ' ';
  }
  render_into(line, "log_dropped", format == config::LogFormat::json ? level_name : "",
              {{"dropped", dropped}, {"message", msg}}, format);
  line += '\n';
  return line;
}

// Opens `path` for appending (creating its folder, as spdlog's file sink did).
int open_append(const std::string& path, std::string& error) {
  std::error_code ignored;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ignored);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd < 0) error = "cannot open \"" + path + "\": " + std::strerror(errno);
  return fd;
}

std::shared_ptr<spdlog::logger> make_logger(std::string name, std::shared_ptr<LogWriter> writer,
                                            const config::LoggingConfig& cfg) {
  auto logger = std::make_shared<spdlog::logger>(std::move(name),
                                                 std::make_shared<QueueSink>(std::move(writer)));
  if (cfg.format == config::LogFormat::json) {
    // The JSON line carries its own time and level.
    logger->set_pattern("%v");
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(cfg.level));
  return logger;
}

void render_line(std::string& line, spdlog::level::level_enum level, std::string_view event,
                 std::initializer_list<Field> fields) {
  const auto format = g_format.load(std::memory_order_relaxed);
  line.clear();
  const auto name = spdlog::level::to_string_view(level);
  render_into(line, event,
              format == config::LogFormat::json ? std::string_view(name.data(), name.size())
                                                : std::string_view(),
              fields, format);
}

}  // namespace

std::string configure_logging(const config::LoggingConfig& cfg) {
  LogWriterOptions options;
  options.max_lines = cfg.queue_lines;
  const auto format = cfg.format;
  auto summarise = [format](std::uint64_t dropped, double seconds) {
    return dropped_summary(format, dropped, seconds);
  };
  std::string error;
  int fd = STDERR_FILENO;
  if (!cfg.file.empty()) {
    fd = open_append(cfg.file, error);
    if (fd < 0) return "logging.file: " + error;
  }
  auto main_writer = std::make_shared<LogWriter>(fd, fd != STDERR_FILENO, options, summarise);
  std::shared_ptr<LogWriter> audit_writer;
  if (!cfg.audit_file.empty()) {
    const int audit_fd = open_append(cfg.audit_file, error);
    if (audit_fd < 0) {
      main_writer->stop(std::chrono::milliseconds{1000});
      return "logging.audit_file: " + error;
    }
    audit_writer = std::make_shared<LogWriter>(audit_fd, true, options, summarise);
  }
  g_format = cfg.format;
  auto logger = make_logger("rdpgate", main_writer, cfg);
  std::shared_ptr<spdlog::logger> audit;
  if (audit_writer) audit = make_logger("rdpgate.audit", audit_writer, cfg);
  spdlog::set_default_logger(logger);
  std::lock_guard lock(g_writers_mutex);
  g_audit = audit.get();
  if (audit) g_audit_keep.push_back(std::move(audit));
  g_writers.clear();
  g_writers.push_back(std::move(main_writer));
  if (audit_writer) g_writers.push_back(std::move(audit_writer));
  return {};
}

void stop_logging(std::chrono::milliseconds limit) {
  std::vector<std::shared_ptr<LogWriter>> writers;
  {
    std::lock_guard lock(g_writers_mutex);
    writers = g_writers;
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (const auto& w : writers) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    w->stop(std::max(left, std::chrono::milliseconds{0}));
  }
}

void log_event(spdlog::level::level_enum level, std::string_view event,
               std::initializer_list<Field> fields) {
  auto* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  thread_local std::string line;  // reused: no allocation per record once warmed up
  render_line(line, level, event, fields);
  logger->log(level, spdlog::string_view_t(line.data(), line.size()));
}

void log_audit_event(spdlog::level::level_enum level, std::string_view event,
                     std::initializer_list<Field> fields) {
  auto* audit = g_audit.load(std::memory_order_acquire);
  if (audit == nullptr) {
    log_event(level, event, fields);
    return;
  }
  if (!audit->should_log(level)) return;
  thread_local std::string line;
  render_line(line, level, event, fields);
  audit->log(level, spdlog::string_view_t(line.data(), line.size()));
}

bool RefusalLog::admit(std::string_view reason, std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (window_start_ == std::chrono::steady_clock::time_point{}) window_start_ = now;
  auto it = buckets_.find(reason);
  if (it == buckets_.end()) {
    it = buckets_.emplace(std::string(reason), Bucket{per_second_, now, 0}).first;
  }
  auto& b = it->second;
  const double elapsed = std::chrono::duration<double>(now - b.updated).count();
  b.tokens = std::min(per_second_, b.tokens + std::max(0.0, elapsed) * per_second_);
  b.updated = now;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return true;
  }
  ++suppressed_;
  ++b.suppressed;
  return false;
}

std::uint64_t RefusalLog::flush(std::chrono::steady_clock::time_point now, bool force) {
  std::uint64_t n = 0;
  std::string top;
  double seconds = 0;
  {
    std::lock_guard lock(mutex_);
    if (!force && now - window_start_ < window_) return 0;
    seconds = std::chrono::duration<double>(now - window_start_).count();
    window_start_ = now;
    n = std::exchange(suppressed_, 0);
    std::vector<std::pair<std::string, std::uint64_t>> v;
    for (auto& [name, bucket] : buckets_) {
      if (bucket.suppressed > 0) v.emplace_back(name, std::exchange(bucket.suppressed, 0));
    }
    std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second > b.second; });
    for (std::size_t i = 0; i < v.size() && i < 5; ++i) {
      if (!top.empty()) top += ", ";
      top += v[i].first + ' ' + std::to_string(v[i].second);
    }
  }
  if (n > 0) {
    const auto msg = "suppressed " + std::to_string(n) + " refusals in the last " +
                     std::to_string(static_cast<long>(std::lround(seconds))) + " s, top reasons " +
                     top;
    log_audit_event(spdlog::level::warn, "refusals_suppressed",
                    {{"suppressed", n}, {"top_reasons", top}, {"message", msg}});
  }
  return n;
}

}  // namespace rdpgate::gateway
