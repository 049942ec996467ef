#include "store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "json.h"
#include "message.h"
#include "store_detail.h"

namespace letterd {

using namespace store_detail;

Store::Store(const std::string& path, Access access) {
  try {
    impl_ = std::make_unique<Impl>(path, access);
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("database " + path + ": " + e.what());
  }
}

Store::~Store() = default;

std::string Store::identity_problem() {
  return impl_->identity_problem();
}

Store::Batch::Batch(Store& store) : store_(store) {
  store_.impl_->db.exec("BEGIN IMMEDIATE");
}

Store::Batch::~Batch() {
  if (open_) store_.impl_->db.tryExec("ROLLBACK");
}

bool Store::Batch::open() const {
  return open_ && sqlite3_get_autocommit(store_.impl_->db.getHandle()) == 0;
}

void Store::Batch::commit() {
  store_.impl_->db.exec("COMMIT");
  open_ = false;
}

std::optional<std::string> Store::submission_source(const std::string& campaign, const std::string& id) {
  auto q = impl_->prepare("SELECT source_file FROM submissions WHERE campaign = ? AND id = ?");
  q->bind(1, campaign);
  q->bind(2, id);
  if (!q->executeStep()) return std::nullopt;
  return q->getColumn(0).getString();
}

bool Store::already_accepted(const std::string& source_file, const std::string& digest) {
  auto q = impl_->prepare("SELECT 1 FROM submissions WHERE source_file = ? AND source_digest = ? LIMIT 1");
  q->bind(1, source_file);
  q->bind(2, digest);
  return q->executeStep();
}

bool Store::supporter_wrote_to(const std::string& campaign, const std::string& supporter_email,
                               const std::string& target_id) {
  // A failed or cancelled letter may be written again; a test in reflect mode never reached the target.
  auto q = impl_->prepare(R"sql(
    SELECT 1 FROM messages WHERE campaign = ? AND supporter_email = ? AND target_id = ?
      AND status NOT IN ('failed', 'cancelled') AND reflect = 0 LIMIT 1)sql");
  q->bind(1, campaign);
  q->bind(2, supporter_key(supporter_email));
  q->bind(3, target_id);
  return q->executeStep();
}

void Store::accept(const Submission& s, const std::string& source_file, const std::string& digest,
                   TimePoint received_at, const std::vector<NewMessage>& messages, const std::string& duplicates) {
  auto& db = impl_->db;
  std::string now = format_utc(received_at);
  // A savepoint, not BEGIN: it nests inside a Batch, and commits on its own outside one.
  db.exec("SAVEPOINT accept");
  try {
    insert_submission(s, source_file, digest, now, messages, duplicates);
  } catch (...) {
    db.tryExec("ROLLBACK TO accept");
    db.tryExec("RELEASE accept");
    throw;
  }
  db.exec("RELEASE accept");
}

void Store::insert_submission(const Submission& s, const std::string& source_file, const std::string& digest,
                              const std::string& now, const std::vector<NewMessage>& messages,
                              const std::string& duplicates) {
  auto sub = impl_->prepare(R"sql(
    INSERT INTO submissions (id, campaign, supporter_name, supporter_email, postcode, address, constituency,
                             personal_note, authorised_at, authorisation, received_at, source_file, source_digest,
                             target, fields)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql");
  int i = 1;
  auto bind_opt = [&](SQLite::Statement& q, const std::optional<std::string>& v) {
    if (v)
      q.bind(i++, *v);
    else
      q.bind(i++);
  };
  sub->bind(i++, s.id);
  sub->bind(i++, s.campaign);
  sub->bind(i++, s.supporter_name);
  sub->bind(i++, s.supporter_email);
  bind_opt(*sub, s.postcode);
  bind_opt(*sub, s.address);
  bind_opt(*sub, s.constituency);
  bind_opt(*sub, s.personal_note);
  std::optional<std::string> authorised_at;
  if (s.authorisation)
    if (auto t = parse_rfc3339(s.authorisation->at)) authorised_at = format_utc(*t);
  bind_opt(*sub, authorised_at);
  bind_opt(*sub, s.authorisation ? std::optional(s.authorisation->statement) : std::nullopt);
  sub->bind(i++, now);
  sub->bind(i++, source_file);
  sub->bind(i++, digest);
  bind_opt(*sub, s.target);
  sub->bind(i++, json_object(s.fields));
  sub->exec();

  auto msg = impl_->prepare(R"sql(
    INSERT INTO messages (submission_id, campaign, letter, target_id, recipient, recipient_name, supporter_email,
                          from_address, from_name, reply_to, reply_to_name, copy_to, reflect, subject, message_id,
                          status, attempts, next_attempt_at, relay, created_at, body, target_row)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?))sql");
  for (const auto& m : messages) {
    const PlannedMessage& p = m.planned;
    i = 1;
    msg->bind(i++, s.id);
    msg->bind(i++, s.campaign);
    msg->bind(i++, p.letter);
    msg->bind(i++, p.target_id);
    msg->bind(i++, p.to.address);
    msg->bind(i++, p.to.display_name);
    msg->bind(i++, supporter_key(s.supporter_email));
    msg->bind(i++, p.from.address);
    msg->bind(i++, p.from.display_name);
    bind_opt(*msg, p.reply_to ? std::optional(p.reply_to->address) : std::nullopt);
    bind_opt(*msg, p.reply_to ? std::optional(p.reply_to->display_name) : std::nullopt);
    bind_opt(*msg, p.copy_to.empty() ? std::nullopt : std::optional(p.copy_to));
    msg->bind(i++, p.reflect ? 1 : 0);
    msg->bind(i++, p.subject);
    msg->bind(i++, m.message_id);
    msg->bind(i++, now);
    msg->bind(i++, m.relay);
    msg->bind(i++, now);
    msg->bind(i++, p.body);
    bind_opt(*msg, p.target_row.empty() ? std::nullopt : std::optional(p.target_row));
    msg->exec();
    msg->reset();
    const long long message_id = impl_->db.getLastInsertRowid();
    if (m.note) remember_review(message_id, s.campaign, m, now);
    if (m.collect_until && p.hold_reason.empty()) {
      // A letter held (review, a vacant seat, a bouncing address) waits held, never in a digest.
      auto collect = impl_->prepare("UPDATE messages SET status = 'collecting', next_attempt_at = ? WHERE id = ?");
      collect->bind(1, format_utc(*m.collect_until));
      collect->bind(2, static_cast<int64_t>(message_id));
      collect->exec();
    }
    if (!p.hold_reason.empty()) {
      // A vacant seat's letters are accepted and wait; they never fail for
      // it. With no hold_id, no organiser's hold ending can send them.
      auto vacant = impl_->prepare(R"sql(
        UPDATE messages SET status = 'held', hold_reason = ? WHERE id = ? AND status = 'queued')sql");
      vacant->bind(1, p.hold_reason);
      vacant->bind(2, static_cast<int64_t>(message_id));
      vacant->exec();
    } else {
      hold_if_held(message_id, s.campaign, p, now);
    }
  }
  if (!duplicates.empty()) {
    auto rej = impl_->prepare("INSERT INTO rejections (file, at, reasons) VALUES (?, ?, ?)");
    rej->bind(1, source_file);
    rej->bind(2, now);
    rej->bind(3, duplicates);
    rej->exec();
  }
}

// A letter accepted while a hold that matches it stands waits as `held`
// (the oldest such hold's). Searched by rowid, among the few standing holds.
void Store::hold_if_held(long long message_id, const std::string& campaign, const PlannedMessage& p,
                         const std::string& now) {
  auto q = impl_->prepare(R"sql(
    UPDATE messages SET status = 'held', hold_id = h.id, hold_reason = h.reason
    FROM (SELECT id, reason FROM holds INDEXED BY holds_active
          WHERE released_at IS NULL AND (until IS NULL OR until > ?1) AND (campaign IS NULL OR campaign = ?2)
            AND (letter IS NULL OR letter = ?3) AND (target_id IS NULL OR target_id = ?4)
          ORDER BY id LIMIT 1) AS h
    WHERE messages.id = ?5)sql");
  q->bind(1, now);
  q->bind(2, campaign);
  q->bind(3, p.letter);
  q->bind(4, p.target_id);
  q->bind(5, static_cast<int64_t>(message_id));
  q->exec();
}

ReturnPathKey Store::return_path_key() {
  ReturnPathKey key;
  auto read = [&] {
    auto q = impl_->prepare("SELECT value FROM secrets WHERE name = 'return_path_key'");
    if (!q->executeStep() || q->getColumn(0).getBytes() != static_cast<int>(key.bytes.size())) return false;
    std::memcpy(key.bytes.data(), q->getColumn(0).getBlob(), key.bytes.size());
    return true;
  };
  if (read()) return key;
  if (::getrandom(key.bytes.data(), key.bytes.size(), 0) != static_cast<ssize_t>(key.bytes.size()))
    throw std::runtime_error("cannot make the return path key: the kernel's random source did not answer");
  // Another connection may make one at the same moment: the first kept is everyone's.
  auto add = impl_->prepare("INSERT OR IGNORE INTO secrets (name, value) VALUES ('return_path_key', ?)");
  add->bind(1, key.bytes.data(), static_cast<int>(key.bytes.size()));
  add->exec();
  if (!read()) throw std::runtime_error("the database keeps no return path key letterd can read");
  return key;
}

void Store::add_rejection(const std::string& file, TimePoint at, const std::string& reasons) {
  auto q = impl_->prepare("INSERT INTO rejections (file, at, reasons) VALUES (?, ?, ?)");
  q->bind(1, file);
  q->bind(2, format_utc(at));
  q->bind(3, reasons);
  q->exec();
}

namespace {

// When the relay had a try (the end of its DATA): the windows count it then.
TimePoint reached_at(SQLite::Statement& q) {
  return parse_time(q.getColumn(0).getString()) + std::chrono::milliseconds(q.getColumn(1).getInt64());
}

// "?, ?, ?" for an IN list of `n` values; SQLite takes no arrays.
std::string placeholders(std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += i ? ", ?" : "?";
  return out;
}

}  // namespace

std::vector<StoredMessage> Store::due(const std::string& relay, const std::vector<std::string>& campaigns,
                                      TimePoint now, int limit) {
  if (campaigns.empty()) return {};
  auto q = impl_->prepare(R"sql(
    SELECT )sql" + std::string(kStoredMessageColumns) +
                          R"sql(
    FROM messages
    WHERE relay = ? AND status IN ('queued', 'deferred') AND next_attempt_at <= ? AND campaign IN ()sql" +
                          placeholders(campaigns.size()) + R"sql()
    ORDER BY next_attempt_at, id LIMIT ?)sql");
  int i = 1;
  q->bind(i++, relay);
  q->bind(i++, format_utc(now));
  for (const auto& c : campaigns) q->bind(i++, c);
  q->bind(i++, limit);
  std::vector<StoredMessage> out;
  while (q->executeStep()) {
    out.push_back(stored_message(*q));
  }
  return out;
}

