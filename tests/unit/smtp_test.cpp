#include "smtp.h"

#include <gtest/gtest.h>

namespace letterd {
namespace {

// ---------------------------------------------------------------- bounded replies

TEST(BoundedReply, AReplyThatFitsIsKeptAsItIs) {
  EXPECT_EQ(bounded_reply("2.0.0 Ok: queued as 4F2A1"), "2.0.0 Ok: queued as 4F2A1");
  std::string exactly(kMaxReplyBytes, 'x');
  EXPECT_EQ(bounded_reply(exactly), exactly);
}

TEST(BoundedReply, ALongReplyKeepsItsStartWithAMarkerWithin1KB) {
  std::string reply = "5.7.1 " + std::string(10'000'000, 'y');
  std::string kept = bounded_reply(reply);
  EXPECT_LE(kept.size(), kMaxReplyBytes);
  EXPECT_GE(kept.size(), kMaxReplyBytes - 3);
  EXPECT_TRUE(kept.ends_with(" [cut: the relay's reply was longer than 1 KB]")) << kept;
  std::string text = kept.substr(0, kept.find(" [cut:"));
  EXPECT_EQ(reply.substr(0, text.size()), text);
}

// The kept text must be UTF-8 when the reply was: it is stored and logged.
TEST(BoundedReply, TheCutNeverSplitsAUtf8Character) {
  for (std::string_view character : {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x93\xae"}) {  // é € 📮
    for (std::size_t offset = 0; offset < 4; ++offset) {
      std::string reply = std::string(offset, 'a');
      while (reply.size() < 2 * kMaxReplyBytes) reply += character;
      std::string kept = bounded_reply(reply);
      std::string text = kept.substr(0, kept.find(" [cut:"));
      ASSERT_EQ(reply.substr(0, text.size()), text);
      ASSERT_EQ((text.size() - offset) % character.size(), 0u) << "split a character at offset " << offset;
    }
  }
}

// ---------------------------------------------------------------- relay urls

TEST(RelayUrl, UrlsLibcurlTakesHaveNoProblem) {
  for (const char* url : {"smtp://smtp.example.org:587", "smtps://smtp.example.org:465", "smtp://smtp.example.org",
                          "smtp://127.0.0.1:2525", "smtp://[::1]:25", "smtp://smtp.example.org:587/helo.example.org"})
    EXPECT_EQ(relay_url_problem(url), std::nullopt) << url;
}

TEST(RelayUrl, UrlsLibcurlWouldRefuseWhenSendingAreProblems) {
  struct Case {
    std::string url, says;
  };
  for (const Case& bad : std::vector<Case>{
           {"http://smtp.example.org", "must start with smtp:// or smtps://"},
           {"SMTP://smtp.example.org", "must start with smtp:// or smtps://"},
           {"smtp://smtp.example.org:99999", "Port number"},
           {"smtp://smtp.example.org:0", "port 0"},
           {"smtp://smtp.example.org:25x", "Port number"},
           {"smtp://", "no host"},
           {"smtp://:587", "no host"},
           {"smtp:///helo", "no host"},
           {"smtp://smtp.example.org\r\n:587", "control character"},
           {"smtp://smtp.example.org:587/helo\n", "control character"},
           {"smtp://smtp.example.org:587/helo%0d%0aRSET", "control character"},
           {"smtp://smtp.example org", "Bad hostname"},
           {"smtp://smtp.example.org?x", "query"},
           {"smtp://smtp.example.org#x", "fragment"},
       }) {
    auto problem = relay_url_problem(bad.url);
    ASSERT_TRUE(problem.has_value()) << bad.url;
    EXPECT_NE(problem->find(bad.says), std::string::npos) << bad.url << ": " << *problem;
  }
}

TEST(RelayUrl, AUserOrPasswordIsRefusedAndNeverRepeated) {
  for (const char* url : {"smtp://user:hunter2@smtp.example.org:587", "smtp://letters@smtp.example.org",
                          "smtps://:hunter2@smtp.example.org", "smtp://user:hunter2@smtp.example.org:99999",
                          "smtp://user;AUTH=PLAIN@smtp.example.org"}) {
    auto problem = relay_url_problem(url);
    ASSERT_TRUE(problem.has_value()) << url;
    EXPECT_EQ(*problem,
              "holds a user name or password; put the user in username: and the password in "
              "password_file: or password_env:");
  }
}

}  // namespace
}  // namespace letterd
