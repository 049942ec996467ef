#include <curl/curl.h>
#include <gtest/gtest.h>

#include "smtp.h"

namespace letterd {
namespace {

TEST(Classify, A2xxAfterDataIsSent) { EXPECT_EQ(classify(CURLE_OK, 250, SmtpStage::done), Outcome::sent); }

TEST(Classify, RepliesToTheMessageDecideItsFate) {
  // libcurl reports any non-250 end-of-DATA reply as CURLE_WEIRD_SERVER_REPLY.
  EXPECT_EQ(classify(CURLE_WEIRD_SERVER_REPLY, 451, SmtpStage::data), Outcome::deferred);
  EXPECT_EQ(classify(CURLE_WEIRD_SERVER_REPLY, 554, SmtpStage::data), Outcome::failed);
  EXPECT_EQ(classify(CURLE_RECV_ERROR, 450, SmtpStage::rcpt), Outcome::deferred);
  EXPECT_EQ(classify(CURLE_RECV_ERROR, 550, SmtpStage::rcpt), Outcome::failed);
}

TEST(Classify, TimeoutsAndDroppedConnectionsDuringTheMessageAreDeferred) {
  EXPECT_EQ(classify(CURLE_OPERATION_TIMEDOUT, 0, SmtpStage::data), Outcome::deferred);
  EXPECT_EQ(classify(CURLE_GOT_NOTHING, 0, SmtpStage::data), Outcome::deferred);
  EXPECT_EQ(classify(CURLE_SEND_ERROR, 354, SmtpStage::data), Outcome::deferred);
}

TEST(Classify, FaultsOfTheRelayPauseItAndNeverFailAMessage) {
  EXPECT_EQ(classify(CURLE_COULDNT_CONNECT, 0, SmtpStage::connect), Outcome::relay_fault);
  EXPECT_EQ(classify(CURLE_OPERATION_TIMEDOUT, 0, SmtpStage::connect), Outcome::relay_fault);
  EXPECT_EQ(classify(CURLE_WEIRD_SERVER_REPLY, 554, SmtpStage::greeting), Outcome::relay_fault);
  EXPECT_EQ(classify(CURLE_USE_SSL_FAILED, 250, SmtpStage::greeting), Outcome::relay_fault);
  EXPECT_EQ(classify(CURLE_PEER_FAILED_VERIFICATION, 220, SmtpStage::tls), Outcome::relay_fault);
  // A 535 ends the session: Postfix would still answer MAIL with 250, so
  // carrying on would fail letters one by one instead of pausing the relay.
  EXPECT_EQ(classify(CURLE_LOGIN_DENIED, 535, SmtpStage::auth), Outcome::relay_fault);
  EXPECT_EQ(classify(CURLE_WEIRD_SERVER_REPLY, 553, SmtpStage::mail), Outcome::relay_fault);
  // 421 is the relay closing on everyone, whatever it was answering.
  EXPECT_EQ(classify(CURLE_WEIRD_SERVER_REPLY, 421, SmtpStage::data), Outcome::relay_fault);
  EXPECT_EQ(classify(CURLE_RECV_ERROR, 421, SmtpStage::rcpt), Outcome::relay_fault);
}

}  // namespace
}  // namespace letterd