std::optional<TimePoint> Store::next_due(const std::string& relay, const std::vector<std::string>& campaigns) {
  if (campaigns.empty()) return std::nullopt;
  auto q = impl_->prepare(
      "SELECT min(next_attempt_at) FROM messages WHERE relay = ? AND status IN "
      "('queued', 'deferred') AND campaign IN (" +
      placeholders(campaigns.size()) + ")");
  int i = 1;
  q->bind(i++, relay);
  for (const auto& c : campaigns) q->bind(i++, c);
  if (!q->executeStep() || q->getColumn(0).isNull()) return std::nullopt;
  return parse_time(q->getColumn(0).getString());
}

std::vector<long long> Store::mark_sending(const std::vector<long long>& ids, TimePoint now) {
  std::vector<long long> claimed;
  if (ids.empty()) return claimed;
  Batch batch(*this);
  std::string at = format_utc(now);
  for (long long id : ids) {
    auto q = impl_->prepare(R"sql(
      UPDATE messages SET status = 'sending', next_attempt_at = ?
      WHERE id = ? AND status IN ('queued', 'deferred'))sql");
    q->bind(1, at);
    q->bind(2, static_cast<int64_t>(id));
    if (q->exec() == 1) claimed.push_back(id);
  }
  batch.commit();
  return claimed;
}

