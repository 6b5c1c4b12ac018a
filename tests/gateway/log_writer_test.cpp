// LogWriter: the bounded log queue in front of a reader that may stop reading. Real pipes: one
// page, filled so that the writer thread blocks in write(2) as it would on a stalled journald.

#include "rdpgate/gateway/log_writer.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace rdpgate::gateway {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A pipe of one page; with `fill`, full of "filler\n" so the next write blocks.
struct Pipe {
  int read_end = -1;
  int write_end = -1;
  std::size_t filler = 0;
  explicit Pipe(bool fill) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    read_end = fds[0];
    write_end = fds[1];
    ::fcntl(write_end, F_SETPIPE_SZ, 4096);
    if (fill) {
      ::fcntl(write_end, F_SETFL, ::fcntl(write_end, F_GETFL) | O_NONBLOCK);
      for (;;) {
        const auto n = ::write(write_end, "filler\n", 7);
        if (n <= 0) break;
        filler += static_cast<std::size_t>(n);
      }
      ::fcntl(write_end, F_SETFL, ::fcntl(write_end, F_GETFL) & ~O_NONBLOCK);
    }
  }
  ~Pipe() {
    if (read_end >= 0) ::close(read_end);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  // Everything written until every write end is closed, the text read ends with `until` (when
  // not empty), or `limit` passes.
  std::string drain(std::chrono::milliseconds limit, std::string_view until = {}) const {
    std::string out;
    const auto deadline = Clock::now() + limit;
    char buf[65536];
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) break;
      pollfd p{read_end, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      const auto n = ::read(read_end, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
      if (!until.empty() && out.ends_with(until)) break;
    }
    return out;
  }
};

std::string summary(std::uint64_t dropped, double /*seconds*/) {
  return "dropped " + std::to_string(dropped) + "\n";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    const auto end = text.find('\n', at);
    if (end == std::string::npos) break;
    out.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

TEST(LogWriter, PushNeverWaitsForAStuckReaderAndCountsWhatItDrops) {
  Pipe pipe(true);
  LogWriterOptions options;
  options.max_lines = 8;
  const auto before = log_lines_dropped();
  LogWriter writer(pipe.write_end, true, options, summary);
  const auto started = Clock::now();
  int queued = 0;
  for (int i = 0; i < 1000; ++i) queued += writer.push("line " + std::to_string(i) + "\n") ? 1 : 0;
  const auto took = Clock::now() - started;
  EXPECT_LT(took, 500ms);  // no push waited for the reader
  EXPECT_EQ(queued, 8);
  EXPECT_EQ(writer.dropped(), 992u);
  EXPECT_EQ(log_lines_dropped() - before, 992u);

  // The reader resumes: the filler, the 8 queued lines in order, then the summary.
  std::thread stopper([&writer] { EXPECT_TRUE(writer.stop(5000ms)); });
  const auto text = pipe.drain(5000ms, "dropped 992\n");
  stopper.join();
  const auto lines = lines_of(text.substr(pipe.filler));
  ASSERT_EQ(lines.size(), 9u) << text.substr(pipe.filler);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(lines[static_cast<std::size_t>(i)], "line " + std::to_string(i));
  EXPECT_EQ(lines[8], "dropped 992");
  EXPECT_EQ(writer.written(), 8u);
}

TEST(LogWriter, TheSummaryComesOnceTheQueueDrains) {
  Pipe pipe(true);
  LogWriterOptions options;
  options.max_lines = 4;
  options.summary_interval = 50ms;
  LogWriter writer(pipe.write_end, true, options, summary);
  for (int i = 0; i < 10; ++i) writer.push("a\n");
  // Without a stop: the writer writes the summary itself when the reader takes the backlog.
  const auto text = pipe.drain(5000ms, "dropped 6\n");
  const auto lines = lines_of(text.substr(pipe.filler));
  ASSERT_EQ(lines.size(), 5u) << text.substr(pipe.filler);
  EXPECT_EQ(lines[4], "dropped 6");
  // Later lines are written as usual, with no new summary.
  EXPECT_TRUE(writer.push("b\n"));
  EXPECT_EQ(pipe.drain(300ms), "b\n");
}

TEST(LogWriter, StopWritesEverythingQueued) {
  Pipe pipe(false);
  std::string text;
  std::thread reader([&] { text = pipe.drain(10000ms); });
  {
    LogWriter writer(pipe.write_end, true, {}, summary);
    for (int i = 0; i < 5000; ++i) ASSERT_TRUE(writer.push(std::to_string(i) + "\n"));
    EXPECT_TRUE(writer.stop(5000ms));
    EXPECT_EQ(writer.dropped(), 0u);
    // After a clean stop, lines are written at once.
    EXPECT_TRUE(writer.push("after\n"));
  }  // closes the write end: the reader sees the end
  reader.join();
  const auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), 5001u);
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(lines[static_cast<std::size_t>(i)], std::to_string(i));
  EXPECT_EQ(lines.back(), "after");
}

TEST(LogWriter, StopGivesUpOnAReaderThatNeverReads) {
  Pipe pipe(true);
  LogWriter writer(pipe.write_end, false, {}, summary);
  EXPECT_TRUE(writer.push("stuck\n"));
  const auto started = Clock::now();
  EXPECT_FALSE(writer.stop(200ms));
  EXPECT_LT(Clock::now() - started, 2s);
  // The stuck thread is left behind; later lines are dropped, never written by the caller.
  EXPECT_FALSE(writer.push("later\n"));
  EXPECT_EQ(writer.dropped(), 1u);
  // Let the abandoned thread finish (its line, then its summary) before the pipe goes away.
  const auto text = pipe.drain(5000ms, "dropped 1\n");
  EXPECT_EQ(text.substr(pipe.filler), "stuck\ndropped 1\n");
  ::close(pipe.write_end);
}

TEST(LogWriter, AReaderThatClosedItsEndLosesLinesNotTheProcess) {
  Pipe pipe(false);
  ::close(pipe.read_end);
  pipe.read_end = -1;
  LogWriter writer(pipe.write_end, true, {}, summary);
  EXPECT_TRUE(writer.push("nobody reads this\n"));
  // EPIPE, not SIGPIPE: the line is counted as dropped and the process lives on.
  EXPECT_TRUE(writer.stop(5000ms));
  EXPECT_EQ(writer.dropped(), 1u);
}

}  // namespace
}  // namespace rdpgate::gateway
