// The store's side for the organiser's commands: the log, status,
// report, retry, and the erasure of what retention or a supporter asks.
#include <SQLiteCpp/SQLiteCpp.h>

#include "store.h"
#include "store_detail.h"

namespace letterd {

using namespace store_detail;

Store::RetryResult Store::retry(long long id, TimePoint now) {
  auto& db = impl_->db;
  SQLite::Statement q(db, "SELECT status, body IS NULL FROM messages WHERE id = ?");
  q.bind(1, static_cast<int64_t>(id));
  if (!q.executeStep()) return RetryResult::no_such_message;
  if (q.getColumn(0).getString() != "failed") return RetryResult::not_failed;
  if (q.getColumn(1).getInt()) return RetryResult::body_erased;
  SQLite::Statement u(db, R"sql(
    UPDATE messages SET status = 'queued', next_attempt_at = ?1, retried_at = ?1, ended_at = NULL
    WHERE id = ?2 AND status = 'failed')sql");
  u.bind(1, format_utc(now));
  u.bind(2, static_cast<int64_t>(id));
  return u.exec() == 1 ? RetryResult::queued : RetryResult::not_failed;
}

std::vector<long long> Store::failed_messages() {
  SQLite::Statement q(impl_->db, "SELECT id FROM messages WHERE status = 'failed' AND body IS NOT NULL ORDER BY id");
  std::vector<long long> ids;
  while (q.executeStep()) ids.push_back(q.getColumn(0).getInt64());
  return ids;
}

Store::PurgeCounts Store::purge_bodies(TimePoint ended_before) {
  auto& db = impl_->db;
  std::string cutoff = format_utc(ended_before);
  SQLite::Transaction t(db);
  SQLite::Statement bodies(db, R"sql(
    UPDATE messages SET body = NULL
    WHERE body IS NOT NULL AND status IN ('sent', 'failed') AND ended_at < ?)sql");
  bodies.bind(1, cutoff);
  PurgeCounts counts;
  counts.bodies = bodies.exec();
  // A personal note lives on while any letter that quotes it may still be sent.
  SQLite::Statement notes(db, R"sql(
    UPDATE submissions SET personal_note = NULL
    WHERE personal_note IS NOT NULL AND NOT EXISTS (
      SELECT 1 FROM messages m WHERE m.campaign = submissions.campaign AND m.submission_id = submissions.id
        AND (m.body IS NOT NULL OR m.status NOT IN ('sent', 'failed'))))sql");
  counts.notes = notes.exec();
  t.commit();
  checkpoint();
  return counts;
}

void Store::checkpoint() {
  // Old copies of erased pages also sit in the write-ahead log until it is
  // checkpointed; TRUNCATE empties it (when no reader holds it open).
  impl_->db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

Store::ErasureCounts Store::erase_supporter(const std::string& email, TimePoint now) {
  auto& db = impl_->db;
  std::string key = supporter_key(email);
  ErasureCounts counts;
  SQLite::Transaction t(db);
  SQLite::Statement cancel(db, R"sql(
    UPDATE messages SET status = 'failed', next_attempt_at = NULL, ended_at = ?2,
           smtp_response = 'cancelled: the supporter asked for their data to be erased'
    WHERE supporter_email = ?1 AND status IN ('queued', 'deferred', 'sending'))sql");
  cancel.bind(1, key);
  cancel.bind(2, format_utc(now));
  counts.cancelled = cancel.exec();
  // Relays echo addresses in replies; the supporter's goes, the reply's code stays.
  SQLite::Statement replies(db, R"sql(
    UPDATE attempts SET smtp_response = replace(replace(smtp_response, ?1, '[address]'), ?2, '[address]')
    WHERE message_id IN (SELECT id FROM messages WHERE supporter_email = ?2))sql");
  replies.bind(1, email);
  replies.bind(2, key);
  replies.exec();
  SQLite::Statement letters(db, R"sql(
    UPDATE messages SET body = NULL, subject = '[erased]', from_name = '[erased]', reply_to = NULL,
           reply_to_name = NULL, copy_to = NULL,
           smtp_response = replace(replace(smtp_response, ?1, '[address]'), ?2, '[address]'),
           recipient = CASE WHEN reflect = 1 THEN '[erased]' ELSE recipient END,
           recipient_name = CASE WHEN reflect = 1 THEN '[erased]' ELSE recipient_name END,
           supporter_email = '[erased]'
    WHERE supporter_email = ?2)sql");
  letters.bind(1, email);
  letters.bind(2, key);
  counts.letters = letters.exec();
  SQLite::Statement people(db, R"sql(
    UPDATE submissions SET supporter_name = '[erased]', supporter_email = '[erased]', postcode = NULL,
           address = NULL, constituency = NULL, personal_note = NULL, authorisation = NULL
    WHERE lower(supporter_email) = ?)sql");
  people.bind(1, key);
  counts.submissions = people.exec();
  t.commit();
  checkpoint();
  return counts;
}

std::vector<ReportRow> Store::report(const std::string& campaign) {
  std::vector<ReportRow> out;
  SQLite::Statement by_target(impl_->db, R"sql(
    SELECT 'target', target_id, max(recipient_name),
           sum(status = 'queued' OR status = 'sending'), sum(status = 'deferred'),
           sum(status = 'sent'), sum(status = 'failed')
    FROM messages WHERE campaign = ? AND reflect = 0 GROUP BY target_id ORDER BY target_id)sql");
  SQLite::Statement by_day(impl_->db, R"sql(
    SELECT 'day', substr(coalesce(ended_at, created_at), 1, 10), '',
           sum(status = 'queued' OR status = 'sending'), sum(status = 'deferred'),
           sum(status = 'sent'), sum(status = 'failed')
    FROM messages WHERE campaign = ? AND reflect = 0 GROUP BY 2 ORDER BY 2)sql");
  for (SQLite::Statement* q : {&by_target, &by_day}) {
    q->bind(1, campaign);
    while (q->executeStep()) {
      ReportRow r;
      r.scope = q->getColumn(0).getString();
      r.key = q->getColumn(1).getString();
      r.name = text_or_empty(q->getColumn(2));
      r.waiting = q->getColumn(3).getInt64();
      r.deferred = q->getColumn(4).getInt64();
      r.sent = q->getColumn(5).getInt64();
      r.failed = q->getColumn(6).getInt64();
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::vector<LogRow> Store::log(const LogFilter& f) {
  std::string sql = R"sql(
    SELECT id, created_at, campaign, submission_id, letter, target_id, recipient, status, attempts,
           next_attempt_at, sent_at, relay, message_id, smtp_code, smtp_response
    FROM messages WHERE 1 = 1)sql";
  if (f.status) sql += " AND status = :status";
  if (f.campaign) sql += " AND campaign = :campaign";
  if (f.target) sql += " AND target_id = :target";
  if (f.since) sql += " AND created_at >= :since";
  sql += " ORDER BY id";
  SQLite::Statement q(impl_->db, sql);
  if (f.status) q.bind(":status", *f.status);
  if (f.campaign) q.bind(":campaign", *f.campaign);
  if (f.target) q.bind(":target", *f.target);
  if (f.since) q.bind(":since", *f.since);
  std::vector<LogRow> out;
  while (q.executeStep()) {
    LogRow r;
    int c = 0;
    r.id = q.getColumn(c++).getInt64();
    r.created_at = q.getColumn(c++).getString();
    r.campaign = q.getColumn(c++).getString();
    r.submission_id = q.getColumn(c++).getString();
    r.letter = q.getColumn(c++).getString();
    r.target_id = q.getColumn(c++).getString();
    r.recipient = q.getColumn(c++).getString();
    r.status = q.getColumn(c++).getString();
    r.attempts = q.getColumn(c++).getInt();
    r.next_attempt_at = text_or_empty(q.getColumn(c++));
    r.sent_at = text_or_empty(q.getColumn(c++));
    r.relay = q.getColumn(c++).getString();
    r.message_id = q.getColumn(c++).getString();
    r.smtp_code = q.getColumn(c).isNull() ? 0 : q.getColumn(c).getInt();
    ++c;
    r.smtp_response = text_or_empty(q.getColumn(c++));
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<StatusCount> Store::status_counts() {
  SQLite::Statement q(impl_->db,
                      "SELECT campaign, status, count(*) FROM messages GROUP BY campaign, status ORDER BY campaign, status");
  std::vector<StatusCount> out;
  while (q.executeStep())
    out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(), q.getColumn(2).getInt64()});
  return out;
}

std::vector<RecentError> Store::recent_errors(int limit) {
  SQLite::Statement q(impl_->db, R"sql(
    SELECT at, relay, outcome, smtp_code, smtp_response FROM attempts
    WHERE outcome != 'sent' ORDER BY id DESC LIMIT ?)sql");
  q.bind(1, limit);
  return read_tries(q);
}

std::vector<RecentError> Store::last_try_per_relay() {
  SQLite::Statement q(impl_->db, R"sql(
    SELECT at, relay, outcome, smtp_code, smtp_response FROM attempts
    WHERE id IN (SELECT max(id) FROM attempts GROUP BY relay) ORDER BY relay)sql");
  return read_tries(q);
}

long long Store::sent_since(TimePoint since) {
  SQLite::Statement q(impl_->db, "SELECT count(*) FROM attempts WHERE outcome = 'sent' AND at >= ?");
  q.bind(1, format_utc(since));
  q.executeStep();
  return q.getColumn(0).getInt64();
}

}  // namespace letterd
