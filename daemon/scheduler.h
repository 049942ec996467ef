// The scheduler: every decision about when a letter may go. Like
// OpenSMTPD's scheduler it answers only "send these now", "hold those
// until", "wake at"; it reads no clock and opens no file, socket or
// database. Time, the letters due, the sessions' load, the log's recent
// sends and the random source all come in, so every rule here is tested
// with made-up values. delivery.cpp carries out its answers.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config.h"
#include "smtp.h"
#include "status.h"
#include "timefmt.h"
#include "window.h"

namespace letterd {

// What a try meant, from how the dialogue ended: the one place that decides.
Outcome classify(const SendResult& result);

// The wait before retry number `attempts` + 1 (attempts >= 1): retry.first,
// doubling each time, never above retry.max, then shortened by up to 15 %
// with `jitter` in [0, 1) so deferred letters do not return in lockstep.
Duration retry_delay(int attempts, const RetryPolicy& policy, double jitter);

// The status a message takes after a try.
struct Verdict {
  MessageStatus status = MessageStatus::deferred;
  std::optional<TimePoint> next_attempt_at;
  std::string reason;  // set when retry.lifetime turned a deferral into a failure
};

// `attempts` counts this try; `lifetime_from` starts retry.lifetime.
Verdict judge(Outcome outcome, int attempts, TimePoint lifetime_from, TimePoint now, const RetryPolicy& policy,
              double jitter);

// Sliding-window limits: at most N sends in any second, minute, hour and
// day. It remembers the latest sends (as many as the largest limit), so
// the windows are exact, not bucketed.
class RateLimiter {
 public:
  explicit RateLimiter(RateLimits limits);

  // The earliest time, not before `now`, at which one more send keeps
  // every window within its limit. A send still under way counts as
  // reaching the relay now, the earliest it can.
  TimePoint next_slot(TimePoint now) const;

  // Counts a send the relay had at `at` (from the log, on start).
  void record(TimePoint at);

  // Counts a send handed to a session at `claimed_at`: under way until
  // reached() or forget().
  void claim(TimePoint claimed_at);

  // The send claimed at `claimed_at` ended, the relay having had it at
  // `reached_at` (the end of its DATA): it counts there from now on, so
  // the windows hold as the relay counts, however long the send took.
  void reached(TimePoint claimed_at, TimePoint reached_at);

  // Uncounts a send claimed at `claimed_at` that never reached the relay.
  void forget(TimePoint claimed_at);

  // Takes over the sends under way of a limiter this one replaces (new
  // limits after a reload), so their ends are counted here.
  void adopt_under_way(const RateLimiter& old);

  const RateLimits& limits() const { return limits_; }
  // The latest send it counts, ended or under way; nullopt: none.
  std::optional<TimePoint> latest() const;
  // How many past sends the limiter needs to be exact: seed it with that
  // many of the latest sends from the log, oldest first.
  std::size_t memory() const { return memory_; }
  // How far back a send can still count against a window.
  Duration longest_window() const;

 private:
  RateLimits limits_;
  std::size_t memory_ = 0;
  std::deque<TimePoint> sends_;         // ended, when the relay had them: oldest first
  std::multiset<TimePoint> under_way_;  // claimed, not yet ended
};

// The least time between two sends to one target whose letters go in a
// sending window `open` long a day: its per_target limits spread evenly,
// the day's over the open hours, rather than spent at the opening.
Duration pacing_gap(const RateLimits& per_target, Duration open);

// A letter due now, as the scheduler needs to know it.
struct DueLetter {
  long long id = 0;
  std::string campaign, target_id;
  // The supporter's copy goes as a message of its own after the letter:
  // two sends to the relay, one to the target.
  bool copy_apart = false;
  std::string letter;  // its letter's name in the campaign: the window it goes in
};

// A letter due outside its sending window: it waits for the opening.
struct WindowWait {
  long long id = 0;
  TimePoint until;
};

// Each campaign's letters' sending windows, by (campaign, letter).
using Windows = std::map<std::pair<std::string, std::string>, SendingWindow>;

// A target whose per_target limit holds all its waiting letters back.
struct TargetHold {
  std::string campaign, target_id;
  TimePoint until;
};

// One answer to "what now?" for a relay.
struct Plan {
  std::vector<long long> send;          // claim these, in this order, at `now`
  std::vector<TargetHold> hold;         // make these targets' letters wait
  std::vector<WindowWait> outside;      // make these letters wait for their window
  std::optional<TimePoint> relay_slot;  // the relay's own limit stopped the plan: ask again then
  bool filled = false;                  // every free place in the sessions was taken
};

// What the relay does after one try at a letter.
struct TryDecision {
  Verdict verdict;                // the letter's new status
  bool counts_as_attempt = true;  // a wait caused by the relay costs the letter no attempt
  enum class Relay { unchanged, paused, still_failing, working_again } relay = Relay::unchanged;
  Duration pause{0};  // with paused or still_failing: how long
};

// A source of numbers in [0, 1) for jitter: injected, so tests pin it.
using Jitter = std::function<double()>;

// Every send decision for one relay: its rate windows and its campaigns'
// per_target windows, its pause after relay-wide faults, and the streak
// of policy refusals. Not thread-safe: delivery guards it.
class RelayScheduler {
 public:
  RelayScheduler(const RelayConfig& relay, RetryPolicy retry, Jitter jitter);

