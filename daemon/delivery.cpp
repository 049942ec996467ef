#include "delivery.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <thread>

#include "message.h"

namespace letterd {

namespace {

constexpr int kBatch = 100;

std::string helo_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || !host[0]) return "localhost.localdomain";
  return host;
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

RelayWorker::RelayWorker(const RelayConfig& relay, const Config& config, Store& store, spdlog::logger& log)
    : relay_(relay), config_(config), store_(store), log_(log), limiter_(relay.rate), random_(std::random_device{}()) {
  if (limiter_.memory() > 0) {
    // Seed the windows from the log, so a restart cannot exceed them.
    TimePoint day_ago = now_ms() - std::chrono::hours(24);
    for (TimePoint t : store_.recent_sends(relay_.name, limiter_.memory(), day_ago)) limiter_.record(t);
  }
}

bool RelayWorker::has_due(TimePoint now) {
  if (paused_until_ && *paused_until_ > now) return false;
  auto next = store_.next_due(relay_.name);
  return next && *next <= now;
}

std::optional<TimePoint> RelayWorker::run(const std::function<bool()>& stop) {
  for (;;) {
    TimePoint now = now_ms();
    if (paused_until_ && *paused_until_ > now) return paused_until_;
    auto due = store_.due(relay_.name, now, kBatch);
    if (due.empty()) return store_.next_due(relay_.name);
    for (const auto& message : due) {
      if (stop()) return now_ms();
      TimePoint slot = limiter_.next_slot(now_ms());
      if (slot > now_ms()) {
        // Waits shorter than a poll are slept here; longer ones go back to the loop.
        auto wait = slot - now_ms();
        if (wait > std::chrono::milliseconds(200)) return slot;
        std::this_thread::sleep_for(wait);
      }
      send_one(message);
      if (paused_until_) return paused_until_;
    }
  }
}

void RelayWorker::send_one(const StoredMessage& m) {
  if (!session_) {
    try {
      session_ = std::make_unique<SmtpSession>(relay_, read_relay_password(relay_), helo_name());
    } catch (const std::exception& e) {
      SendResult fault;
      fault.outcome = Outcome::relay_fault;
      fault.response = e.what();
      pause(fault, now_ms());
      return;
    }
  }
  std::string data;
  try {
    data = message_bytes(m);
  } catch (const std::exception& e) {
    // Intake checks every value that reaches a header, so this is a stored
    // row changed by hand: fail it rather than retry it for ever.
    TimePoint now = now_ms();
    store_.record_attempt({m.id, now, relay_.name, 0, std::string("cannot build the message: ") + e.what(), 0,
                           "failed", "failed", std::nullopt, true});
    log_.error("failed message {}: cannot build it: {}", m.id, e.what());
    return;
  }
  Envelope envelope{m.from.address, {m.to.address}};
  if (!m.copy_to.empty()) envelope.recipients.push_back(m.copy_to);

  TimePoint started = now_ms();
  store_.mark_sending(m.id, started);
  limiter_.record(started);
  SendResult result = session_->send(envelope, data);
  if (result.refused_recipient == 1 && result.outcome != Outcome::relay_fault) {
    // The supporter's own copy was refused: the letter itself must still go.
    log_.warn("message {}: the relay refused the supporter's copy ({} {}); sending without it", m.id, result.code,
              result.response);
    envelope.recipients.pop_back();
    result = session_->send(envelope, data);
  }
  TimePoint ended = now_ms();

  if (result.outcome == Outcome::relay_fault) {
    pause(result, ended);
    store_.record_attempt({m.id, started, relay_.name, result.code, result.response,
                           (ended - started).count(), to_string(result.outcome), "deferred", paused_until_, false});
    return;
  }
  if (consecutive_faults_ > 0) log_.info("relay {} is working again", relay_.name);
  consecutive_faults_ = 0;
  paused_until_.reset();

  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  Verdict verdict = judge(result.outcome, m.attempts + 1, m.created_at, ended, config_.retry, jitter(random_));
  std::string response = verdict.reason.empty() ? result.response : result.response + " (" + verdict.reason + ")";
  store_.record_attempt({m.id, started, relay_.name, result.code, response, (ended - started).count(),
                         to_string(result.outcome), verdict.status, verdict.next_attempt_at, true});
  if (verdict.status == "sent")
    log_.info("sent message {} ({} to {}) via {}: {} {}", m.id, m.letter, m.target_id, relay_.name, result.code,
              result.response);
  else if (verdict.status == "deferred")
    log_.warn("deferred message {} ({} to {}): {} {}; next try at {}", m.id, m.letter, m.target_id, result.code,
              result.response, format_utc(*verdict.next_attempt_at));
  else
    log_.error("failed message {} ({} to {}): {} {}", m.id, m.letter, m.target_id, result.code, response);
}

void RelayWorker::pause(const SendResult& result, TimePoint now) {
  ++consecutive_faults_;
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  Duration wait = retry_delay(consecutive_faults_, config_.retry, jitter(random_));
  paused_until_ = now + wait;
  session_.reset();
  // Loud once; then quieter while the relay stays down.
  if (consecutive_faults_ == 1)
    log_.error("relay {} paused: {}{}; its messages wait, none fails; next try in {}", relay_.name,
               result.code ? std::to_string(result.code) + " " : "", result.response, format_duration(wait));
  else
    log_.info("relay {} still failing ({}); next try in {}", relay_.name, result.response, format_duration(wait));
}

void RelayWorker::close() {
  if (session_) session_->close();
  session_.reset();
}

}  // namespace letterd
