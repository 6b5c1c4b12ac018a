// The gateway's logon judge (bruteforce.hpp): which sessions it observes, and how the relay's
// view (bytes per direction, ends) reaches protocol::NlaJudge.

#include <gtest/gtest.h>

#include <vector>

#include "rdpgate/gateway/bruteforce.hpp"
#include "rdpgate/protocol/rdp.hpp"

namespace rdpgate::gateway {
namespace {

namespace p = protocol::proto;
using Bytes = std::vector<std::byte>;

// One TLS record header and `length` body bytes.
Bytes record(std::uint8_t type, std::size_t length) {
  Bytes b{std::byte{type}, std::byte{3}, std::byte{3}, std::byte(length >> 8),
          std::byte(length & 0xFF)};
  b.resize(5 + length, std::byte{0xAB});
  return b;
}

void c2s(LogonJudge& j, const Bytes& b) { j.on_bytes(Direction::client_to_server, b); }
void s2c(LogonJudge& j, const Bytes& b) { j.on_bytes(Direction::server_to_client, b); }

// TLS 1.2: hello, server flight, client key exchange + CCS + Finished, server CCS + Finished.
void handshake(LogonJudge& j) {
  c2s(j, record(22, 200));
  s2c(j, record(22, 1500));
  Bytes client = record(22, 70);
  for (auto& r : {record(20, 1), record(22, 40)}) client.insert(client.end(), r.begin(), r.end());
  c2s(j, client);
  Bytes server = record(20, 1);
  const auto fin = record(22, 40);
  server.insert(server.end(), fin.begin(), fin.end());
  s2c(j, server);
}

TEST(LogonJudge, ObservesOnlyTlsSessions) {
  EXPECT_TRUE(LogonJudge(p::hybrid, false).wants_bytes());
  EXPECT_TRUE(LogonJudge(p::ssl, false).wants_bytes());
  EXPECT_TRUE(LogonJudge(std::nullopt, true).wants_bytes());  // Direct Approach
  LogonJudge rdp(p::rdp, false);
  EXPECT_FALSE(rdp.wants_bytes());
  EXPECT_FALSE(rdp.verdict().has_value());
  EXPECT_EQ(rdp.evidence(), "");
  EXPECT_FALSE(LogonJudge(std::nullopt, false).wants_bytes());
}

TEST(LogonJudge, TwoAnsweredRoundsThenTheEndIsAFailedLogon) {
  LogonJudge j(p::hybrid, false);
  handshake(j);
  c2s(j, record(23, 60));   // NEGOTIATE
  s2c(j, record(23, 250));  // CHALLENGE
  c2s(j, record(23, 600));  // AUTHENTICATE
  s2c(j, record(23, 40));   // error
  j.on_end(Direction::server_to_client);
  j.on_end(Direction::client_to_server);
  EXPECT_TRUE(j.failed());
  EXPECT_EQ(j.evidence(),
            "tls=1.2 rounds=2 answered=2 alert=none closed_by=server verdict=failed");
}

TEST(LogonJudge, ARefusalUnderSslIsNotAnNlaFailure) {
  LogonJudge j(p::ssl, false);
  handshake(j);
  c2s(j, record(23, 60));
  s2c(j, record(23, 250));
  c2s(j, record(23, 600));
  EXPECT_EQ(j.verdict(), protocol::NlaVerdict::failed);
  EXPECT_FALSE(j.failed());  // credentials travel inside RDP there, not through CredSSP
}

TEST(LogonJudge, CredentialsSentStopTheObservation) {
  LogonJudge j(p::hybrid_ex, false);
  handshake(j);
  c2s(j, record(23, 60));
  s2c(j, record(23, 250));
  c2s(j, record(23, 600));
  EXPECT_TRUE(j.wants_bytes());
  s2c(j, record(23, 80));   // pubKeyAuth
  c2s(j, record(23, 300));  // TSCredentials
  EXPECT_FALSE(j.wants_bytes());  // the relay splices from here on
  EXPECT_FALSE(j.failed());
  EXPECT_EQ(j.verdict(), protocol::NlaVerdict::accepted);
}

TEST(LogonJudge, JunkAfterTheConfirmIsNeverAFailedLogon) {
  LogonJudge j(p::hybrid, false);
  c2s(j, Bytes(16, std::byte{0x41}));
  s2c(j, record(21, 2));
  j.on_end(Direction::server_to_client);
  EXPECT_FALSE(j.failed());
  EXPECT_EQ(j.verdict(), protocol::NlaVerdict::tls_incomplete);
}

TEST(LogonJudge, DirectApproachStartsWithTheForwardedClientHello) {
  LogonJudge j(std::nullopt, true);
  j.forwarded_before(record(22, 200));
  s2c(j, record(22, 1500));
  EXPECT_NE(j.evidence().find("tls=started"), std::string::npos) << j.evidence();
}

}  // namespace
}  // namespace rdpgate::gateway
