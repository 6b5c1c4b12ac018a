// render_event (JSON and text rendering, escaping) and RefusalLog (rate-limited refusal lines and
// their summary), with an injected clock.

#include <gtest/gtest.h>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "rdpgate/gateway/log.hpp"

namespace rdpgate::gateway {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

json::object parse_object(const std::string& line) {
  boost::system::error_code ec;
  auto v = json::parse(line, ec);
  EXPECT_FALSE(ec) << "not JSON: " << line;
  if (ec || !v.is_object()) return {};
  return v.as_object();
}

TEST(RenderEvent, JsonLineCarriesTimeEventAndTypedFields) {
  const auto line = render_event("connection",
                                 {{"conn", "00ff"},
                                  {"bytes_in", std::uint64_t{12345678901}},
                                  {"delta", std::int64_t{-5}},
                                  {"ok", true},
                                  {"ratio", 0.5}},
                                 config::LogFormat::json);
  auto o = parse_object(line);
  EXPECT_EQ(o["event"].as_string(), "connection");
  EXPECT_TRUE(o["time"].is_string());
  EXPECT_EQ(o["conn"].as_string(), "00ff");
  EXPECT_EQ(o["bytes_in"].to_number<std::uint64_t>(), 12345678901u);
  EXPECT_EQ(o["delta"].to_number<std::int64_t>(), -5);
  EXPECT_EQ(o["ok"].as_bool(), true);
  EXPECT_DOUBLE_EQ(o["ratio"].to_number<double>(), 0.5);
}

TEST(RenderEvent, JsonEscapesHostileStrings) {
  // A cookie is attacker-controlled: quotes, backslashes, control bytes and DEL must not break
  // the line or forge fields.
  const std::string hostile = std::string("a\"b\\c\nd\re\tf") + '\x01' + '\x1f' + '\x7f' +
                              "\",\"outcome\":\"completed";
  const auto line = render_event("connection", {{"user", hostile}, {"outcome", "banned"}},
                                 config::LogFormat::json);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_NE(line.find("\\u0001"), std::string::npos);
  EXPECT_NE(line.find("\\u007f"), std::string::npos);
  auto o = parse_object(line);
  EXPECT_EQ(std::string(o["user"].as_string()), hostile);  // round-trips exactly
  EXPECT_EQ(o["outcome"].as_string(), "banned");
  EXPECT_EQ(o.size(), 4u);  // time, event, user, outcome: nothing forged
}

TEST(RenderEvent, JsonEscapeKeepsUtf8AsIs) {
  EXPECT_EQ(json_escape("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(json_escape(""), "");
  EXPECT_EQ(json_escape("\""), "\\\"");
  EXPECT_EQ(json_escape(std::string_view("\0", 1)), "\\u0000");
}

TEST(RenderEvent, OmittedFieldsAreLeftOut) {
  Field hidden("secret", "x");
  hidden.omit = true;
  const auto line = render_event("e", {{"a", "1"}, hidden}, config::LogFormat::json);
  EXPECT_EQ(line.find("secret"), std::string::npos);
}

TEST(RenderEvent, TextQuotesValuesOnlyWhenNeeded) {
  const auto line = render_event(
      "connection", {{"src", "192.0.2.1"}, {"user", "two words"}, {"empty", ""}, {"n", 7},
                     {"q", "a\"b"}, {"ctl", "x\ny"}},
      config::LogFormat::text);
  EXPECT_EQ(line, "connection src=192.0.2.1 user=\"two words\" empty=\"\" n=7 q=\"a\\\"b\" "
                  "ctl=\"x\\ny\"");
}

TEST(Rfc3339, MillisecondsInUtc) {
  const auto t = std::chrono::system_clock::time_point{} + std::chrono::seconds(1700000000) + 42ms;
  EXPECT_EQ(rfc3339(t), "2023-11-14T22:13:20.042Z");
}

// Captures what the process-wide logger writes.
class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    lines_.emplace_back(msg.payload.data(), msg.payload.size());
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

class RefusalLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    previous = spdlog::default_logger();
    sink = std::make_shared<CaptureSink>();
    auto logger = std::make_shared<spdlog::logger>("rdpgate", sink);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  void TearDown() override { spdlog::set_default_logger(previous); }
  std::shared_ptr<spdlog::logger> previous;
  std::shared_ptr<CaptureSink> sink;
};

using SteadyTime = std::chrono::steady_clock::time_point;
const SteadyTime t0 = SteadyTime{} + 1000h;

TEST_F(RefusalLogTest, AdmitsTheRateThenCountsTheRest) {
  RefusalLog log(5, 10s);
  int admitted = 0;
  for (int i = 0; i < 25; ++i) admitted += log.admit("rate_limited", t0) ? 1 : 0;
  EXPECT_EQ(admitted, 5);
  // One second later the budget is back.
  admitted = 0;
  for (int i = 0; i < 25; ++i) admitted += log.admit("denied_source", t0 + 1s) ? 1 : 0;
  EXPECT_EQ(admitted, 5);
  // No summary before the window has passed.
  EXPECT_EQ(log.flush(t0 + 5s), 0u);
  EXPECT_TRUE(sink->lines().empty());
  EXPECT_EQ(log.flush(t0 + 10s), 40u);
  auto lines = sink->lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("\"event\":\"refusals_suppressed\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"suppressed\":40"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("rate_limited 20"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("denied_source 20"), std::string::npos) << lines[0];
  // The counts were reset: the next window starts empty.
  EXPECT_EQ(log.flush(t0 + 30s), 0u);
  EXPECT_EQ(sink->lines().size(), 1u);
}

TEST_F(RefusalLogTest, TopReasonsAreOrderedByCount) {
  RefusalLog log(1, 10s);
  EXPECT_TRUE(log.admit("x", t0));
  EXPECT_TRUE(log.admit("not_rdp", t0));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(log.admit("not_rdp", t0));
  EXPECT_TRUE(log.admit("banned", t0));
  for (int i = 0; i < 7; ++i) EXPECT_FALSE(log.admit("banned", t0));
  EXPECT_EQ(log.flush(t0, true), 10u);
  auto lines = sink->lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("banned 7, not_rdp 3"), std::string::npos) << lines[0];
}

TEST_F(RefusalLogTest, EachKindHasItsOwnBudget) {
  RefusalLog log(5, 10s);
  int flood = 0;
  for (int i = 0; i < 1000; ++i) flood += log.admit("not_rdp", t0) ? 1 : 0;
  EXPECT_EQ(flood, 5);
  // The flood of one kind leaves another kind's lines alone.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(log.admit("username_denied", t0)) << i;
  EXPECT_FALSE(log.admit("username_denied", t0));
  EXPECT_EQ(log.flush(t0 + 10s), 996u);
  auto lines = sink->lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("not_rdp 995, username_denied 1"), std::string::npos) << lines[0];
}

TEST_F(RefusalLogTest, NothingSuppressedWritesNoSummary) {
  RefusalLog log(20, 10s);
  EXPECT_TRUE(log.admit("banned", t0));
  EXPECT_EQ(log.flush(t0 + 11s), 0u);
  EXPECT_EQ(log.flush(t0 + 30s, true), 0u);
  EXPECT_TRUE(sink->lines().empty());
}

}  // namespace
}  // namespace rdpgate::gateway
