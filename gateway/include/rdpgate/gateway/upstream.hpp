#pragma once
// Upstream (SPEC §1.5): connect to one of the route's backends and exchange the first flight
// for the server's X.224 Connection Confirm. The backend health checks reuse both steps.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "rdpgate/config/config.hpp"
#include "rdpgate/gateway/asio.hpp"
#include "rdpgate/gateway/backends.hpp"
#include "rdpgate/gateway/deadline.hpp"
#include "rdpgate/gateway/names.hpp"
#include "rdpgate/gateway/outcome.hpp"
#include "rdpgate/gateway/policy.hpp"

namespace rdpgate::gateway {

// One TCP connect to `endpoint`: an IP literal directly, a DNS name to the addresses `names`
// holds for it (in order, until one accepts), waiting for a first answer no longer than the
// deadline. The caller's deadline, armed for the attempt, bounds the whole of it.
awaitable<error_code> connect_endpoint(Socket& socket, const config::Endpoint& endpoint,
                                       const Deadline& deadline, NameCache& names);

// Connects `server` to the first of the route's candidates (balance policy, then failover)
// that accepts within `connect_timeout`, each attempt under its own deadline. Counts connect
// times and failures, and logs each failed attempt.
awaitable<std::variant<std::shared_ptr<BackendState>, Outcome>> connect_upstream(
    Socket& server, const RoutePolicy& route, std::string_view user, Deadline& deadline,
    NameCache& names, std::string_view conn);

// The server's answer to a Connection Request, as read.
struct Confirm {
  bool written = false;                   // the request reached the server's socket
  std::optional<Why> failed;              // confirm_timeout, backend_closed
  std::vector<std::byte> bytes;           // relayed to the client as they are
  bool parsed = false;                    // a well-formed Connection Confirm
  std::optional<std::uint32_t> selected;  // RDP_NEG_RSP's protocol; rdp without negotiation
  bool negotiation_failure = false;       // RDP_NEG_FAILURE
};

// Writes `request` to the server, then (unless `expect_confirm` is false: Direct Approach, TLS
// from the first byte) reads its Connection Confirm ([MS-RDPBCGR] 2.2.1.2, 11 or 19 bytes).
// `requested`: the client's requested protocols, to check the selection against. A reply that
// is not a Confirm (xrdp's answer to a Preconnection PDU) is returned unparsed: the client will
// make sense of it. Fails with confirm_timeout or backend_closed.
awaitable<Confirm> exchange_confirm(Socket& server, std::span<const std::byte> request,
                                    bool expect_confirm, std::optional<std::uint32_t> requested,
                                    const Deadline& deadline);

}  // namespace rdpgate::gateway
