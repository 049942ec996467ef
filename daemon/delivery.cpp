#include "delivery.h"

#include <netdb.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <set>

#include "message.h"

namespace letterd {

namespace {

// How many due messages one query brings beyond the room for them, per
// session: enough to skip those held back by their target's limit without
// a query each.
constexpr int kDuePerSession = 8;

// Claimed messages a session of a relay without rate limits may have
// waiting: enough to cover the loop taking in a batch of files meanwhile.
constexpr int kQueuedPerSession = 32;

// Outcomes a session may leave to the recorder before it waits for them to
// be committed. More share a commit under load; each is a letter a crash
// could send twice, so the bound is small.
constexpr int kUnrecordedPerSession = 8;
constexpr auto kGatherOutcomes = std::chrono::milliseconds(2);

// The name this machine gives in EHLO: its fully qualified name, which
// strict relays (Postfix's reject_non_fqdn_helo_hostname) insist on.
std::string default_helo_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || !host[0]) return "localhost.localdomain";
  addrinfo hints{};
  hints.ai_flags = AI_CANONNAME;
  addrinfo* info = nullptr;
  std::string name = host;
  if (::getaddrinfo(host, nullptr, &hints, &info) == 0 && info && info->ai_canonname) name = info->ai_canonname;
  if (info) ::freeaddrinfo(info);
  return name;
}


}  // namespace

std::string message_bytes(const StoredMessage& m) {
  OutgoingMessage out;
  out.from = m.from;
  out.reply_to = m.reply_to;
  out.to = m.to;
  out.subject = m.subject;
  out.body = m.body;
  out.message_id = m.message_id;
  out.date = m.created_at;
  if (m.reflect) out.extra_headers.emplace_back("X-Letterd-Mode", "reflect (test: not sent to the target)");
  return build_message(out);
}

struct Relay::Job {
  StoredMessage message;
  TimePoint claimed_at;  // the time the rate limits counted: the attempt's `at`
};

struct Relay::Shared {
  Shared(const RelayConfig& relay, const RetryPolicy& retry, std::string database, spdlog::logger& log, int wake_fd)
      : relay(relay), retry(retry), database(std::move(database)), log(log), wake_fd(wake_fd),
        helo(relay.helo_name.empty() ? default_helo_name() : relay.helo_name), random(std::random_device{}()) {}

  const RelayConfig relay;
  const RetryPolicy retry;
  const std::string database;
  spdlog::logger& log;
  const int wake_fd;
  const std::string helo;

  // A claimed send, settled once it ended: a slot given back when it never
  // reached the relay, else moved to when the relay had it.
  struct Settled {
    TimePoint claimed_at;
    std::optional<TimePoint> reached_at;
    std::string campaign, target_id;
  };

  // How many claimed messages the sessions may hold, in hand or waiting,
  // and the room below that the loop waits for before claiming more. A
  // relay without rate limits keeps a queue for each session, so a session
  // never waits for the loop; one with limits claims only for an idle
  // session, so letters leave when the limits counted them.
  const int capacity = relay.rate.any() ? relay.connections : relay.connections * kQueuedPerSession;
  const int refill_room = relay.rate.any() ? 1 : capacity / 2;

  const std::size_t unrecorded_limit = static_cast<std::size_t>(relay.connections) * kUnrecordedPerSession;

  std::mutex mutex;  // guards everything below
  std::condition_variable work;
  std::deque<Job> jobs;
  // Outcomes the sessions handed to the recorder, and how many it is committing.
  std::vector<Store::AttemptRecord> unrecorded;
  std::size_t recording = 0;
  bool recorder_stopping = false;
  bool final_stop = false;  // stop(): the recorder may give up on a database that never answers
  std::condition_variable record_work;  // the recorder waits on it
  std::condition_variable recorded;     // sessions wait on it when the bound is reached
  std::vector<Settled> settled;
  int in_flight = 0;
  bool stopping = false;
  std::optional<TimePoint> paused_until;
  int consecutive_faults = 0;
  int consecutive_refusals = 0;
  std::mt19937_64 random;

  double jitter() {
    std::uniform_real_distribution<double> d(0.0, 1.0);
    return d(random);
  }

  bool paused(TimePoint now) const { return paused_until && *paused_until > now; }

