#pragma once
// A bounded queue of formatted log lines and one thread that writes them to a file descriptor,
// so that a log reader that stops reading (a full pipe, a stalled journald, a slow disk) never
// blocks the thread that logs (SPEC §7: faults around the gateway must not stall the relay).
//
//   any thread                              writer thread (one per LogWriter)
//   push(line) --lock--> queue (bounded) --> takes every queued line, write(2)s them unlocked
//                                            (after at most `gather` ms, for a batch)
//        \-- full: the line is dropped and counted; push never waits for the writer
//
// When the queue is full the new line is dropped (the lines already queued keep their order)
// and counted, in `dropped()` and in the process-wide `log_lines_dropped()` that feeds
// rdpgate_log_dropped_total. Once the queue has drained, the writer itself writes one summary
// line for what was dropped since the last one (at most one per `summary_interval`; at least
// every `summary_interval * 10` while the sink stays slow), made by `summarise`.
//
// The queue bound counts every line not yet written, the batch being written included: at most
// `max_lines` lines and `max_bytes` bytes are held in memory per LogWriter.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace rdpgate::gateway {

struct LogWriterOptions {
  std::size_t max_lines = 8192;             // lines waiting to be written; more are dropped
  std::size_t max_bytes = 8 * 1024 * 1024;  // bytes waiting to be written; more are dropped
  std::chrono::milliseconds summary_interval{1000};
  // Group commit: a line that wakes the writer waits up to `gather` for more (or until
  // `gather_lines` are queued), so that a busy gateway wakes the writer thread and calls
  // write(2) once per batch, not once per connection. 0: write each line at once.
  std::chrono::milliseconds gather{10};
  std::size_t gather_lines = 256;
};

// Lines dropped by every LogWriter of the process since it started.
[[nodiscard]] std::uint64_t log_lines_dropped() noexcept;

class LogWriter {
 public:
  // Makes the summary line (newline included) for `dropped` lines lost over `seconds`.
  using Summarise = std::function<std::string(std::uint64_t dropped, double seconds)>;

  // Writes to `fd`, which it closes at the end when `owned`. Starts the writer thread.
  LogWriter(int fd, bool owned, LogWriterOptions options, Summarise summarise);
  // Stops without waiting: whatever is still queued is abandoned (call stop() first to flush).
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Queues one line (newline included). Never waits for I/O: false when the line was dropped
  // because the queue is full. After a clean stop() lines are written at once, synchronously.
  bool push(std::string_view line);
  // Waits at most `limit` for every queued line (and a last summary) to be written, then stops
  // the writer thread. True when all was written; false when the sink stayed stuck — the thread
  // is then left behind, blocked in write(2), and later lines are dropped.
  bool stop(std::chrono::milliseconds limit);

  [[nodiscard]] std::uint64_t dropped() const noexcept;
  [[nodiscard]] std::uint64_t written() const noexcept;  // lines, summaries excluded

  struct State;  // shared with the writer thread, so a stuck thread may outlive the LogWriter

 private:
  std::shared_ptr<State> state_;
};

}  // namespace rdpgate::gateway
