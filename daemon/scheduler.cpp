#include "scheduler.h"

#include <algorithm>
#include <cmath>

namespace letterd {

namespace {

// The enhanced status code ("5.7.1") a reply text starts with, or "".
std::string_view enhanced_status(std::string_view text) {
  std::size_t end = text.find(' ');
  std::string_view word = text.substr(0, end);
  bool shaped = word.size() >= 5 && word[1] == '.' && (word[0] >= '2' && word[0] <= '5');
  return shaped ? word : std::string_view{};
}

// How many due letters a relay without rate limits may have claimed per
// session: enough to cover the loop taking in a batch of files meanwhile.
constexpr int kQueuedPerSession = 32;

// Sends that began this long before a window's start may still have reached
// the relay inside it: a try lasts at most a few of the relay's timeouts.
constexpr auto kLongestTry = std::chrono::minutes(10);

}  // namespace

Outcome classify(const SendResult& result) {
  const int code = result.code;
  if (result.transfer == Transfer::completed) return Outcome::sent;
  // A 2xx to the end of DATA is the relay taking the letter, whatever went
  // wrong after it (a reply too long for libcurl, a dropped connection):
  // sending it again would deliver it again.
  if (result.stage == SmtpStage::done && code >= 200 && code < 300) return Outcome::sent;
  // 421 is the relay closing the session on everyone, whatever the stage.
  if (code == 421 || result.transfer == Transfer::login_refused) return Outcome::relay_fault;
  bool permanent = code >= 500 && code < 600;
  // Postfix answers most policy checks (relay access, the sender, the HELO
  // name) at RCPT: a refusal of the relay's terms, not of this letter.
  std::string_view status = enhanced_status(result.response);
  bool policy = status.starts_with("5.7.") || status.starts_with("5.5.") || code == 530 || code == 504;
  switch (result.stage) {
    case SmtpStage::connect:
    case SmtpStage::greeting:
    case SmtpStage::tls:
    case SmtpStage::auth:
      // Nothing about this message has been said yet: the relay itself is
      // unreachable or refuses us, and every message would meet the same.
      return Outcome::relay_fault;
    case SmtpStage::mail:
      if (code == 552) return Outcome::failed;  // this message is too large for the relay
      return permanent ? Outcome::refused : Outcome::relay_fault;
    case SmtpStage::rcpt:
      if (permanent) return policy ? Outcome::refused : Outcome::failed;
      return Outcome::deferred;
    case SmtpStage::data:
    case SmtpStage::done:
      return permanent ? Outcome::failed : Outcome::deferred;  // 4xx, a timeout or a dropped connection
  }
  return Outcome::deferred;
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

Verdict judge(Outcome outcome, int attempts, TimePoint lifetime_from, TimePoint now, const RetryPolicy& policy,
              double jitter) {
  switch (outcome) {
    case Outcome::sent:
      return {.status = MessageStatus::sent};
    case Outcome::failed:
      return {.status = MessageStatus::failed};
    case Outcome::deferred:
    case Outcome::refused:
    case Outcome::relay_fault:
      break;
  }
  TimePoint next = now + retry_delay(attempts, policy, jitter);
  // A relay fault is never the message's fault: it waits as long as it takes.
  if (outcome != Outcome::relay_fault && next > lifetime_from + policy.lifetime)
    return {.status = MessageStatus::failed,
            .reason = "still deferred after retry.lifetime (" + format_duration(policy.lifetime) + ")"};
  return {.status = MessageStatus::deferred, .next_attempt_at = next};
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

std::optional<TimePoint> RateLimiter::latest() const {
  std::optional<TimePoint> out;
  if (!sends_.empty()) out = sends_.back();
  if (!under_way_.empty()) out = out ? std::max(*out, *under_way_.rbegin()) : *under_way_.rbegin();
  return out;
}

Duration pacing_gap(const RateLimits& per_target, Duration open) {
  using namespace std::chrono;
  Duration gap{0};
  auto spread = [&gap](const std::optional<long>& limit, Duration span) {
    if (limit) gap = std::max(gap, duration_cast<Duration>(span / *limit));
  };
  spread(per_target.per_second, seconds(1));
  spread(per_target.per_minute, minutes(1));
  spread(per_target.per_hour, std::min<Duration>(hours(1), open));
  spread(per_target.per_day, open);
  return gap;
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

RelayScheduler::RelayScheduler(const RelayConfig& relay, RetryPolicy retry, Jitter jitter)
    : retry_(retry),
      jitter_(std::move(jitter)),
      capacity_(relay.rate.any() ? relay.connections : relay.connections * kQueuedPerSession),
      refill_room_(relay.rate.any() ? 1 : capacity_ / 2),
      relay_limiter_(relay.rate),
      relay_seeded_(relay_limiter_.memory() == 0) {}

void RelayScheduler::use_target_limits(const std::map<std::string, RateLimits>& per_target) {
  std::map<std::string, RateLimits> limited;
  for (const auto& [campaign, limits] : per_target)
    if (limits.any()) limited.emplace(campaign, limits);
  for (auto it = target_limiters_.begin(); it != target_limiters_.end();) {
    auto now_limits = limited.find(it->first.first);
    if (now_limits == limited.end()) {
      it = target_limiters_.erase(it);
      continue;
    }
    if (!(it->second.limits() == now_limits->second)) {
      RateLimiter fresh(now_limits->second);
      fresh.adopt_under_way(it->second);
      it->second = std::move(fresh);
    }
    ++it;
  }
  // Seeds hold for a campaign whose limits are the same; the others read
  // the log again, over their new longest window.
  std::erase_if(target_seeds_, [&](const auto& seeds) {
    auto before = target_limits_.find(seeds.first);
    auto after = limited.find(seeds.first);
    return before == target_limits_.end() || after == limited.end() || !(before->second == after->second);
  });
  target_limits_ = std::move(limited);
}

TimePoint RelayScheduler::relay_seed_since(TimePoint now) const {
  return now - relay_limiter_.longest_window() - kLongestTry;
}

void RelayScheduler::seed_relay(const std::vector<TimePoint>& sends) {
  for (TimePoint t : sends) relay_limiter_.record(t);
  relay_seeded_ = true;
}

bool RelayScheduler::needs_target_seeds(const std::string& campaign) const {
  return target_limits_.count(campaign) && !target_seeds_.count(campaign);
}

TimePoint RelayScheduler::target_seed_since(const std::string& campaign, TimePoint now) const {
  auto limits = target_limits_.find(campaign);
  Duration window = limits == target_limits_.end() ? Duration(0) : RateLimiter(limits->second).longest_window();
  return now - window - kLongestTry;
}

void RelayScheduler::seed_targets(const std::string& campaign,
                                  const std::vector<std::pair<std::string, TimePoint>>& sends) {
  auto& by_target = target_seeds_[campaign];
  by_target.clear();
  for (const auto& [target, at] : sends) by_target[target].push_back(at);
  // Limiters that outlived a change of limits start again from the log.
  for (auto& [key, limiter] : target_limiters_) {
    if (key.first != campaign) continue;
    if (auto seeds = by_target.find(key.second); seeds != by_target.end())
      for (TimePoint t : seeds->second) limiter.record(t);
  }
}

int RelayScheduler::room(int in_hand) const {
  int free = capacity_ - in_hand;
  return free >= refill_room_ ? free : 0;
}

RateLimiter* RelayScheduler::target_limiter(const DueLetter& letter) {
  auto limits = target_limits_.find(letter.campaign);
  if (limits == target_limits_.end()) return nullptr;
  auto key = std::make_pair(letter.campaign, letter.target_id);
  auto it = target_limiters_.find(key);
  if (it == target_limiters_.end()) {
    // Sends to this target since the seeds were read went through its
    // limiter, which did not exist: the seeds are all there is to count.
    RateLimiter limiter(limits->second);
    if (auto campaign = target_seeds_.find(letter.campaign); campaign != target_seeds_.end())
      if (auto sends = campaign->second.find(letter.target_id); sends != campaign->second.end())
        for (TimePoint t : sends->second) limiter.record(t);
    it = target_limiters_.emplace(key, std::move(limiter)).first;
  }
  return &it->second;
}

Plan RelayScheduler::plan(TimePoint now, const std::vector<DueLetter>& due, int room) {
  Plan plan;
  std::set<std::pair<std::string, std::string>> held;
  for (const auto& letter : due) {
    if (static_cast<int>(plan.send.size()) >= room) break;
    if (held.count({letter.campaign, letter.target_id})) continue;
    const SendingWindow* window = nullptr;
    if (auto w = windows_.find({letter.campaign, letter.letter}); w != windows_.end()) {
      window = &w->second;
      std::optional<TimePoint> opening = w->second.next_opening(now);
      if (opening != now) {
        // A window that never opens in a year (every day a holiday) is looked at again tomorrow.
        plan.outside.push_back({letter.id, opening.value_or(now + std::chrono::hours(24))});
        continue;
      }
    }
    if (TimePoint slot = relay_limiter_.next_slot(now); slot > now) {
      plan.relay_slot = slot;
      break;
    }
    RateLimiter* target = target_limiter(letter);
    if (TimePoint slot = target ? target->next_slot(now) : now; slot > now) {
      // Held back for its inbox's sake: every letter to that target waits,
      // costing no attempt, while letters to others go ahead.
      plan.hold.push_back({letter.campaign, letter.target_id, slot});
      held.insert({letter.campaign, letter.target_id});
      continue;
    }
    if (target && window) {
      // Paced across the open hours: an office's letters arrive through its day, not at its opening.
      std::optional<TimePoint> last = target->latest();
      TimePoint paced = last ? *last + pacing_gap(target->limits(), window->open_length()) : now;
      if (paced > now) {
        plan.hold.push_back({letter.campaign, letter.target_id, paced});
        held.insert({letter.campaign, letter.target_id});
        continue;
      }
    }
    relay_limiter_.claim(now);
    if (letter.copy_apart) {
      if (TimePoint slot = relay_limiter_.next_slot(now); slot > now) {
        relay_limiter_.forget(now);
        plan.relay_slot = slot;
        break;
      }
      relay_limiter_.claim(now);
    }
    if (target) target->claim(now);
    plan.send.push_back(letter.id);
  }
  plan.filled = static_cast<int>(plan.send.size()) >= room;
  return plan;
}

void RelayScheduler::give_back(const DueLetter& letter, TimePoint claimed_at) {
  relay_limiter_.forget(claimed_at);
  if (letter.copy_apart) relay_limiter_.forget(claimed_at);
  if (auto t = target_limiters_.find({letter.campaign, letter.target_id}); t != target_limiters_.end())
    t->second.forget(claimed_at);
}

TryDecision RelayScheduler::after_try(const DueLetter& letter, TimePoint claimed_at, Outcome outcome, int attempts,
                                      TimePoint lifetime_from, TimePoint ended) {
  // A relay fault is the relay not taking the letter: it never reached it.
  if (outcome == Outcome::relay_fault) {
    give_back(DueLetter{letter.id, letter.campaign, letter.target_id}, claimed_at);
  } else {
    relay_limiter_.reached(claimed_at, ended);
    if (auto t = target_limiters_.find({letter.campaign, letter.target_id}); t != target_limiters_.end())
      t->second.reached(claimed_at, ended);
  }
  // A refusal by policy right after another is the relay's terms, not
  // this letter's: it waits like a relay fault.
  bool relay_wide = outcome == Outcome::relay_fault;
  if (outcome == Outcome::refused) relay_wide = ++consecutive_refusals_ >= 2;
  if (relay_wide) return pause(ended);
  TryDecision decision;
  if (outcome != Outcome::refused) {
    consecutive_refusals_ = 0;
    if (consecutive_faults_ > 0) decision.relay = TryDecision::Relay::working_again;
    consecutive_faults_ = 0;
  }
  decision.verdict = judge(outcome, attempts + 1, lifetime_from, ended, retry_, jitter_());
  return decision;
}

void RelayScheduler::copy_ended(TimePoint claimed_at, std::optional<TimePoint> reached_at) {
  if (reached_at)
    relay_limiter_.reached(claimed_at, *reached_at);
  else
    relay_limiter_.forget(claimed_at);
}

TryDecision RelayScheduler::pause(TimePoint now) {
  TryDecision decision{.counts_as_attempt = false};
  if (!paused(now)) {  // else another session already paused it
    ++consecutive_faults_;
    decision.pause = retry_delay(consecutive_faults_, retry_, jitter_());
    paused_until_ = now + decision.pause;
    decision.relay = consecutive_faults_ == 1 ? TryDecision::Relay::paused : TryDecision::Relay::still_failing;
  }
  decision.verdict = {.status = MessageStatus::deferred, .next_attempt_at = paused_until_};
  return decision;
}

}  // namespace letterd
