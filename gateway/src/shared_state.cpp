// SharedState: see shared_state.hpp for what is shared and how the fleet stays in step.

#include "rdpgate/gateway/shared_state.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "rdpgate/gateway/log.hpp"
#include "rdpgate/gateway/services.hpp"
#include "rdpgate/security/random.hpp"

namespace rdpgate::gateway {
namespace {

using namespace std::chrono_literals;
using Fleet = security::ReplayCache::Fleet;
using Command = state::RedisConnection::Command;
using Reply = state::RedisReply;

constexpr std::size_t max_queue = 100'000;
constexpr auto rate_period = 100ms;
constexpr auto resync_period = 15s;
constexpr auto full_resync_period = 300s;
constexpr auto ping_period = 1s;
constexpr auto backoff_first = 100ms;
constexpr auto backoff_max = 5000ms;
constexpr std::size_t rate_chunk = 2048;  // sources per `rate` message

std::string now_ms() { return std::to_string(fleet::to_ms(std::chrono::system_clock::now())); }

bool is_change(const fleet::Event& e) {
  return !std::holds_alternative<fleet::Failure>(e) && !std::holds_alternative<fleet::Admitted>(e);
}

}  // namespace

SharedState::SharedState(config::RedisConfig config, std::string password, Parts parts)
    : config_(std::move(config)),
      password_(std::move(password)),
      parts_(parts),
      instance_(security::random_hex(8)) {
  auto& r = parts_.registry;
  up_gauge_ = &prometheus::BuildGauge()
                   .Name("rdpgate_state_redis_up")
                   .Help("1 while the shared Redis (state.redis) is reachable, else 0.")
                   .Register(r)
                   .Add({});
  failed_ = &prometheus::BuildCounter()
                 .Name("rdpgate_state_redis_failed_operations_total")
                 .Help("Redis operations that failed or were dropped while Redis was down.")
                 .Register(r)
                 .Add({});
  pending_ = &prometheus::BuildGauge()
                  .Name("rdpgate_state_redis_pending_operations")
                  .Help("Changes made here and not yet written to Redis.")
                  .Register(r)
                  .Add({});
  resyncs_ = &prometheus::BuildCounter()
                  .Name("rdpgate_state_redis_resyncs_total")
                  .Help("Full resynchronisations with Redis.")
                  .Register(r)
                  .Add({});
  last_resync_ =
      &prometheus::BuildGauge()
           .Name("rdpgate_state_redis_last_resync_timestamp_seconds")
           .Help("Unix time the replica was last found in step with Redis (a resync or a check).")
           .Register(r)
           .Add({});
}

SharedState::~SharedState() { stop(); }

state::RedisConnection::Options SharedState::options() const {
  return {config_.address.host, config_.address.port, password_, config_.db, 2000ms};
}

void SharedState::start() {
  parts_.bans.set_listener(
      {[this](const security::Ban& ban) { enqueue(fleet::Event{ban}); },
       [this](const config::Cidr& cidr) { enqueue(fleet::Event{fleet::Unban{cidr}}); },
       [this](const config::IpAddress& source, std::string_view user, fleet::TimePoint at) {
         if (up_) enqueue(fleet::Event{fleet::Failure{source, std::string(user), at}});
       }});
  parts_.grants.set_listener(
      {[this](const security::Grant& grant) { enqueue(fleet::Event{grant}); },
       [this](std::string_view id) { enqueue(fleet::Event{fleet::Revoke{std::string(id)}}); }});
  parts_.replay.share([this](const std::string& jti, fleet::TimePoint keep_until,
                             std::function<void(Fleet)> answer) {
    if (!up_) {
      answer(config_.replay_when_down == config::ReplayWhenDown::local ? Fleet::first
                                                                       : Fleet::unavailable);
      return;
    }
    const auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(
        keep_until - std::chrono::system_clock::now());
    enqueue(Claim{jti, std::max(ttl, std::chrono::milliseconds{1}), std::move(answer)});
  });
  command_thread_ = std::thread([this] { command_loop(); });
  subscribe_thread_ = std::thread([this] { subscribe_loop(); });
}

void SharedState::stop() {
  {
    std::lock_guard lock{mutex_};
    if (stopping_) return;
    stopping_ = true;
  }
  stop_subscriber_ = true;
  wake_.notify_all();
  if (command_thread_.joinable()) command_thread_.join();
  if (subscribe_thread_.joinable()) subscribe_thread_.join();
  parts_.bans.set_listener({});
  parts_.grants.set_listener({});
}

void SharedState::enqueue(Op op) {
  {
    std::lock_guard lock{mutex_};
    if (queue_.size() >= max_queue) {
      queue_.pop_front();  // the resync pushes what it carried
      failed_->Increment();
    }
    queue_.push_back(std::move(op));
    pending_->Set(static_cast<double>(queue_.size()));
  }
  wake_.notify_one();
}

void SharedState::went_down(const std::string& error) {
  commander_.reset();
  if (up_.exchange(false)) {
    up_gauge_->Set(0);
    log_event(spdlog::level::err, "redis_down",
              {{"address", config_.address.text},
               {"error", error},
               {"message", "serving on local state; changes made here are sent when it returns"}});
  }
}

bool SharedState::connect_commander() {
  auto connected = state::RedisConnection::connect(options());
  if (auto* err = std::get_if<std::string>(&connected)) {
    went_down(*err);
    return false;
  }
  commander_.emplace(std::move(std::get<0>(connected)));
  {
    std::lock_guard lock{mutex_};
    resync_wanted_ = true;
  }
  up_ = true;
  up_gauge_->Set(1);
  log_event(spdlog::level::info, "redis_up",
            {{"address", config_.address.text}, {"instance", instance_}});
  return true;
}

void SharedState::command_loop() {
  auto backoff = std::chrono::milliseconds{backoff_first};
  auto next_rate = std::chrono::steady_clock::now();
  auto next_resync = next_rate;
  auto next_full = next_rate;
  auto next_ping = next_rate + ping_period;
  std::variant<Reply, std::string> ping;
  for (;;) {
    std::deque<Op> batch;
    bool do_resync = false;
    {
      std::unique_lock lock{mutex_};
      const auto until = commander_ ? std::min({next_rate, next_resync, next_ping})
                                    : std::chrono::steady_clock::now() + backoff;
      wake_.wait_until(lock, until, [&] {
        return stopping_ || (commander_ && (!queue_.empty() || resync_wanted_));
      });
      if (stopping_ && (!commander_ || queue_.empty())) break;
      if (commander_) {
        batch.swap(queue_);
        do_resync = resync_wanted_;
        resync_wanted_ = false;
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_rate) {
      publish_rates(batch);
      next_rate = now + rate_period;
    }
    if (!commander_) {
      // Down: claims are answered now, counts dropped, changes kept for the reconnect.
      std::deque<Op> keep;
      {
        std::lock_guard lock{mutex_};
        keep.swap(queue_);
      }
      send(keep);  // with no connection it only sorts them
      if (connect_commander()) {
        backoff = backoff_first;
        continue;
      }
      backoff = std::min(backoff * 2, std::chrono::milliseconds{backoff_max});
      continue;
    }
    if (!batch.empty()) {
      if (!send(batch)) continue;
      next_ping = now + ping_period;
    }
    if (do_resync || now >= next_resync) {
      // Asked for (a reconnect) or every few minutes: in full; else only if the fleet's change
      // counter moved since the last one.
      const bool full = do_resync || now >= next_full;
      if (!resync(full)) continue;
      if (full) next_full = now + full_resync_period;
      next_resync = now + resync_period;
      next_ping = now + ping_period;
    }
    if (now >= next_ping) {
      // Nothing sent for a while: make sure the server still answers (a silent loss).
      if (auto* err = std::get_if<std::string>(&(ping = commander_->command({"PING"})))) {
        failed_->Increment();
        went_down(*err);
        continue;
      }
      next_ping = now + ping_period;
    }
    std::lock_guard lock{mutex_};
    pending_->Set(static_cast<double>(queue_.size()));
  }
  // Stopping: what could not be sent is on this instance's store already; claims get an answer.
  std::deque<Op> rest;
  {
    std::lock_guard lock{mutex_};
    rest.swap(queue_);
  }
  commander_.reset();
  up_ = false;
  send(rest);
}

void SharedState::publish_rates(std::deque<Op>& ops) {
  parts_.services.for_each_rate_limiter([&](const std::string& listener, RateLimiter& limiter) {
    limiter.share();
    auto counts = limiter.drain_admitted();
    for (std::size_t i = 0; i < counts.size(); i += rate_chunk) {
      fleet::Admitted admitted{listener, {}};
      const auto end = std::min(counts.size(), i + rate_chunk);
      admitted.counts.assign(counts.begin() + static_cast<std::ptrdiff_t>(i),
                             counts.begin() + static_cast<std::ptrdiff_t>(end));
      ops.emplace_back(fleet::Event{std::move(admitted)});
    }
  });
}

bool SharedState::send(std::deque<Op>& ops) {
  const Fleet when_down =
      config_.replay_when_down == config::ReplayWhenDown::local ? Fleet::first : Fleet::unavailable;
  auto give_up = [&](const std::string& error) {
    std::deque<Op> changes;
    for (auto& op : ops) {
      if (auto* claim = std::get_if<Claim>(&op)) {
        claim->answer(when_down);
      } else if (is_change(std::get<fleet::Event>(op))) {
        changes.push_back(std::move(op));
        continue;
      }
      failed_->Increment();
    }
    if (!error.empty()) went_down(error);
    std::lock_guard lock{mutex_};
    queue_.insert(queue_.begin(), std::make_move_iterator(changes.begin()),
                  std::make_move_iterator(changes.end()));
    while (queue_.size() > max_queue) queue_.pop_front();
    pending_->Set(static_cast<double>(queue_.size()));
    return false;
  };
  if (ops.empty()) return true;
  if (!commander_) return give_up("");

  std::vector<Command> commands;
  std::vector<std::size_t> claim_reply;  // reply index of each claim, in order
  const std::string events = key("events");
  for (const auto& op : ops) {
    if (const auto* claim = std::get_if<Claim>(&op)) {
      claim_reply.push_back(commands.size());
      commands.push_back({"SET", key("replay:") + claim->jti, "1", "PX",
                          std::to_string(claim->ttl.count()), "NX"});
      continue;
    }
    const auto& event = std::get<fleet::Event>(op);
    if (const auto* ban = std::get_if<security::Ban>(&event)) {
      const auto cidr = ban->cidr.to_string();
      commands.push_back({"HSET", key("bans"), cidr, fleet::encode_ban(*ban)});
      commands.push_back({"HDEL", key("unbans"), cidr});
    } else if (const auto* unban = std::get_if<fleet::Unban>(&event)) {
      const auto cidr = unban->cidr.to_string();
      commands.push_back({"HDEL", key("bans"), cidr});
      commands.push_back({"HSET", key("unbans"), cidr, now_ms()});
    } else if (const auto* grant = std::get_if<security::Grant>(&event)) {
      commands.push_back({"HSET", key("grants"), grant->id, fleet::encode_grant(*grant)});
    } else if (const auto* revoke = std::get_if<fleet::Revoke>(&event)) {
      commands.push_back({"HDEL", key("grants"), revoke->id});
      commands.push_back({"HSET", key("revoked"), revoke->id, now_ms()});
    }
    if (is_change(event)) commands.push_back({"INCR", key("version")});
    commands.push_back({"PUBLISH", events, fleet::encode(fleet::Message{instance_, event})});
  }
  auto replies = commander_->pipeline(commands);
  if (auto* err = std::get_if<std::string>(&replies)) return give_up(*err);
  const auto& got = std::get<0>(replies);
  bool read_only = false;
  for (const auto& reply : got) {
    if (!reply.is_error()) continue;
    failed_->Increment();
    read_only = read_only || reply.text.starts_with("READONLY");
  }
  std::size_t next_claim = 0;
  for (auto& op : ops) {
    auto* claim = std::get_if<Claim>(&op);
    if (claim == nullptr) continue;
    const auto& reply = got[claim_reply[next_claim++]];
    if (reply.is_error()) {
      claim->answer(when_down);
    } else {
      claim->answer(reply.type == Reply::Type::nil ? Fleet::replayed : Fleet::first);
    }
  }
  // A primary that became a replica (failover): connect again, to whatever the address is now.
  if (read_only) went_down("the server is a read-only replica");
  return !read_only;
}

void SharedState::subscribe_loop() {
  auto backoff = std::chrono::milliseconds{backoff_first};
  auto pause = [&] {
    for (auto waited = 0ms; waited < backoff && !stop_subscriber_; waited += 50ms) {
      std::this_thread::sleep_for(50ms);
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds{backoff_max});
  };
  while (!stop_subscriber_) {
    auto connected = state::RedisConnection::connect(options());
    if (std::holds_alternative<std::string>(connected)) {
      pause();
      continue;
    }
    auto& connection = std::get<0>(connected);
    if (connection.send({"SUBSCRIBE", key("events")})) {
      pause();
      continue;
    }
    backoff = backoff_first;
    {
      // Messages may have been missed while the subscription was down: catch up.
      std::lock_guard lock{mutex_};
      resync_wanted_ = true;
    }
    wake_.notify_one();
    while (!stop_subscriber_) {
      auto next = connection.next(250ms);
      if (std::holds_alternative<std::string>(next)) {
        // The server went away, most likely for the commander too: let it find out now.
        std::lock_guard lock{mutex_};
        resync_wanted_ = true;
        wake_.notify_one();
        break;
      }
      const auto& reply = std::get<0>(next);
      if (!reply || reply->elements.size() != 3 || reply->elements[0].text != "message") continue;
      if (auto message = fleet::decode(reply->elements[2].text)) {
        apply(*message);
      } else {
        failed_->Increment();  // from a newer or broken instance: skipped
      }
    }
  }
}

}  // namespace rdpgate::gateway
