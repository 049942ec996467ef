// The store's side for the organiser's commands: the log, status,
// report, retry, and the erasure of what retention or a supporter asks.
#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <cctype>
#include <functional>

#include "store.h"
#include "store_detail.h"

namespace letterd {

using namespace store_detail;

Store::RetryResult Store::retry(long long id, TimePoint now) {
  auto& db = impl_->db;
  SQLite::Statement q(db, "SELECT status, body IS NULL FROM messages WHERE id = ?");
  q.bind(1, static_cast<int64_t>(id));
  if (!q.executeStep()) return RetryResult::no_such_message;
  std::string status = q.getColumn(0).getString();
  if (status != "failed" && status != "bounced") return RetryResult::not_failed;
  if (q.getColumn(1).getInt()) return RetryResult::body_erased;
  // A bounce's history stays in `bounces`; the letter is waiting again.
  SQLite::Statement u(db, R"sql(
    UPDATE messages SET status = 'queued', next_attempt_at = ?1, retried_at = ?1, ended_at = NULL,
                        bounce_status = NULL, bounce_diagnostic = NULL, bounced_at = NULL
    WHERE id = ?2 AND status IN ('failed', 'bounced'))sql");
  u.bind(1, format_utc(now));
  u.bind(2, static_cast<int64_t>(id));
  // A digest retried takes its letters back with it: they end as it does.
  SQLite::Statement letters(db, R"sql(
    UPDATE messages SET status = 'collecting', ended_at = NULL
    WHERE digest_message_id = (SELECT message_id FROM messages WHERE id = ?1 AND letter LIKE 'digest/%')
      AND status = 'failed')sql");
  letters.bind(1, static_cast<int64_t>(id));
  if (u.exec() != 1) return RetryResult::not_failed;
  letters.exec();
  return RetryResult::queued;
}

std::vector<long long> Store::failed_messages() {
  SQLite::Statement q(impl_->db, R"sql(
    SELECT id FROM messages INDEXED BY messages_failed
    WHERE status = 'failed' AND body IS NOT NULL AND digest_message_id IS NULL ORDER BY id)sql");
  std::vector<long long> ids;
  while (q.executeStep()) ids.push_back(q.getColumn(0).getInt64());
  return ids;
}

Store::PurgeCounts Store::purge_bodies(TimePoint ended_before, int limit) {
  auto& db = impl_->db;
  PurgeCounts counts;
  UnsyncedCommits unsynced(db);
  // IMMEDIATE: a read that turns into a write while the daemon's sessions
  // commit would fail at once; taking the write lock first waits its turn.
  SQLite::Transaction t(db, SQLite::TransactionBehavior::IMMEDIATE);
  // Only letters that ended have an ended_at, and messages_retention holds
  // only those still with a body: the slice costs what it erases.
  auto ended = impl_->prepare(R"sql(
    SELECT id, campaign, submission_id FROM messages INDEXED BY messages_retention
    WHERE ended_at < ? AND body IS NOT NULL ORDER BY ended_at LIMIT ?)sql");
  ended->bind(1, format_utc(ended_before));
  ended->bind(2, limit + 1);
  std::vector<long long> ids;
  std::vector<std::pair<std::string, std::string>> submissions;
  while (ended->executeStep()) {
    if (static_cast<int>(ids.size()) == limit) {
      counts.more = true;
      break;
    }
    ids.push_back(ended->getColumn(0).getInt64());
    submissions.emplace_back(ended->getColumn(1).getString(), ended->getColumn(2).getString());
  }
  ended->tryReset();
  for (long long id : ids) {
    auto erase = impl_->prepare("UPDATE messages SET body = NULL WHERE id = ?");
    erase->bind(1, static_cast<int64_t>(id));
    counts.bodies += erase->exec();
  }
  std::sort(submissions.begin(), submissions.end());
  submissions.erase(std::unique(submissions.begin(), submissions.end()), submissions.end());
  for (const auto& [campaign, id] : submissions) {
    // A personal note lives on while any letter that quotes it may still be sent.
    auto note = impl_->prepare(R"sql(
      UPDATE submissions SET personal_note = NULL, fields = NULL
      WHERE campaign = ?1 AND id = ?2 AND (personal_note IS NOT NULL OR fields != '{}') AND NOT EXISTS (
        SELECT 1 FROM messages m WHERE m.campaign = ?1 AND m.submission_id = ?2
          AND (m.body IS NOT NULL OR m.status NOT IN ('sent', 'failed', 'cancelled', 'bounced'))))sql");
    note->bind(1, campaign);
    note->bind(2, id);
    counts.notes += note->exec();
    // What review keeps goes when no letter needs the note, whether or not there was one.
    auto done = impl_->prepare(R"sql(
      SELECT NOT EXISTS (SELECT 1 FROM messages m WHERE m.campaign = ?1 AND m.submission_id = ?2
        AND (m.body IS NOT NULL OR m.status NOT IN ('sent', 'failed', 'cancelled', 'bounced'))))sql");
    done->bind(1, campaign);
    done->bind(2, id);
    if (done->executeStep() && done->getColumn(0).getInt()) forget_review(impl_->db, campaign, id);
  }
  t.commit();
  return counts;
}

Store::SpaceUse Store::space_use() {
  auto& db = impl_->db;
  long long page_size = db.execAndGet("PRAGMA page_size").getInt64();
  SpaceUse use;
  use.file_bytes = db.execAndGet("PRAGMA page_count").getInt64() * page_size;
  use.free_bytes = db.execAndGet("PRAGMA freelist_count").getInt64() * page_size;
  use.returns_free_pages = db.execAndGet("PRAGMA auto_vacuum").getInt() == 2;  // incremental
  return use;
}

bool Store::return_free_pages(int pages) {
  auto& db = impl_->db;
  if (db.execAndGet("PRAGMA auto_vacuum").getInt() != 2) return false;  // not incremental: nothing to return
  UnsyncedCommits unsynced(db);
  db.exec("PRAGMA incremental_vacuum(" + std::to_string(pages) + ")");
  return db.execAndGet("PRAGMA freelist_count").getInt64() > 0;
}

void Store::copy_log_back() {
  impl_->db.exec("PRAGMA wal_checkpoint(PASSIVE)");
}

namespace {

// SQLite's own automatic checkpoint comes due at this length of log.
constexpr int kCheckpointPages = 1000;

// A log ten times that long: whoever was told is not copying it back (its
// connection cannot open, a disk error), and the commit does it after all
// rather than let the log grow without end.
constexpr int kCheckpointAnywayPages = 10 * kCheckpointPages;

int tell_checkpoint_due(void* due, sqlite3* db, const char*, int pages) {
  if (pages >= kCheckpointAnywayPages) {
    sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    return SQLITE_OK;
  }
  try {
    if (pages >= kCheckpointPages) (*static_cast<std::function<void()>*>(due))();
  } catch (...) {  // the log is copied back at the next commit's call instead
  }
  return SQLITE_OK;
}

}  // namespace

void Store::leave_checkpoints_to(std::function<void()> due) {
  auto* db = impl_->db.getHandle();
  impl_->checkpoint_due = std::move(due);
  if (impl_->checkpoint_due)
    sqlite3_wal_hook(db, &tell_checkpoint_due, &impl_->checkpoint_due);
  else
    sqlite3_wal_autocheckpoint(db, kCheckpointPages);
}

bool Store::checkpoint(std::chrono::milliseconds longest_wait) {
  // Old copies of erased pages also sit in the write-ahead log until it is
  // checkpointed; TRUNCATE empties it (when no reader holds it open).
  impl_->lock_wait_limit = longest_wait;
  SQLite::Statement q(impl_->db, "PRAGMA wal_checkpoint(TRUNCATE)");
  bool done = q.executeStep() && q.getColumn(0).getInt() == 0;
  impl_->lock_wait_limit = std::chrono::seconds(5);
  return done;
}

namespace {

// `text` with every occurrence of `needle` replaced, ignoring ASCII case:
// relays echo names and addresses in whatever case they were given.
std::string redact(std::string text, const std::string& needle, const std::string& with) {
  if (needle.size() < 3) return text;  // a one- or two-letter "name" would shred every reply
  auto lower = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  std::string folded = lower(text), key = lower(needle);
  std::string out;
  std::size_t from = 0;
  for (std::size_t at = folded.find(key); at != std::string::npos; at = folded.find(key, from)) {
    out += text.substr(from, at - from) + with;
    from = at + key.size();
  }
  return out + text.substr(from);
}

}  // namespace

namespace {

// A submission of the supporter whose data is erased.
struct Writer {
  std::string campaign, id, name;
};

// Their submissions, found through their letters: messages_supporter leads
// with the campaign, and message_counts knows every campaign.
std::vector<Writer> submissions_of(SQLite::Database& db, const std::string& key, Store::ErasureCounts& counts) {
  std::vector<Writer> writers;
  SQLite::Statement campaigns(db, "SELECT DISTINCT campaign FROM message_counts");
  std::vector<std::string> names;
  while (campaigns.executeStep()) names.push_back(campaigns.getColumn(0).getString());
  for (const auto& campaign : names) {
    SQLite::Statement q(db, R"sql(
      SELECT s.campaign, s.id, s.supporter_name, s.source_file, s.received_at FROM submissions s
      WHERE s.campaign = ?1 AND s.id IN (
        SELECT submission_id FROM messages WHERE campaign = ?1 AND supporter_email = ?2))sql");
    q.bind(1, campaign);
    q.bind(2, key);
    while (q.executeStep()) {
      writers.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(), q.getColumn(2).getString()});
      TimePoint received = parse_time(q.getColumn(4).getString());
      counts.files.push_back({q.getColumn(3).getString(), received, received});
    }
  }
  return writers;
}

