// The scheduler of one relay, with made-up time, load and log: no clock,
// no database, no relay. Each test is a rule an organiser would notice
// broken (a burst past a limit, a letter failed for the relay's fault).
#include <gtest/gtest.h>

#include "scheduler.h"
#include "test_support.h"

namespace letterd {
namespace {

using namespace std::chrono;

const TimePoint kNoon = *parse_rfc3339("2026-11-25T12:00:00Z");

RelayConfig relay(RateLimits rate = {}, int connections = 1) {
  RelayConfig r;
  r.name = "main";
  r.connections = connections;
  r.rate = rate;
  return r;
}

RetryPolicy retry() {
  RetryPolicy p;
  p.first = minutes(1);
  p.max = hours(1);
  p.lifetime = hours(72);
  return p;
}

Jitter no_jitter() {
  return [] { return 0.0; };
}

std::vector<DueLetter> letters(int n, const std::string& target = "mp-a", const std::string& campaign = "c") {
  std::vector<DueLetter> out;
  for (int i = 1; i <= n; ++i) out.push_back({i, campaign, target});
  return out;
}

// Sends every planned letter and says the relay had each at once.
void deliver_all(RelayScheduler& s, const Plan& plan, const std::vector<DueLetter>& due, TimePoint at) {
  for (long long id : plan.send)
    for (const auto& d : due)
      if (d.id == id) s.after_try(d, at, Outcome::sent, 0, at, at);
}

TEST(RelayScheduler, ARelayWithoutLimitsClaimsAheadForEverySession) {
  RelayScheduler s(relay({}, 2), retry(), no_jitter());
  // 32 queued per session, so a session never waits for the loop.
  EXPECT_EQ(s.room(0), 64);
  Plan plan = s.plan(kNoon, letters(100), s.room(0));
  EXPECT_EQ(plan.send.size(), 64u);
  EXPECT_TRUE(plan.filled);
  // Refilled only once half the queue has gone: no claim a letter at a time.
  EXPECT_EQ(s.room(64 - 31), 0);
  EXPECT_EQ(s.room(32), 32);
}

TEST(RelayScheduler, ARelayWithLimitsClaimsOnlyForAnIdleSession) {
  RateLimits rate{.per_second = 50};
  RelayScheduler s(relay(rate, 3), retry(), no_jitter());
  EXPECT_EQ(s.room(0), 3);
  EXPECT_EQ(s.room(2), 1);
  EXPECT_EQ(s.room(3), 0);
}

TEST(RelayScheduler, EachWindowHoldsTheLetterPastItsLimitToTheWindowsEnd) {
  struct Case {
    RateLimits rate;
    Duration window;
  };
  for (const Case& c : {Case{{.per_second = 3}, seconds(1)}, Case{{.per_minute = 3}, minutes(1)},
                        Case{{.per_hour = 3}, hours(1)}, Case{{.per_day = 3}, hours(24)}}) {
    RelayScheduler s(relay(c.rate, 10), retry(), no_jitter());
    auto due = letters(5);
    Plan first = s.plan(kNoon, due, 10);
    ASSERT_EQ(first.send, (std::vector<long long>{1, 2, 3}));
    deliver_all(s, first, due, kNoon);
    ASSERT_TRUE(first.relay_slot);
    EXPECT_EQ(*first.relay_slot, kNoon + c.window);
    std::vector<DueLetter> rest(due.begin() + 3, due.end());
    // A millisecond before the window's end: still nothing; at its end: the next three may go.
    EXPECT_TRUE(s.plan(kNoon + c.window - milliseconds(1), rest, 10).send.empty());
    EXPECT_EQ(s.plan(kNoon + c.window, rest, 10).send.size(), 2u);
  }
}

TEST(RelayScheduler, ASendUnderWayCountsUntilItEnds) {
  RelayScheduler s(relay({.per_second = 1}, 2), retry(), no_jitter());
  auto due = letters(2);
  Plan plan = s.plan(kNoon, due, 2);
  ASSERT_EQ(plan.send.size(), 1u);
  // The relay had it 400 ms later: the window counts from there.
  s.after_try(due[0], kNoon, Outcome::sent, 0, kNoon, kNoon + milliseconds(400));
  Plan next = s.plan(kNoon + seconds(1), {due[1]}, 2);
  EXPECT_TRUE(next.send.empty());
  EXPECT_EQ(*next.relay_slot, kNoon + milliseconds(1400));
}

TEST(RelayScheduler, ALetterThatNeverReachedTheRelayGivesItsPlaceBack) {
  RelayScheduler s(relay({.per_minute = 1}), retry(), no_jitter());
  auto due = letters(2);
  ASSERT_EQ(s.plan(kNoon, due, 1).send.size(), 1u);
  s.give_back(due[0], kNoon);  // cancelled, or another process claimed it
  EXPECT_EQ(s.plan(kNoon, due, 1).send.size(), 1u);
}

TEST(RelayScheduler, ACopySentApartCountsAsASecondMessageToTheRelay) {
  RelayScheduler s(relay({.per_minute = 3}, 10), retry(), no_jitter());
  auto due = letters(3);
  for (auto& d : due) d.copy_apart = true;
  Plan plan = s.plan(kNoon, due, 10);
  // Three messages a minute: the first letter and its copy, then the second letter's copy would be a fourth.
  ASSERT_EQ(plan.send, (std::vector<long long>{1}));
  ASSERT_TRUE(plan.relay_slot);
  EXPECT_EQ(*plan.relay_slot, kNoon + minutes(1));
  s.after_try(due[0], kNoon, Outcome::sent, 0, kNoon, kNoon + milliseconds(100));
  s.copy_ended(kNoon, kNoon + milliseconds(200));
  // The copy counts from when the relay had it.
  EXPECT_EQ(*s.plan(kNoon + minutes(1), {due[1]}, 10).relay_slot, kNoon + minutes(1) + milliseconds(100));
}

TEST(RelayScheduler, ACopyThatNeverWentGivesItsPlaceBack) {
  RelayScheduler s(relay({.per_minute = 3}, 10), retry(), no_jitter());
  auto due = letters(2);
  for (auto& d : due) d.copy_apart = true;
  ASSERT_EQ(s.plan(kNoon, due, 10).send.size(), 1u);
  // The letter was refused for good: it reached the relay, its copy never went.
  s.after_try(due[0], kNoon, Outcome::failed, 0, kNoon, kNoon);
  s.copy_ended(kNoon, std::nullopt);
  EXPECT_EQ(s.plan(kNoon, {due[1]}, 10).send.size(), 1u) << "one message counted, two places left";
  // A letter given back (cancelled before it went) frees its copy's place too.
  RelayScheduler t(relay({.per_minute = 2}, 10), retry(), no_jitter());
  ASSERT_EQ(t.plan(kNoon, due, 10).send.size(), 1u);
  t.give_back(due[0], kNoon);
  EXPECT_EQ(t.plan(kNoon, {due[1]}, 10).send.size(), 1u);
}

using testing::office_hours;

TEST(RelayScheduler, ALetterOutsideItsWindowWaitsForTheOpeningWhileOthersGo) {
  RelayScheduler s(relay(), retry(), no_jitter());
  s.use_windows({{{"c", "mp"}, office_hours()}});
  std::vector<DueLetter> due{{1, "c", "mp-a", false, "mp"}, {2, "c", "justice-secretary", false, "minister"}};
  // Saturday 28 November 2026, noon: the MP's office is shut until Monday 09:00.
  const TimePoint saturday = *parse_rfc3339("2026-11-28T12:00:00Z");
  Plan plan = s.plan(saturday, due, 10);
  EXPECT_EQ(plan.send, (std::vector<long long>{2})) << "a letter without a window goes any time";
  ASSERT_EQ(plan.outside.size(), 1u);
  EXPECT_EQ(plan.outside[0].id, 1);
  EXPECT_EQ(plan.outside[0].until, *parse_rfc3339("2026-11-30T09:00:00Z"));

  // The window opens while the letter waits: at the opening it goes.
  Plan monday = s.plan(*parse_rfc3339("2026-11-30T09:00:00Z"), {due[0]}, 10);
  EXPECT_EQ(monday.send, (std::vector<long long>{1}));
  EXPECT_TRUE(monday.outside.empty());
  // A millisecond before the close it still goes; at the close it waits for Tuesday.
  EXPECT_EQ(s.plan(*parse_rfc3339("2026-11-30T17:29:59.999Z"), {due[0]}, 10).send.size(), 1u);
  Plan evening = s.plan(*parse_rfc3339("2026-11-30T17:30:00Z"), {due[0]}, 10);
  ASSERT_EQ(evening.outside.size(), 1u);
  EXPECT_EQ(evening.outside[0].until, *parse_rfc3339("2026-12-01T09:00:00Z"));
}

TEST(RelayScheduler, AnOfficesLettersAreSpreadAcrossItsOpenHours) {
  // 09:00-17:00 and 16 letters a day to one office: one every 30 minutes, not 16 at nine.
  SendingWindow w = office_hours();
  std::tie(w.opens, w.closes) = *parse_hours("09:00-17:00");
  EXPECT_EQ(pacing_gap({.per_day = 16}, w.open_length()), minutes(30));
  EXPECT_EQ(pacing_gap({.per_hour = 4, .per_day = 100}, w.open_length()), minutes(15)) << "the tighter limit";
  EXPECT_EQ(pacing_gap({.per_hour = 30}, minutes(30)), minutes(1)) << "a window shorter than an hour";

  RelayScheduler s(relay(), retry(), no_jitter());
  s.use_target_limits({{"c", {.per_day = 16}}});
  s.seed_targets("c", {});
  s.use_windows({{{"c", "mp"}, w}});
  std::vector<DueLetter> due;
  for (int i = 1; i <= 3; ++i) due.push_back({i, "c", "mp-a", false, "mp"});
  due.push_back({4, "c", "mp-b", false, "mp"});
  const TimePoint nine = *parse_rfc3339("2026-12-01T09:00:00Z");
  Plan opening = s.plan(nine, due, 10);
  EXPECT_EQ(opening.send, (std::vector<long long>{1, 4})) << "one to each office at the opening";
  ASSERT_EQ(opening.hold.size(), 1u);
  EXPECT_EQ(opening.hold[0].target_id, "mp-a");
  EXPECT_EQ(opening.hold[0].until, nine + minutes(30));
  deliver_all(s, opening, due, nine);
  std::vector<DueLetter> rest{due[1], due[2]};
  EXPECT_TRUE(s.plan(nine + minutes(29), rest, 10).send.empty());
  EXPECT_EQ(s.plan(nine + minutes(30), rest, 10).send, (std::vector<long long>{2}));

  // Without a window the limit alone applies, as before: all three at once.
  RelayScheduler any_time(relay(), retry(), no_jitter());
  any_time.use_target_limits({{"c", {.per_day = 16}}});
  any_time.seed_targets("c", {});
  EXPECT_EQ(any_time.plan(nine, {due[0], due[1], due[2]}, 10).send.size(), 3u);
}

TEST(RelayScheduler, ANewConfigsWindowsReplaceTheOld) {
  RelayScheduler s(relay(), retry(), no_jitter());
  s.use_windows({{{"c", "mp"}, office_hours()}});
  const TimePoint night = *parse_rfc3339("2026-12-01T23:00:00Z");
  std::vector<DueLetter> due{{1, "c", "mp-a", false, "mp"}};
  EXPECT_TRUE(s.plan(night, due, 10).send.empty());
  s.use_windows({});
  EXPECT_EQ(s.plan(night, due, 10).send, (std::vector<long long>{1}));
}

TEST(RelayScheduler, ATargetAtItsLimitIsHeldWhileOthersGo) {
  RelayScheduler s(relay({}, 1), retry(), no_jitter());
  s.use_target_limits({{"c", {.per_hour = 2}}});
  ASSERT_TRUE(s.needs_target_seeds("c"));
  s.seed_targets("c", {});
  std::vector<DueLetter> due = {
      {1, "c", "mp-a"}, {2, "c", "mp-a"}, {3, "c", "mp-a"}, {4, "c", "mp-b"}, {5, "c", "mp-a"}};
  Plan plan = s.plan(kNoon, due, 32);
  EXPECT_EQ(plan.send, (std::vector<long long>{1, 2, 4}));
  ASSERT_EQ(plan.hold.size(), 1u) << "one hold for the target, not one per letter";
  EXPECT_EQ(plan.hold[0].target_id, "mp-a");
  EXPECT_EQ(plan.hold[0].until, kNoon + hours(1));
}

TEST(RelayScheduler, ARestartCountsTheSendsTheLogHolds) {
  RelayScheduler s(relay({.per_hour = 2}), retry(), no_jitter());
  ASSERT_TRUE(s.needs_relay_seeds());
  EXPECT_EQ(s.relay_seed_count(), 2u);
  EXPECT_LE(s.relay_seed_since(kNoon), kNoon - hours(1)) << "the log is read back over the whole window";
  s.seed_relay({kNoon - minutes(50), kNoon - minutes(10)});
  EXPECT_FALSE(s.needs_relay_seeds());
  Plan plan = s.plan(kNoon, letters(1), 1);
  EXPECT_TRUE(plan.send.empty());
  EXPECT_EQ(*plan.relay_slot, kNoon + minutes(10));

  // The same for a target's limit, from one read for the whole campaign.
  RelayScheduler t(relay({}, 1), retry(), no_jitter());
  t.use_target_limits({{"c", {.per_day = 1}}});
  EXPECT_LE(t.target_seed_since("c", kNoon), kNoon - hours(24));
  t.seed_targets("c", {{"mp-a", kNoon - hours(23)}});
  Plan held = t.plan(kNoon, {{1, "c", "mp-a"}, {2, "c", "mp-b"}}, 32);
  EXPECT_EQ(held.send, (std::vector<long long>{2}));
  EXPECT_EQ(held.hold.at(0).until, kNoon + hours(1));
}

TEST(RelayScheduler, NewTargetLimitsAfterAReloadReadTheLogAgainAndKeepSendsUnderWay) {
  RelayScheduler s(relay({}, 1), retry(), no_jitter());
  s.use_target_limits({{"c", {.per_hour = 5}}});
  s.seed_targets("c", {});
  ASSERT_EQ(s.plan(kNoon, letters(1), 32).send.size(), 1u);  // under way
  s.use_target_limits({{"c", {.per_hour = 1}}});
  EXPECT_TRUE(s.needs_target_seeds("c"));
  s.seed_targets("c", {});
  Plan plan = s.plan(kNoon + seconds(1), {{2, "c", "mp-a"}}, 32);
  EXPECT_TRUE(plan.send.empty()) << "the letter under way fills the new hour";
  // Unchanged limits keep their seeds: no read of the log at each reload.
  s.use_target_limits({{"c", {.per_hour = 1}}});
  EXPECT_FALSE(s.needs_target_seeds("c"));
  // Limits removed: the campaign's letters go unheld.
  s.use_target_limits({});
  EXPECT_EQ(s.plan(kNoon + seconds(2), {{2, "c", "mp-a"}}, 32).send.size(), 1u);
}

TEST(RelayScheduler, ARelayFaultPausesTheRelayAndCostsTheLetterNothing) {
  RelayScheduler s(relay(), retry(), no_jitter());
  DueLetter letter{1, "c", "mp-a"};
  TryDecision d = s.after_try(letter, kNoon, Outcome::relay_fault, 3, kNoon - hours(500), kNoon);
  EXPECT_EQ(d.relay, TryDecision::Relay::paused);
  EXPECT_FALSE(d.counts_as_attempt);
  EXPECT_EQ(d.verdict.status, MessageStatus::deferred) << "never failed for the relay's fault, however old";
  EXPECT_EQ(d.verdict.next_attempt_at, kNoon + minutes(1));
  EXPECT_TRUE(s.paused(kNoon + seconds(59)));
  EXPECT_FALSE(s.paused(kNoon + minutes(1)));
  // Another session's fault while paused changes nothing: one pause, one line in the log.
  TryDecision same = s.after_try(letter, kNoon, Outcome::relay_fault, 0, kNoon, kNoon + seconds(1));
  EXPECT_EQ(same.relay, TryDecision::Relay::unchanged);
  EXPECT_EQ(same.verdict.next_attempt_at, kNoon + minutes(1));
  // Still down after the pause: the next pause doubles.
  TryDecision again = s.after_try(letter, kNoon, Outcome::relay_fault, 0, kNoon, kNoon + minutes(1));
  EXPECT_EQ(again.relay, TryDecision::Relay::still_failing);
  EXPECT_EQ(again.pause, minutes(2));
  // A letter through: working again, and the next fault starts from retry.first.
  TryDecision back = s.after_try(letter, kNoon, Outcome::sent, 0, kNoon, kNoon + minutes(4));
  EXPECT_EQ(back.relay, TryDecision::Relay::working_again);
  EXPECT_EQ(back.verdict.status, MessageStatus::sent);
  EXPECT_EQ(s.after_try(letter, kNoon, Outcome::relay_fault, 0, kNoon, kNoon + minutes(5)).pause, minutes(1));
}

TEST(RelayScheduler, TwoPolicyRefusalsInARowPauseTheRelay) {
  RelayScheduler s(relay(), retry(), no_jitter());
  DueLetter letter{1, "c", "mp-a"};
  TryDecision first = s.after_try(letter, kNoon, Outcome::refused, 0, kNoon, kNoon);
  EXPECT_TRUE(first.counts_as_attempt) << "one refusal may be this letter's";
  EXPECT_EQ(first.verdict.status, MessageStatus::deferred);
  EXPECT_FALSE(s.paused(kNoon));
  TryDecision second = s.after_try(letter, kNoon, Outcome::refused, 0, kNoon, kNoon + seconds(1));
  EXPECT_FALSE(second.counts_as_attempt) << "twice is the relay's terms";
  EXPECT_EQ(second.relay, TryDecision::Relay::paused);
  EXPECT_TRUE(s.paused(kNoon + seconds(2)));
  // A letter the relay took in between breaks the streak.
  RelayScheduler t(relay(), retry(), no_jitter());
  t.after_try(letter, kNoon, Outcome::refused, 0, kNoon, kNoon);
  t.after_try(letter, kNoon, Outcome::sent, 0, kNoon, kNoon);
  EXPECT_TRUE(t.after_try(letter, kNoon, Outcome::refused, 0, kNoon, kNoon).counts_as_attempt);
}

TEST(RelayScheduler, DeferralsBackOffWithTheInjectedJitterAndFailAtTheLifetime) {
  double jitter = 0.0;
  RelayScheduler s(relay(), retry(), [&] { return jitter; });
  DueLetter letter{1, "c", "mp-a"};
  EXPECT_EQ(s.after_try(letter, kNoon, Outcome::deferred, 0, kNoon, kNoon).verdict.next_attempt_at, kNoon + minutes(1));
  EXPECT_EQ(s.after_try(letter, kNoon, Outcome::deferred, 2, kNoon, kNoon).verdict.next_attempt_at, kNoon + minutes(4));
  jitter = 0.999;  // at most 15 % shorter
  TimePoint jittered = *s.after_try(letter, kNoon, Outcome::deferred, 2, kNoon, kNoon).verdict.next_attempt_at;
  EXPECT_LT(jittered, kNoon + minutes(4));
  EXPECT_GE(jittered, kNoon + seconds(204));
  TryDecision old = s.after_try(letter, kNoon, Outcome::deferred, 40, kNoon - hours(72), kNoon);
  EXPECT_EQ(old.verdict.status, MessageStatus::failed);
  EXPECT_NE(old.verdict.reason.find("retry.lifetime"), std::string::npos);
}

}  // namespace
}  // namespace letterd
