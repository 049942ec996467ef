#include "delivery.h"

#include <netdb.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <regex>

#include "message.h"

namespace letterd {

namespace {

// How many due messages one query brings for each idle session: enough to
// skip those held back by their target's limit without a query each.
constexpr int kDuePerSession = 8;

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

// Relays echo addresses in their replies ("<jane@example.org>: Recipient
// address rejected"); the log must not carry a supporter's address.
std::string redact(const std::string& reply) {
  static const std::regex address(R"([^\s<>"]+@[^\s<>"]+)");
  return std::regex_replace(reply, address, "[address]");
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

  std::mutex mutex;  // guards everything below
  std::condition_variable work;
  struct Job {
    StoredMessage message;
    TimePoint claimed_at;  // the time the rate limits counted: the attempt's `at`
  };
  std::deque<Job> jobs;
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

  // Pauses the relay (caller holds the mutex). Loud once; quieter while it stays down.
  void pause(const SendResult& result, TimePoint now) {
    if (paused_until && *paused_until > now) return;  // another session already paused it
    ++consecutive_faults;
    Duration wait = retry_delay(consecutive_faults, retry, jitter());
    paused_until = now + wait;
    std::string reason = (result.code ? std::to_string(result.code) + " " : "") + redact(result.response);
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
      Relay::Shared::Job job;
      {
        std::unique_lock lock(s.mutex);
        s.work.wait(lock, [&] { return s.stopping || !s.jobs.empty(); });
        if (s.stopping) break;
        job = std::move(s.jobs.front());
        s.jobs.pop_front();
        ++s.in_flight;
      }
      const StoredMessage& m = job.message;
      try {
        deliver(m, job.claimed_at);
      } catch (const std::exception& e) {
        // The database refused the outcome: the row stays `sending` and is
        // sent again at the next start, as after a crash.
        s.log.error("message {}: {}; it will be tried again when letterd restarts", m.id, e.what());
      }
      {
        std::lock_guard lock(s.mutex);
        --s.in_flight;
      }
      s.wake();
    }
    if (smtp_) smtp_->close();
  }

 private:
  Store& store() {
    if (!store_) store_ = std::make_unique<Store>(shared_->database);
    return *store_;
  }

  void record(const Store::AttemptRecord& r) {
    // A busy database gets a few chances before the outcome is given up to
    // the restart recovery.
    for (int tries = 1;; ++tries) {
      try {
        store().record_attempt(r);
        return;
      } catch (const std::exception&) {
        if (tries == 5) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(200 * tries));
      }
    }
  }

  // `claimed_at` is when the rate limits counted this send, and so the
  // attempt's time in the log the limits are seeded from after a restart.
  void deliver(const StoredMessage& m, TimePoint claimed_at) {
    auto& s = *shared_;
    {
      std::lock_guard lock(s.mutex);
      if (s.paused_until && *s.paused_until > now_ms()) {
        // Handed over before another session paused the relay: it waits too.
        store().release(m.id, *s.paused_until);
        return;
      }
    }
    std::string data;
    try {
      data = message_bytes(m);
    } catch (const std::exception& e) {
      // Intake checks every value that reaches a header, so this is a stored
      // row changed by hand: fail it rather than retry it for ever.
      record({m.id, now_ms(), s.relay.name, 0, std::string("cannot build the message: ") + e.what(), 0, "failed",
              "failed", std::nullopt, true});
      s.log.error("failed message {}: cannot build it: {}", m.id, e.what());
      return;
    }
    TimePoint started = now_ms();
    TimePoint at = claimed_at;
    SendResult result;
    try {
      if (!smtp_) smtp_ = std::make_unique<SmtpSession>(s.relay, read_relay_password(s.relay), s.helo);
      Envelope envelope{m.from.address, {m.to.address}};
      if (!m.copy_to.empty()) envelope.recipients.push_back(m.copy_to);
      result = smtp_->send(envelope, data);
      if (result.refused_recipient == 1 && result.outcome != Outcome::relay_fault) {
        // Only the supporter's own copy was refused: the letter must still go.
        // (Not CURLOPT_MAIL_RCPT_ALLOWFAILS: with it, a refused target and an
        // accepted copy would count as sent, the letter reaching only the supporter.)
        s.log.warn("message {}: the relay refused the supporter's copy ({} {}); sending without it", m.id,
                   result.code, redact(result.response));
        envelope.recipients.pop_back();
        result = smtp_->send(envelope, data);
      }
    } catch (const std::exception& e) {  // the password cannot be read
      result.outcome = Outcome::relay_fault;
      result.response = e.what();
    }
    TimePoint ended = now_ms();
    long long took = (ended - started).count();

    if (result.outcome == Outcome::relay_fault) {
      smtp_.reset();
      std::optional<TimePoint> until;
      {
        std::lock_guard lock(s.mutex);
        s.pause(result, ended);
        until = s.paused_until;
      }
      record({m.id, at, s.relay.name, result.code, result.response, took, to_string(result.outcome), "deferred", until,
              false});
      return;
    }
    Verdict verdict;
    bool pause_for_refusals = false;
    {
      std::lock_guard lock(s.mutex);
      if (s.consecutive_faults > 0) s.log.info("relay {} is working again", s.relay.name);
      s.consecutive_faults = 0;
      verdict = judge(result.outcome, m.attempts + 1, m.lifetime_from, ended, s.retry, s.jitter());
      // One policy refusal may be about one recipient; two in a row are the
      // relay's terms (relay access, the sender, the HELO name): stop and wait.
      s.consecutive_refusals = result.outcome == Outcome::refused ? s.consecutive_refusals + 1 : 0;
      if (s.consecutive_refusals >= 2) {
        s.pause(result, ended);
        pause_for_refusals = true;
      }
    }
    std::string response = verdict.reason.empty() ? result.response : result.response + " (" + verdict.reason + ")";
    record({m.id, at, s.relay.name, result.code, response, took, to_string(result.outcome), verdict.status,
            verdict.next_attempt_at, true});
    if (pause_for_refusals) smtp_.reset();
    if (verdict.status == "sent")
      s.log.info("sent message {} ({} to {}) via {}: {} {}", m.id, m.letter, m.target_id, s.relay.name, result.code,
                 redact(result.response));
    else if (verdict.status == "deferred")
      s.log.warn("deferred message {} ({} to {}): {} {}; next try at {}", m.id, m.letter, m.target_id, result.code,
                 redact(result.response), format_utc(*verdict.next_attempt_at));
    else
      s.log.error("failed message {} ({} to {}): {} {}", m.id, m.letter, m.target_id, result.code, redact(response));
  }