  // Pauses the relay (caller holds the mutex). Loud once; quieter while it stays down.
  void pause(const SendResult& result, TimePoint now) {
    if (paused(now)) return;  // another session already paused it
    ++consecutive_faults;
    Duration wait = retry_delay(consecutive_faults, retry, jitter());
    paused_until = now + wait;
    std::string reason = (result.code ? std::to_string(result.code) + " " : "") + redact_addresses(result.response);
    if (consecutive_faults == 1)
      log.error("relay {} paused: {}; its messages wait, none fails for this; next try in {}", relay.name, reason,
                format_duration(wait));
    else
      log.info("relay {} still failing ({}); next try in {}", relay.name, reason, format_duration(wait));
  }

  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
  }
};

namespace {

// One SMTP session and one database connection, on a thread of its own.
class Session {
 public:
  explicit Session(std::shared_ptr<Relay::Shared> shared) : shared_(std::move(shared)) {}

  void run() {
    auto& s = *shared_;
    for (;;) {
      Relay::Job job;
      {
        std::unique_lock lock(s.mutex);
        s.work.wait(lock, [&] { return s.stopping || !s.jobs.empty(); });
        if (s.stopping) break;
        job = std::move(s.jobs.front());
        s.jobs.pop_front();
        ++s.in_flight;
      }
      try {
        deliver(job.message, job.claimed_at);
      } catch (const std::exception& e) {
        // Only a database refusing to take a letter back gets here: the row
        // stays `sending` and is sent at the next start, as after a crash.
        s.log.error("message {}: {}; it will be tried again when letterd restarts", job.message.id, e.what());
      }
      bool room_for_more;
      {
        std::lock_guard lock(s.mutex);
        --s.in_flight;
        room_for_more = s.capacity - s.in_flight - static_cast<int>(s.jobs.size()) >= s.refill_room;
      }
      if (room_for_more) s.wake();
    }
    if (smtp_) smtp_->close();
  }

 private:
  Store& store() {
    if (!store_) store_ = std::make_unique<Store>(shared_->database, Store::Access::existing);
    return *store_;
  }

  // Hands an outcome to the recorder; waits only while the bound of
  // outcomes not yet committed is reached.
  void record(Store::AttemptRecord r) {
    auto& s = *shared_;
    {
      std::unique_lock lock(s.mutex);
      s.recorded.wait(lock, [&] { return s.unrecorded.size() + s.recording < s.unrecorded_limit; });
      s.unrecorded.push_back(std::move(r));
    }
    s.record_work.notify_one();
  }

  void give_back_slot(const StoredMessage& m, TimePoint claimed_at) { settle(m, claimed_at, std::nullopt); }

  void settle(const StoredMessage& m, TimePoint claimed_at, std::optional<TimePoint> reached_at) {
    std::lock_guard lock(shared_->mutex);
    shared_->settled.push_back({claimed_at, reached_at, m.campaign, m.target_id});
  }

