#pragma once
// Relay buffers are taken from a per-thread free list only while bytes are in flight, so an idle
// session holds no buffer at all (it waits for readability without one).

#include <cstddef>
#include <memory>
#include <vector>

namespace rdpgate::gateway {

class BufferPool {
 public:
  static constexpr std::size_t buffer_size = 64 * 1024;
  struct Deleter {
    void operator()(std::byte* p) const noexcept { BufferPool::local().give_back(p); }
  };
  using Buffer = std::unique_ptr<std::byte[], Deleter>;

  static BufferPool& local() noexcept {
    thread_local BufferPool pool;
    return pool;
  }
  Buffer take() {
    if (!free_.empty()) {
      std::byte* p = free_.back();
      free_.pop_back();
      return Buffer(p);
    }
    return Buffer(new std::byte[buffer_size]);
  }
  BufferPool() { free_.reserve(max_free); }
  ~BufferPool() {
    for (auto* p : free_) delete[] p;
  }

 private:
  static constexpr std::size_t max_free = 64;  // INVARIANT: at most 4 MiB cached per thread
  void give_back(std::byte* p) noexcept {
    if (free_.size() < max_free) {
      free_.push_back(p);
    } else {
      delete[] p;
    }
  }
  std::vector<std::byte*> free_;
};

}  // namespace rdpgate::gateway
