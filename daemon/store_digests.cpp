// Daily digests in the log (store.h): letters collecting for a target's
// digest, and the digest assembled from them in one commit, so a letter is
// in one digest, never two, whenever the process stops.
#include <SQLiteCpp/SQLiteCpp.h>

#include "store.h"
#include "store_detail.h"

namespace letterd {

void store_detail::withdraw_digest(SQLite::Database& db, const std::string& digest_message_id, const std::string& now,
                                   bool erase) {
  SQLite::Statement cancel(db, R"sql(
    UPDATE messages SET status = 'cancelled', next_attempt_at = NULL, ended_at = ?2, body = NULL,
           smtp_response = 'cancelled: a letter in it was withdrawn; the others go in the next digest'
    WHERE message_id = ?1 AND status IN ('queued', 'deferred', 'held'))sql");
  cancel.bind(1, digest_message_id);
  cancel.bind(2, now);
  if (cancel.exec()) {
    SQLite::Statement others(db, R"sql(
      UPDATE messages INDEXED BY messages_in_digest SET digest_message_id = NULL
      WHERE digest_message_id = ? AND status = 'collecting')sql");
    others.bind(1, digest_message_id);
    others.exec();
  } else if (erase) {
    SQLite::Statement ended(db, R"sql(
      UPDATE messages SET body = NULL WHERE message_id = ? AND status IN ('sent', 'failed', 'bounced', 'cancelled'))sql");
    ended.bind(1, digest_message_id);
    ended.exec();
  }
}

std::optional<Store::DigestGroup> Store::digest_due(TimePoint now) {
  auto q = impl_->prepare(R"sql(
    SELECT campaign, letter, target_id FROM messages INDEXED BY messages_collecting
    WHERE status = 'collecting' AND digest_message_id IS NULL AND next_attempt_at <= ?
    ORDER BY next_attempt_at LIMIT 1)sql");
  q->bind(1, format_utc(now));
  if (!q->executeStep()) return std::nullopt;
  return DigestGroup{q->getColumn(0).getString(), q->getColumn(1).getString(), q->getColumn(2).getString()};
}

std::optional<TimePoint> Store::next_digest_at() {
  auto q = impl_->prepare(R"sql(
    SELECT min(next_attempt_at) FROM messages INDEXED BY messages_collecting
    WHERE status = 'collecting' AND digest_message_id IS NULL)sql");
  if (!q->executeStep() || q->getColumn(0).isNull()) return std::nullopt;
  return parse_time(q->getColumn(0).getString());
}

int Store::assemble_digest(const DigestGroup& group, int max_letters, TimePoint now, const MakeDigest& make) {
  auto& db = impl_->db;
  SQLite::Transaction t(db, SQLite::TransactionBehavior::IMMEDIATE);
  std::vector<DigestLetter> letters;
  std::string submission;
  {
    auto q = impl_->prepare(R"sql(
      SELECT m.id, m.submission_id, s.supporter_name, s.supporter_email, coalesce(s.postcode, ''),
             coalesce(s.address, ''), m.subject, coalesce(m.body, ''), m.recipient, m.recipient_name
      FROM messages m INDEXED BY messages_collecting_target
      JOIN submissions s ON s.campaign = m.campaign AND s.id = m.submission_id
      WHERE m.status = 'collecting' AND m.digest_message_id IS NULL AND m.campaign = ? AND m.letter = ?
        AND m.target_id = ? AND m.next_attempt_at <= ?
      ORDER BY m.next_attempt_at, m.id LIMIT ?)sql");
    q->bind(1, group.campaign);
    q->bind(2, group.letter);
    q->bind(3, group.target_id);
    q->bind(4, format_utc(now));
    q->bind(5, max_letters);
    while (q->executeStep()) {
      DigestLetter l;
      int c = 0;
      l.id = q->getColumn(c++).getInt64();
      std::string of = q->getColumn(c++).getString();
      if (submission.empty()) submission = of;
      l.supporter_name = q->getColumn(c++).getString();
      l.supporter_email = q->getColumn(c++).getString();
      l.postcode = q->getColumn(c++).getString();
      l.address = q->getColumn(c++).getString();
      l.subject = q->getColumn(c++).getString();
      l.body = q->getColumn(c++).getString();
      l.recipient = q->getColumn(c++).getString();
      l.recipient_name = q->getColumn(c++).getString();
      letters.push_back(std::move(l));
    }
  }
  if (letters.empty()) return 0;
  NewMessage digest = make(letters);
  const PlannedMessage& p = digest.planned;
  std::string at = format_utc(now);
  SQLite::Statement add(db, R"sql(
    INSERT INTO messages (submission_id, campaign, letter, target_id, recipient, recipient_name, supporter_email,
                          from_address, from_name, subject, message_id, status, attempts, next_attempt_at, relay,
                          created_at, body)
    VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?))sql");
  int i = 1;
  add.bind(i++, submission);  // the first letter's: the log's rows each name a submission
  add.bind(i++, group.campaign);
  add.bind(i++, p.letter);
  add.bind(i++, p.target_id);
  add.bind(i++, p.to.address);
  add.bind(i++, p.to.display_name);
  add.bind(i++, p.from.address);
  add.bind(i++, p.from.display_name);
  add.bind(i++, p.subject);
  add.bind(i++, digest.message_id);
  add.bind(i++, at);
  add.bind(i++, digest.relay);
  add.bind(i++, at);
  add.bind(i++, p.body);
  add.exec();
  auto in = impl_->prepare("UPDATE messages SET digest_message_id = ? WHERE id = ?");
  for (const auto& l : letters) {
    in->bind(1, digest.message_id);
    in->bind(2, static_cast<int64_t>(l.id));
    in->exec();
    in->reset();
  }
  t.commit();
  return static_cast<int>(letters.size());
}

}  // namespace letterd