bool Store::still_sending(long long id) {
  auto q = impl_->prepare("SELECT 1 FROM messages WHERE id = ? AND status = 'sending'");
  q->bind(1, static_cast<int64_t>(id));
  return q->executeStep();
}

void Store::record_attempts(const std::vector<AttemptRecord>& records) {
  Batch batch(*this);
  for (const auto& r : records) {
    // Only a message still `sending` takes its outcome: one cancelled
    // meanwhile (`purge --supporter`, `cancel`) stays cancelled and erased.
    auto m = impl_->prepare(R"sql(
      UPDATE messages SET status = ?, attempts = attempts + ?, next_attempt_at = ?, smtp_code = ?,
             smtp_response = ?, sent_at = CASE WHEN ?6 = 'sent' THEN ?7 ELSE sent_at END,
             ended_at = CASE WHEN ?6 IN ('sent', 'failed') THEN ?7 ELSE NULL END
      WHERE id = ?8 AND status = 'sending')sql");
    m->bind(1, to_string(r.status));
    m->bind(2, r.counts_as_attempt ? 1 : 0);
    if (r.next_attempt_at)
      m->bind(3, format_utc(*r.next_attempt_at));
    else
      m->bind(3);
    if (r.smtp_code)
      m->bind(4, r.smtp_code);
    else
      m->bind(4);
    m->bind(5, r.smtp_response);
    m->bind(6, to_string(r.status));
    m->bind(7, format_utc(r.at + std::chrono::milliseconds(r.duration_ms)));
    m->bind(8, static_cast<int64_t>(r.message));
    const bool still_sending = m->exec() == 1;
    if (!still_sending && r.status == MessageStatus::sent) {
      // Cancelled (`purge --supporter`, `cancel`) while on its way, yet the relay took
      // it: the erased row says so, since the target did get the letter.
      auto went = impl_->prepare(R"sql(
        UPDATE messages SET status = 'sent', sent_at = ?1, ended_at = ?1, smtp_code = ?2, smtp_response = ?3
        WHERE id = ?4 AND status IN ('failed', 'cancelled'))sql");
      went->bind(1, format_utc(r.at + std::chrono::milliseconds(r.duration_ms)));
      if (r.smtp_code)
        went->bind(2, r.smtp_code);
      else
        went->bind(2);
      went->bind(3, redact_addresses(r.smtp_response));
      went->bind(4, static_cast<int64_t>(r.message));
      went->exec();
    }

    auto a = impl_->prepare(R"sql(
      INSERT INTO attempts (message_id, at, relay, outcome, smtp_code, smtp_response, duration_ms)
      VALUES (?, ?, ?, ?, ?, ?, ?))sql");
    a->bind(1, static_cast<int64_t>(r.message));
    a->bind(2, format_utc(r.at));
    a->bind(3, r.relay);
    a->bind(4, to_string(r.outcome));
    if (r.smtp_code)
      a->bind(5, r.smtp_code);
    else
      a->bind(5);
    a->bind(6, still_sending ? r.smtp_response : redact_addresses(r.smtp_response));
    a->bind(7, static_cast<int64_t>(r.duration_ms));
    a->exec();
    if (r.status == MessageStatus::sent || (still_sending && r.status == MessageStatus::failed)) {
      // A digest's letters end as it does, in the same commit (sent, even
      // when an erasure cancelled it on the wire: the relay had it).
      auto letters = impl_->prepare(R"sql(
        UPDATE messages INDEXED BY messages_in_digest
        SET status = ?1, sent_at = CASE WHEN ?1 = 'sent' THEN ?2 ELSE sent_at END, ended_at = ?2,
            next_attempt_at = NULL, smtp_code = ?3, smtp_response = ?4
        WHERE status = 'collecting' AND digest_message_id = (SELECT message_id FROM messages WHERE id = ?5))sql");
      letters->bind(1, to_string(r.status));
      letters->bind(2, format_utc(r.at + std::chrono::milliseconds(r.duration_ms)));
      if (r.smtp_code)
        letters->bind(3, r.smtp_code);
      else
        letters->bind(3);
      letters->bind(4, "in its digest: " + r.smtp_response);
      letters->bind(5, static_cast<int64_t>(r.message));
      letters->exec();
    }
  }
  batch.commit();
}