  void deliver(const StoredMessage& m, TimePoint claimed_at) {
    auto& s = *shared_;
    std::optional<TimePoint> paused_until;
    {
      std::lock_guard lock(s.mutex);
      if (s.paused(now_ms())) paused_until = s.paused_until;
    }
    if (paused_until) {
      // Handed over before another session paused the relay: it waits too.
      give_back_slot(m, claimed_at);
      store().release(m.id, *paused_until);
      return;
    }
    bool cancelled = false;
    try {
      cancelled = !store().still_sending(m.id);
    } catch (const std::exception& e) {
      // The check serves an erasure request; a database too busy to answer
      // must not strand the letter `sending` until the next start.
      s.log.warn("message {}: cannot check it is still to be sent ({}); sending it", m.id, e.what());
    }
    if (cancelled) {
      // Cancelled since it was claimed (`purge --supporter`): it must not go.
      give_back_slot(m, claimed_at);
      s.log.info("message {} was cancelled before it was sent", m.id);
      return;
    }
    std::string data;
    try {
      data = message_bytes(m);
    } catch (const std::exception& e) {
      // Intake checks every value that reaches a header, so this is a stored
      // row changed by hand: fail it rather than retry it for ever.
      record({m.id, claimed_at, s.relay.name, 0, std::string("cannot build the message: ") + e.what(), 0,
              "failed", "failed", std::nullopt, true});
      give_back_slot(m, claimed_at);
      s.log.error("failed message {}: cannot build it: {}", m.id, e.what());
      return;
    }
    TimePoint started = now_ms();
    SendResult result;
    try {
      if (!smtp_) smtp_ = std::make_unique<SmtpSession>(s.relay, s.relay.password, s.helo);
      Envelope envelope{m.from.address, {m.to.address}};
      if (!m.copy_to.empty()) envelope.recipients.push_back(m.copy_to);
      result = smtp_->send(envelope, data);
      if (result.refused_recipient == 1 && result.outcome != Outcome::relay_fault) {
        // Only the supporter's own copy was refused: the letter must still go.
        // (Not CURLOPT_MAIL_RCPT_ALLOWFAILS: with it, a refused target and an
        // accepted copy would count as sent, the letter reaching only the supporter.)
        s.log.warn("message {}: the relay refused the supporter's copy ({} {}); sending without it", m.id,
                   result.code, redact_addresses(result.response));
        envelope.recipients.pop_back();
        result = smtp_->send(envelope, data);
      }
    } catch (const std::exception& e) {  // the password cannot be read
      result.outcome = Outcome::relay_fault;
      result.response = e.what();
    }
    TimePoint ended = now_ms();
    long long took = (ended - started).count();
    if (result.outcome != Outcome::relay_fault) settle(m, claimed_at, ended);

    // A refusal by policy right after another is the relay's terms, not
    // this letter's: it waits like a relay fault, costing no attempt.
    bool relay_wide = result.outcome == Outcome::relay_fault;
    Verdict verdict;
    std::optional<TimePoint> until;
    {
      std::lock_guard lock(s.mutex);
      if (result.outcome == Outcome::refused) relay_wide = ++s.consecutive_refusals >= 2;
      if (relay_wide) {
        s.pause(result, ended);
        until = s.paused_until;
      } else {
        if (result.outcome != Outcome::refused) {
          s.consecutive_refusals = 0;
          if (s.consecutive_faults > 0) s.log.info("relay {} is working again", s.relay.name);
          s.consecutive_faults = 0;
        }
        verdict = judge(result.outcome, m.attempts + 1, m.lifetime_from, ended, s.retry, s.jitter());
      }
    }
    if (relay_wide) {
      smtp_.reset();
      if (result.outcome == Outcome::relay_fault) give_back_slot(m, claimed_at);
      record({m.id, started, s.relay.name, result.code, result.response, took, to_string(result.outcome),
              "deferred", until, false});
      return;
    }
    std::string response = verdict.reason.empty() ? result.response : result.response + " (" + verdict.reason + ")";
    record({m.id, started, s.relay.name, result.code, response, took, to_string(result.outcome), verdict.status,
            verdict.next_attempt_at, true});
    if (verdict.status == "sent")
      s.log.info("sent message {} ({} to {}) via {}: {} {}", m.id, m.letter, m.target_id, s.relay.name, result.code,
                 redact_addresses(result.response));
    else if (verdict.status == "deferred")
      s.log.warn("deferred message {} ({} to {}): {} {}; next try at {}", m.id, m.letter, m.target_id, result.code,
                 redact_addresses(result.response), format_utc(*verdict.next_attempt_at));
    else
      s.log.error("failed message {} ({} to {}): {} {}", m.id, m.letter, m.target_id, result.code, redact_addresses(response));
  }

  std::shared_ptr<Relay::Shared> shared_;
  std::unique_ptr<SmtpSession> smtp_;
  std::unique_ptr<Store> store_;
};

// Commits the sessions' outcomes, as many as are waiting in one transaction,
// on a thread and database connection of its own.
class Recorder {
 public:
  explicit Recorder(std::shared_ptr<Relay::Shared> shared) : shared_(std::move(shared)) {}

