// Delivery decisions as pure functions of values and time: what a send
// result means for a message, when to try again, and when the relay's rate
// limits let the next letter go. No I/O here; time always comes in.
#pragma once

#include <deque>
#include <optional>
#include <set>
#include <string>

#include "config.h"
#include "timefmt.h"

namespace letterd {

// What became of one try at a message, decided in one place (smtp.cpp classify()).
enum class Outcome {
  sent,         // 2xx after DATA
  deferred,     // 4xx, a timeout or a dropped connection: try again later
  failed,       // 5xx to this message: give up now
  relay_fault,  // cannot connect, TLS or AUTH refused, 421: the relay, not the message
  refused,      // the relay's policy refused the sender or recipient (5.7.x at MAIL or RCPT):
                // retried like a deferral, and twice in a row pauses the relay
};

const char* to_string(Outcome outcome);

// The wait before retry number `attempts` + 1 (attempts >= 1): retry.first,
// doubling each time, never above retry.max, then shortened by up to 15 %
// with `jitter` in [0, 1) so deferred letters do not return in lockstep.
Duration retry_delay(int attempts, const RetryPolicy& policy, double jitter);

// The status a message takes after a try.
struct Verdict {
  std::string status;  // sent, deferred, failed
  std::optional<TimePoint> next_attempt_at;
  std::string reason;  // set when retry.lifetime turned a deferral into a failure
};

// `attempts` counts this try; `created_at` starts retry.lifetime.
Verdict judge(Outcome outcome, int attempts, TimePoint created_at, TimePoint now, const RetryPolicy& policy,
              double jitter);

// Sliding-window limits for one relay: at most N sends in any second,
// minute, hour and day. It remembers the latest sends (as many as the
// largest limit), so the windows are exact, not bucketed.
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

  // How many past sends the limiter needs to be exact: seed it with that
  // many of the latest sends from the log, oldest first.
  std::size_t memory() const { return memory_; }
  // How far back a send can still count against a window.
  Duration longest_window() const;

 private:
  RateLimits limits_;
  std::size_t memory_ = 0;
  std::deque<TimePoint> sends_;          // ended, when the relay had them: oldest first
  std::multiset<TimePoint> under_way_;  // claimed, not yet ended
};

}  // namespace letterd
