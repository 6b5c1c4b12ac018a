#pragma once
// One client connection: one coroutine on its worker's single-threaded executor, owning both
// sockets and its buffers (STYLE.md §5).
//
//   admission  -> inspection -> policy -> routing -> server's Confirm -> relay -> outcome
//   (in the      (deadline +   (maybe     (connect    (checked, then     (pumps, idle
//    acceptor)    byte cap)     a reply)   deadline)   forwarded)         watchdog)

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rdpgate/gateway/admission.hpp"
#include "rdpgate/gateway/asio.hpp"
#include "rdpgate/gateway/buffer_pool.hpp"
#include "rdpgate/gateway/pipe_pool.hpp"
#include "rdpgate/gateway/outcome.hpp"
#include "rdpgate/gateway/policy.hpp"
#include "rdpgate/gateway/registry.hpp"
#include "rdpgate/gateway/request.hpp"
#include "rdpgate/gateway/services.hpp"

namespace rdpgate::gateway {

struct SessionContext {
  Services& services;
  SessionRegistry& registry;
};

// Identifier for the audit record and the admin API: 16 hex digits, unique per process run.
std::string next_session_id();

// Builds the Peer of an accepted socket.
Peer peer_of(const tcp::endpoint& remote, std::size_t listener);
std::string endpoint_text(const config::IpAddress& address, std::uint16_t port);
std::string ip_text(const config::IpAddress& address);

// Admission, before a byte is read: the listener's filter chain, then a concurrency slot (kept
// in `slot` when admitted). Used by the acceptor and, behind a trusted PROXY header, by the
// session on the address the header carries.
std::optional<Outcome> admit_source(const Policy& policy, Services& services, const Peer& peer,
                                    ConnectionSlot& slot);  // "192.0.2.1", "2001:db8::1"

class Session {
 public:
  Session(SessionContext& ctx, std::shared_ptr<const Policy> policy, tcp::socket client,
          Peer peer, ConnectionSlot slot, bool admitted, SteadyClock::time_point accepted);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs the whole pipeline; never throws.
  awaitable<void> run();

 private:
  awaitable<std::optional<Outcome>> pipeline();  // nullopt: ready to relay
  awaitable<std::optional<Outcome>> read_proxy_header(SteadyClock::time_point deadline);
  awaitable<std::optional<Outcome>> inspect(SteadyClock::time_point deadline);
  awaitable<Outcome> refuse_with_reply(Phase phase, const Decision& d);
  awaitable<std::optional<Outcome>> connect_backend(const RoutePolicy& route);
  awaitable<std::optional<Outcome>> exchange_confirm(SteadyClock::time_point deadline);
  awaitable<Outcome> relay();
  // The relay's two pumps are small callback state machines rather than coroutines: an idle
  // session then holds one pending readiness wait per direction and nothing else (no frames,
  // no buffers, no pipes). The relay coroutine owns their lifetime: it returns only after both
  // pumps have finished.
  struct Pump {
    tcp::socket* from = nullptr;
    tcp::socket* to = nullptr;
    Direction direction = Direction::client_to_server;
    Pipe pipe;                       // holds `pending` bytes between splice calls
    std::size_t pending = 0;
    BufferPool::Buffer buffer;       // copy fallback: bytes [offset, length) not yet written
    std::size_t offset = 0;
    std::size_t length = 0;
    bool running = false;
  };
  void pump_wait_readable(Pump& p);
  void pump_on_readable(Pump& p, const error_code& ec);
  void pump_on_writable(Pump& p, const error_code& ec);
  void pump_finish(Pump& p, bool eof);
  void pump_account(Pump& p, std::size_t n);
  std::vector<std::byte> forwarded_first_flight() const;
  // Phase deadlines: when one passes, the session's pending socket operations are cancelled and
  // `deadline_hit_` tells the phase why. Cheaper than racing every phase against a timer with
  // operator|| (two extra coroutines each), which the profile showed on every connection.
  void arm_deadline(SteadyClock::time_point when);
  void disarm_deadline();
  void finish(const Outcome& outcome);
  void stop_from_outside(OutcomeKind why);

  SessionContext& ctx_;
  std::shared_ptr<const Policy> policy_;
  const ListenerPolicy* listener_;
  tcp::socket client_;
  tcp::socket server_;
  Peer peer_;
  ConnectionSlot slot_;
  bool admitted_;
  SteadyClock::time_point accepted_;
  SystemClock::time_point started_wall_;
  std::shared_ptr<SessionEntry> entry_;

  std::unique_ptr<std::byte[]> inbuf_;  // bytes read from the client before relaying
  std::size_t inbuf_size_ = 0;
  std::size_t inlen_ = 0;         // bytes in inbuf_
  std::size_t flight_size_ = 0;   // bytes of the first flight (PROXY header excluded)
  std::size_t proxy_size_ = 0;    // bytes of a PROXY header at the start of inbuf_
  std::optional<Request> request_;
  std::string token_error_;
  bool token_consumed_ = false;   // the routing-token line carried rdpgate's token: drop it

  const RoutePolicy* route_ = nullptr;
  std::shared_ptr<BackendState> backend_;
  std::vector<std::byte> confirm_;  // the server's Connection Confirm (and anything after it)
  std::optional<std::uint32_t> selected_;
  bool negotiation_failure_ = false;
  std::optional<std::chrono::duration<double>> handshake_;

  std::uint64_t bytes_in_ = 0;   // client -> server, relayed
  std::uint64_t bytes_out_ = 0;  // server -> client, relayed
  std::uint64_t relay_base_in_ = 0;   // bytes_in_ when the relay phase began (after the CR)
  std::uint64_t relay_base_out_ = 0;  // bytes_out_ when the relay phase began (after the CC)
  SteadyClock::time_point relay_started_{};
  SteadyClock::time_point last_activity_{};
  enum class Closer { none, client, server } first_close_ = Closer::none;
  std::optional<OutcomeKind> stopped_;  // killed / shutdown from outside
  bool relay_error_ = false;
  bool use_splice_ = true;  // falls back to copying when splice(2) is refused
  Pump c2s_;
  Pump s2c_;
  int pumps_running_ = 0;
  std::optional<asio::steady_timer> relay_timer_;
  std::optional<asio::steady_timer> deadline_timer_;
  std::uint64_t deadline_generation_ = 0;
  bool deadline_hit_ = false;  // idle/max-duration deadline and pump-done wake-up
};

}  // namespace rdpgate::gateway
