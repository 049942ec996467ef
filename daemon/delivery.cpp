#include "delivery.h"

#include <netdb.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <regex>
#include <thread>

#include "message.h"

namespace letterd {

namespace {

constexpr int kBatch = 100;
// One relay sends for at most this long before the loop takes new files,
// signals and the other relays in turn.
constexpr auto kTurn = std::chrono::seconds(1);

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
  if (unrecorded_) {
    // The last outcome is not in the database yet: nothing else goes before it is.
    store_.record_attempt(*unrecorded_);
    unrecorded_.reset();
  }
  TimePoint turn_ends = now_ms() + kTurn;
  for (;;) {
    TimePoint now = now_ms();
    if (paused_until_ && *paused_until_ > now) return paused_until_;
    auto due = store_.due(relay_.name, now, kBatch);
    if (due.empty()) return store_.next_due(relay_.name);
    for (const auto& message : due) {
      if (stop() || now_ms() >= turn_ends) return now_ms();
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

void RelayWorker::record(const Store::AttemptRecord& record) {
  try {
    store_.record_attempt(record);
  } catch (...) {
    unrecorded_ = record;  // retried before the next send
    throw;
  }
}

void RelayWorker::send_one(const StoredMessage& m) {
  std::string data;
  try {
    data = message_bytes(m);
  } catch (const std::exception& e) {
    // Intake checks every value that reaches a header, so this is a stored
    // row changed by hand: fail it rather than retry it for ever.
    record({m.id, now_ms(), relay_.name, 0, std::string("cannot build the message: ") + e.what(), 0, "failed",
            "failed", std::nullopt, true});
    log_.error("failed message {}: cannot build it: {}", m.id, e.what());
    return;
  }
  if (!session_) {
    try {
      std::string helo = relay_.helo_name.empty() ? default_helo_name() : relay_.helo_name;
      session_ = std::make_unique<SmtpSession>(relay_, read_relay_password(relay_), helo);
    } catch (const std::exception& e) {
      SendResult fault;
      fault.outcome = Outcome::relay_fault;
      fault.response = e.what();
      pause(fault, now_ms());
      return;
    }
  }
  Envelope envelope{m.from.address, {m.to.address}};
  if (!m.copy_to.empty()) envelope.recipients.push_back(m.copy_to);

  TimePoint started = now_ms();
  // Claimed only if still waiting: another process cannot have it too.
  if (!store_.mark_sending(m.id, started)) return;
  limiter_.record(started);
  SendResult result = session_->send(envelope, data);
  if (result.refused_recipient == 1 && result.outcome != Outcome::relay_fault) {
    // Only the supporter's own copy was refused: the letter must still go.
    // (Not CURLOPT_MAIL_RCPT_ALLOWFAILS: with it, a refused target and an
    // accepted copy would count as sent, the letter reaching only the supporter.)
    log_.warn("message {}: the relay refused the supporter's copy ({} {}); sending without it", m.id, result.code,
              redact(result.response));
    envelope.recipients.pop_back();
    result = session_->send(envelope, data);
  }
  TimePoint ended = now_ms();
  long long took = (ended - started).count();

  if (result.outcome == Outcome::relay_fault) {
    pause(result, ended);
    record({m.id, started, relay_.name, result.code, result.response, took, to_string(result.outcome), "deferred",
            paused_until_, false});
    return;
  }
  if (consecutive_faults_ > 0) log_.info("relay {} is working again", relay_.name);
  consecutive_faults_ = 0;
  paused_until_.reset();

  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  Verdict verdict = judge(result.outcome, m.attempts + 1, m.created_at, ended, config_.retry, jitter(random_));
  std::string response = verdict.reason.empty() ? result.response : result.response + " (" + verdict.reason + ")";
  record({m.id, started, relay_.name, result.code, response, took, to_string(result.outcome), verdict.status,
          verdict.next_attempt_at, true});
  if (verdict.status == "sent")
    log_.info("sent message {} ({} to {}) via {}: {} {}", m.id, m.letter, m.target_id, relay_.name, result.code,
              redact(result.response));
  else if (verdict.status == "deferred")
    log_.warn("deferred message {} ({} to {}): {} {}; next try at {}", m.id, m.letter, m.target_id, result.code,
              redact(result.response), format_utc(*verdict.next_attempt_at));
  else
    log_.error("failed message {} ({} to {}): {} {}", m.id, m.letter, m.target_id, result.code, redact(response));

  // One policy refusal may be about one recipient; two in a row are the
  // relay's terms (relay access, the sender, the HELO name): stop and wait.
  consecutive_refusals_ = result.outcome == Outcome::refused ? consecutive_refusals_ + 1 : 0;
  if (consecutive_refusals_ >= 2) pause(result, ended);
}

void RelayWorker::pause(const SendResult& result, TimePoint now) {
  ++consecutive_faults_;
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  Duration wait = retry_delay(consecutive_faults_, config_.retry, jitter(random_));
  paused_until_ = now + wait;
  session_.reset();
  // Loud once; then quieter while the relay stays down.
  std::string reason = (result.code ? std::to_string(result.code) + " " : "") + redact(result.response);
  if (consecutive_faults_ == 1)
    log_.error("relay {} paused: {}; its messages wait, none fails for this; next try in {}", relay_.name, reason,
               format_duration(wait));
  else
    log_.info("relay {} still failing ({}); next try in {}", relay_.name, reason, format_duration(wait));
}

void RelayWorker::close() {
  if (session_) session_->close();
  session_.reset();
}

}  // namespace letterd
