// A relay's session threads (one SMTP session and one database connection
// each) and its recorder thread. They carry out the scheduler's decisions;
// they decide nothing themselves.
#include <netdb.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "delivery_detail.h"
#include "message.h"

namespace letterd {

namespace {

// Outcomes per session that may wait for one commit. More share a commit
// under load; each is a letter a crash could send twice, so the bound is small.
constexpr int kUnrecordedPerSession = 8;
constexpr auto kGatherOutcomes = std::chrono::milliseconds(2);

// The name this machine gives in EHLO: its fully qualified name, which
// strict relays (Postfix's reject_non_fqdn_helo_hostname) insist on. A DNS
// lookup: asked on a session's thread, never on the loop's.
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

Jitter random_jitter() {
  auto random = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [random] { return std::uniform_real_distribution<double>(0.0, 1.0)(*random); };
}

}  // namespace

Relay::Shared::Shared(const RelayConfig& relay, const RetryPolicy& retry, std::string database, spdlog::logger& log,
                      int wake_fd)
    : relay(relay),
      database(std::move(database)),
      log(log),
      wake_fd(wake_fd),
      unrecorded_limit(static_cast<std::size_t>(relay.connections) * kUnrecordedPerSession),
      scheduler(relay, retry, random_jitter()) {}

void Relay::Shared::wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
}