using Scrub = std::function<std::string(const std::string&)>;

void scrub_attempt_replies(SQLite::Database& db, const Writer& w, const Scrub& scrub) {
  SQLite::Statement replies(db, R"sql(
    SELECT a.id, a.smtp_response FROM attempts a JOIN messages m ON a.message_id = m.id
    WHERE m.campaign = ? AND m.submission_id = ? AND a.smtp_response IS NOT NULL)sql");
  replies.bind(1, w.campaign);
  replies.bind(2, w.id);
  std::vector<std::pair<long long, std::string>> scrubbed;
  while (replies.executeStep())
    scrubbed.emplace_back(replies.getColumn(0).getInt64(), scrub(replies.getColumn(1).getString()));
  for (const auto& [id, reply] : scrubbed) {
    SQLite::Statement u(db, "UPDATE attempts SET smtp_response = ? WHERE id = ?");
    u.bind(1, reply);
    u.bind(2, static_cast<int64_t>(id));
    u.exec();
  }
}

// Cancels the submission's waiting letters and erases what each letter says.
void erase_letters(SQLite::Database& db, const Writer& w, const Scrub& scrub, TimePoint now,
                   Store::ErasureCounts& counts) {
  SQLite::Statement cancel(db, R"sql(
    UPDATE messages SET status = 'failed', next_attempt_at = NULL, ended_at = ?3, hold_id = NULL, hold_reason = NULL,
           notified_at = ?3, smtp_response = 'cancelled: the supporter asked for their data to be erased'
    WHERE campaign = ?1 AND submission_id = ?2 AND status IN ('queued', 'deferred', 'sending', 'held', 'collecting')
      AND letter NOT LIKE 'digest/%')sql");
  cancel.bind(1, w.campaign);
  cancel.bind(2, w.id);
  cancel.bind(3, format_utc(now));
  // Their letters' text in a digest goes too: before the cancel, while the letters still name it.
  SQLite::Statement in_digests(db, R"sql(
    SELECT DISTINCT digest_message_id FROM messages
    WHERE campaign = ? AND submission_id = ? AND digest_message_id IS NOT NULL)sql");
  in_digests.bind(1, w.campaign);
  in_digests.bind(2, w.id);
  std::vector<std::string> digests;
  while (in_digests.executeStep()) digests.push_back(in_digests.getColumn(0).getString());
  for (const auto& digest : digests) withdraw_digest(db, digest, format_utc(now), true);
  counts.cancelled += cancel.exec();

  SQLite::Statement letters(db, R"sql(
    SELECT id, smtp_response FROM messages WHERE campaign = ? AND submission_id = ?)sql");
  letters.bind(1, w.campaign);
  letters.bind(2, w.id);
  std::vector<std::pair<long long, std::optional<std::string>>> rows;
  while (letters.executeStep())
    rows.emplace_back(letters.getColumn(0).getInt64(), letters.getColumn(1).isNull()
                                                           ? std::nullopt
                                                           : std::optional(scrub(letters.getColumn(1).getString())));
  for (const auto& [id, reply] : rows) {
    SQLite::Statement u(db, R"sql(
      UPDATE messages SET body = NULL, subject = '[erased]', from_name = '[erased]', reply_to = NULL,
             reply_to_name = NULL, copy_to = NULL, smtp_response = ?,
             recipient = CASE WHEN reflect = 1 THEN '[erased]' ELSE recipient END,
             recipient_name = CASE WHEN reflect = 1 THEN '[erased]' ELSE recipient_name END,
             supporter_email = '[erased]', bounce_diagnostic = NULL
      WHERE id = ?)sql");
    if (reply)
      u.bind(1, *reply);
    else
      u.bind(1);
    u.bind(2, static_cast<int64_t>(id));
    counts.letters += u.exec();
    // A returned mail's words may quote the letter or name the supporter.
    SQLite::Statement returned(db, "UPDATE bounces SET diagnostic = NULL WHERE message_id = ?");
    returned.bind(1, static_cast<int64_t>(id));
    returned.exec();
  }
}

}  // namespace

