// `rdpgate inspect` (SPEC §Commands): one JSON object describing a client's first flight, built
// with the standard library only (STYLE.md §2).
//
//   {"status":"complete","classification":"tpkt","consumed":45,
//    "pcb":{...}|absent, "request":{...}|absent, "tls":{...}|absent}
//   {"status":"invalid","reason":"<errc name>","offset":N}
//   {"status":"truncated","needed":N}        N = bytes needed in all, 0 if not yet known
#include "rdpgate/protocol/inspect.hpp"

#include <array>
#include <cstdio>

#include "rdpgate/protocol/first_flight.hpp"
#include "rdpgate/protocol/hex.hpp"
#include "rdpgate/protocol/json.hpp"
#include "rdpgate/protocol/rdp.hpp"

namespace rdpgate::protocol {

namespace {

// JSON string escaping (RFC 8259 §7). Bytes from the wire that are not printable ASCII are
// written as \u00XX (Latin-1), so the output is always valid UTF-8; `utf8` keeps bytes >= 0x80
// as they are, for strings rdpgate decoded itself (the PCB blob).
void append_string(std::string& out, std::string_view s, bool utf8 = false) {
  out += '"';
  json::append_escaped(out, s, utf8 ? json::NonAscii::keep : json::NonAscii::escape);
  out += '"';
}

void append_hex16(std::string& out, std::uint16_t v) {
  std::array<char, 8> hex{};
  std::snprintf(hex.data(), hex.size(), "0x%04x", static_cast<unsigned>(v));
  append_string(out, hex.data());
}

class Object {
 public:
  explicit Object(std::string& out) : out_(out) { out_ += '{'; }
  ~Object() { out_ += '}'; }
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;

  std::string& key(std::string_view name) {
    if (!first_) out_ += ',';
    first_ = false;
    append_string(out_, name);
    out_ += ':';
    return out_;
  }
  void number(std::string_view name, std::uint64_t v) { key(name) += std::to_string(v); }
  void boolean(std::string_view name, bool v) { key(name) += v ? "true" : "false"; }
  void string(std::string_view name, std::string_view v, bool utf8 = false) {
    append_string(key(name), v, utf8);
  }

 private:
  std::string& out_;
  bool first_ = true;
};

void append_protocol_names(std::string& out, std::uint32_t protocols) {
  out += '[';
  if (protocols == 0) {
    append_string(out, "rdp");
  } else {
    const std::string names = protocol_set_name(protocols);
    std::size_t start = 0;
    while (start <= names.size()) {
      const std::size_t bar = names.find('|', start);
      if (start != 0) out += ',';
      append_string(out, std::string_view{names}.substr(start, bar - start));
      if (bar == std::string::npos) break;
      start = bar + 1;
    }
  }
  out += ']';
}

void append_flag_names(std::string& out, std::uint8_t flags) {
  out += '[';
  bool first = true;
  auto add = [&](std::string_view name) {
    if (!first) out += ',';
    first = false;
    append_string(out, name);
  };
  if (flags & neg_req_flag::restricted_admin_mode_required) add("restricted_admin_mode_required");
  if (flags & neg_req_flag::redirected_authentication_mode_required) {
    add("redirected_authentication_mode_required");
  }
  if (flags & neg_req_flag::correlation_info_present) add("correlation_info_present");
  if (const unsigned unknown = flags & ~0x0Bu; unknown != 0) {
    std::array<char, 8> hex{};
    std::snprintf(hex.data(), hex.size(), "0x%02x", unknown);
    add(hex.data());
  }
  out += ']';
}

// The correlation id as 8-4-4-4-12 hex of the bytes in wire order.
std::string guid_hex(const std::array<std::uint8_t, 16>& id) {
  std::string s;
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    std::array<char, 4> hex{};
    std::snprintf(hex.data(), hex.size(), "%02x", static_cast<unsigned>(id[i]));
    s += hex.data();
  }
  return s;
}

void append_request(std::string& out, const ConnectionRequest& cr) {
  Object o{out};
  o.number("length", cr.length);
  o.number("dst_ref", cr.dst_ref);
  o.number("src_ref", cr.src_ref);
  o.number("class_options", cr.class_options);
  if (cr.has_cookie) {
    o.string("cookie", cr.cookie);
  } else {
    o.key("cookie") += "null";
  }
  o.string("token_kind", token_kind_name(cr.token_kind));
  if (cr.token_kind != TokenKind::none) {
    o.string("routing_token", cr.routing_token);
  } else {
    o.key("routing_token") += "null";
  }
  if (cr.negotiation) {
    Object n{o.key("negotiation")};
    n.number("flags", cr.negotiation->flags);
    append_flag_names(n.key("flag_names"), cr.negotiation->flags);
    n.number("requested_protocols", cr.negotiation->requested_protocols);
    append_protocol_names(n.key("requested_protocol_names"), cr.negotiation->requested_protocols);
  } else {
    o.key("negotiation") += "null";
  }
  if (cr.correlation) {
    Object c{o.key("correlation")};
    c.string("id", guid_hex(cr.correlation->id));
    c.boolean("reserved_nonzero", cr.correlation->reserved_nonzero);
    c.boolean("id_questionable", cr.correlation->id_questionable);
  } else {
    o.key("correlation") += "null";
  }
}

void append_tls(std::string& out, const ClientHelloInfo& tls) {
  Object o{out};
  append_hex16(o.key("record_version"), tls.record_version);
  append_hex16(o.key("legacy_version"), tls.legacy_version);
  std::string& list = o.key("supported_versions");
  list += '[';
  for (std::size_t i = 0; i < tls.supported_versions_count; ++i) {
    if (i != 0) list += ',';
    append_hex16(list, tls.supported_versions[i]);
  }
  list += ']';
  if (tls.sni.empty()) {
    o.key("sni") += "null";
  } else {
    o.string("sni", tls.sni);
  }
  o.boolean("fragmented", tls.fragmented);
}

}  // namespace

