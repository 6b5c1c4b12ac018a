#include "rdpgate/portal/users.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "../common/temp_dir.hpp"
#include "rdpgate/portal/totp.hpp"

namespace rdpgate::portal {
namespace {

User make_user(std::string name, std::vector<std::string> routes, std::string_view password) {
  return User{std::move(name), std::move(routes), new_totp_secret(), hash_password(password)};
}

void write_file(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

TEST(Password, Argon2idHashVerifies) {
  const auto hash = hash_password("correct horse");
  EXPECT_TRUE(hash.starts_with("$argon2id$")) << hash;
  EXPECT_TRUE(valid_password_hash(hash));
  EXPECT_TRUE(verify_password(hash, "correct horse"));
  EXPECT_FALSE(verify_password(hash, "correct horsf"));
  EXPECT_NE(hash_password("correct horse"), hash);  // a fresh salt each time
  EXPECT_FALSE(valid_password_hash("$argon2id$v=19$garbage"));
  EXPECT_FALSE(valid_password_hash("$2b$10$abcdefghijklmnopqrstuv"));  // bcrypt: not ours
}

TEST(UsersFile, FormatParseRoundTrip) {
  const Users users{make_user("alice", {"finance", "dev"}, "password-1"),
                    make_user("bob", {}, "password-2")};
  auto parsed = parse_users(format_users(users), "users");
  ASSERT_TRUE(std::holds_alternative<Users>(parsed));
  EXPECT_EQ(std::get<Users>(parsed), users);
}

TEST(UsersFile, MalformedLinesNameFileAndLine) {
  const auto good = format_users({make_user("alice", {"a"}, "password-1")});
  const std::string text = good +
                           "\n# a comment\n"
                           "bob:a:JBSWY3DPEHPK3PXP:$argon2id$v=19$m=65536,t=2,p=1$bad\n"
                           "carol:a:JBSWY3DPEHPK3PXP\n"
                           "d@ve:a:JBSWY3DPEHPK3PXP:x\n"
                           "erin:a:not-base32!:x\n";
  auto parsed = parse_users(text, "/etc/rdpgate/users");
  ASSERT_TRUE(std::holds_alternative<std::vector<std::string>>(parsed));
  const auto& errors = std::get<std::vector<std::string>>(parsed);
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0],
            "/etc/rdpgate/users:5: malformed password hash (expected an Argon2id hash from "
            "\"rdpgate user add\")");
  EXPECT_TRUE(errors[1].starts_with("/etc/rdpgate/users:6: expected NAME:ROUTES")) << errors[1];
  EXPECT_TRUE(errors[2].starts_with("/etc/rdpgate/users:7: bad user name")) << errors[2];
  EXPECT_TRUE(errors[3].starts_with("/etc/rdpgate/users:8: malformed TOTP secret")) << errors[3];
}

TEST(UsersFile, DuplicateUserRefused) {
  const auto line = format_users({make_user("alice", {"a"}, "password-1")});
  auto parsed = parse_users(line + line.substr(line.find('\n') + 1), "u");
  ASSERT_TRUE(std::holds_alternative<std::vector<std::string>>(parsed));
  EXPECT_EQ(std::get<std::vector<std::string>>(parsed).at(0), "u:3: duplicate user \"alice\"");
}

TEST(UsersFile, SaveIs0600AndLoads) {
  test::TempDir dir;
  const auto path = dir.sub("users");
  const Users users{make_user("alice", {"a"}, "password-1")};
  ASSERT_FALSE(save_users_file(path, users));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = load_users_file(path);
  ASSERT_TRUE(std::holds_alternative<Users>(loaded)) << std::get<std::string>(loaded);
  EXPECT_EQ(std::get<Users>(loaded), users);
}

TEST(UsersFile, RefusedWhenOthersMayRead) {
  test::TempDir dir;
  const auto path = dir.sub("users");
  write_file(path, format_users({make_user("alice", {"a"}, "password-1")}), 0644);
  auto loaded = load_users_file(path);
  ASSERT_TRUE(std::holds_alternative<std::string>(loaded));
  const auto& error = std::get<std::string>(loaded);
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("permissions 0644 are too open"), std::string::npos) << error;
}

TEST(UsersFile, MissingFile) {
  test::TempDir dir;
  EXPECT_TRUE(std::holds_alternative<std::string>(load_users_file(dir.sub("none"))));
  auto empty = load_users_file(dir.sub("none"), true);
  ASSERT_TRUE(std::holds_alternative<Users>(empty));
  EXPECT_TRUE(std::get<Users>(empty).empty());
}

}  // namespace
}  // namespace rdpgate::portal
