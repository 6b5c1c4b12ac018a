#pragma once
// A shared_ptr one thread replaces while other threads read it: the policy snapshot and a
// listener's binding. This is what std::atomic<std::shared_ptr> is for, but GCC 12's load()
// releases that type's internal lock with a relaxed store, so a load and a later store are not
// ordered (ThreadSanitizer reports it as the data race it formally is). A mutex held for one
// pointer copy costs about the same, and every tool understands it.

#include <memory>
#include <mutex>
#include <utility>

namespace rdpgate::gateway {

template <class T>
class SharedSlot {
 public:
  SharedSlot() = default;
  explicit SharedSlot(std::shared_ptr<T> value) : value_(std::move(value)) {}

  [[nodiscard]] std::shared_ptr<T> load() const noexcept {
    const std::lock_guard lock(mutex_);
    return value_;
  }

  // The value replaced leaves in `value`, a parameter: it is released after the lock, so its
  // destructor never runs under it.
  void store(std::shared_ptr<T> value) noexcept {
    const std::lock_guard lock(mutex_);
    value_.swap(value);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<T> value_;
};

}  // namespace rdpgate::gateway