void Store::release(long long id, TimePoint at) {
  auto q = impl_->prepare(R"sql(
    UPDATE messages SET status = CASE WHEN attempts > 0 OR smtp_response IS NOT NULL THEN 'deferred' ELSE 'queued' END,
           next_attempt_at = ?
    WHERE id = ? AND status = 'sending')sql");
  q->bind(1, format_utc(at));
  q->bind(2, static_cast<int64_t>(id));
  q->exec();
}

int Store::hold_target(const std::string& campaign, const std::string& target_id, TimePoint at) {
  auto q = impl_->prepare(R"sql(
    UPDATE messages SET next_attempt_at = ?1
    WHERE campaign = ?2 AND target_id = ?3 AND status IN ('queued', 'deferred') AND next_attempt_at < ?1)sql");
  q->bind(1, format_utc(at));
  q->bind(2, campaign);
  q->bind(3, target_id);
  return q->exec();
}

void Store::wait_for_window(const std::vector<std::pair<long long, TimePoint>>& waits) {
  SQLite::Transaction t(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
  auto q = impl_->prepare(
      "UPDATE messages SET next_attempt_at = ?1 WHERE id = ?2 AND status IN ('queued', 'deferred') "
      "AND next_attempt_at < ?1");
  for (const auto& [id, until] : waits) {
    q->bind(1, format_utc(until));
    q->bind(2, static_cast<int64_t>(id));
    q->exec();
    q->reset();
  }
  t.commit();
}

void Store::make_queued_due(const std::string& campaign, TimePoint now) {
  auto q = impl_->prepare(R"sql(
    UPDATE messages INDEXED BY messages_target SET next_attempt_at = ?1
    WHERE campaign = ?2 AND status IN ('queued', 'deferred') AND status = 'queued' AND next_attempt_at > ?1)sql");
  q->bind(1, format_utc(now));
  q->bind(2, campaign);
  q->exec();
}

int Store::requeue_interrupted(TimePoint now) {
  auto q = impl_->prepare("UPDATE messages SET status = 'queued', next_attempt_at = ? WHERE status = 'sending'");
  q->bind(1, format_utc(now));
  return q->exec();
}

int Store::rehome_waiting(const std::string& campaign, const std::string& relay) {
  auto q = impl_->prepare(R"sql(
    UPDATE messages INDEXED BY messages_target SET relay = ?
    WHERE campaign = ? AND relay != ? AND status IN ('queued', 'deferred'))sql");
  q->bind(1, relay);
  q->bind(2, campaign);
  q->bind(3, relay);
  int moved = q->exec();
  // Held letters move too: released, they go through the campaign's relay.
  auto held = impl_->prepare(R"sql(
    UPDATE messages INDEXED BY messages_held_campaign SET relay = ?
    WHERE campaign = ? AND relay != ? AND status = 'held')sql");
  held->bind(1, relay);
  held->bind(2, campaign);
  held->bind(3, relay);
  return moved + held->exec();
}

std::vector<StatusCount> Store::waiting_outside(const std::vector<std::string>& campaigns) {
  auto q = impl_->prepare(R"sql(
    SELECT campaign, status, count FROM message_counts WHERE status IN ('queued', 'deferred') AND count > 0
    ORDER BY campaign, status)sql");
  std::vector<StatusCount> out;
  while (q->executeStep()) {
    std::string campaign = q->getColumn(0).getString();
    if (std::find(campaigns.begin(), campaigns.end(), campaign) == campaigns.end())
      out.push_back({campaign, stored_status(q->getColumn(1).getString()), q->getColumn(2).getInt64()});
  }
  return out;
}

std::vector<TimePoint> Store::recent_sends(const std::string& relay, std::size_t count, TimePoint since,
                                           const std::vector<std::string>& copy_apart) {
  auto q = impl_->prepare(R"sql(
    SELECT a.at, a.duration_ms,
           a.outcome = 'sent' AND m.copy_to IS NOT NULL AND m.campaign IN (SELECT value FROM json_each(?))
    FROM attempts a CROSS JOIN messages m ON m.id = a.message_id
    WHERE a.relay = ? AND a.at >= ? AND a.outcome != 'relay-fault'
    ORDER BY julianday(a.at) * 86400000 + a.duration_ms DESC LIMIT ?)sql");
  std::string campaigns = "[";
  for (const auto& c : copy_apart) campaigns += (campaigns.size() > 1 ? "," : "") + json_string(c);
  q->bind(1, campaigns + "]");
  q->bind(2, relay);
  q->bind(3, format_utc(since));
  q->bind(4, static_cast<int64_t>(count));
  std::vector<TimePoint> out;
  while (q->executeStep()) {
    out.push_back(reached_at(*q));
    if (q->getColumn(2).getInt()) out.push_back(out.back());  // its copy, right after it
  }
  std::sort(out.begin(), out.end());
  if (out.size() > count) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(count));
  return out;
}

