#pragma once
// The one place that races work against a clock (STYLE.md §5). A deadline covers a phase, never
// a single read. `op` must not throw for expected network outcomes (use `use_nothrow`): Asio's
// operator|| waits for the first *success*, so a throwing op would surface as a timeout.

#include <chrono>
#include <optional>
#include <variant>

#include "rdpgate/gateway/asio.hpp"

namespace rdpgate::gateway {

template <class T>
awaitable<std::optional<T>> within(std::chrono::steady_clock::duration limit, awaitable<T> op) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer{co_await asio::this_coro::executor, limit};
  auto first = co_await (std::move(op) || timer.async_wait(use_nothrow));
  if (first.index() == 1) co_return std::nullopt;  // deadline passed; `op` was cancelled
  co_return std::get<0>(std::move(first));
}

}  // namespace rdpgate::gateway
