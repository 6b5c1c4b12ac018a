// The `portal:` section of the configuration (SPEC §8).
#include <gtest/gtest.h>

#include "rdpgate/config/load.hpp"

namespace rdpgate::config {
namespace {

const std::string base =
    "listeners: [{name: main, address: \"127.0.0.1:0\", route: r}]\n"
    "routes: [{name: r, backends: [\"127.0.0.1:3389\"]}]\n"
    "admin: {address: \"\"}\n";

std::vector<std::string> errors(const std::string& yaml) {
  auto loaded = load_config_string(yaml, "c.yaml");
  std::vector<std::string> out;
  if (auto* e = std::get_if<std::vector<ConfigError>>(&loaded)) {
    for (const auto& error : *e) out.push_back(error.to_string());
  }
  return out;
}

TEST(PortalConfig, AbsentIsOff) {
  auto loaded = load_config_string(base, "c.yaml");
  ASSERT_TRUE(std::holds_alternative<Config>(loaded));
  EXPECT_FALSE(std::get<Config>(loaded).portal);
}

TEST(PortalConfig, DefaultsAndValues) {
  auto loaded = load_config_string(base +
                                       "portal:\n"
                                       "  tls: {cert_file: /c.crt, key_file: /c.key}\n"
                                       "  public_address: \"rdp.example.com:13389\"\n",
                                   "c.yaml");
  ASSERT_TRUE(std::holds_alternative<Config>(loaded));
  const auto& p = std::get<Config>(loaded).portal.value();
  EXPECT_EQ(p.address.text, "0.0.0.0:8443");
  EXPECT_EQ(p.cert_file, "/c.crt");
  EXPECT_EQ(p.key_file, "/c.key");
  EXPECT_EQ(p.public_address.host, "rdp.example.com");
  EXPECT_EQ(p.public_address.port, 13389);
  EXPECT_EQ(p.users_file, "/etc/rdpgate/users");
  EXPECT_EQ(p.grant_duration, std::chrono::hours{8});
  EXPECT_EQ(p.max_grant_duration, std::chrono::hours{12});
  EXPECT_TRUE(p.trusted_proxies.empty());

  auto all = load_config_string(base +
                                    "portal:\n"
                                    "  address: \"[::1]:0\"\n"
                                    "  tls: {cert_file: c, key_file: k}\n"
                                    "  public_address: \"192.0.2.1:3389\"\n"
                                    "  users_file: u\n"
                                    "  grant_duration: 1h\n"
                                    "  max_grant_duration: 2h\n"
                                    "  trusted_proxies: [\"10.0.0.0/8\"]\n",
                                "c.yaml");
  ASSERT_TRUE(std::holds_alternative<Config>(all));
  const auto& q = std::get<Config>(all).portal.value();
  EXPECT_EQ(q.address.host, "::1");
  EXPECT_EQ(q.users_file, "u");
  EXPECT_EQ(q.grant_duration, std::chrono::hours{1});
  EXPECT_EQ(q.max_grant_duration, std::chrono::hours{2});
  ASSERT_EQ(q.trusted_proxies.size(), 1u);
}

TEST(PortalConfig, ErrorsHaveFileLineColumn) {
  EXPECT_EQ(errors(base + "portal:\n  public_address: \"a:1\"\n"),
            std::vector<std::string>{"c.yaml:5:3: portal: missing required key \"tls\""});
  EXPECT_EQ(errors(base +
                   "portal:\n  tls: {cert_file: c, key_file: k}\n  public_address: \"a:1\"\n"
                   "  grant_duration: 2h\n  max_grant_duration: 1h\n"),
            std::vector<std::string>{"c.yaml:8:23: portal.max_grant_duration: max_grant_duration "
                                     "1h is below grant_duration 2h"});
  EXPECT_EQ(errors(base +
                   "portal:\n  tls: {cert_file: c, key_file: k}\n  public_address: \"a:1\"\n"
                   "  colour: blue\n")
                .size(),
            1u);
  const auto collide = errors(base +
                              "portal:\n  address: \"127.0.0.1:9489\"\n"
                              "  tls: {cert_file: c, key_file: k}\n  public_address: \"a:1\"\n");
  ASSERT_EQ(collide.size(), 1u);
  EXPECT_NE(collide[0].find("duplicate address"), std::string::npos) << collide[0];
}

}  // namespace
}  // namespace rdpgate::config
