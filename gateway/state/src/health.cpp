#include "rdpgate/state/health.hpp"

#include <utility>

namespace rdpgate::state {

void StateHealth::observe(Observer observer) {
  std::lock_guard lock{mutex_};
  observer_ = std::move(observer);
}

void StateHealth::unavailable(std::string error) {
  std::lock_guard lock{mutex_};
  snapshot_.persistent = false;
  snapshot_.last_error = std::move(error);
  snapshot_.last_failure = std::chrono::system_clock::now();
}

void StateHealth::failed(const std::string& error) {
  Observer observer;
  {
    std::lock_guard lock{mutex_};
    ++snapshot_.failures;
    snapshot_.last_error = error;
    snapshot_.last_failure = std::chrono::system_clock::now();
    observer = observer_;
  }
  if (observer) observer(error);  // outside the lock: it may log
}

StateHealth::Snapshot StateHealth::snapshot() const {
  std::lock_guard lock{mutex_};
  return snapshot_;
}

}  // namespace rdpgate::state
