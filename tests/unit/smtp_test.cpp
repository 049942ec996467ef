#include <curl/curl.h>
#include <gtest/gtest.h>

#include "smtp.h"

namespace letterd {
namespace {

TEST(Classify, A2xxAfterDataIsSent) {
  EXPECT_EQ(classify(CURLE_OK, 250, SmtpStage::done, "2.0.0 Ok: queued as 4F2A1"), Outcome::sent);
}

TEST(Classify, A2xxToTheEndOfDataIsSentWhateverFollows) {
  // libcurl gives up on a reply longer than 300 KB; the relay had taken the
  // letter by then, and sending it again would deliver it again.
  EXPECT_EQ(classify(CURLE_RECV_ERROR, 250, SmtpStage::done, "2.0.0 Ok: queued as 4F2A1 xxxx"), Outcome::sent);
  EXPECT_EQ(classify(CURLE_GOT_NOTHING, 250, SmtpStage::done, "2.0.0 Ok"), Outcome::sent);
  // A 250 to the DATA command itself is no answer to the message.
  EXPECT_EQ(classify(CURLE_WEIRD_SERVER_REPLY, 250, SmtpStage::data, "2.0.0 Ok"), Outcome::deferred);
  EXPECT_EQ(classify(CURLE_RECV_ERROR, 554, SmtpStage::done, "5.7.1 rejected"), Outcome::failed);
  EXPECT_EQ(classify(CURLE_RECV_ERROR, 451, SmtpStage::done, "4.3.0 later"), Outcome::deferred);
}

TEST(Classify, RepliesToTheMessageDecideItsFate) {
  // libcurl reports any non-250 end-of-DATA reply as CURLE_WEIRD_SERVER_REPLY.
  EXPECT_EQ(classify(CURLE_WEIRD_SERVER_REPLY, 451, SmtpStage::data, "4.3.0 try later"), Outcome::deferred);
  EXPECT_EQ(classify(CURLE_WEIRD_SERVER_REPLY, 554, SmtpStage::data, "5.7.1 content rejected"), Outcome::failed);
  EXPECT_EQ(classify(CURLE_RECV_ERROR, 450, SmtpStage::rcpt, "4.2.0 mailbox busy"), Outcome::deferred);
  EXPECT_EQ(classify(CURLE_RECV_ERROR, 550, SmtpStage::rcpt, "5.1.1 <mp@example.org>: User unknown"),
            Outcome::failed);
}

TEST(Classify, PolicyRefusalsAtMailOrRcptAreTheRelaysTermsNotTheLetters) {
  // Postfix answers relay access, sender and HELO checks at RCPT; failing
  // every letter for them would lose a campaign to one config mistake.
  EXPECT_EQ(classify(CURLE_RECV_ERROR, 554, SmtpStage::rcpt, "5.7.1 <mp@example.org>: Relay access denied"),
            Outcome::refused);
  EXPECT_EQ(classify(CURLE_RECV_ERROR, 504, SmtpStage::rcpt, "5.5.2 <host>: Helo command rejected"),
            Outcome::refused);
  EXPECT_EQ(classify(CURLE_RECV_ERROR, 530, SmtpStage::rcpt, "Authentication required"), Outcome::refused);
  EXPECT_EQ(classify(CURLE_WEIRD_SERVER_REPLY, 553, SmtpStage::mail, "5.7.1 Sender address rejected"),
            Outcome::refused);
  EXPECT_EQ(classify(CURLE_WEIRD_SERVER_REPLY, 552, SmtpStage::mail, "5.3.4 Message size exceeds limit"),
            Outcome::failed);
}

TEST(Classify, TimeoutsAndDroppedConnectionsDuringTheMessageAreDeferred) {
  EXPECT_EQ(classify(CURLE_OPERATION_TIMEDOUT, 0, SmtpStage::data, ""), Outcome::deferred);
  EXPECT_EQ(classify(CURLE_GOT_NOTHING, 0, SmtpStage::data, ""), Outcome::deferred);
  EXPECT_EQ(classify(CURLE_SEND_ERROR, 0, SmtpStage::rcpt, ""), Outcome::deferred);
}

TEST(Classify, FaultsOfTheRelayPauseItAndNeverFailAMessage) {
  EXPECT_EQ(classify(CURLE_COULDNT_CONNECT, 0, SmtpStage::connect, ""), Outcome::relay_fault);
  EXPECT_EQ(classify(CURLE_OPERATION_TIMEDOUT, 0, SmtpStage::connect, ""), Outcome::relay_fault);
  EXPECT_EQ(classify(CURLE_WEIRD_SERVER_REPLY, 554, SmtpStage::greeting, "5.3.2 no service"), Outcome::relay_fault);
  EXPECT_EQ(classify(CURLE_USE_SSL_FAILED, 250, SmtpStage::greeting, ""), Outcome::relay_fault);
  EXPECT_EQ(classify(CURLE_PEER_FAILED_VERIFICATION, 220, SmtpStage::tls, ""), Outcome::relay_fault);
  // A 535 ends the session: Postfix would still answer MAIL with 250, so
  // carrying on would fail letters one by one instead of pausing the relay.
  EXPECT_EQ(classify(CURLE_LOGIN_DENIED, 535, SmtpStage::auth, "5.7.8 Authentication failed"), Outcome::relay_fault);
  EXPECT_EQ(classify(CURLE_WEIRD_SERVER_REPLY, 451, SmtpStage::mail, "4.3.0 try later"), Outcome::relay_fault);
  // 421 is the relay closing on everyone, whatever it was answering.
  EXPECT_EQ(classify(CURLE_WEIRD_SERVER_REPLY, 421, SmtpStage::data, "4.3.2 shutting down"), Outcome::relay_fault);
  EXPECT_EQ(classify(CURLE_RECV_ERROR, 421, SmtpStage::rcpt, "4.7.0 too many errors"), Outcome::relay_fault);
}

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
    EXPECT_EQ(*problem, "holds a user name or password; put the user in username: and the password in "
                        "password_file: or password_env:");
  }
}

}  // namespace
}  // namespace letterd