  void run() {
    auto& s = *shared_;
    for (;;) {
      std::vector<Store::AttemptRecord> batch;
      {
        std::unique_lock lock(s.mutex);
        s.record_work.wait(lock, [&] { return s.recorder_stopping || !s.unrecorded.empty(); });
        if (s.unrecorded.empty()) break;  // stopping, and all recorded
        // While the sessions are busy, a moment's wait lets more outcomes
        // share the commit; an idle relay's outcome is committed at once.
        if (s.in_flight > 0)
          s.record_work.wait_for(lock, kGatherOutcomes, [&] {
            return s.recorder_stopping || s.unrecorded.size() >= s.unrecorded_limit / 2;
          });
        batch.swap(s.unrecorded);
        s.recording = batch.size();
      }
      try {
        commit(batch);
      } catch (const std::exception& e) {
        // Only a database that never answered gets here: the rows stay
        // `sending` and are sent again at the next start, as after a crash.
        s.log.error("{} outcome(s) not recorded: {}; those letters are sent again when letterd restarts",
                    batch.size(), e.what());
      }
      {
        std::lock_guard lock(s.mutex);
        s.recording = 0;
      }
      s.recorded.notify_all();
      s.wake();  // a deferred letter may be due again: the loop looks
    }
  }

 private:
  // An outcome is never dropped: a letter the relay took and the log does
  // not know of would be sent again. The database gets as long as it needs
  // while letterd runs; when it is stopping, a few more chances.
  void commit(const std::vector<Store::AttemptRecord>& batch) {
    auto& s = *shared_;
    auto wait = std::chrono::milliseconds(100);
    for (int tries_after_stop = 0;;) {
      try {
        if (!store_) store_ = std::make_unique<Store>(s.database, Store::Access::existing);
        store_->record_attempts(batch);
        return;
      } catch (const std::exception& e) {
        bool stopping;
        {
          std::lock_guard lock(s.mutex);
          // At the daemon's stop the sessions end first, and may be waiting
          // on this very commit; a relay retired by a reload keeps trying.
          stopping = s.final_stop || s.recorder_stopping;
        }
        if (stopping && ++tries_after_stop > 5) throw;
        if (wait == std::chrono::milliseconds(100))
          s.log.warn("cannot record {} outcome(s) yet ({}); trying again", batch.size(), e.what());
        std::this_thread::sleep_for(wait);
        wait = std::min(wait * 2, std::chrono::milliseconds(5000));
      }
    }
  }

  std::shared_ptr<Relay::Shared> shared_;
  std::unique_ptr<Store> store_;
};

std::vector<std::string> campaigns_through(const Config& config, const std::string& relay) {
  std::vector<std::string> names;
  for (const auto& [name, campaign] : config.campaigns)
    if (campaign.relay == relay) names.push_back(name);
  return names;
}

}  // namespace

namespace {

// Sends that began this long before a window's start may still have reached
// the relay inside it: a try lasts at most a few of the relay's timeouts.
constexpr auto kLongestTry = std::chrono::minutes(10);

// How far back the log is read to seed a limiter: its longest window, so
// the cost is bounded by the limits, not by the length of the campaign.
TimePoint seed_since(const RateLimiter& limiter, TimePoint now) { return now - limiter.longest_window() - kLongestTry; }

}  // namespace

Relay::Relay(const RelayConfig& relay, const Config& config, Store& store, const std::string& database,
             spdlog::logger& log, int wake_fd)
    : relay_(relay),
      config_(&config),
      campaigns_(campaigns_through(config, relay.name)),
      store_(store),
      log_(log),
      shared_(std::make_shared<Shared>(relay, config.retry, database, log, wake_fd)),
      limiter_(relay.rate) {
  try {
    recorder_ = std::thread([shared = shared_] { Recorder(shared).run(); });
    for (int i = 0; i < relay.connections; ++i)
      sessions_.emplace_back([shared = shared_] { Session(shared).run(); });
  } catch (...) {
    stop();  // a joinable std::thread must never be destroyed
    throw;
  }
}

Relay::~Relay() { stop(); }

const RetryPolicy& Relay::retry_policy() const { return shared_->retry; }