std::vector<std::pair<std::string, TimePoint>> Store::recent_campaign_sends(const std::string& campaign,
                                                                            TimePoint since) {
  auto q = impl_->prepare(R"sql(
    SELECT m.target_id, a.at, a.duration_ms FROM attempts a CROSS JOIN messages m ON m.id = a.message_id
    WHERE a.at >= ? AND m.campaign = ? AND a.outcome != 'relay-fault')sql");
  q->bind(1, format_utc(since));
  q->bind(2, campaign);
  std::vector<std::pair<std::string, TimePoint>> out;
  while (q->executeStep())
    out.emplace_back(q->getColumn(0).getString(),
                     parse_time(q->getColumn(1).getString()) + std::chrono::milliseconds(q->getColumn(2).getInt64()));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return out;
}

std::vector<TimePoint> Store::recent_target_sends(const std::string& campaign, const std::string& target_id,
                                                  std::size_t count, TimePoint since) {
  auto q = impl_->prepare(R"sql(
    SELECT a.at, a.duration_ms FROM attempts a CROSS JOIN messages m ON m.id = a.message_id
    WHERE m.campaign = ? AND m.target_id = ? AND a.at >= ? AND a.outcome != 'relay-fault'
    ORDER BY julianday(a.at) * 86400000 + a.duration_ms DESC LIMIT ?)sql");
  q->bind(1, campaign);
  q->bind(2, target_id);
  q->bind(3, format_utc(since));
  q->bind(4, static_cast<int64_t>(count));
  std::vector<TimePoint> out;
  while (q->executeStep()) out.push_back(reached_at(*q));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace letterd