Store::ErasureCounts Store::erase_supporter(const std::string& email, TimePoint now) {
  auto& db = impl_->db;
  std::string key = supporter_key(email);
  ErasureCounts counts;
  SQLite::Transaction t(db, SQLite::TransactionBehavior::IMMEDIATE);
  std::vector<Writer> writers = submissions_of(db, key, counts);
  for (const auto& w : writers) {
    // Relays echo names and addresses in replies; both go, the reply's code and queue id stay.
    Scrub scrub = [&](const std::string& reply) {
      return redact(redact(redact(reply, email, "[address]"), key, "[address]"), w.name, "[name]");
    };
    scrub_attempt_replies(db, w, scrub);
    erase_letters(db, w, scrub, now, counts);
  }
  for (const auto& w : writers) {
    SQLite::Statement people(db, R"sql(
      UPDATE submissions SET supporter_name = '[erased]', supporter_email = '[erased]', postcode = NULL,
             address = NULL, constituency = NULL, personal_note = NULL, fields = NULL, authorisation = NULL
      WHERE campaign = ? AND id = ?)sql");
    people.bind(1, w.campaign);
    people.bind(2, w.id);
    counts.submissions += people.exec();
    forget_review(db, w.campaign, w.id);
  }
  t.commit();
  checkpoint();
  return counts;
}

