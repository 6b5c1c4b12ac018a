// The failed-logon judgement (bruteforce.hpp) as the relay feeds it.

#include <gtest/gtest.h>

#include "rdpgate/gateway/bruteforce.hpp"
#include "rdpgate/protocol/rdp.hpp"

namespace rdpgate::gateway {
namespace {

using namespace std::chrono_literals;
namespace p = protocol::proto;

config::BruteforceConfig enabled() {
  config::BruteforceConfig cfg;
  cfg.enabled = true;
  cfg.failure_max_duration = 5s;
  cfg.failure_max_server_bytes = 3072;
  return cfg;
}

constexpr std::uint64_t confirm_bytes = 19;

// xfreerdp against freerdp-shadow-cli, wrong password: 1983 bytes from the server in all.
void failed_logon(LogonJudge& judge) {
  judge.on_forwarded(Direction::client_to_server, 300);
  judge.on_forwarded(Direction::server_to_client, 1983 - confirm_bytes);
  judge.on_forwarded(Direction::client_to_server, 1200);
}

TEST(LogonJudge, AShortNlaSessionWithLittleFromTheServerIsAFailure) {
  const auto cfg = enabled();
  LogonJudge judge(cfg, p::hybrid, confirm_bytes);
  failed_logon(judge);
  EXPECT_TRUE(judge.failed(SteadyClock::now()));
}

TEST(LogonJudge, MoreFromTheServerThanAFailureSendsIsASuccess) {
  const auto cfg = enabled();
  LogonJudge judge(cfg, p::hybrid_ex, confirm_bytes);
  failed_logon(judge);
  judge.on_forwarded(Direction::server_to_client, 3257 - 1983);
  EXPECT_FALSE(judge.failed(SteadyClock::now()));
}

TEST(LogonJudge, OnlyCredSspSessionsThatExchangedBytesAfterTheConfirm) {
  const auto cfg = enabled();
  for (auto selected : {std::optional<std::uint32_t>(p::ssl), std::optional<std::uint32_t>(p::rdp),
                        std::optional<std::uint32_t>()}) {
    LogonJudge judge(cfg, selected, confirm_bytes);
    failed_logon(judge);
    EXPECT_FALSE(judge.failed(SteadyClock::now()));
  }
  LogonJudge probe(cfg, p::hybrid, confirm_bytes);  // hung up right after the Confirm
  EXPECT_FALSE(probe.failed(SteadyClock::now()));
  LogonJudge one_way(cfg, p::hybrid, confirm_bytes);
  one_way.on_forwarded(Direction::client_to_server, 300);
  EXPECT_FALSE(one_way.failed(SteadyClock::now()));
}

TEST(LogonJudge, LongSessionsAndADisabledDefenceNeverCount) {
  auto cfg = enabled();
  LogonJudge judge(cfg, p::hybrid, confirm_bytes);
  failed_logon(judge);
  EXPECT_FALSE(judge.failed(SteadyClock::now() + 6s));
  cfg.enabled = false;
  LogonJudge off(cfg, p::hybrid, confirm_bytes);
  failed_logon(off);
  EXPECT_FALSE(off.failed(SteadyClock::now()));
}

}  // namespace
}  // namespace rdpgate::gateway
