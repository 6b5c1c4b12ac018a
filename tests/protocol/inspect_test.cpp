// `rdpgate inspect`: the JSON of every field, the invalid / truncated forms, escaping, hex input.
#include "rdpgate/protocol/inspect.hpp"

#include "client_hello.hpp"
#include "rdpgate/protocol/writers.hpp"

namespace rdpgate::protocol::test {
namespace {

TEST(Inspect, ConnectionRequest) {
  const auto bytes = write_connection_request("alice", 0x0b);
  const auto report = inspect_first_bytes(bytes);
  EXPECT_EQ(report.status, InspectStatus::complete);
  EXPECT_EQ(report.json,
            R"({"status":"complete","classification":"tpkt","consumed":43,"request":{"length":43,)"
            R"("dst_ref":0,"src_ref":0,"class_options":0,"cookie":"alice","token_kind":"none",)"
            R"("routing_token":null,"negotiation":{"flags":0,"flag_names":[],)"
            R"("requested_protocols":11,"requested_protocol_names":["ssl","hybrid","hybrid_ex"]},)"
            R"("correlation":null}})");
}

TEST(Inspect, CorrelationAndFlags) {
  const auto bytes = hex(
      "03 00 00 37 32 e0 00 00 00 07 00"               // TPKT 55, LI 50, CR, SRC-REF 7
      "01 0b 08 00 10 00 00 00"                        // NEG_REQ: flags 0x0b, RDSAAD
      "06 00 24 00"                                    // correlation info header
      "5a 17 3c 9e 01 42 77 88 a1 b2 c3 d4 e5 f6 07 18"  // correlationId
      "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
  const auto report = inspect_first_bytes(bytes);
  ASSERT_EQ(report.status, InspectStatus::complete) << report.json;
  EXPECT_NE(report.json.find(R"("src_ref":7)"), std::string::npos);
  EXPECT_NE(report.json.find(R"("flag_names":["restricted_admin_mode_required",)"
                             R"("redirected_authentication_mode_required","correlation_info_present"])"),
            std::string::npos)
      << report.json;
  EXPECT_NE(report.json.find(R"("requested_protocol_names":["rdsaad"])"), std::string::npos);
  EXPECT_NE(report.json.find(R"("correlation":{"id":"5a173c9e-0142-7788-a1b2-c3d4e5f60718",)"
                             R"("reserved_nonzero":false,"id_questionable":false})"),
            std::string::npos)
      << report.json;
}

TEST(Inspect, PreconnectionAndEscaping) {
  const auto bytes = hex(
      "20 00 00 00 00 00 00 00 02 00 00 00 07 00 00 00"  // cbSize 32, V2, Id 7
      "07 00"                                          // cchPCB 7
      "22 00 5c 00 e9 00 0a 00 01 00 3d d8 00 de"       // '"' '\' 'é' LF U+0001 U+1F600
      "03 00 00 15 10 e0 00 00 00 00 00"               // CR 21, LI 16
      "74 73 76 3a 2f 2f 22 5c 0d 0a");                // routing token tsv://"\ CRLF
  const auto report = inspect_first_bytes(bytes);
  ASSERT_EQ(report.status, InspectStatus::complete) << report.json;
  EXPECT_NE(report.json.find(R"("pcb":{"size":32,"version":2,"id":7,"cch":7,)"
                             "\"string\":\"\\\"\\\\\xc3\xa9\\n\\u0001\xf0\x9f\x98\x80\"}"),
            std::string::npos)
      << report.json;
  EXPECT_NE(report.json.find(R"("token_kind":"tsv","routing_token":"tsv://\"\\")"),
            std::string::npos)
      << report.json;
  EXPECT_NE(report.json.find(R"("classification":"preconnection")"), std::string::npos);
}

TEST(Inspect, Tls) {
  const auto report = inspect_first_bytes(client_hello({.sni = "a\"b"}));
  ASSERT_EQ(report.status, InspectStatus::complete);
  EXPECT_NE(report.json.find(R"("tls":{"record_version":"0x0301","legacy_version":"0x0303",)"
                             R"("supported_versions":["0x0304","0x0303"],"sni":"a\"b",)"
                             R"("fragmented":false})"),
            std::string::npos)
      << report.json;
}

TEST(Inspect, InvalidAndTruncated) {
  auto r = inspect_first_bytes(hex("03 00 00 2b 27"));
  EXPECT_EQ(r.status, InspectStatus::invalid);
  EXPECT_EQ(r.json, R"({"status":"invalid","reason":"bad_x224_length_indicator","offset":4})");
  r = inspect_first_bytes(ascii("GET / HTTP/1.1\r\n"));
  EXPECT_EQ(r.json, R"({"status":"invalid","reason":"not_rdp_http","offset":0})");
  r = inspect_first_bytes(hex("03 00 00 2b 26 e0"));
  EXPECT_EQ(r.status, InspectStatus::truncated);
  EXPECT_EQ(r.json, R"({"status":"truncated","needed":43})");
  r = inspect_first_bytes({});
  EXPECT_EQ(r.json, R"({"status":"truncated","needed":1})");
}

TEST(Inspect, LimitsApply) {
  Limits small;
  small.max_total = 20;
  const auto r = inspect_first_bytes(write_connection_request("alice", 3), small);
  EXPECT_EQ(r.json, R"({"status":"invalid","reason":"too_large","offset":20})");
}

TEST(HexDump, Parses) {
  const auto b = parse_hex_dump("# a comment 0g\n  # indented comment\n03 00\n00 0B\t06\r\ne0");
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, hex("03 00 00 0b 06 e0"));
  EXPECT_EQ(parse_hex_dump(""), Bytes{});
  EXPECT_FALSE(parse_hex_dump("030"));
  EXPECT_FALSE(parse_hex_dump("03 0g"));
  EXPECT_FALSE(parse_hex_dump("03 # not a comment here"));
  EXPECT_FALSE(parse_hex_dump("0 3 0"));
}

}  // namespace
}  // namespace rdpgate::protocol::test
