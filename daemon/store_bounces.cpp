// The store's side of delivery truth: the letters returned mail names, and
// each mail read from the bounce mailbox recorded once.
#include <SQLiteCpp/SQLiteCpp.h>

#include "store.h"
#include "store_detail.h"

namespace letterd {

using namespace store_detail;

namespace {

std::optional<Store::ReturnedLetter> read_letter(SQLite::Statement& q) {
  if (!q.executeStep()) return std::nullopt;
  return Store::ReturnedLetter{.id = q.getColumn(0).getInt64(),
                               .campaign = q.getColumn(1).getString(),
                               .target_id = q.getColumn(2).getString(),
                               .recipient = q.getColumn(3).getString(),
                               .status = stored_status(q.getColumn(4).getString()),
                               .with_copy = q.getColumn(5).getInt() != 0};
}

}  // namespace

std::optional<Store::ReturnedLetter> Store::returned_letter(long long id) {
  auto q = impl_->prepare(
      "SELECT id, campaign, target_id, recipient, status, copy_to IS NOT NULL FROM messages WHERE id = ?");
  q->bind(1, static_cast<int64_t>(id));
  return read_letter(*q);
}

std::optional<Store::ReturnedLetter> Store::returned_letter(const std::string& message_id) {
  auto q = impl_->prepare(
      "SELECT id, campaign, target_id, recipient, status, copy_to IS NOT NULL FROM messages WHERE message_id = ?");
  q->bind(1, message_id);
  return read_letter(*q);
}

bool Store::record_bounce(const BounceRecord& b) {
  auto& db = impl_->db;
  SQLite::Transaction t(db, SQLite::TransactionBehavior::IMMEDIATE);
  std::string at = format_utc(b.received_at);
  SQLite::Statement add(db, R"sql(
    INSERT OR IGNORE INTO bounces (message_id, received_at, kind, status_code, diagnostic, source)
    VALUES (?, ?, ?, ?, ?, ?))sql");
  if (b.letter)
    add.bind(1, static_cast<int64_t>(*b.letter));
  else
    add.bind(1);
  add.bind(2, at);
  add.bind(3, to_string(b.kind));
  if (b.status.empty())
    add.bind(4);
  else
    add.bind(4, b.status);
  if (b.diagnostic.empty())
    add.bind(5);
  else
    add.bind(5, b.diagnostic);
  add.bind(6, b.source);
  if (add.exec() == 0) return false;
  if (b.letter && b.marks && b.kind == BounceReport::Kind::hard) {
    SQLite::Statement mark(db, R"sql(
      UPDATE messages SET status = 'bounced', bounce_status = ?, bounce_diagnostic = ?, bounced_at = ?
      WHERE id = ? AND status = 'sent')sql");
    mark.bind(1, b.status);
    mark.bind(2, b.diagnostic);
    mark.bind(3, at);
    mark.bind(4, static_cast<int64_t>(*b.letter));
    mark.exec();
  } else if (b.letter && b.marks && b.kind == BounceReport::Kind::auto_reply) {
    SQLite::Statement ack(db, "UPDATE messages SET acknowledged_at = ? WHERE id = ? AND acknowledged_at IS NULL");
    ack.bind(1, at);
    ack.bind(2, static_cast<int64_t>(*b.letter));
    ack.exec();
  }
  t.commit();
  return true;
}

long long Store::bounces_of(const std::string& campaign, const std::string& target_id, const std::string& address) {
  auto q = impl_->prepare(R"sql(
    SELECT count(*) FROM (SELECT 1 FROM messages INDEXED BY messages_bounced
      WHERE campaign = ? AND target_id = ? AND status = 'bounced' AND recipient = ? COLLATE NOCASE LIMIT ?))sql");
  q->bind(1, campaign);
  q->bind(2, target_id);
  q->bind(3, address);
  q->bind(4, kMaxBouncesCounted);
  q->executeStep();
  return q->getColumn(0).getInt64();
}

int Store::hold_bouncing(const std::string& campaign, const std::string& target_id, const std::string& address,
                         const std::string& reason) {
  SQLite::Statement hold(impl_->db, R"sql(
    UPDATE messages INDEXED BY messages_target SET status = 'held', hold_id = NULL, hold_reason = ?
    WHERE campaign = ? AND target_id = ? AND status IN ('queued', 'deferred') AND recipient = ? COLLATE NOCASE)sql");
  hold.bind(1, reason);
  hold.bind(2, campaign);
  hold.bind(3, target_id);
  hold.bind(4, address);
  return hold.exec();
}

Store::MailboxState Store::mailbox_state(const std::string& mailbox) {
  auto q = impl_->prepare("SELECT uidvalidity, last_uid FROM bounce_mailboxes WHERE mailbox = ?");
  q->bind(1, mailbox);
  if (!q->executeStep()) return {};
  return {q->getColumn(0).getInt64(), q->getColumn(1).getInt64()};
}

void Store::remember_mailbox(const std::string& mailbox, const MailboxState& state) {
  auto q = impl_->prepare(R"sql(
    INSERT INTO bounce_mailboxes (mailbox, uidvalidity, last_uid) VALUES (?1, ?2, ?3)
    ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = ?2, last_uid = ?3)sql");
  q->bind(1, mailbox);
  q->bind(2, static_cast<int64_t>(state.uidvalidity));
  q->bind(3, static_cast<int64_t>(state.last_uid));
  q->exec();
}

std::vector<UndeliveredLetter> Store::notices_due(int limit) {
  auto q = impl_->prepare(R"sql(
    SELECT m.id, m.campaign, m.letter, m.target_id, m.recipient_name, m.submission_id, s.supporter_name,
           s.supporter_email, m.status, coalesce(m.bounce_status, m.smtp_code, ''), m.reflect
    FROM messages m INDEXED BY messages_to_notify
    JOIN submissions s ON s.campaign = m.campaign AND s.id = m.submission_id
    WHERE m.status IN ('failed', 'bounced') AND m.notified_at IS NULL ORDER BY m.id LIMIT ?)sql");
  q->bind(1, limit);
  std::vector<UndeliveredLetter> out;
  while (q->executeStep()) {
    int c = 0;
    UndeliveredLetter u;
    u.id = q->getColumn(c++).getInt64();
    u.campaign = q->getColumn(c++).getString();
    u.letter = q->getColumn(c++).getString();
    u.target_id = q->getColumn(c++).getString();
    u.target_name = q->getColumn(c++).getString();
    u.submission_id = q->getColumn(c++).getString();
    u.supporter_name = q->getColumn(c++).getString();
    u.supporter_email = q->getColumn(c++).getString();
    u.status = stored_status(q->getColumn(c++).getString());
    u.why = q->getColumn(c++).getString();
    u.reflect = q->getColumn(c++).getInt() != 0;
    out.push_back(std::move(u));
  }
  return out;
}

void Store::decide_notice(long long letter, const std::optional<NewMessage>& notice, TimePoint now) {
  auto& db = impl_->db;
  std::string at = format_utc(now);
  SQLite::Transaction t(db, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement decided(db, R"sql(
    UPDATE messages SET notified_at = ? WHERE id = ? AND notified_at IS NULL RETURNING campaign, submission_id)sql");
  decided.bind(1, at);
  decided.bind(2, static_cast<int64_t>(letter));
  if (!decided.executeStep()) return;  // decided meanwhile
  std::string campaign = decided.getColumn(0).getString(), submission = decided.getColumn(1).getString();
  decided.reset();
  if (notice) {
    const PlannedMessage& p = notice->planned;
    SQLite::Statement add(db, R"sql(
      INSERT INTO messages (submission_id, campaign, letter, target_id, recipient, recipient_name, supporter_email,
                            from_address, from_name, subject, message_id, status, attempts, next_attempt_at, relay,
                            created_at, body, notice_for)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?))sql");
    int i = 1;
    add.bind(i++, submission);
    add.bind(i++, campaign);
    add.bind(i++, p.letter);
    add.bind(i++, p.target_id);
    add.bind(i++, p.to.address);
    add.bind(i++, p.to.display_name);
    add.bind(i++, supporter_key(p.to.address));
    add.bind(i++, p.from.address);
    add.bind(i++, p.from.display_name);
    add.bind(i++, p.subject);
    add.bind(i++, notice->message_id);
    add.bind(i++, at);
    add.bind(i++, notice->relay);
    add.bind(i++, at);
    add.bind(i++, p.body);
    add.bind(i++, static_cast<int64_t>(letter));
    add.exec();
  }
  t.commit();
}

}  // namespace letterd
