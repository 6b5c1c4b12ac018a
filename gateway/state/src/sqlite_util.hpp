#pragma once
// SQLite helpers shared by the store's files (state_store.cpp: opening and loading;
// state_writer.cpp: the writer thread and the writes).

#include <sqlite3.h>

#include <chrono>
#include <cstdint>

#include "rdpgate/state/state_store.hpp"

namespace rdpgate::state::detail {

inline std::int64_t to_millis(TimePoint t) noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Owns a prepared statement.
struct Prepared {
  sqlite3_stmt* stmt = nullptr;
  Prepared() = default;
  Prepared(const Prepared&) = delete;
  Prepared& operator=(const Prepared&) = delete;
  ~Prepared() { sqlite3_finalize(stmt); }
};

}  // namespace rdpgate::state::detail