InspectReport inspect_first_bytes(std::span<const std::byte> bytes, const Limits& limits) {
  InspectReport report;
  const auto result = parse_first_flight(bytes, limits);
  if (const auto* more = std::get_if<NeedMore>(&result)) {
    report.status = InspectStatus::truncated;
    Object o{report.json};
    o.string("status", "truncated");
    o.number("needed", more->total);
  } else if (const auto* bad = std::get_if<Invalid>(&result)) {
    report.status = InspectStatus::invalid;
    Object o{report.json};
    o.string("status", "invalid");
    o.string("reason", to_string(bad->code));
    o.number("offset", bad->offset);
  } else {
    const auto& done = std::get<Complete<FirstFlight>>(result);
    const FirstFlight& flight = done.pdu;
    report.status = InspectStatus::complete;
    Object o{report.json};
    o.string("status", "complete");
    o.string("classification", first_bytes_name(flight.kind));
    o.number("consumed", done.consumed);
    if (flight.preconnection) {
      const PreconnectionPdu& pcb = *flight.preconnection;
      Object p{o.key("pcb")};
      p.number("size", pcb.size);
      p.number("version", pcb.version);
      p.number("id", pcb.id);
      p.number("cch", pcb.cch);
      p.string("string", pcb.blob, true);
    }
    if (flight.request) append_request(o.key("request"), *flight.request);
    if (flight.tls) append_tls(o.key("tls"), *flight.tls);
  }
  return report;
}

std::optional<std::vector<std::byte>> parse_hex_dump(std::string_view text) {
  std::vector<std::byte> out;
  int pending = -1;  // the high nibble waiting for its low half
  bool line_start = true;
  bool comment = false;
  for (const char c : text) {
    if (c == '\n') {
      line_start = true;
      comment = false;
      continue;
    }
    if (comment) continue;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') continue;
    if (c == '#' && line_start) {
      comment = true;
      continue;
    }
    line_start = false;
    const int v = hex_value(c);
    if (v < 0) return std::nullopt;
    if (pending < 0) {
      pending = v;
    } else {
      out.push_back(static_cast<std::byte>(pending << 4 | v));
      pending = -1;
    }
  }
  if (pending >= 0) return std::nullopt;
  return out;
}

}  // namespace rdpgate::protocol