  // The per_target limits of the campaigns through this relay, as the
  // config in force has them. A campaign whose limits changed starts from
  // the log again (needs_target_seeds); its sends under way carry over.
  void use_target_limits(const std::map<std::string, RateLimits>& per_target);
  // The sending windows of the campaigns through this relay, as the config
  // in force has them: a letter goes only inside its own.
  void use_windows(Windows windows) { windows_ = std::move(windows); }

  // The relay's windows start from the log, so a restart cannot exceed
  // them: seed once with the latest relay_seed_count() sends since
  // seed_since(now), oldest first.
  bool needs_relay_seeds() const { return !relay_seeded_; }
  std::size_t relay_seed_count() const { return relay_limiter_.memory(); }
  TimePoint relay_seed_since(TimePoint now) const;
  void seed_relay(const std::vector<TimePoint>& sends);

  // A campaign with per_target limits is read from the log once, for all
  // its targets, before its letters are planned.
  bool needs_target_seeds(const std::string& campaign) const;
  TimePoint target_seed_since(const std::string& campaign, TimePoint now) const;
  void seed_targets(const std::string& campaign, const std::vector<std::pair<std::string, TimePoint>>& sends);

  // How many more letters the sessions may be handed, with `in_hand`
  // claimed and not yet ended. A relay without rate limits keeps a queue
  // for each session, claimed ahead, so a session never waits for the
  // loop; one with limits claims only for an idle session, so letters
  // leave when the limits counted them. 0 until enough room is free.
  int room(int in_hand) const;

  bool paused(TimePoint now) const { return paused_until_ && *paused_until_ > now; }
  std::optional<TimePoint> paused_until() const { return paused_until_; }

  // Which of `due` (oldest first) go now, at most `room` of them: each
  // counted in every window it falls in. A letter outside its sending
  // window waits for the opening; one whose target's limit is reached
  // holds that target back while letters to others go ahead.
  Plan plan(TimePoint now, const std::vector<DueLetter>& due, int room);

  // A planned send that never reached the relay (cancelled, paused,
  // unbuildable, not claimed): its place in the windows is free again,
  // and its copy's.
  void give_back(const DueLetter& letter, TimePoint claimed_at);

  // What one try, claimed at `claimed_at` and ended at `ended`, means for
  // the letter and the relay. `attempts` counts the tries before this one.
  // A relay fault, or a policy refusal right after another, pauses the
  // relay: the letter waits for it, costing no attempt. A copy sent apart
  // is settled by copy_ended(), whatever the letter's outcome.
  TryDecision after_try(const DueLetter& letter, TimePoint claimed_at, Outcome outcome, int attempts,
                        TimePoint lifetime_from, TimePoint ended);

  // The copy apart of the letter claimed at `claimed_at` reached the relay
  // at `reached_at`, or never went (nullopt: the letter did not go).
  void copy_ended(TimePoint claimed_at, std::optional<TimePoint> reached_at);

  const RetryPolicy& retry() const { return retry_; }

 private:
  RateLimiter* target_limiter(const DueLetter& letter);
  TryDecision pause(TimePoint now);

  RetryPolicy retry_;
  Jitter jitter_;
  int capacity_, refill_room_;
  RateLimiter relay_limiter_;
  bool relay_seeded_ = false;
  std::map<std::string, RateLimits> target_limits_;  // per campaign, only those with limits
  Windows windows_;
  std::map<std::pair<std::string, std::string>, RateLimiter> target_limiters_;
  // Each campaign's recent sends per target, read from the log in one
  // query: a limiter made later for a target starts from them.
  std::map<std::string, std::map<std::string, std::vector<TimePoint>>> target_seeds_;
  std::optional<TimePoint> paused_until_;
  int consecutive_faults_ = 0;
  int consecutive_refusals_ = 0;
};

}  // namespace letterd