void Store::forget_rejections(const std::vector<RejectionRef>& rejections) {
  SQLite::Transaction t(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
  for (const auto& r : rejections) {
    // A file name may be reused by another supporter: only the row written
    // when this file was refused goes, known by its time.
    SQLite::Statement q(impl_->db, "DELETE FROM rejections WHERE file = ? AND at >= ? AND at <= ?");
    q.bind(1, r.file);
    q.bind(2, format_utc(r.from));
    q.bind(3, format_utc(r.to));
    q.exec();
  }
  t.commit();
}

std::vector<ReportRow> Store::report(const std::string& campaign) {
  std::vector<ReportRow> out;
  SQLite::Statement by_target(impl_->db, R"sql(
    SELECT 'target', target_id, max(recipient_name),
           sum(status IN ('queued', 'sending', 'collecting')), sum(status = 'deferred'),
           sum(status = 'sent'), sum(status = 'failed'), sum(status = 'held'), sum(status = 'cancelled'),
           sum(status = 'bounced'), sum(acknowledged_at IS NOT NULL)
    FROM messages WHERE campaign = ? AND reflect = 0 AND notice_for IS NULL AND letter NOT LIKE 'digest/%' GROUP BY target_id ORDER BY target_id)sql");
  SQLite::Statement by_day(impl_->db, R"sql(
    SELECT 'day', substr(coalesce(ended_at, created_at), 1, 10), '',
           sum(status IN ('queued', 'sending', 'collecting')), sum(status = 'deferred'),
           sum(status = 'sent'), sum(status = 'failed'), sum(status = 'held'), sum(status = 'cancelled'),
           sum(status = 'bounced'), sum(acknowledged_at IS NOT NULL)
    FROM messages WHERE campaign = ? AND reflect = 0 AND notice_for IS NULL AND letter NOT LIKE 'digest/%' GROUP BY 2 ORDER BY 2)sql");
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
      r.held = q->getColumn(7).getInt64();
      r.cancelled = q->getColumn(8).getInt64();
      r.bounced = q->getColumn(9).getInt64();
      r.acknowledged = q->getColumn(10).getInt64();
      out.push_back(std::move(r));
    }
  }
  return out;
}

