// The hand-off from the accept thread to the workers (handoff.hpp): in turn; never left waiting
// on a worker that does not run (its io_context is simply not run here); started exactly once;
// closed when no worker took it. Real io_contexts on threads, socketpairs as connections; every
// wait is bounded.

#include "rdpgate/gateway/handoff.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace rdpgate::gateway {
namespace {

using namespace std::chrono_literals;

constexpr auto busy_after = 20ms;

class HandoffTest : public ::testing::Test {
 protected:
  HandoffTest() {
    for (int i = 0; i < 2; ++i) workers_.push_back(std::make_unique<asio::io_context>(1));
    make_handoff(busy_after);
  }

  void make_handoff(std::chrono::milliseconds busy) {
    handoff_ = std::make_unique<Handoff>(
        accept_, workers_, metrics_,
        [this](Socket socket, Admitted c) {
          std::lock_guard lock(mutex_);
          started_.push_back(worker_of(socket));
          c.slot.reset();
          peers_.push_back(c.peer.port);
          sockets_.push_back(std::move(socket));
          changed_.notify_all();
        },
        busy);
  }

  ~HandoffTest() override {
    for (auto& io : ios()) io->stop();
    for (auto& t : threads_) t.join();
    handoff_.reset();
    {
      std::lock_guard lock(mutex_);
      sockets_.clear();
    }
    for (const int fd : client_ends_) ::close(fd);
  }

  std::vector<asio::io_context*> ios() {
    std::vector<asio::io_context*> out{&accept_};
    for (auto& w : workers_) out.push_back(w.get());
    return out;
  }

  int worker_of(Socket& socket) {
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      if (&socket.get_executor().context() == workers_[i].get()) return static_cast<int>(i);
    }
    return -1;
  }

  // Runs `io` on a thread of its own until the test ends.
  void run(asio::io_context& io) {
    auto guard = std::make_shared<asio::executor_work_guard<asio::io_context::executor_type>>(
        io.get_executor());
    threads_.emplace_back([&io, guard] { io.run(); });
  }

  // A connection (one end of a socketpair) given from the accept thread; `tag` comes back as
  // its peer port.
  void give(std::uint16_t tag) {
    int ends[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, ends), 0);
    client_ends_.push_back(ends[1]);
    Admitted c;
    c.fd = ends[0];
    c.peer.port = tag;
    c.admitted = true;
    auto shared = std::make_shared<Admitted>(std::move(c));
    asio::post(accept_, [this, shared] { handoff_->give(std::move(*shared)); });
  }

  bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit = 2s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, done);
  }

  std::size_t started() {
    std::lock_guard lock(mutex_);
    return started_.size();
  }

  asio::io_context accept_{1};
  std::vector<std::unique_ptr<asio::io_context>> workers_;
  Metrics metrics_;
  std::unique_ptr<Handoff> handoff_;
  std::vector<std::thread> threads_;
  std::vector<int> client_ends_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<int> started_;          // the worker each connection started on
  std::vector<std::uint16_t> peers_;  // their tags, in the same order
  std::vector<Socket> sockets_;
};

TEST_F(HandoffTest, GivesConnectionsToTheWorkersInTurn) {
  make_handoff(10s);  // no worker is ever found busy, however loaded the machine
  run(accept_);
  run(*workers_[0]);
  run(*workers_[1]);
  for (std::uint16_t i = 1; i <= 4; ++i) {
    give(i);
    ASSERT_TRUE(wait_for([&] { return started_.size() == i; })) << "connection " << i;
  }
  std::lock_guard lock(mutex_);
  EXPECT_EQ(started_, (std::vector<int>{0, 1, 0, 1}));
  EXPECT_EQ(metrics_.worker_busy(0).Value(), 0.0);
}

TEST_F(HandoffTest, ABusyWorkersConnectionsGoToTheOthersUntilItRunsAgain) {
  run(accept_);
  run(*workers_[1]);  // worker 0 does not run: a handler holds its thread
  const auto given = std::chrono::steady_clock::now();
  for (std::uint16_t i = 1; i <= 6; ++i) give(i);
  ASSERT_TRUE(wait_for([&] { return started_.size() == 6; }));
  EXPECT_LT(std::chrono::steady_clock::now() - given, 1s);
  {
    std::lock_guard lock(mutex_);
    EXPECT_EQ(started_, std::vector<int>(6, 1));
    auto tags = peers_;
    std::sort(tags.begin(), tags.end());
    EXPECT_EQ(tags, (std::vector<std::uint16_t>{1, 2, 3, 4, 5, 6}));  // each once
  }
  EXPECT_EQ(metrics_.worker_busy(0).Value(), 1.0);

  // Worker 0 runs again: the tickets moved away start nothing there, and once its probe ran it
  // is given connections again.
  run(*workers_[0]);
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  bool back = false;
  for (std::uint16_t i = 7; !back && std::chrono::steady_clock::now() < deadline; ++i) {
    give(i);
    ASSERT_TRUE(wait_for([&] { return started_.size() == i; }));
    {
      std::lock_guard lock(mutex_);
      back = started_.back() == 0;
    }
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(back) << "worker 0 was not given connections again";
  std::this_thread::sleep_for(5 * busy_after);
  std::lock_guard lock(mutex_);
  auto tags = peers_;
  std::sort(tags.begin(), tags.end());
  EXPECT_EQ(std::adjacent_find(tags.begin(), tags.end()), tags.end())
      << "a connection started twice";
}

TEST_F(HandoffTest, WhenEveryWorkerIsBusyConnectionsWaitAndStartOnce) {
  run(accept_);
  for (std::uint16_t i = 1; i <= 4; ++i) give(i);
  std::this_thread::sleep_for(10 * busy_after);
  EXPECT_EQ(started(), 0u);
  run(*workers_[0]);
  run(*workers_[1]);
  ASSERT_TRUE(wait_for([&] { return started_.size() == 4; }));
  std::this_thread::sleep_for(5 * busy_after);
  std::lock_guard lock(mutex_);
  EXPECT_EQ(started_.size(), 4u);
  auto tags = peers_;
  std::sort(tags.begin(), tags.end());
  EXPECT_EQ(tags, (std::vector<std::uint16_t>{1, 2, 3, 4}));
}

TEST_F(HandoffTest, AConnectionNoWorkerTookIsClosed) {
  run(accept_);
  give(1);
  std::this_thread::sleep_for(2 * busy_after);
  for (auto& io : ios()) io->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  handoff_.reset();
  workers_.clear();  // the worker's queued hand-off goes with its io_context
  char byte = 0;
  EXPECT_EQ(::read(client_ends_.front(), &byte, 1), 0) << "the client end did not see EOF";
}

}  // namespace
}  // namespace rdpgate::gateway
