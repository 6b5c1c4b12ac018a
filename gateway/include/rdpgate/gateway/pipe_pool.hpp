#pragma once
// Kernel pipes for zero-copy relaying with splice(2): bytes go socket -> pipe -> socket without
// entering user space. A pump takes a pipe only while bytes are in flight and gives it back
// empty, so idle sessions hold no pipe (and no file descriptors beyond their two sockets).

#include <fcntl.h>
#include <unistd.h>

#include <utility>
#include <vector>

namespace rdpgate::gateway {

struct Pipe {
  int read_end = -1;
  int write_end = -1;
  [[nodiscard]] bool valid() const noexcept { return read_end >= 0; }
};

class PipePool {
 public:
  static PipePool& local() noexcept {
    thread_local PipePool pool;
    return pool;
  }
  // A non-blocking pipe, or an invalid one when none can be made (EMFILE: the caller copies).
  Pipe take() noexcept {
    if (!free_.empty()) {
      Pipe p = free_.back();
      free_.pop_back();
      return p;
    }
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
    return {fds[0], fds[1]};
  }
  // INVARIANT: only empty pipes come back; a pipe that may hold bytes is closed instead.
  void give_back(Pipe p) noexcept {
    if (!p.valid()) return;
    if (free_.size() < max_free) {
      free_.push_back(p);
    } else {
      close(p);
    }
  }
  static void close(Pipe p) noexcept {
    if (p.read_end >= 0) ::close(p.read_end);
    if (p.write_end >= 0) ::close(p.write_end);
  }
  PipePool() { free_.reserve(max_free); }
  ~PipePool() {
    for (auto p : free_) close(p);
  }

 private:
  static constexpr std::size_t max_free = 32;
  std::vector<Pipe> free_;
};

}  // namespace rdpgate::gateway