void Store::log(const LogFilter& f, const std::function<void(const LogRow&)>& row) {
  std::string sql = R"sql(
    SELECT id, created_at, campaign, submission_id, letter, target_id, recipient, status, attempts,
           next_attempt_at, sent_at, relay, message_id, smtp_code, smtp_response, hold_reason, bounce_status,
           bounce_diagnostic, acknowledged_at
    FROM messages WHERE id > :after)sql";
  if (f.status) sql += " AND status = :status";
  if (f.campaign) sql += " AND campaign = :campaign";
  if (f.target) sql += " AND target_id = :target";
  if (f.since) sql += " AND created_at >= :since";
  sql += " ORDER BY id LIMIT 1000";
  SQLite::Statement q(impl_->db, sql);
  // A page at a time, each read ended before its rows are printed: a reader
  // paused at a pager must not hold a snapshot, which would keep the
  // write-ahead log growing and erased data in it.
  std::vector<LogRow> page;
  long long after = 0;
  do {
    page.clear();
    q.reset();
    q.bind(":after", static_cast<int64_t>(after));
    if (f.status) q.bind(":status", to_string(*f.status));
    if (f.campaign) q.bind(":campaign", *f.campaign);
    if (f.target) q.bind(":target", *f.target);
    if (f.since) q.bind(":since", *f.since);
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
      r.status = stored_status(q.getColumn(c++).getString());
      r.attempts = q.getColumn(c++).getInt();
      r.next_attempt_at = text_or_empty(q.getColumn(c++));
      r.sent_at = text_or_empty(q.getColumn(c++));
      r.relay = q.getColumn(c++).getString();
      r.message_id = q.getColumn(c++).getString();
      r.smtp_code = q.getColumn(c).isNull() ? 0 : q.getColumn(c).getInt();
      ++c;
      r.smtp_response = text_or_empty(q.getColumn(c++));
      r.hold_reason = text_or_empty(q.getColumn(c++));
      r.bounce_status = text_or_empty(q.getColumn(c++));
      r.bounce_diagnostic = text_or_empty(q.getColumn(c++));
      r.acknowledged_at = text_or_empty(q.getColumn(c++));
      page.push_back(std::move(r));
    }
    q.reset();
    for (const auto& r : page) row(r);
    if (!page.empty()) after = page.back().id;
  } while (page.size() == 1000);
}

std::vector<StatusCount> Store::status_counts() {
  auto q =
      impl_->prepare("SELECT campaign, status, count FROM message_counts WHERE count > 0 ORDER BY campaign, status");
  std::vector<StatusCount> out;
  while (q->executeStep())
    out.push_back(
        {q->getColumn(0).getString(), stored_status(q->getColumn(1).getString()), q->getColumn(2).getInt64()});
  return out;
}

std::vector<RecentError> Store::recent_errors(int limit) {
  // attempts_unsent holds the few tries that were not sent: a log of a
  // million sends is not read to find the last five errors.
  SQLite::Statement q(impl_->db, R"sql(
    SELECT at, relay, outcome, smtp_code, smtp_response FROM attempts INDEXED BY attempts_unsent
    WHERE outcome != 'sent' ORDER BY id DESC LIMIT ?)sql");
  q.bind(1, limit);
  return read_tries(q);
}

std::vector<RecentError> Store::last_try_per_relay(const std::vector<std::string>& relays) {
  std::vector<RecentError> out;
  for (const auto& relay : relays) {
    SQLite::Statement q(impl_->db, R"sql(
      SELECT at, relay, outcome, smtp_code, smtp_response FROM attempts WHERE relay = ?
      ORDER BY at DESC, id DESC LIMIT 1)sql");
    q.bind(1, relay);
    for (auto& e : read_tries(q)) out.push_back(std::move(e));
  }
  return out;
}

long long Store::sent_since(TimePoint since) {
  auto q = impl_->prepare("SELECT count(*) FROM attempts INDEXED BY attempts_at WHERE at >= ? AND outcome = 'sent'");
  q->bind(1, format_utc(since));
  q->executeStep();
  return q->getColumn(0).getInt64();
}

std::vector<std::string> Store::query_plans() {
  std::vector<std::string> out;
  for (const auto& [sql, statement] : impl_->statements) {
    SQLite::Statement plan(impl_->db, "EXPLAIN QUERY PLAN " + sql);
    std::string text = sql + " =>";
    while (plan.executeStep()) text += " | " + plan.getColumn(3).getString() + " ";
    out.push_back(std::move(text));
  }
  return out;
}

}  // namespace letterd
