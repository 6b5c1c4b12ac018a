// The admin CLI, in-process, against a real AdminServer on a free loopback port.

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "rdpgate/admin/cli.hpp"
#include "test_server.hpp"

namespace rdpgate::admin {
namespace {

namespace json = boost::json;
using testing::RunningServer;
using testing::test_token;

struct CliRun {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs one CLI command with stdout and stderr captured.
CliRun run_cli(std::string_view command, std::vector<std::string> words) {
  std::vector<char*> argv;
  for (auto& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  std::ostringstream out;
  std::ostringstream err;
  auto* const old_out = std::cout.rdbuf(out.rdbuf());
  auto* const old_err = std::cerr.rdbuf(err.rdbuf());
  CliRun run;
  run.status = run_admin_cli(command, static_cast<int>(words.size()), argv.data());
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  run.out = out.str();
  run.err = err.str();
  return run;
}

class AdminCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("RDPGATE_ADMIN_TOKEN");
    token_file_ = ::testing::TempDir() + "rdpgate-admin-cli-token-" +
                  std::to_string(::getpid());
    std::ofstream{token_file_} << test_token << "\n";
  }
  void TearDown() override { std::remove(token_file_.c_str()); }

  // The words plus --admin and --token-file pointing at the running server.
  std::vector<std::string> with_server(std::vector<std::string> words) {
    words.insert(words.end(), {"--admin", "127.0.0.1:" + std::to_string(server_.port()),
                               "--token-file", token_file_});
    return words;
  }
  CliRun run(std::string_view command, std::vector<std::string> words) {
    return run_cli(command, with_server(std::move(words)));
  }

