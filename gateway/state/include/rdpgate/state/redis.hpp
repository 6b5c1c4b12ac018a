#pragma once
// One blocking connection to a Redis server (Debian's libhiredis 0.14), for the one thread that
// owns it.
//
// Why blocking connections on threads of their own rather than hiredis' asynchronous API behind
// an Asio adapter: admission never waits on Redis (shared_state.hpp keeps a local replica), so
// the only requirement on the Redis side is that a slow or dead server holds up nobody but the
// thread that talks to it. Two threads with a socket each (commands; the subscription) meet it
// with hiredis' plain API, timeouts on every socket call and no event-loop glue to get wrong.
//
// Not thread-safe: one owner. Every failure (refused connection, timeout, a closed socket, an
// error reply to AUTH or SELECT) is an error message; after an I/O error the connection is dead
// and the owner connects again.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

struct redisContext;

namespace rdpgate::state {

struct RedisReply {
  enum class Type { nil, integer, string, status, array, error };
  Type type = Type::nil;
  long long integer = 0;
  std::string text;  // string, status and error replies
  std::vector<RedisReply> elements;

  [[nodiscard]] bool is_error() const noexcept { return type == Type::error; }
};

class RedisConnection {
 public:
  struct Options {
    std::string host;
    std::uint16_t port = 6379;
    std::string password;                     // AUTH when not empty
    std::uint32_t db = 0;                     // SELECT when not 0
    std::chrono::milliseconds timeout{2000};  // connect, and every read and write
  };

  // Connects, authenticates and selects the database.
  [[nodiscard]] static std::variant<RedisConnection, std::string> connect(const Options& options);

  RedisConnection(RedisConnection&& other) noexcept;
  RedisConnection& operator=(RedisConnection&& other) noexcept;
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;
  ~RedisConnection();

  using Command = std::vector<std::string>;
  // Sends every command at once (one write) and reads their replies in order. An error reply is
  // a reply; only a broken connection is an error.
  [[nodiscard]] std::variant<std::vector<RedisReply>, std::string> pipeline(
      const std::vector<Command>& commands);
  [[nodiscard]] std::variant<RedisReply, std::string> command(const Command& command);
  // Sends a command and reads no reply (SUBSCRIBE: the replies come as messages).
  [[nodiscard]] std::optional<std::string> send(const Command& command);
  // The next reply pushed by the server (a subscription's messages), waiting at most `wait`:
  // nullopt reply when none came in time.
  [[nodiscard]] std::variant<std::optional<RedisReply>, std::string> next(
      std::chrono::milliseconds wait);

 private:
  explicit RedisConnection(redisContext* context) noexcept : context_(context) {}
  [[nodiscard]] std::string failure(std::string_view what) const;
  bool append(const Command& command);  // queues it in hiredis' output buffer

  redisContext* context_ = nullptr;
};

}  // namespace rdpgate::state