namespace {

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
        deliver(job);
      } catch (const std::exception& e) {
        // Only a database refusing to take a letter back gets here: the row
        // stays `sending` and is sent at the next start, as after a crash.
        s.log.error("message {}: {}; it will be tried again when letterd restarts", job.message.id, e.what());
      }
      bool room_for_more;
      {
        std::lock_guard lock(s.mutex);
        --s.in_flight;
        room_for_more = s.scheduler.room(s.in_hand()) > 0;
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

  void give_back(const Relay::Job& job) {
    std::lock_guard lock(shared_->mutex);
    shared_->scheduler.give_back(due_letter(job), job.claimed_at);
  }

  // Whether the letter must not go after all: the relay was paused after
  // it was handed over (it waits too), or it was cancelled since.
  bool withdrawn(const Relay::Job& job) {
    auto& s = *shared_;
    const StoredMessage& m = job.message;
    std::optional<TimePoint> paused_until;
    {
      std::lock_guard lock(s.mutex);
      if (s.scheduler.paused(now_ms())) paused_until = s.scheduler.paused_until();
    }
    if (paused_until) {
      give_back(job);
      store().release(m.id, *paused_until);
      return true;
    }
    bool cancelled = false;
    try {
      cancelled = !store().still_sending(m.id);
    } catch (const std::exception& e) {
      // The check serves an erasure request; a database too busy to answer
      // must not strand the letter `sending` until the next start.
      s.log.warn("message {}: cannot check it is still to be sent ({}); sending it", m.id, e.what());
    }
    if (cancelled) {  // `purge --supporter` since it was claimed
      give_back(job);
      s.log.info("message {} was cancelled before it was sent", m.id);
    }
    return cancelled;
  }

  SendResult send(const Relay::Job& job, const std::string& data) {
    auto& s = *shared_;
    const StoredMessage& m = job.message;
    if (!smtp_) {
      if (helo_.empty()) helo_ = s.relay.helo_name.empty() ? default_helo_name() : s.relay.helo_name;
      smtp_ = std::make_unique<SmtpSession>(s.relay, s.relay.password, helo_);
    }
    bool copy_apart = !m.copy_to.empty() && !job.copy_mail_from.empty();
    Envelope envelope{job.mail_from, {m.to.address}};
    if (!m.copy_to.empty() && !copy_apart) envelope.recipients.push_back(m.copy_to);
    SendResult result = smtp_->send(envelope, data);
    if (result.refused_recipient == 1 && classify(result) != Outcome::relay_fault) {
      // Only the supporter's own copy was refused: the letter must still go.
      // (Not CURLOPT_MAIL_RCPT_ALLOWFAILS: with it, a refused target and an
      // accepted copy would count as sent, the letter reaching only the supporter.)
      s.log.warn("message {}: the relay refused the supporter's copy ({} {}); sending without it", m.id, result.code,
                 redact_addresses(result.response));
      envelope.recipients.pop_back();
      result = smtp_->send(envelope, data);
    }
    return result;
  }

  // The supporter's copy in a transaction of its own, once the letter's
  // outcome is recorded: a crash or a slow relay now can lose the copy,
  // never send the letter twice. Its fate is logged, never the letter's.
  void send_copy(const Relay::Job& job, const std::string& data, bool letter_went) {
    auto& s = *shared_;
    std::optional<TimePoint> reached;
    if (letter_went) {
      SendResult copy = smtp_->send({job.copy_mail_from, {job.message.copy_to}}, data);
      reached = now_ms();
      if (copy.transfer != Transfer::completed) {
        s.log.warn("message {}: the relay did not take the supporter's copy ({} {}); the letter went", job.message.id,
                   copy.code, redact_addresses(copy.response));
        if (classify(copy) == Outcome::relay_fault) reached.reset();
      }
    }
    std::lock_guard lock(s.mutex);
    s.scheduler.copy_ended(job.claimed_at, reached);
  }

  void deliver(const Relay::Job& job) {
    auto& s = *shared_;
    const StoredMessage& m = job.message;
    if (withdrawn(job)) return;
    std::string data;
    try {
      data = build_message(outgoing_letter(m.planned(), m.message_id, m.created_at));
    } catch (const std::exception& e) {
      // Intake checks every value that reaches a header, so this is a stored
      // row changed by hand: fail it rather than retry it for ever.
      give_back(job);
      record({.message = m.id,
              .at = job.claimed_at,
              .relay = s.relay.name,
              .smtp_response = std::string("cannot build the message: ") + e.what(),
              .outcome = Outcome::failed,
              .status = MessageStatus::failed});
      s.log.error("failed message {}: cannot build it: {}", m.id, e.what());
      return;
    }
    TimePoint started = now_ms();
    SendResult result = send(job, data);
    TimePoint ended = now_ms();
    Outcome outcome = classify(result);
    TryDecision decision;
    {
      std::lock_guard lock(s.mutex);
      decision = s.scheduler.after_try(due_letter(job), job.claimed_at, outcome, m.attempts, m.lifetime_from, ended);
    }
    if (!decision.counts_as_attempt) smtp_.reset();  // the relay's fault: start afresh after the pause
    std::string response = result.response;
    if (!decision.verdict.reason.empty()) response += " (" + decision.verdict.reason + ")";
    record({.message = m.id,
            .at = started,
            .relay = s.relay.name,
            .smtp_code = result.code,
            .smtp_response = response,
            .duration_ms = (ended - started).count(),
            .outcome = outcome,
            .status = decision.verdict.status,
            .next_attempt_at = decision.verdict.next_attempt_at,
            .counts_as_attempt = decision.counts_as_attempt});
    log_relay(decision, result);
    if (decision.counts_as_attempt) log_letter(m, decision.verdict, result, response);
    if (!job.copy_mail_from.empty()) send_copy(job, data, result.transfer == Transfer::completed);
  }

  // Loud once when the relay is paused; quieter while it stays down.
  void log_relay(const TryDecision& decision, const SendResult& result) {
    auto& s = *shared_;
    std::string reason = (result.code ? std::to_string(result.code) + " " : "") + redact_addresses(result.response);
    switch (decision.relay) {
      case TryDecision::Relay::unchanged:
        break;
      case TryDecision::Relay::paused:
        s.log.error("relay {} paused: {}; its messages wait, none fails for this; next try in {}", s.relay.name, reason,
                    format_duration(decision.pause));
        break;
      case TryDecision::Relay::still_failing:
        s.log.info("relay {} still failing ({}); next try in {}", s.relay.name, reason,
                   format_duration(decision.pause));
        break;
      case TryDecision::Relay::working_again:
        s.log.info("relay {} is working again", s.relay.name);
        break;
    }
  }

  void log_letter(const StoredMessage& m, const Verdict& verdict, const SendResult& result,
                  const std::string& response) {
    auto& log = shared_->log;
    const std::string& relay = shared_->relay.name;
    switch (verdict.status) {
      case MessageStatus::sent:
        log.info("sent message {} ({} to {}) via {}: {} {}", m.id, m.letter, m.target_id, relay, result.code,
                 redact_addresses(result.response));
        break;
      case MessageStatus::deferred:
        log.warn("deferred message {} ({} to {}): {} {}; next try at {}", m.id, m.letter, m.target_id, result.code,
                 redact_addresses(result.response), format_utc(*verdict.next_attempt_at));
        break;
      default:
        log.error("failed message {} ({} to {}): {} {}", m.id, m.letter, m.target_id, result.code,
                  redact_addresses(response));
    }
  }

  std::shared_ptr<Relay::Shared> shared_;
  std::string helo_;
  std::unique_ptr<SmtpSession> smtp_;
  std::unique_ptr<Store> store_;
};

// Commits the sessions' outcomes, as many as are waiting in one transaction.
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
          s.record_work.wait_for(lock, kGatherOutcomes,
                                 [&] { return s.recorder_stopping || s.unrecorded.size() >= s.unrecorded_limit / 2; });
        batch.swap(s.unrecorded);
        s.recording = batch.size();
      }
      try {
        commit(batch);
      } catch (const std::exception& e) {
        // Only a database that never answered gets here: the rows stay
        // `sending` and are sent again at the next start, as after a crash.
        s.log.error("{} outcome(s) not recorded: {}; those letters are sent again when letterd restarts", batch.size(),
                    e.what());
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

}  // namespace

void run_session(std::shared_ptr<Relay::Shared> shared) {
  Session(std::move(shared)).run();
}
void run_recorder(std::shared_ptr<Relay::Shared> shared) {
  Recorder(std::move(shared)).run();
}

}  // namespace letterd
