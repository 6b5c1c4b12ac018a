#include "rdpgate/gateway/log_writer.hpp"

#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace rdpgate::gateway {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<std::uint64_t> g_dropped{0};

// Writes all of `data`; false on an error (EPIPE, EBADF, ENOSPC, ...): the rest is lost.
bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const auto n = ::write(fd, data.data(), data.size());
    if (n >= 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      // A descriptor inherited in non-blocking mode: wait until it takes more.
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 1000) < 0 && errno != EINTR) return false;
      continue;
    }
    return false;
  }
  return true;
}

}  // namespace

std::uint64_t log_lines_dropped() noexcept { return g_dropped.load(std::memory_order_relaxed); }

struct LogWriter::State {
  State(int f, bool o, LogWriterOptions opts, Summarise s)
      : fd(f), owned(o), options(opts), summarise(std::move(s)) {}
  ~State() {
    if (owned) ::close(fd);
  }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  const int fd;
  const bool owned;
  const LogWriterOptions options;
  const Summarise summarise;
  std::thread thread;

  std::mutex mutex;              // guards the members below
  std::condition_variable wake;  // lines queued, or stop requested
  std::condition_variable done;  // the writer thread finished
  std::vector<std::string> queue;
  std::size_t held_lines = 0;  // queued and being written: the bound applies to both
  std::size_t held_bytes = 0;
  std::uint64_t unreported = 0;  // dropped since the last summary
  Clock::time_point first_unreported{};
  bool stopping = false;
  bool finished = false;   // the writer thread wrote everything and ended
  bool abandoned = false;  // stop() gave up on a stuck writer

  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> written{0};

  void drop_locked(std::uint64_t n) {
    if (unreported == 0) first_unreported = Clock::now();
    unreported += n;
    dropped.fetch_add(n, std::memory_order_relaxed);
    g_dropped.fetch_add(n, std::memory_order_relaxed);
  }

  void run();
};

void LogWriter::State::run() {
  // A reader that closed its end: write(2) fails with EPIPE instead of the process being killed
  // by SIGPIPE. Only this thread's mask changes.
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);

  constexpr std::size_t chunk_size = 64 * 1024;
  std::vector<std::string> batch;
  std::string chunk;
  auto last_summary = Clock::now();
  for (;;) {
    bool stop_requested = false;
    {
      std::unique_lock lock(mutex);
      wake.wait_for(lock, options.summary_interval, [this] { return !queue.empty() || stopping; });
      if (!queue.empty() && !stopping && options.gather.count() > 0) {
        wake.wait_for(lock, options.gather,
                      [this] { return stopping || queue.size() >= options.gather_lines; });
      }
      if (stopping && queue.empty() && unreported == 0) {
        finished = true;
        done.notify_all();
        return;
      }
      batch.swap(queue);
      stop_requested = stopping;
    }

    // The I/O, unlocked: this is where a stuck reader blocks, and only this thread.
    std::size_t bytes = 0;
    std::uint64_t lost = 0;
    std::size_t chunk_lines = 0;
    bool failed = false;
    auto flush_chunk = [&] {
      if (!failed && !write_all(fd, chunk)) failed = true;
      if (failed) lost += chunk_lines;
      chunk.clear();
      chunk_lines = 0;
    };
    for (const auto& line : batch) {
      bytes += line.size();
      chunk += line;
      ++chunk_lines;
      if (chunk.size() >= chunk_size) flush_chunk();
    }
    if (chunk_lines > 0) flush_chunk();
    written.fetch_add(batch.size() - lost, std::memory_order_relaxed);

    std::uint64_t to_report = 0;
    double seconds = 0;
    {
      std::lock_guard lock(mutex);
      held_lines -= batch.size();
      held_bytes -= bytes;
      if (lost > 0) drop_locked(lost);
      const auto now = Clock::now();
      const bool drained = held_lines == 0;
      const auto since_last = now - last_summary;
      // A summary once the sink took everything queued (at most one per interval), at the
      // latest every ten intervals while it stays slow, and a last one when stopping.
      if (unreported > 0 &&
          (stop_requested || (drained && since_last >= options.summary_interval) ||
           since_last >= options.summary_interval * 10)) {
        to_report = std::exchange(unreported, 0);
        seconds = std::chrono::duration<double>(now - first_unreported).count();
        last_summary = now;
      }
    }
    batch.clear();
    if (to_report > 0 && summarise) write_all(fd, summarise(to_report, seconds));
  }
}

LogWriter::LogWriter(int fd, bool owned, LogWriterOptions options, Summarise summarise)
    : state_(std::make_shared<State>(fd, owned, options, std::move(summarise))) {
  state_->thread = std::thread([state = state_] { state->run(); });
}

LogWriter::~LogWriter() { stop(std::chrono::milliseconds{0}); }

bool LogWriter::push(std::string_view line) {
  auto& s = *state_;
  std::unique_lock lock(s.mutex);
  if (s.finished) {
    // Stopped cleanly (shutdown): nothing is stuck, write at once.
    const bool ok = write_all(s.fd, line);
    if (ok) {
      s.written.fetch_add(1, std::memory_order_relaxed);
    } else {
      s.drop_locked(1);
    }
    return ok;
  }
  if (s.abandoned || s.held_lines + 1 > s.options.max_lines ||
      s.held_bytes + line.size() > s.options.max_bytes) {
    s.drop_locked(1);
    return false;
  }
  s.queue.emplace_back(line);
  ++s.held_lines;
  s.held_bytes += line.size();
  // The first line wakes the writer; a full batch ends its wait for more.
  const bool wake = s.queue.size() == 1 || s.queue.size() == s.options.gather_lines;
  lock.unlock();
  if (wake) s.wake.notify_one();
  return true;
}

bool LogWriter::stop(std::chrono::milliseconds limit) {
  auto& s = *state_;
  std::unique_lock lock(s.mutex);
  if (!s.thread.joinable()) return s.finished;
  s.stopping = true;
  s.wake.notify_all();
  const bool finished = s.done.wait_for(lock, limit, [&s] { return s.finished; });
  if (!finished) s.abandoned = true;
  lock.unlock();
  if (finished) {
    s.thread.join();
  } else {
    // Blocked in write(2) on a reader that does not read: leave it; it holds its own
    // reference to the state and ends with the process.
    s.thread.detach();
  }
  return finished;
}

std::uint64_t LogWriter::dropped() const noexcept {
  return state_->dropped.load(std::memory_order_relaxed);
}

std::uint64_t LogWriter::written() const noexcept {
  return state_->written.load(std::memory_order_relaxed);
}

}  // namespace rdpgate::gateway