void Relay::use(const Config& config) {
  // A target's limiter carries on while its campaign's per_target stays the
  // same: the log alone does not know the sends under way. Others are
  // seeded afresh from the log, one read per campaign.
  target_seeds_.clear();
  std::map<std::string, std::map<std::string, std::vector<TimePoint>>> seeds;
  for (auto it = target_limiters_.begin(); it != target_limiters_.end();) {
    const auto& [campaign, target] = it->first;
    const CampaignConfig* before = config_->campaign(campaign);
    const CampaignConfig* after = config.campaign(campaign);
    if (!after || !after->per_target.any()) {
      it = target_limiters_.erase(it);
      continue;
    }
    if (!before || !(before->per_target == after->per_target)) {
      // New limits: seeded from the log, and the sends under way carried over.
      RateLimiter limiter(after->per_target);
      if (!seeds.count(campaign)) seeds[campaign] = read_target_seeds(campaign, seed_since(limiter, now_ms()));
      for (TimePoint t : seeds[campaign][target]) limiter.record(t);
      limiter.adopt_under_way(it->second);
      it->second = std::move(limiter);
    }
    ++it;
  }
  config_ = &config;
  campaigns_ = campaigns_through(config, relay_.name);
}

std::map<std::string, std::vector<TimePoint>> Relay::read_target_seeds(const std::string& campaign, TimePoint since) {
  std::map<std::string, std::vector<TimePoint>> by_target;
  for (auto& [target, at] : store_.recent_campaign_sends(campaign, since)) by_target[target].push_back(at);
  return by_target;
}

bool Relay::has_due(TimePoint now) {
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->paused(now)) return false;
  }
  auto next = store_.next_due(relay_.name, campaigns_);
  return next && *next <= now;
}

bool Relay::busy() {
  std::lock_guard lock(shared_->mutex);
  return shared_->in_flight > 0 || !shared_->jobs.empty() || !shared_->unrecorded.empty() ||
         shared_->recording > 0;
}

bool Relay::target_allows(const StoredMessage& m, TimePoint now, TimePoint& slot) {
  const CampaignConfig* campaign = config_->campaign(m.campaign);
  if (!campaign || !campaign->per_target.any()) return true;
  auto key = std::make_pair(m.campaign, m.target_id);
  auto it = target_limiters_.find(key);
  if (it == target_limiters_.end()) {
    RateLimiter limiter(campaign->per_target);
    auto seeds = target_seeds_.find(m.campaign);
    if (seeds == target_seeds_.end())
      seeds = target_seeds_.emplace(m.campaign, read_target_seeds(m.campaign, seed_since(limiter, now))).first;
    // Sends to this target since the seeds were read went through its
    // limiter, which did not exist: the seeds are all there is to count.
    if (auto sends = seeds->second.find(m.target_id); sends != seeds->second.end())
      for (TimePoint t : sends->second) limiter.record(t);
    it = target_limiters_.emplace(key, std::move(limiter)).first;
  }
  slot = it->second.next_slot(now);
  return slot <= now;
}

void Relay::settle_slots() {
  std::vector<Shared::Settled> settled;
  {
    std::lock_guard lock(shared_->mutex);
    settled.swap(shared_->settled);
  }
  for (const auto& u : settled) {
    auto target = target_limiters_.find({u.campaign, u.target_id});
    if (u.reached_at) {
      limiter_.reached(u.claimed_at, *u.reached_at);
      if (target != target_limiters_.end()) target->second.reached(u.claimed_at, *u.reached_at);
    } else {
      limiter_.forget(u.claimed_at);
      if (target != target_limiters_.end()) target->second.forget(u.claimed_at);
    }
  }
}

