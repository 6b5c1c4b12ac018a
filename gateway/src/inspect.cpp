#include "rdpgate/gateway/inspect.hpp"

#include <algorithm>

#include "rdpgate/protocol/classify.hpp"
#include "rdpgate/protocol/first_flight.hpp"
#include "rdpgate/protocol/proxy_protocol.hpp"

namespace rdpgate::gateway {
namespace {

// [PROXY v2] §2.1: the longest header (v2 with TLVs rdpgate accepts) plus slack.
constexpr std::size_t proxy_header_room = 536 + 16;

config::IpAddress address_of(const protocol::ProxyHeader& h) {
  if (h.ipv6) return config::IpAddress::from_v6(h.source);
  return config::IpAddress::from_v4((std::uint32_t{h.source[0]} << 24) |
                                    (std::uint32_t{h.source[1]} << 16) |
                                    (std::uint32_t{h.source[2]} << 8) | std::uint32_t{h.source[3]});
}

// One read into the free space of `in`; false on end of stream, error or cancellation.
awaitable<bool> read_more(Socket& client, ClientPrefix& in, std::size_t& n) {
  auto [ec, got] = co_await client.async_read_some(
      asio::buffer(in.data.get() + in.length, in.capacity - in.length), use_nothrow);
  n = got;
  in.length += got;
  co_return !ec;
}

}  // namespace

void ClientPrefix::allocate(const config::ListenerConfig& listener) {
  capacity = std::max<std::size_t>(listener.inspection.max_bytes, 64) +
             (listener.proxy_protocol ? proxy_header_room : 0);
  data.reset(new std::byte[capacity]);
  length = proxy_size = flight_size = 0;
}

awaitable<std::optional<Outcome>> read_proxy_header(Socket& client, ClientPrefix& in,
                                                    const Deadline& deadline, Peer& peer) {
  const auto refuse = [](Reason why) {
    return Outcome{Phase::admission, OutcomeKind::proxy_refused, why};
  };
  for (;;) {
    auto r = protocol::parse_proxy_header(std::span<const std::byte>(in.data.get(), in.length));
    if (auto* c = std::get_if<protocol::Complete<protocol::ProxyHeader>>(&r)) {
      in.proxy_size = c->consumed;
      if (!c->pdu.local) {
        peer.address = address_of(c->pdu);
        peer.port = c->pdu.source_port;
      }
      co_return std::nullopt;
    }
    if (auto* inv = std::get_if<protocol::Invalid>(&r)) co_return refuse(inv->code);
    if (in.length == in.capacity) co_return refuse(Why::bad_proxy_header);
    std::size_t n = 0;
    if (!co_await read_more(client, in, n)) {
      co_return refuse(deadline.expired() ? Why::proxy_timeout : Why::client_closed);
    }
  }
}

awaitable<std::variant<Request, Outcome>> read_first_flight(Socket& client, ClientPrefix& in,
                                                            const Deadline& deadline,
                                                            const ListenerPolicy& listener) {
  const auto& inspection = listener.cfg.inspection;
  const auto refuse = [](OutcomeKind kind, Reason why) {
    return Outcome{Phase::inspection, kind, why};
  };
  for (;;) {
    // The byte cap counts the first flight only; a PROXY header before it is not counted.
    const auto flight = in.after_proxy();
    if (!flight.empty()) {
      // Refuse a TLS start at once when Direct Approach is off: no need to wait for the record.
      if (!inspection.direct_approach && protocol::starts_tls_record(flight)) {
        co_return refuse(OutcomeKind::not_rdp, Why::not_rdp_tls);
      }
      auto r = protocol::parse_first_flight(flight, listener.limits);
      if (auto* c = std::get_if<protocol::Complete<protocol::FirstFlight>>(&r)) {
        if (c->pdu.tls && !inspection.direct_approach) {  // a ClientHello after a PCB
          co_return refuse(OutcomeKind::not_rdp, Why::not_rdp_tls);
        }
        in.flight_size = c->consumed;
        co_return Request::from(c->pdu);
      }
      if (auto* inv = std::get_if<protocol::Invalid>(&r)) {
        if (!protocol::is_not_rdp(inv->code)) co_return refuse(OutcomeKind::malformed, inv->code);
        if (protocol::starts_with_proxy_signature(flight)) {
          co_return refuse(OutcomeKind::proxy_refused, listener.cfg.proxy_protocol
                                                           ? Why::untrusted_proxy
                                                           : Why::proxy_not_enabled);
        }
        co_return refuse(OutcomeKind::not_rdp, inv->code);
      }
    }
    if (in.length == in.capacity) co_return refuse(OutcomeKind::malformed, Why::too_large);
    std::size_t n = 0;
    if (!co_await read_more(client, in, n)) {
      if (deadline.expired()) co_return refuse(OutcomeKind::inspect_timeout, Why::inspect_timeout);
      // The client left before completing its request. An empty connection (a port scan) is
      // not RDP; a partial request is a malformed one.
      if (in.length == in.proxy_size)
        co_return refuse(OutcomeKind::not_rdp, Why::closed_before_data);
      co_return refuse(OutcomeKind::malformed, Why::truncated);
    }
    listener.metrics->inspection_bytes->Increment(static_cast<double>(n));
  }
}

}  // namespace rdpgate::gateway