  RunningServer server_;
  std::string token_file_;
};

TEST_F(AdminCli, BanListPrintsTheApisJson) {
  const auto result = run("ban", {"list"});
  EXPECT_EQ(result.status, cli_ok) << result.err;
  EXPECT_EQ(json::parse(result.out), json::parse(R"([{"cidr":"192.0.2.66/32",
      "until":"2026-11-22T10:15:00Z","reason":"5 failures","origin":"auto"}])"));
  EXPECT_TRUE(result.err.empty());
}

TEST_F(AdminCli, BanAddAndRemoveRoundTrip) {
  auto added = run("ban", {"add", "203.0.113.7/32", "--duration", "30m", "--reason", "spray"});
  EXPECT_EQ(added.status, cli_ok) << added.err;
  EXPECT_EQ(json::parse(added.out), json::parse(R"({"cidr":"203.0.113.7/32",
      "until":"2026-11-22T10:30:00Z","reason":"spray","origin":"manual"})"));
  ASSERT_EQ(server_.service().list_bans().size(), 2U);

  auto defaulted = run("ban", {"add", "2001:db8::/48"});
  EXPECT_EQ(defaulted.status, cli_ok) << defaulted.err;
  EXPECT_EQ(json::parse(defaulted.out).at("until"), "2026-11-22T11:00:00Z");

  EXPECT_EQ(run("ban", {"remove", "203.0.113.7/32"}).status, cli_ok);
  EXPECT_EQ(run("ban", {"remove", "2001:db8::/48"}).status, cli_ok);
  ASSERT_EQ(server_.service().list_bans().size(), 1U);
  const auto missing = run("ban", {"remove", "203.0.113.7/32"});
  EXPECT_EQ(missing.status, cli_api_error);
  EXPECT_NE(missing.err.find("no such ban (HTTP 404)"), std::string::npos) << missing.err;
  EXPECT_TRUE(missing.out.empty());
}

TEST_F(AdminCli, GrantAddListRevokeRoundTrip) {
  auto added = run("grant", {"add", "198.51.100.7/32", "--route", "finance", "--duration", "2h",
                             "--reason", "ticket 1234"});
  EXPECT_EQ(added.status, cli_ok) << added.err;
  EXPECT_EQ(json::parse(added.out), json::parse(R"({"id":"g-2","cidr":"198.51.100.7/32",
      "route":"finance","until":"2026-11-22T12:00:00Z","reason":"ticket 1234"})"));
  auto listed = run("grant", {"list"});
  EXPECT_EQ(listed.status, cli_ok);
  EXPECT_EQ(json::parse(listed.out).as_array().size(), 2U);
  EXPECT_EQ(run("grant", {"revoke", "g-2"}).status, cli_ok);
  EXPECT_EQ(server_.service().list_grants().size(), 1U);

  const auto refused = run("grant", {"add", "198.51.100.7", "--route", "nope", "--duration", "1h"});
  EXPECT_EQ(refused.status, cli_api_error);
  EXPECT_NE(refused.err.find("unknown route \"nope\" (HTTP 400)"), std::string::npos)
      << refused.err;
}

TEST_F(AdminCli, SessionListAndKill) {
  auto listed = run("session", {"list", "--table"});
  EXPECT_EQ(listed.status, cli_ok);
  EXPECT_EQ(listed.out,
            "ID   SOURCE              LISTENER  ROUTE    BACKEND        USER   STARTED        "
            "       BYTES_IN  BYTES_OUT\n"
            "s-1  198.51.100.4:50123  public    default  10.1.0.5:3389  alice  "
            "2026-11-22T09:55:00Z  1234      56789\n");
  EXPECT_EQ(run("session", {"kill", "s-1"}).status, cli_ok);
  EXPECT_TRUE(server_.service().list_sessions().empty());
  EXPECT_EQ(run("session", {"kill", "s-1"}).status, cli_api_error);
  const auto empty = run("session", {"list", "--table"});
  EXPECT_EQ(empty.out, "(none)\n");
}

TEST_F(AdminCli, Reload) {
  auto ok = run("reload", {});
  EXPECT_EQ(ok.status, cli_ok) << ok.err;
  EXPECT_EQ(json::parse(ok.out), json::parse(R"({"status":"ok"})"));
  server_.service().fail_reload_with("bad config");
  auto failed = run("reload", {});
  EXPECT_EQ(failed.status, cli_api_error);
  EXPECT_NE(failed.err.find("bad config (HTTP 500)"), std::string::npos) << failed.err;
  EXPECT_EQ(server_.service().reloads(), 2);
}

TEST_F(AdminCli, TokenFromTheEnvironment) {
  const std::string admin = "127.0.0.1:" + std::to_string(server_.port());
  ::setenv("RDPGATE_ADMIN_TOKEN", std::string{test_token}.c_str(), 1);
  const auto ok = run_cli("ban", {"list", "--admin", admin});
  EXPECT_EQ(ok.status, cli_ok) << ok.err;
  ::setenv("RDPGATE_ADMIN_TOKEN", "wrong", 1);
  const auto wrong = run_cli("ban", {"list", "--admin=" + admin});
  EXPECT_EQ(wrong.status, cli_api_error);
  EXPECT_NE(wrong.err.find("unauthorized (HTTP 401)"), std::string::npos) << wrong.err;
  EXPECT_EQ(wrong.err.find("wrong"), std::string::npos);  // the token is never echoed
  ::unsetenv("RDPGATE_ADMIN_TOKEN");
  const auto none = run_cli("ban", {"list", "--admin", admin});
  EXPECT_EQ(none.status, cli_usage);
  EXPECT_NE(none.err.find("no admin token"), std::string::npos);
}

TEST_F(AdminCli, AWrongTokenChangesNothing) {
  const std::string other = ::testing::TempDir() + "rdpgate-admin-cli-wrong-token";
  std::ofstream{other} << "not-the-token\n";
  const auto result = run_cli("ban", {"add", "203.0.113.7", "--admin",
                                      "127.0.0.1:" + std::to_string(server_.port()),
                                      "--token-file", other});
  std::remove(other.c_str());
  EXPECT_EQ(result.status, cli_api_error);
  EXPECT_EQ(server_.service().mutations(), 0);
}

TEST_F(AdminCli, UsageErrorsExit64AndSendNothing) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases{
      {"ban", {}},
      {"ban", {"frobnicate"}},
      {"ban", {"add"}},
      {"ban", {"add", "not-a-cidr"}},
      {"ban", {"add", "203.0.113.7", "extra"}},
      {"ban", {"add", "203.0.113.7", "--duration", "forever"}},
      {"ban", {"add", "203.0.113.7", "--route", "finance"}},
      {"ban", {"remove"}},
      {"ban", {"list", "--bogus", "x"}},
      {"grant", {"add", "203.0.113.7", "--duration", "2h"}},
      {"grant", {"add", "203.0.113.7", "--route", "finance"}},
      {"grant", {"revoke"}},
      {"session", {"kill"}},
      {"session", {"list", "--reason", "x"}},
      {"reload", {"now"}},
      {"tokens", {"list"}},
  };
  for (const auto& [command, words] : cases) {
    const auto result = run(command, words);
    EXPECT_EQ(result.status, cli_usage) << command << " " << (words.empty() ? "" : words[0]);
    EXPECT_NE(result.err.find("usage:"), std::string::npos);
  }
  EXPECT_EQ(run_cli("ban", {"list", "--admin"}).status, cli_usage);
  EXPECT_EQ(run_cli("ban", {"list", "--admin", "nohostport", "--token-file", token_file_}).status,
            cli_usage);
  EXPECT_EQ(server_.service().mutations(), 0);
}

TEST_F(AdminCli, HelpExits0) {
  const auto result = run_cli("ban", {"--help"});
  EXPECT_EQ(result.status, cli_ok);
  EXPECT_NE(result.out.find("rdpgate ban add CIDR"), std::string::npos);
}

TEST_F(AdminCli, AnUnreachableServerIsAnApiError) {
  // A port that was free a moment ago: nothing listens there.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor probe{
      io, boost::asio::ip::tcp::endpoint{boost::asio::ip::make_address("127.0.0.1"), 0}};
  const auto port = probe.local_endpoint().port();
  probe.close();
  const auto result = run_cli("ban", {"list", "--admin", "127.0.0.1:" + std::to_string(port),
                                      "--token-file", token_file_});
  EXPECT_EQ(result.status, cli_api_error);
  EXPECT_NE(result.err.find("unreachable"), std::string::npos) << result.err;
}

TEST_F(AdminCli, AnUnreadableTokenFileIsAnError) {
  const auto result = run_cli("ban", {"list", "--admin", "127.0.0.1:" +
                                      std::to_string(server_.port()), "--token-file",
                                      ::testing::TempDir() + "does-not-exist/token"});
  EXPECT_EQ(result.status, cli_api_error);
  EXPECT_NE(result.err.find("cannot read token file"), std::string::npos);
}

}  // namespace
}  // namespace rdpgate::admin
