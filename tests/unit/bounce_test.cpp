// Every mail of the corpus in tests/data/bounces read as an organiser
// would read it: written by hand from the formats Postfix, Exchange,
// Gmail and qmail publish and send, with example addresses.
#include "bounce.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace letterd {
namespace {

std::string corpus(const std::string& name) {
  std::ifstream in(std::string(LETTERD_SOURCE_DIR) + "/tests/data/bounces/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Expected {
  const char* file;
  BounceReport::Kind kind;
  const char* status;
  const char* about;       // the letter's Message-ID
  const char* addressed;   // one of the addresses a token may be in
  const char* diagnostic;  // a part of it
};

class Corpus : public ::testing::TestWithParam<Expected> {};

TEST_P(Corpus, IsReadAsItsSenderMeantIt) {
  const Expected& e = GetParam();
  BounceReport r = read_bounce(corpus(e.file));
  EXPECT_EQ(to_string(r.kind), std::string(to_string(e.kind)));
  EXPECT_EQ(r.status, e.status);
  EXPECT_EQ(r.about_message_id, e.about);
  EXPECT_NE(std::find(r.addressed_to.begin(), r.addressed_to.end(), e.addressed), r.addressed_to.end())
      << ::testing::PrintToString(r.addressed_to);
  if (*e.diagnostic)
    EXPECT_NE(r.diagnostic.find(e.diagnostic), std::string::npos) << r.diagnostic;
  else
    EXPECT_EQ(r.diagnostic, "");
  EXPECT_EQ(r.diagnostic.find('@'), std::string::npos) << "addresses are replaced: " << r.diagnostic;
}

using K = BounceReport::Kind;
INSTANTIATE_TEST_SUITE_P(
    Bounces, Corpus,
    ::testing::Values(
        Expected{"postfix-user-unknown.eml", K::hard, "5.1.1", "01a2.deadbeef.letterd@example.org",
                 "bounces+12-0123456789abcdef@campaign.example.org",
                 "550 5.1.1 <[address]>: Recipient address rejected"},
        Expected{"postfix-delayed.eml", K::delay, "4.4.1", "01a3.cafe.letterd@example.org",
                 "bounces+13-0123456789abcdef@campaign.example.org", "Connection timed out"},
        Expected{"exchange-online-ndr.eml", K::hard, "5.1.10", "01a4.beef.letterd@example.org",
                 "bounces+14-0123456789abcdef@campaign.example.org", "RESOLVER.ADR.RecipientNotFound"},
        Expected{"gmail-no-such-user.eml", K::hard, "5.1.1", "01a5.f00d.letterd@example.org",
                 "bounces+15-0123456789abcdef@campaign.example.org", "does not exist"},
        Expected{"qmail-failure-notice.eml", K::hard, "5.1.1", "01a6.abba.letterd@example.org",
                 "bounces+16-0123456789abcdef@campaign.example.org", "no mailbox here by that name"},
        Expected{"exchange-legacy-text.eml", K::hard, "5.1.1", "", "bounces+17-0123456789abcdef@campaign.example.org",
                 "550 5.1.1 RESOLVER.ADR.RecipNotFound"},
        Expected{"out-of-office.eml", K::auto_reply, "", "01a8.face.letterd@example.org",
                 "bounces+18-0123456789abcdef@campaign.example.org", ""},
        Expected{"exchange-automatic-reply.eml", K::auto_reply, "", "01a9.d00d.letterd@example.org",
                 "bounces+19-0123456789abcdef@campaign.example.org", ""},
        Expected{"human-reply.eml", K::unparsed, "", "", "bounces+20-0123456789abcdef@campaign.example.org", ""}),
    [](const ::testing::TestParamInfo<Expected>& info) {
      std::string name = info.param.file;
      name = name.substr(0, name.find('.'));
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

TEST(Bounce, EveryRecipientBlockIsKeptSoACopyThatFailedIsToldFromTheLetter) {
  BounceReport r = read_bounce(corpus("copy-to-supporter-failed.eml"));
  ASSERT_EQ(r.recipients.size(), 2u);
  EXPECT_EQ(r.recipients[0].address, "full.mailbox@example.com");
  EXPECT_EQ(r.recipients[0].action, "failed");
  EXPECT_EQ(r.recipients[0].status, "5.2.2");
  EXPECT_EQ(r.recipients[1].address, "alex.example.mp@example.org");
  EXPECT_EQ(r.recipients[1].action, "delivered");
  EXPECT_EQ(r.kind, BounceReport::Kind::hard)
      << "the report says a recipient failed; which one is the caller's to judge";
}

TEST(Bounce, WhatCannotBeReadIsUnparsedNeverAnError) {
  for (std::string raw : {std::string(), std::string("\0\0\0", 3), std::string("not a mail at all"),
                          std::string("Content-Type: multipart/report; boundary=x\n\n--x\nContent-Type: "
                                      "message/delivery-status\n\nAction: failed\n")}) {
    BounceReport r = read_bounce(raw);
    EXPECT_EQ(r.kind, BounceReport::Kind::unparsed) << raw;
  }
}

}  // namespace
}  // namespace letterd
