// The logon judgement from TLS record headers (nla_judge.hpp): synthetic sequences for every
// rule, chunking invariance, and the sequences recorded from real xfreerdp against
// freerdp-shadow-cli (tests/vectors/nla/, see docs/e2e.md).

#include "rdpgate/protocol/nla_judge.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace rdpgate::protocol {
namespace {

struct Rec {
  char side;  // 'c' or 's'
  std::uint8_t type;
  std::uint16_t length;
};
using Seq = std::vector<Rec>;

std::vector<std::byte> bytes_of(const Rec& r) {
  std::vector<std::byte> b{std::byte{r.type}, std::byte{3}, std::byte{3},
                           std::byte(r.length >> 8), std::byte(r.length & 0xFF)};
  b.resize(5 + r.length, std::byte{0x5A});
  return b;
}

// Feeds `seq` one record at a time (each side's bytes in order), then the closes.
NlaJudge run(const Seq& seq, const std::string& closes = "") {
  NlaJudge j;
  for (const auto& r : seq) {
    j.feed(r.side == 'c' ? TlsSide::client : TlsSide::server, bytes_of(r));
  }
  for (char c : closes) j.closed(c == 'c' ? TlsSide::client : TlsSide::server);
  return j;
}

const Seq tls12 = {{'c', 22, 200}, {'s', 22, 1500}, {'c', 22, 70}, {'c', 20, 1},
                   {'c', 22, 40},  {'s', 20, 1},    {'s', 22, 40}};
// TLS 1.3: ServerHello, compatibility CCS, then the host's encrypted handshake; the client's
// CCS and its Finished (application data).
const Seq tls13 = {{'c', 22, 300}, {'s', 22, 122}, {'s', 20, 1},  {'s', 23, 30},
                   {'s', 23, 900}, {'s', 23, 280}, {'s', 23, 60}, {'c', 20, 1},
                   {'c', 23, 60}};

Seq plus(Seq a, const Seq& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const Seq refused = {{'c', 23, 60}, {'s', 23, 250}, {'c', 23, 600}, {'s', 23, 40}};
const Seq accepted = {{'c', 23, 60}, {'s', 23, 250}, {'c', 23, 600}, {'s', 23, 80},
                      {'c', 23, 300}};

TEST(NlaJudge, RefusedPasswordIsAFailedLogonUnderBothTlsVersions) {
  for (const auto* hs : {&tls12, &tls13}) {
    const auto j = run(plus(*hs, refused), "sc");
    EXPECT_EQ(j.verdict(), NlaVerdict::failed) << j.evidence();
    EXPECT_EQ(j.rounds(), 2u);
    EXPECT_TRUE(j.tls_complete());
  }
  EXPECT_EQ(run(plus(tls12, refused), "sc").evidence(),
            "tls=1.2 rounds=2 answered=2 alert=none closed_by=server verdict=failed");
  EXPECT_EQ(run(plus(tls13, refused), "cs").evidence(),
            "tls=1.3 rounds=2 answered=2 alert=none closed_by=client verdict=failed");
}

TEST(NlaJudge, CredentialsAfterTheHostsProofMeanAccepted) {
  for (const auto* hs : {&tls12, &tls13}) {
    const auto j = run(plus(*hs, accepted));
    EXPECT_EQ(j.verdict(), NlaVerdict::accepted);
    EXPECT_TRUE(j.decided());  // no need to watch the rest of the session
  }
}

TEST(NlaJudge, NewSessionTicketsDoNotChangeTheCount) {
  // The host's tickets may arrive before or after the client's first CredSSP message.
  const Seq before = {{'s', 23, 200}, {'s', 23, 200}};
  EXPECT_EQ(run(plus(plus(tls13, before), refused), "sc").verdict(), NlaVerdict::failed);
  Seq after = tls13;
  after.push_back({'c', 23, 60});
  after.push_back({'s', 23, 200});
  after.push_back({'s', 23, 250});
  after.push_back({'c', 23, 600});
  after.push_back({'s', 23, 40});
  EXPECT_EQ(run(after, "sc").verdict(), NlaVerdict::failed);
}

TEST(NlaJudge, NothingOrJunkBeforeAHandshakeIsNeverAFailedLogon) {
  EXPECT_EQ(run({}, "c").verdict(), NlaVerdict::tls_incomplete);  // a port check
  NlaJudge junk;
  junk.feed(TlsSide::client, std::vector<std::byte>(16, std::byte{0x41}));
  junk.closed(TlsSide::client);
  EXPECT_EQ(junk.verdict(), NlaVerdict::tls_incomplete);
  EXPECT_NE(junk.evidence().find("tls=invalid"), std::string::npos);
  // A bogus record after a ClientHello, answered with an alert.
  const auto alerted = run({{'c', 22, 200}, {'s', 22, 1500}, {'c', 23, 16}, {'s', 21, 2}}, "sc");
  EXPECT_EQ(alerted.verdict(), NlaVerdict::tls_incomplete);
  EXPECT_NE(alerted.evidence().find("alert=server"), std::string::npos) << alerted.evidence();
  // Application data right after a TLS 1.2 ClientHello, with no handshake: still incomplete.
  EXPECT_EQ(run({{'c', 22, 200}, {'c', 23, 60}, {'s', 23, 60}, {'c', 23, 60}}).verdict(),
            NlaVerdict::tls_incomplete);
}

TEST(NlaJudge, FewerThanTwoAnsweredRoundsOfferedNoCredentials) {
  EXPECT_EQ(run(tls12, "c").verdict(), NlaVerdict::no_credentials);
  EXPECT_EQ(run(plus(tls12, {{'c', 23, 60}, {'s', 23, 250}}), "c").verdict(),
            NlaVerdict::no_credentials);
  // Two client records with no host answer between them are one round.
  EXPECT_EQ(run(plus(tls12, {{'c', 23, 60}, {'c', 23, 600}, {'s', 21, 2}}), "sc").verdict(),
            NlaVerdict::no_credentials);
}

TEST(NlaJudge, RecordsTheHostNeverReadDoNotCount) {
  // After the host's refusal and close, a third client record cannot turn it into "accepted".
  NlaJudge j = run(plus(tls12, refused));
  j.closed(TlsSide::server);
  j.feed(TlsSide::client, bytes_of({'c', 23, 300}));
  EXPECT_EQ(j.verdict(), NlaVerdict::failed) << j.evidence();
}

TEST(NlaJudge, ChunkingDoesNotMatter) {
  const Seq seq = plus(tls13, refused);
  const auto whole = run(seq, "sc").evidence();
  for (std::size_t chunk : {1u, 2u, 3u, 5u, 7u, 64u}) {
    NlaJudge j;
    // Each record's bytes in `chunk`-sized pieces, sides interleaved per record as before.
    for (const auto& r : seq) {
      const auto b = bytes_of(r);
      for (std::size_t i = 0; i < b.size(); i += chunk) {
        const auto n = std::min(chunk, b.size() - i);
        j.feed(r.side == 'c' ? TlsSide::client : TlsSide::server,
               std::span<const std::byte>(b.data() + i, n));
      }
    }
    j.closed(TlsSide::server);
    j.closed(TlsSide::client);
    EXPECT_EQ(j.evidence(), whole) << chunk;
  }
}

TEST(NlaJudge, GivesUpAfterTheRecordLimitWithoutAVerdict) {
  Seq seq = tls12;
  for (std::uint32_t i = 0; i < NlaJudge::max_records; ++i) seq.push_back({'s', 23, 10});
  const auto j = run(seq);
  EXPECT_TRUE(j.decided());
  EXPECT_EQ(j.verdict(), NlaVerdict::undecided);
}

// ---- real sequences ----------------------------------------------------------------------

std::filesystem::path nla_vectors() {
  return std::filesystem::path(RDPGATE_TESTS_DIR) / "vectors" / "nla";
}

// "c 22 0303 517" per line; '#' starts a comment. "# closed first: s (...), after the first N
// records below" places the first close at its place in the sequence (`close_at`, `closer`).
struct Recorded {
  Seq seq;
  std::size_t close_at = 0;
  char closer = 0;
};

Recorded load(const std::filesystem::path& file) {
  Recorded out;
  Seq& seq = out.seq;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("# closed first: ")) {
      out.closer = line[16];
      const auto at = line.find("after the first ");
      if (at != std::string::npos) out.close_at = std::stoul(line.substr(at + 16));
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    char side = 0;
    unsigned type = 0;
    std::string version;
    unsigned length = 0;
    fields >> side >> type >> version >> length;
    EXPECT_TRUE(fields && (side == 'c' || side == 's')) << file << ": " << line;
    seq.push_back({side, static_cast<std::uint8_t>(type), static_cast<std::uint16_t>(length)});
  }
  return out;
}

// Replays a recording: records in order, the first close where it happened, the other at the end.
NlaJudge replay(const Recorded& r) {
  NlaJudge j;
  const auto close = [&](char c) { j.closed(c == 'c' ? TlsSide::client : TlsSide::server); };
  for (std::size_t i = 0; i < r.seq.size(); ++i) {
    if (r.closer != 0 && i == r.close_at) close(r.closer);
    j.feed(r.seq[i].side == 'c' ? TlsSide::client : TlsSide::server, bytes_of(r.seq[i]));
  }
  if (r.closer != 0) close(r.closer);
  close('c');
  close('s');
  return j;
}

TEST(NlaJudge, RecordedLogonsOfRealClientsAreJudgedRight) {
  if (!std::filesystem::is_directory(nla_vectors())) GTEST_SKIP() << nla_vectors();
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(nla_vectors())) {
    const auto name = entry.path().filename().string();
    if (entry.path().extension() != ".txt") continue;
    ++files;
    const auto j = replay(load(entry.path()));
    SCOPED_TRACE(name + ": " + j.evidence());
    if (name.starts_with("wrong-password") || name.starts_with("unknown-user")) {
      EXPECT_EQ(j.verdict(), NlaVerdict::failed);
    } else if (name.starts_with("right-")) {
      EXPECT_EQ(j.verdict(), NlaVerdict::accepted);
    } else if (name.starts_with("junk")) {
      EXPECT_EQ(j.verdict(), NlaVerdict::tls_incomplete);
    } else if (name.starts_with("tls-only") || name.starts_with("ntlm-probe")) {
      EXPECT_EQ(j.verdict(), NlaVerdict::no_credentials);
    } else {
      ADD_FAILURE() << "no expectation for " << name;
    }
  }
  EXPECT_GE(files, 15);
}

TEST(NlaJudge, AnEncryptedAlertIsNoCredSspRound) {
  // TLS 1.3: a refused logon's client sends a 19-byte encrypted close_notify, as application
  // data, before or after the host's close.
  Seq seq = plus(tls13, refused);
  seq.push_back({'c', 23, 19});
  EXPECT_EQ(run(seq, "sc").verdict(), NlaVerdict::failed);
}

}  // namespace
}  // namespace rdpgate::protocol