  std::shared_ptr<Relay::Shared> shared_;
  std::unique_ptr<SmtpSession> smtp_;
  std::unique_ptr<Store> store_;
};

}  // namespace

Relay::Relay(const RelayConfig& relay, const Config& config, Store& store, const std::string& database,
             spdlog::logger& log, int wake_fd)
    : relay_(relay),
      config_(config),
      store_(store),
      log_(log),
      shared_(std::make_shared<Shared>(relay, config.retry, database, log, wake_fd)),
      limiter_(relay.rate) {
  if (limiter_.memory() > 0) {
    // Seed the windows from the log, so a restart cannot exceed them.
    TimePoint day_ago = now_ms() - std::chrono::hours(24);
    for (TimePoint t : store_.recent_sends(relay_.name, limiter_.memory(), day_ago)) limiter_.record(t);
  }
  for (int i = 0; i < relay.connections; ++i) sessions_.emplace_back([shared = shared_] { Session(shared).run(); });
}

Relay::~Relay() { stop(); }

bool Relay::has_due(TimePoint now) {
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->paused_until && *shared_->paused_until > now) return false;
  }
  auto next = store_.next_due(relay_.name);
  return next && *next <= now;
}

bool Relay::busy() {
  std::lock_guard lock(shared_->mutex);
  return shared_->in_flight > 0 || !shared_->jobs.empty();
}

bool Relay::target_allows(const StoredMessage& m, TimePoint now, TimePoint& slot) {
  const CampaignConfig* campaign = config_.campaign(m.campaign);
  if (!campaign || !campaign->per_target.any()) return true;
  auto key = std::make_pair(m.campaign, m.target_id);
  auto it = target_limiters_.find(key);
  if (it == target_limiters_.end()) {
    RateLimiter limiter(campaign->per_target);
    TimePoint day_ago = now - std::chrono::hours(24);
    for (TimePoint t : store_.recent_target_sends(m.campaign, m.target_id, limiter.memory(), day_ago))
      limiter.record(t);
    it = target_limiters_.emplace(key, std::move(limiter)).first;
  }
  slot = it->second.next_slot(now);
  return slot <= now;
}

std::optional<TimePoint> Relay::dispatch() {
  for (;;) {
    TimePoint now = now_ms();
    int idle;
    {
      std::lock_guard lock(shared_->mutex);
      if (shared_->paused_until && *shared_->paused_until > now) return shared_->paused_until;
      idle = relay_.connections - shared_->in_flight - static_cast<int>(shared_->jobs.size());
    }
    if (idle <= 0) return std::nullopt;  // a session finishing wakes the loop
    auto due = store_.due(relay_.name, now, idle * kDuePerSession);
    if (due.empty()) return store_.next_due(relay_.name);
    bool moved = false;
    for (auto& m : due) {
      if (idle == 0) return std::nullopt;
      now = now_ms();
      TimePoint slot = limiter_.next_slot(now);
      if (slot > now) return slot;
      TimePoint target_slot;
      if (!target_allows(m, now, target_slot)) {
        // Held back for its inbox's sake: it waits, costing no attempt.
        store_.hold(m.id, target_slot);
        moved = true;
        continue;
      }
      if (!store_.mark_sending(m.id, now)) continue;  // taken meanwhile
      limiter_.record(now);
      if (auto t = target_limiters_.find({m.campaign, m.target_id}); t != target_limiters_.end()) t->second.record(now);
      {
        std::lock_guard lock(shared_->mutex);
        shared_->jobs.push_back({std::move(m), now});
      }
      shared_->work.notify_one();
      --idle;
      moved = true;
    }
    if (!moved) return store_.next_due(relay_.name);
  }
}

void Relay::stop() {
  std::deque<Shared::Job> unstarted;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->stopping && sessions_.empty()) return;
    shared_->stopping = true;
    unstarted.swap(shared_->jobs);
  }
  shared_->work.notify_all();
  for (auto& t : sessions_) t.join();
  sessions_.clear();
  for (const auto& job : unstarted) {
    try {
      store_.release(job.message.id, now_ms());
    } catch (const std::exception& e) {
      log_.error("message {}: {}; it is queued again when letterd restarts", job.message.id, e.what());
    }
  }
}

}  // namespace letterd
