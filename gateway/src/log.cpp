#include "rdpgate/gateway/log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <ctime>
#include <vector>

namespace rdpgate::gateway {
namespace {
std::atomic<config::LogFormat> g_format{config::LogFormat::json};

void append_value(std::string& out, const Field& f, bool json) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string_view>) {
          if (json) {
            out += '"';
            out += json_escape(v);
            out += '"';
          } else if (v.empty() || v.find_first_of(" \"=\\") != std::string_view::npos ||
                     std::any_of(v.begin(), v.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
            out += '"';
            out += json_escape(v);
            out += '"';
          } else {
            out += v;
          }
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.6g", std::isfinite(v) ? v : 0.0);
          out += buf;
        } else {
          out += std::to_string(v);
        }
      },
      f.value);
}
}  // namespace

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
  const std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

std::string render_event(std::string_view event, std::initializer_list<Field> fields,
                         config::LogFormat format) {
  std::string out;
  out.reserve(256);
  const bool json = format == config::LogFormat::json;
  if (json) {
    out += "{\"time\":\"";
    out += rfc3339(std::chrono::system_clock::now());
    out += "\",\"event\":\"";
    out += json_escape(event);
    out += '"';
  } else {
    out += event;
  }
  for (const auto& f : fields) {
    if (f.omit) continue;
    if (json) {
      out += ",\"";
      out += json_escape(f.key);
      out += "\":";
    } else {
      out += ' ';
      out += f.key;
      out += '=';
    }
    append_value(out, f, json);
  }
  if (json) out += '}';
  return out;
}

std::string configure_logging(const config::LoggingConfig& cfg) {
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (cfg.file.empty()) {
      logger = std::make_shared<spdlog::logger>(
          "rdpgate", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    } else {
      logger = std::make_shared<spdlog::logger>(
          "rdpgate", std::make_shared<spdlog::sinks::basic_file_sink_mt>(cfg.file));
    }
  } catch (const spdlog::spdlog_ex& e) {
    return std::string("logging.file: ") + e.what();
  }
  g_format = cfg.format;
  if (cfg.format == config::LogFormat::json) {
    // The JSON line carries its own time and level.
    logger->set_pattern("%v");
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(cfg.level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  return {};
}

void log_event(spdlog::level::level_enum level, std::string_view event,
               std::initializer_list<Field> fields) {
  auto* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  const auto format = g_format.load();
  if (format == config::LogFormat::json) {
    std::string line = render_event(event, fields, format);
    // Insert the level right after the time: {"time":"...","level":"info","event":...
    const auto at = line.find(",\"event\"");
    line.insert(at, std::string(",\"level\":\"") +
                        std::string(spdlog::level::to_string_view(level).data(),
                                    spdlog::level::to_string_view(level).size()) +
                        "\"");
    logger->log(level, "{}", line);
  } else {
    logger->log(level, "{}", render_event(event, fields, format));
  }
}

bool RefusalLog::admit(std::string_view reason, std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (window_start_ == std::chrono::steady_clock::time_point{}) {
    window_start_ = now;
    updated_ = now;
    tokens_ = per_second_;
  }
  const double elapsed = std::chrono::duration<double>(now - updated_).count();
  tokens_ = std::min(per_second_, tokens_ + elapsed * per_second_);
  updated_ = now;
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return true;
  }
  ++suppressed_;
  auto it = by_reason_.find(reason);
  if (it == by_reason_.end()) {
    by_reason_.emplace(std::string(reason), 1);
  } else {
    ++it->second;
  }
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
    std::vector<std::pair<std::string, std::uint64_t>> v(by_reason_.begin(), by_reason_.end());
    by_reason_.clear();
    std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second > b.second; });
    for (std::size_t i = 0; i < v.size() && i < 5; ++i) {
      if (!top.empty()) top += ", ";
      top += v[i].first + ' ' + std::to_string(v[i].second);
    }
  }
  if (n > 0) {
    const auto msg = "suppressed " + std::to_string(n) + " refusals in the last " +
                     std::to_string(static_cast<long>(std::lround(seconds))) + " s, top reasons " + top;
    log_event(spdlog::level::warn, "refusals_suppressed",
              {{"suppressed", n}, {"top_reasons", top}, {"message", msg}});
  }
  return n;
}

}  // namespace rdpgate::gateway
