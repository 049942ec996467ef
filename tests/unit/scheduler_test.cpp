#include "scheduler.h"

#include <gtest/gtest.h>

namespace letterd {
namespace {

using namespace std::chrono;

TimePoint at(const char* text) {
  return *parse_rfc3339(text);
}

RetryPolicy policy() {
  RetryPolicy p;
  p.first = minutes(1);
  p.max = hours(1);
  p.lifetime = hours(72);
  return p;
}

// How a try ended, as the SMTP session reports it.
SendResult reply(Transfer transfer, int code, SmtpStage stage, std::string text) {
  return {.transfer = transfer, .code = code, .response = std::move(text), .stage = stage};
}

TEST(Classify, A2xxAfterDataIsSent) {
  EXPECT_EQ(classify(reply(Transfer::completed, 250, SmtpStage::done, "2.0.0 Ok: queued as 4F2A1")), Outcome::sent);
}

TEST(Classify, A2xxToTheEndOfDataIsSentWhateverFollows) {
  // libcurl gives up on a reply longer than 300 KB; the relay had taken the
  // letter by then, and sending it again would deliver it again.
  EXPECT_EQ(classify(reply(Transfer::broken, 250, SmtpStage::done, "2.0.0 Ok: queued as 4F2A1 xxxx")), Outcome::sent);
  EXPECT_EQ(classify(reply(Transfer::broken, 250, SmtpStage::done, "2.0.0 Ok")), Outcome::sent);
  // A 250 to the DATA command itself is no answer to the message.
  EXPECT_EQ(classify(reply(Transfer::broken, 250, SmtpStage::data, "2.0.0 Ok")), Outcome::deferred);
  EXPECT_EQ(classify(reply(Transfer::broken, 554, SmtpStage::done, "5.7.1 rejected")), Outcome::failed);
  EXPECT_EQ(classify(reply(Transfer::broken, 451, SmtpStage::done, "4.3.0 later")), Outcome::deferred);
}

TEST(Classify, RepliesToTheMessageDecideItsFate) {
  EXPECT_EQ(classify(reply(Transfer::broken, 451, SmtpStage::data, "4.3.0 try later")), Outcome::deferred);
  EXPECT_EQ(classify(reply(Transfer::broken, 554, SmtpStage::data, "5.7.1 content rejected")), Outcome::failed);
  EXPECT_EQ(classify(reply(Transfer::broken, 450, SmtpStage::rcpt, "4.2.0 mailbox busy")), Outcome::deferred);
  EXPECT_EQ(classify(reply(Transfer::broken, 550, SmtpStage::rcpt, "5.1.1 <mp@example.org>: User unknown")),
            Outcome::failed);
}

TEST(Classify, PolicyRefusalsAtMailOrRcptAreTheRelaysTermsNotTheLetters) {
  // Postfix answers relay access, sender and HELO checks at RCPT; failing
  // every letter for them would lose a campaign to one config mistake.
  EXPECT_EQ(classify(reply(Transfer::broken, 554, SmtpStage::rcpt, "5.7.1 <mp@example.org>: Relay access denied")),
            Outcome::refused);
  EXPECT_EQ(classify(reply(Transfer::broken, 504, SmtpStage::rcpt, "5.5.2 <host>: Helo command rejected")),
            Outcome::refused);
  EXPECT_EQ(classify(reply(Transfer::broken, 530, SmtpStage::rcpt, "Authentication required")), Outcome::refused);
  EXPECT_EQ(classify(reply(Transfer::broken, 553, SmtpStage::mail, "5.7.1 Sender address rejected")), Outcome::refused);
  EXPECT_EQ(classify(reply(Transfer::broken, 552, SmtpStage::mail, "5.3.4 Message size exceeds limit")),
            Outcome::failed);
}

TEST(Classify, TimeoutsAndDroppedConnectionsDuringTheMessageAreDeferred) {
  EXPECT_EQ(classify(reply(Transfer::broken, 0, SmtpStage::data, "")), Outcome::deferred);
  EXPECT_EQ(classify(reply(Transfer::broken, 0, SmtpStage::data, "")), Outcome::deferred);
  EXPECT_EQ(classify(reply(Transfer::broken, 0, SmtpStage::rcpt, "")), Outcome::deferred);
}

TEST(Classify, FaultsOfTheRelayPauseItAndNeverFailAMessage) {
  EXPECT_EQ(classify(reply(Transfer::broken, 0, SmtpStage::connect, "")), Outcome::relay_fault);
  EXPECT_EQ(classify(reply(Transfer::broken, 0, SmtpStage::connect, "")), Outcome::relay_fault);
  EXPECT_EQ(classify(reply(Transfer::broken, 554, SmtpStage::greeting, "5.3.2 no service")), Outcome::relay_fault);
  EXPECT_EQ(classify(reply(Transfer::broken, 250, SmtpStage::greeting, "")), Outcome::relay_fault);
  EXPECT_EQ(classify(reply(Transfer::broken, 220, SmtpStage::tls, "")), Outcome::relay_fault);
  // A 535 ends the session: Postfix would still answer MAIL with 250, so
  // carrying on would fail letters one by one instead of pausing the relay.
  EXPECT_EQ(classify(reply(Transfer::login_refused, 535, SmtpStage::auth, "5.7.8 Authentication failed")),
            Outcome::relay_fault);
  EXPECT_EQ(classify(reply(Transfer::broken, 451, SmtpStage::mail, "4.3.0 try later")), Outcome::relay_fault);
  // 421 is the relay closing on everyone, whatever it was answering.
  EXPECT_EQ(classify(reply(Transfer::broken, 421, SmtpStage::data, "4.3.2 shutting down")), Outcome::relay_fault);
  EXPECT_EQ(classify(reply(Transfer::broken, 421, SmtpStage::rcpt, "4.7.0 too many errors")), Outcome::relay_fault);
}

TEST(RetryDelay, DoublesFromFirstUpToMax) {
  EXPECT_EQ(retry_delay(1, policy(), 0.0), minutes(1));
  EXPECT_EQ(retry_delay(2, policy(), 0.0), minutes(2));
  EXPECT_EQ(retry_delay(3, policy(), 0.0), minutes(4));
  EXPECT_EQ(retry_delay(7, policy(), 0.0), hours(1));
  EXPECT_EQ(retry_delay(1000, policy(), 0.0), hours(1));
}

TEST(RetryDelay, JitterOnlyShortensAndByAtMostFifteenPercent) {
  for (double j : {0.0, 0.25, 0.5, 0.99}) {
    Duration d = retry_delay(3, policy(), j);
    EXPECT_LE(d, minutes(4));
    EXPECT_GE(d, duration_cast<Duration>(minutes(4) * 0.85));
  }
  EXPECT_LT(retry_delay(3, policy(), 0.9), retry_delay(3, policy(), 0.1));
}

TEST(RetryDelay, SubSecondPoliciesStillGrow) {
  RetryPolicy p;
  p.first = milliseconds(100);
  p.max = seconds(10);
  EXPECT_EQ(retry_delay(1, p, 0.0), milliseconds(100));
  EXPECT_EQ(retry_delay(2, p, 0.0), milliseconds(200));
  EXPECT_EQ(retry_delay(3, p, 0.0), milliseconds(400));
}

TEST(Judge, SentAndFailedAreFinal) {
  TimePoint now = at("2026-11-25T12:00:00Z");
  Verdict sent = judge(Outcome::sent, 1, now, now, policy(), 0.0);
  EXPECT_EQ(sent.status, MessageStatus::sent);
  EXPECT_FALSE(sent.next_attempt_at);
  Verdict failed = judge(Outcome::failed, 1, now, now, policy(), 0.0);
  EXPECT_EQ(failed.status, MessageStatus::failed);
  EXPECT_FALSE(failed.next_attempt_at);
}

TEST(Judge, DeferredWaitsTheBackoff) {
  TimePoint created = at("2026-11-25T12:00:00Z");
  TimePoint now = at("2026-11-25T12:10:00Z");
  Verdict v = judge(Outcome::deferred, 2, created, now, policy(), 0.0);
  EXPECT_EQ(v.status, MessageStatus::deferred);
  ASSERT_TRUE(v.next_attempt_at);
  EXPECT_EQ(format_utc(*v.next_attempt_at), "2026-11-25T12:12:00.000Z");
}

TEST(Judge, DeferredPastLifetimeFails) {
  TimePoint created = at("2026-11-22T12:00:00Z");
  TimePoint now = at("2026-11-25T11:30:00Z");  // the next try would fall after 3 days
  Verdict v = judge(Outcome::deferred, 40, created, now, policy(), 0.0);
  EXPECT_EQ(v.status, MessageStatus::failed);
  EXPECT_NE(v.reason.find("retry.lifetime"), std::string::npos);
}

TEST(Judge, RelayFaultNeverFailsAMessage) {
  TimePoint created = at("2026-11-01T12:00:00Z");
  TimePoint now = at("2026-11-25T12:00:00Z");  // weeks past the lifetime
  Verdict v = judge(Outcome::relay_fault, 1, created, now, policy(), 0.0);
  EXPECT_EQ(v.status, MessageStatus::deferred);
  ASSERT_TRUE(v.next_attempt_at);
}

RateLimits per_second(long n) {
  RateLimits limits;
  limits.per_second = n;
  return limits;
}

RateLimits per_hour(long n) {
  RateLimits limits;
  limits.per_hour = n;
  return limits;
}

TEST(RateLimiter, NoLimitsNeverWaits) {
  RateLimiter limiter(RateLimits{});
  TimePoint now = at("2026-11-25T12:00:00Z");
  for (int i = 0; i < 1000; ++i) limiter.record(now);
  EXPECT_EQ(limiter.next_slot(now), now);
}

TEST(RateLimiter, PerSecondHoldsTheSixthSendForAFullSecond) {
  RateLimiter limiter(per_second(5));
  TimePoint start = at("2026-11-25T12:00:00Z");
  for (int i = 0; i < 5; ++i) {
    TimePoint t = start + milliseconds(10 * i);
    EXPECT_EQ(limiter.next_slot(t), t);
    limiter.record(t);
  }
  // The sixth may go only when the first has left the one-second window.
  EXPECT_EQ(limiter.next_slot(start + milliseconds(50)), start + seconds(1));
}

TEST(RateLimiter, NoOneSecondWindowEverExceedsTheLimit) {
  RateLimits limits;
  limits.per_second = 7;
  limits.per_minute = 100;
  RateLimiter limiter(limits);
  TimePoint t = at("2026-11-25T12:00:00Z");
  std::vector<TimePoint> sends;
  for (int i = 0; i < 300; ++i) {
    t = limiter.next_slot(t);
    limiter.record(t);
    sends.push_back(t);
  }
  for (std::size_t i = 0; i < sends.size(); ++i) {
    auto in_second = std::count_if(sends.begin() + static_cast<long>(i), sends.end(),
                                   [&](TimePoint s) { return s < sends[i] + seconds(1); });
    auto in_minute = std::count_if(sends.begin() + static_cast<long>(i), sends.end(),
                                   [&](TimePoint s) { return s < sends[i] + minutes(1); });
    ASSERT_LE(in_second, 7) << "window starting at send " << i;
    ASSERT_LE(in_minute, 100) << "window starting at send " << i;
  }
  // 300 sends at 100 a minute take at least two whole minutes.
  EXPECT_GE(sends.back() - sends.front(), minutes(2));
}

TEST(RateLimiter, ASendCountsWhenTheRelayHadItNotWhenItWasHandedOver) {
  RateLimiter limiter(per_second(2));
  TimePoint t0 = at("2026-11-25T12:00:00Z");
  // The first send opened the connection: the relay had it 300 ms after the hand-over.
  limiter.claim(t0);
  limiter.claim(t0 + milliseconds(100));
  limiter.reached(t0, t0 + milliseconds(300));
  limiter.reached(t0 + milliseconds(100), t0 + milliseconds(110));
  // The relay saw them at 110 ms and 300 ms: a third fits only once 110 ms has left its window.
  EXPECT_EQ(limiter.next_slot(t0 + milliseconds(400)), t0 + milliseconds(1110));
  limiter.claim(t0 + milliseconds(1110));
  limiter.reached(t0 + milliseconds(1110), t0 + milliseconds(1115));
  EXPECT_EQ(limiter.next_slot(t0 + milliseconds(1200)), t0 + milliseconds(1300));
}

TEST(RateLimiter, ASendUnderWayCountsAsReachingTheRelayAnyMoment) {
  RateLimiter limiter(per_second(2));
  TimePoint t0 = at("2026-11-25T12:00:00Z");
  limiter.claim(t0);
  limiter.reached(t0, t0 + milliseconds(10));
  limiter.claim(t0 + milliseconds(1100));  // slow: still under way
  // Long after the first left its window, the slow one may still land with a new one: one more fits.
  TimePoint later = t0 + milliseconds(1900);
  EXPECT_EQ(limiter.next_slot(later), later);
  limiter.claim(later);
  // Two under way at a limit of two: nothing more until one of them ends.
  EXPECT_GT(limiter.next_slot(later), later);
  limiter.reached(t0 + milliseconds(1100), t0 + milliseconds(1950));
  limiter.reached(later, later + milliseconds(5));
  EXPECT_EQ(limiter.next_slot(t0 + milliseconds(2000)), t0 + milliseconds(2905));  // when 1905 leaves
}

TEST(RateLimiter, ASendThatNeverReachedTheRelayGivesItsSlotBack) {
  RateLimiter limiter(per_second(1));
  TimePoint t0 = at("2026-11-25T12:00:00Z");
  limiter.claim(t0);
  EXPECT_GT(limiter.next_slot(t0), t0);
  limiter.forget(t0);
  EXPECT_EQ(limiter.next_slot(t0), t0);
}

TEST(RateLimiter, NewLimitsAfterAReloadStillCountTheSendsUnderWay) {
  RateLimiter old(per_hour(30));
  TimePoint t0 = at("2026-11-25T12:00:00Z");
  old.claim(t0);
  RateLimiter fresh(per_hour(1));
  fresh.adopt_under_way(old);
  EXPECT_EQ(fresh.next_slot(t0), t0 + hours(1)) << "the send under way fills the new hour";
  fresh.reached(t0, t0 + seconds(2));
  EXPECT_EQ(fresh.next_slot(t0 + seconds(3)), t0 + seconds(2) + hours(1));
}

TEST(RateLimiter, SeededFromTheLogAfterARestart) {
  RateLimiter limiter(per_hour(3));
  EXPECT_EQ(limiter.memory(), 3u);
  TimePoint now = at("2026-11-25T12:30:00Z");
  limiter.record(at("2026-11-25T12:00:00Z"));
  limiter.record(at("2026-11-25T12:05:00Z"));
  limiter.record(at("2026-11-25T12:20:00Z"));
  EXPECT_EQ(format_utc(limiter.next_slot(now)), "2026-11-25T13:00:00.000Z");
}

}  // namespace
}  // namespace letterd
