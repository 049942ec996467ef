#include "scheduler.h"

#include <algorithm>
#include <cmath>

namespace letterd {

const char* to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::sent: return "sent";
    case Outcome::deferred: return "deferred";
    case Outcome::failed: return "failed";
    case Outcome::relay_fault: return "relay-fault";
    case Outcome::refused: return "refused";
  }
  return "unknown";
}

Duration retry_delay(int attempts, const RetryPolicy& policy, double jitter) {
  // Double in floating point and clamp before converting, so a large
  // attempt count cannot overflow and the first retries really do grow.
  double exponent = std::clamp(attempts - 1, 0, 62);
  double wanted = static_cast<double>(policy.first.count()) * std::pow(2.0, exponent);
  double capped = std::min(wanted, static_cast<double>(policy.max.count()));
  double shortened = capped * (1.0 - 0.15 * std::clamp(jitter, 0.0, 1.0));
  return Duration{std::max<long long>(1, std::llround(shortened))};
}

Verdict judge(Outcome outcome, int attempts, TimePoint created_at, TimePoint now, const RetryPolicy& policy,
              double jitter) {
  switch (outcome) {
    case Outcome::sent: return {"sent", std::nullopt, ""};
    case Outcome::failed: return {"failed", std::nullopt, ""};
    case Outcome::deferred:
    case Outcome::refused:
    case Outcome::relay_fault: break;
  }
  TimePoint next = now + retry_delay(attempts, policy, jitter);
  // A relay fault is never the message's fault: it waits as long as it takes.
  if (outcome != Outcome::relay_fault && next > created_at + policy.lifetime)
    return {"failed", std::nullopt, "still deferred after retry.lifetime (" + format_duration(policy.lifetime) + ")"};
  return {"deferred", next, ""};
}

namespace {

struct Window {
  std::optional<long> limit;
  Duration span;
};

}  // namespace

RateLimiter::RateLimiter(RateLimits limits) : limits_(limits) {
  for (auto limit : {limits.per_second, limits.per_minute, limits.per_hour, limits.per_day})
    if (limit) memory_ = std::max<std::size_t>(memory_, static_cast<std::size_t>(*limit));
}

Duration RateLimiter::longest_window() const {
  using namespace std::chrono;
  if (limits_.per_day) return hours(24);
  if (limits_.per_hour) return hours(1);
  if (limits_.per_minute) return minutes(1);
  if (limits_.per_second) return seconds(1);
  return Duration(0);
}

TimePoint RateLimiter::next_slot(TimePoint now) const {
  using namespace std::chrono;
  const Window windows[] = {{limits_.per_second, seconds(1)},
                            {limits_.per_minute, minutes(1)},
                            {limits_.per_hour, hours(1)},
                            {limits_.per_day, hours(24)}};
  TimePoint slot = now;
  for (const auto& w : windows) {
    if (!w.limit) continue;
    auto limit = static_cast<std::size_t>(*w.limit);
    if (sends_.size() + under_way_.size() < limit) continue;
    // Sends under way may reach the relay any moment: a window from now holds them all.
    if (under_way_.size() >= limit) {
      slot = std::max(slot, now + w.span);  // in fact: until one of them ends
      continue;
    }
    // The (limit - under way)-th latest ended send must have left the window before one more fits.
    TimePoint oldest_in_window = sends_[sends_.size() - (limit - under_way_.size())];
    slot = std::max(slot, oldest_in_window + w.span);
  }
  return slot;
}

void RateLimiter::record(TimePoint at) {
  if (memory_ == 0) return;
  sends_.insert(std::upper_bound(sends_.begin(), sends_.end(), at), at);
  while (sends_.size() > memory_) sends_.pop_front();
}

void RateLimiter::claim(TimePoint claimed_at) {
  if (memory_ > 0) under_way_.insert(claimed_at);
}

void RateLimiter::reached(TimePoint claimed_at, TimePoint reached_at) {
  auto it = under_way_.find(claimed_at);
  if (it == under_way_.end()) return;
  under_way_.erase(it);
  record(reached_at);
}

void RateLimiter::adopt_under_way(const RateLimiter& old) {
  if (memory_ > 0) under_way_.insert(old.under_way_.begin(), old.under_way_.end());
}

void RateLimiter::forget(TimePoint claimed_at) {
  if (auto it = under_way_.find(claimed_at); it != under_way_.end()) under_way_.erase(it);
}

}  // namespace letterd