std::optional<TimePoint> Relay::dispatch() {
  if (!seeded_) {
    // The windows start from the log, so a restart (or a reload that
    // replaced this relay, once its predecessor is done) cannot exceed them.
    if (limiter_.memory() > 0) {
      for (TimePoint t : store_.recent_sends(relay_.name, limiter_.memory(), seed_since(limiter_, now_ms())))
        limiter_.record(t);
    }
    seeded_ = true;
  }
  // A hold lasts until its time, across dispatches that see nothing due.
  if (rate_hold_ && *rate_hold_ <= now_ms()) rate_hold_.reset();
  settle_slots();
  auto hold_until = [&](TimePoint t) { rate_hold_ = rate_hold_ ? std::min(*rate_hold_, t) : t; };
  for (;;) {
    TimePoint now = now_ms();
    int room;
    {
      std::lock_guard lock(shared_->mutex);
      if (shared_->stopping) return std::nullopt;
      if (shared_->paused(now)) return shared_->paused_until;
      room = shared_->capacity - shared_->in_flight - static_cast<int>(shared_->jobs.size());
    }
    if (room < shared_->refill_room) return std::nullopt;  // a session finishing wakes the loop
    auto due = store_.due(relay_.name, campaigns_, now, room + kDuePerSession * relay_.connections);
    if (due.empty()) return store_.next_due(relay_.name, campaigns_);
    std::vector<Job> picked;
    std::optional<TimePoint> limit_reached;
    bool moved = false;
    std::set<std::pair<std::string, std::string>> held;
    // A claim counts in the limits until settled: one left behind by an
    // exception here would hold the relay back for good.
    try {
      for (auto& m : due) {
        if (static_cast<int>(picked.size()) == room) break;
        if (held.count({m.campaign, m.target_id})) continue;
        now = now_ms();
        TimePoint slot = limiter_.next_slot(now);
        if (slot > now) {
          hold_until(slot);
          limit_reached = slot;
          break;
        }
        TimePoint target_slot;
        if (!target_allows(m, now, target_slot)) {
          // Held back for its inbox's sake: every letter to that target waits,
          // costing no attempt, while letters to others go ahead.
          store_.hold_target(m.campaign, m.target_id, target_slot);
          held.insert({m.campaign, m.target_id});
          hold_until(target_slot);
          moved = true;
          continue;
        }
        limiter_.claim(now);
        if (auto t = target_limiters_.find({m.campaign, m.target_id}); t != target_limiters_.end()) t->second.claim(now);
        picked.push_back({std::move(m), now});
      }
    } catch (...) {
      give_back(picked, {});
      throw;
    }
    hand_over(picked);
    if (limit_reached) return limit_reached;
    if (static_cast<int>(picked.size()) == room) return std::nullopt;
    if (!moved && picked.empty()) return store_.next_due(relay_.name, campaigns_);
  }
}

void Relay::hand_over(std::vector<Job>& picked) {
  if (picked.empty()) return;
  std::vector<long long> ids;
  for (const auto& job : picked) ids.push_back(job.message.id);
  std::vector<long long> claimed;
  try {
    claimed = store_.mark_sending(ids, picked.back().claimed_at);
  } catch (...) {
    claimed.clear();
    give_back(picked, claimed);
    throw;
  }
  give_back(picked, claimed);
  {
    std::lock_guard lock(shared_->mutex);
    for (auto& job : picked)
      if (std::find(claimed.begin(), claimed.end(), job.message.id) != claimed.end())
        shared_->jobs.push_back(std::move(job));
  }
  if (claimed.size() == 1) shared_->work.notify_one();
  else if (!claimed.empty()) shared_->work.notify_all();
}

// The rate slots of picked messages that were not claimed (another process
// took them, or the database refused) are free again.
void Relay::give_back(const std::vector<Job>& picked, const std::vector<long long>& claimed) {
  for (const auto& job : picked) {
    if (std::find(claimed.begin(), claimed.end(), job.message.id) != claimed.end()) continue;
    limiter_.forget(job.claimed_at);
    if (auto t = target_limiters_.find({job.message.campaign, job.message.target_id}); t != target_limiters_.end())
      t->second.forget(job.claimed_at);
  }
}

void Relay::begin_stop() {
  std::deque<Job> unstarted;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->stopping) return;
    shared_->stopping = true;
    unstarted.swap(shared_->jobs);
  }
  shared_->work.notify_all();
  if (unstarted.empty()) return;
  try {
    Store::Batch batch(store_);
    for (const auto& job : unstarted) store_.release(job.message.id, now_ms());
    batch.commit();
  } catch (const std::exception& e) {
    log_.error("{} claimed message(s): {}; they are queued again when letterd restarts", unstarted.size(), e.what());
  }
}

void Relay::stop() {
  begin_stop();
  {
    std::lock_guard lock(shared_->mutex);
    shared_->final_stop = true;
  }
  for (auto& t : sessions_)
    if (t.joinable()) t.join();
  sessions_.clear();
  // The sessions are done: what they finished is recorded before the recorder ends.
  {
    std::lock_guard lock(shared_->mutex);
    shared_->recorder_stopping = true;
  }
  shared_->record_work.notify_all();
  if (recorder_.joinable()) recorder_.join();
}

}  // namespace letterd
