// RedisConnection: see redis.hpp.

#include "rdpgate/state/redis.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>

#include <cerrno>
#include <utility>

namespace rdpgate::state {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

RedisReply convert(const redisReply* reply) {
  RedisReply out;
  switch (reply->type) {
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::integer;
      out.integer = reply->integer;
      break;
    case REDIS_REPLY_STRING: out.type = RedisReply::Type::string; break;
    case REDIS_REPLY_STATUS: out.type = RedisReply::Type::status; break;
    case REDIS_REPLY_ERROR: out.type = RedisReply::Type::error; break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::array;
      out.elements.reserve(reply->elements);
      for (std::size_t i = 0; i < reply->elements; ++i) {
        out.elements.push_back(convert(reply->element[i]));
      }
      break;
    default: out.type = RedisReply::Type::nil; break;
  }
  if (reply->str != nullptr) out.text.assign(reply->str, reply->len);
  return out;
}

// Takes ownership of a reply hiredis allocated.
RedisReply adopt(void* raw) {
  auto* reply = static_cast<redisReply*>(raw);
  RedisReply out = convert(reply);
  freeReplyObject(reply);
  return out;
}

}  // namespace

std::variant<RedisConnection, std::string> RedisConnection::connect(const Options& options) {
  using Result = std::variant<RedisConnection, std::string>;
  const std::string where = "redis " + options.host + ":" + std::to_string(options.port) + ": ";
  redisContext* context =
      redisConnectWithTimeout(options.host.c_str(), options.port, to_timeval(options.timeout));
  if (context == nullptr) return Result{std::in_place_index<1>, where + "out of memory"};
  RedisConnection connection{context};
  if (context->err != 0) return Result{std::in_place_index<1>, where + context->errstr};
  if (redisSetTimeout(context, to_timeval(options.timeout)) != REDIS_OK) {
    return Result{std::in_place_index<1>, where + "cannot set the socket timeout"};
  }
  redisEnableKeepAlive(context);
  std::vector<Command> setup;
  if (!options.password.empty()) setup.push_back({"AUTH", options.password});
  if (options.db != 0) setup.push_back({"SELECT", std::to_string(options.db)});
  setup.push_back({"PING"});
  auto replies = connection.pipeline(setup);
  if (auto* err = std::get_if<std::string>(&replies)) {
    return Result{std::in_place_index<1>, where + *err};
  }
  for (const auto& reply : std::get<0>(replies)) {
    // The password never appears in the message: only the server's answer does.
    if (reply.is_error()) return Result{std::in_place_index<1>, where + reply.text};
  }
  return Result{std::in_place_index<0>, std::move(connection)};
}

RedisConnection::RedisConnection(RedisConnection&& other) noexcept
    : context_(std::exchange(other.context_, nullptr)) {}

RedisConnection& RedisConnection::operator=(RedisConnection&& other) noexcept {
  if (this != &other) {
    if (context_ != nullptr) redisFree(context_);
    context_ = std::exchange(other.context_, nullptr);
  }
  return *this;
}

RedisConnection::~RedisConnection() {
  if (context_ != nullptr) redisFree(context_);
}

std::string RedisConnection::failure(std::string_view what) const {
  std::string out{what};
  if (context_ != nullptr && context_->err != 0) {
    out += ": ";
    out += context_->errstr;
  }
  return out;
}

bool RedisConnection::append(const Command& command) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(command.size());
  lengths.reserve(command.size());
  for (const auto& arg : command) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  return redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(),
                                lengths.data()) == REDIS_OK;
}

std::optional<std::string> RedisConnection::send(const Command& command) {
  if (!append(command)) return failure("cannot queue a command");
  int done = 0;
  while (done == 0) {
    if (redisBufferWrite(context_, &done) != REDIS_OK) return failure("write failed");
  }
  return std::nullopt;
}

std::variant<std::vector<RedisReply>, std::string> RedisConnection::pipeline(
    const std::vector<Command>& commands) {
  using Result = std::variant<std::vector<RedisReply>, std::string>;
  for (const auto& command : commands) {
    if (!append(command)) return Result{std::in_place_index<1>, failure("cannot queue a command")};
  }
  std::vector<RedisReply> replies;
  replies.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
      return Result{std::in_place_index<1>, failure("no reply")};
    }
    replies.push_back(adopt(raw));
  }
  return Result{std::in_place_index<0>, std::move(replies)};
}

std::variant<RedisReply, std::string> RedisConnection::command(const Command& command) {
  using Result = std::variant<RedisReply, std::string>;
  auto replies = pipeline({command});
  if (auto* err = std::get_if<std::string>(&replies)) return Result{std::in_place_index<1>, *err};
  return Result{std::in_place_index<0>, std::move(std::get<0>(replies).front())};
}

std::variant<std::optional<RedisReply>, std::string> RedisConnection::next(
    std::chrono::milliseconds wait) {
  using Result = std::variant<std::optional<RedisReply>, std::string>;
  for (;;) {
    void* raw = nullptr;
    if (redisGetReplyFromReader(context_, &raw) != REDIS_OK) {
      return Result{std::in_place_index<1>, failure("bad reply")};
    }
    if (raw != nullptr) return Result{std::in_place_index<0>, adopt(raw)};
    pollfd fd{context_->fd, POLLIN, 0};
    const int ready = ::poll(&fd, 1, static_cast<int>(wait.count()));
    if (ready == 0) return Result{std::in_place_index<0>, std::nullopt};
    if (ready < 0 && errno != EINTR) return Result{std::in_place_index<1>, "poll failed"};
    if (ready > 0 && redisBufferRead(context_) != REDIS_OK) {
      return Result{std::in_place_index<1>, failure("connection lost")};
    }
  }
}

}  // namespace rdpgate::state
