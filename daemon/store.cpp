#include "store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sys/stat.h>

#include <algorithm>
#include <stdexcept>

namespace letterd {

namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE submissions (
  id              TEXT NOT NULL,
  campaign        TEXT NOT NULL,
  supporter_name  TEXT NOT NULL,
  supporter_email TEXT NOT NULL,
  postcode        TEXT,
  address         TEXT,
  constituency    TEXT,
  personal_note   TEXT,
  authorised_at   TEXT,
  authorisation   TEXT,
  received_at     TEXT NOT NULL,
  source_file     TEXT NOT NULL,
  source_digest   TEXT NOT NULL,
  PRIMARY KEY (campaign, id)
);
CREATE TABLE messages (
  id              INTEGER PRIMARY KEY,
  submission_id   TEXT NOT NULL,
  campaign        TEXT NOT NULL,
  letter          TEXT NOT NULL,
  target_id       TEXT NOT NULL,
  recipient       TEXT NOT NULL,
  recipient_name  TEXT NOT NULL,
  supporter_email TEXT NOT NULL,
  from_address    TEXT NOT NULL,
  from_name       TEXT NOT NULL,
  reply_to        TEXT,
  reply_to_name   TEXT,
  copy_to         TEXT,
  reflect         INTEGER NOT NULL DEFAULT 0,
  subject         TEXT NOT NULL,
  message_id      TEXT NOT NULL UNIQUE,
  status          TEXT NOT NULL CHECK (status IN ('queued','sending','sent','deferred','failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT,
  smtp_code       INTEGER,
  smtp_response   TEXT,
  relay           TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  sent_at         TEXT,
  ended_at        TEXT,
  retried_at      TEXT,
  body            TEXT,
  FOREIGN KEY (campaign, submission_id) REFERENCES submissions (campaign, id)
);
CREATE INDEX messages_due ON messages (relay, next_attempt_at) WHERE status IN ('queued', 'deferred');
CREATE INDEX messages_sending ON messages (status) WHERE status = 'sending';
CREATE INDEX messages_supporter ON messages (campaign, supporter_email, target_id);
CREATE INDEX messages_target ON messages (campaign, target_id) WHERE status IN ('queued', 'deferred');
CREATE INDEX submissions_source ON submissions (source_file);
CREATE TABLE attempts (
  id             INTEGER PRIMARY KEY,
  message_id     INTEGER NOT NULL REFERENCES messages (id),
  at             TEXT NOT NULL,
  relay          TEXT NOT NULL,
  outcome        TEXT NOT NULL,
  smtp_code      INTEGER,
  smtp_response  TEXT,
  duration_ms    INTEGER NOT NULL
);
CREATE INDEX attempts_relay_at ON attempts (relay, at);
CREATE INDEX attempts_message ON attempts (message_id);
CREATE TABLE rejections (
  id       INTEGER PRIMARY KEY,
  file     TEXT NOT NULL,
  at       TEXT NOT NULL,
  reasons  TEXT NOT NULL
);
)sql";

std::string text_or_empty(const SQLite::Column& c) { return c.isNull() ? std::string() : c.getString(); }

TimePoint parse_time(const std::string& text) { return parse_rfc3339(text).value_or(TimePoint{}); }

// Rows of (at, relay, outcome, smtp_code, smtp_response).
std::vector<RecentError> read_tries(SQLite::Statement& q) {
  std::vector<RecentError> out;
  while (q.executeStep()) {
    RecentError e;
    e.at = q.getColumn(0).getString();
    e.relay = q.getColumn(1).getString();
    e.outcome = q.getColumn(2).getString();
    e.smtp_code = q.getColumn(3).isNull() ? 0 : q.getColumn(3).getInt();
    e.smtp_response = text_or_empty(q.getColumn(4));
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

struct Store::Impl {
  SQLite::Database db;

  Impl(const std::string& path, Access access) : db(open(path, access)) {
    db.setBusyTimeout(5000);
    // Erased letters and notes must not linger in free pages of the file.
    if (access != Access::read_only) db.exec("PRAGMA secure_delete = ON");
    if (access != Access::daemon) {
      int version = db.execAndGet("PRAGMA user_version").getInt();
      if (version != kSchemaVersion)
        throw std::runtime_error("database " + path + " has schema version " + std::to_string(version) +
                                 ", this letterd reads version " + std::to_string(kSchemaVersion) +
                                 " (letterd run migrates it)");
      return;
    }
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
    db.exec("PRAGMA foreign_keys = ON");
    migrate();
  }

  static SQLite::Database open(const std::string& path, Access access) {
    if (access != Access::daemon) {
      struct stat st;
      if (::stat(path.c_str(), &st) != 0)
        throw std::runtime_error("no database at " + path + " (letterd run creates it)");
      return SQLite::Database(path, access == Access::read_only ? SQLite::OPEN_READONLY : SQLite::OPEN_READWRITE);
    }
    // Supporters' letters live here: readable by letterd alone.
    mode_t old = ::umask(077);
    try {
      SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      ::umask(old);
      return db;
    } catch (const SQLite::Exception& e) {
      ::umask(old);
      throw std::runtime_error("database " + path + ": " + e.what());
    }
  }

  void migrate() {
    int version = db.execAndGet("PRAGMA user_version").getInt();
    if (version > kSchemaVersion)
      throw std::runtime_error("database schema version " + std::to_string(version) +
                               " is newer than this letterd understands (" + std::to_string(kSchemaVersion) + ")");
    if (version < 1) {
      SQLite::Transaction t(db);
      db.exec(kSchemaV1);
      db.exec("PRAGMA user_version = 1");
      t.commit();
    }
  }
};

Store::Store(const std::string& path, Access access) {
  try {
    impl_ = std::make_unique<Impl>(path, access);
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("database " + path + ": " + e.what());
  }
}

Store::~Store() = default;

std::optional<std::string> Store::submission_source(const std::string& campaign, const std::string& id) {
  SQLite::Statement q(impl_->db, "SELECT source_file FROM submissions WHERE campaign = ? AND id = ?");
  q.bind(1, campaign);
  q.bind(2, id);
  if (!q.executeStep()) return std::nullopt;
  return q.getColumn(0).getString();
}

bool Store::already_accepted(const std::string& source_file, const std::string& digest) {
  SQLite::Statement q(impl_->db, "SELECT 1 FROM submissions WHERE source_file = ? AND source_digest = ? LIMIT 1");
  q.bind(1, source_file);
  q.bind(2, digest);
  return q.executeStep();
}

bool Store::supporter_wrote_to(const std::string& campaign, const std::string& supporter_email,
                               const std::string& target_id) {
  // A failed letter may be written again; a test in reflect mode never reached the target.
  SQLite::Statement q(impl_->db, R"sql(
    SELECT 1 FROM messages WHERE campaign = ? AND supporter_email = ? AND target_id = ?
      AND status != 'failed' AND reflect = 0 LIMIT 1)sql");
  q.bind(1, campaign);
  q.bind(2, supporter_key(supporter_email));
  q.bind(3, target_id);
  return q.executeStep();
}

void Store::accept(const Submission& s, const std::string& source_file, const std::string& digest,
                   TimePoint received_at,
                   const std::vector<NewMessage>& messages, const std::string& duplicates) {
  auto& db = impl_->db;
  std::string now = format_utc(received_at);
  SQLite::Transaction t(db);
  SQLite::Statement sub(db, R"sql(
    INSERT INTO submissions (id, campaign, supporter_name, supporter_email, postcode, address, constituency,
                             personal_note, authorised_at, authorisation, received_at, source_file, source_digest)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql");
  int i = 1;
  auto bind_opt = [&](SQLite::Statement& q, const std::optional<std::string>& v) {
    if (v) q.bind(i++, *v);
    else q.bind(i++);
  };
  sub.bind(i++, s.id);
  sub.bind(i++, s.campaign);
  sub.bind(i++, s.supporter_name);
  sub.bind(i++, s.supporter_email);
  bind_opt(sub, s.postcode);
  bind_opt(sub, s.address);
  bind_opt(sub, s.constituency);
  bind_opt(sub, s.personal_note);
  std::optional<std::string> authorised_at;
  if (s.authorisation)
    if (auto t = parse_rfc3339(s.authorisation->at)) authorised_at = format_utc(*t);
  bind_opt(sub, authorised_at);
  bind_opt(sub, s.authorisation ? std::optional(s.authorisation->statement) : std::nullopt);
  sub.bind(i++, now);
  sub.bind(i++, source_file);
  sub.bind(i++, digest);
  sub.exec();

  SQLite::Statement msg(db, R"sql(
    INSERT INTO messages (submission_id, campaign, letter, target_id, recipient, recipient_name, supporter_email,
                          from_address, from_name, reply_to, reply_to_name, copy_to, reflect, subject, message_id,
                          status, attempts, next_attempt_at, relay, created_at, body)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?))sql");
  for (const auto& m : messages) {
    const PlannedMessage& p = m.planned;
    i = 1;
    msg.bind(i++, s.id);
    msg.bind(i++, s.campaign);
    msg.bind(i++, p.letter);
    msg.bind(i++, p.target_id);
    msg.bind(i++, p.to.address);
    msg.bind(i++, p.to.display_name);
    msg.bind(i++, supporter_key(s.supporter_email));
    msg.bind(i++, p.from.address);
    msg.bind(i++, p.from.display_name);
    bind_opt(msg, p.reply_to ? std::optional(p.reply_to->address) : std::nullopt);
    bind_opt(msg, p.reply_to ? std::optional(p.reply_to->display_name) : std::nullopt);
    bind_opt(msg, p.copy_to.empty() ? std::nullopt : std::optional(p.copy_to));
    msg.bind(i++, p.reflect ? 1 : 0);
    msg.bind(i++, p.subject);
    msg.bind(i++, m.message_id);
    msg.bind(i++, now);
    msg.bind(i++, m.relay);
    msg.bind(i++, now);
    msg.bind(i++, p.body);
    msg.exec();
    msg.reset();
  }
  if (!duplicates.empty()) {
    SQLite::Statement rej(db, "INSERT INTO rejections (file, at, reasons) VALUES (?, ?, ?)");
    rej.bind(1, source_file);
    rej.bind(2, now);
    rej.bind(3, duplicates);
    rej.exec();
  }
  t.commit();
}

void Store::add_rejection(const std::string& file, TimePoint at, const std::string& reasons) {
  SQLite::Statement q(impl_->db, "INSERT INTO rejections (file, at, reasons) VALUES (?, ?, ?)");
  q.bind(1, file);
  q.bind(2, format_utc(at));
  q.bind(3, reasons);
  q.exec();
}

namespace {

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
  SQLite::Statement q(impl_->db, R"sql(
    SELECT id, submission_id, campaign, letter, target_id, recipient, recipient_name, from_address, from_name,
           reply_to, reply_to_name, copy_to, reflect, subject, body, message_id, relay, status, attempts, created_at,
           coalesce(retried_at, created_at)
    FROM messages
    WHERE relay = ? AND status IN ('queued', 'deferred') AND next_attempt_at <= ? AND campaign IN ()sql" +
                                     placeholders(campaigns.size()) + R"sql()
    ORDER BY next_attempt_at, id LIMIT ?)sql");
  int i = 1;
  q.bind(i++, relay);
  q.bind(i++, format_utc(now));
  for (const auto& c : campaigns) q.bind(i++, c);
  q.bind(i++, limit);
  std::vector<StoredMessage> out;
  while (q.executeStep()) {
    StoredMessage m;
    int c = 0;
    m.id = q.getColumn(c++).getInt64();
    m.submission_id = q.getColumn(c++).getString();
    m.campaign = q.getColumn(c++).getString();
    m.letter = q.getColumn(c++).getString();
    m.target_id = q.getColumn(c++).getString();
    m.to.address = q.getColumn(c++).getString();
    m.to.display_name = q.getColumn(c++).getString();
    m.from.address = q.getColumn(c++).getString();
    m.from.display_name = q.getColumn(c++).getString();
    if (!q.getColumn(c).isNull()) m.reply_to = Mailbox{text_or_empty(q.getColumn(c + 1)), q.getColumn(c).getString()};
    c += 2;
    m.copy_to = text_or_empty(q.getColumn(c++));
    m.reflect = q.getColumn(c++).getInt() != 0;
    m.subject = q.getColumn(c++).getString();
    m.body = text_or_empty(q.getColumn(c++));
    m.message_id = q.getColumn(c++).getString();
    m.relay = q.getColumn(c++).getString();
    m.status = q.getColumn(c++).getString();
    m.attempts = q.getColumn(c++).getInt();
    m.created_at = parse_time(q.getColumn(c++).getString());
    m.lifetime_from = parse_time(q.getColumn(c++).getString());
    out.push_back(std::move(m));
  }
  return out;
}

std::optional<TimePoint> Store::next_due(const std::string& relay, const std::vector<std::string>& campaigns) {
  if (campaigns.empty()) return std::nullopt;
  SQLite::Statement q(impl_->db, "SELECT min(next_attempt_at) FROM messages WHERE relay = ? AND status IN "
                                 "('queued', 'deferred') AND campaign IN (" + placeholders(campaigns.size()) + ")");
  int i = 1;
  q.bind(i++, relay);
  for (const auto& c : campaigns) q.bind(i++, c);
  if (!q.executeStep() || q.getColumn(0).isNull()) return std::nullopt;
  return parse_time(q.getColumn(0).getString());
}

bool Store::mark_sending(long long id, TimePoint now) {
  SQLite::Statement q(impl_->db, R"sql(
    UPDATE messages SET status = 'sending', next_attempt_at = ?
    WHERE id = ? AND status IN ('queued', 'deferred'))sql");
  q.bind(1, format_utc(now));
  q.bind(2, static_cast<int64_t>(id));
  return q.exec() == 1;
}

void Store::record_attempt(const AttemptRecord& r) {
  auto& db = impl_->db;
  SQLite::Transaction t(db);
  SQLite::Statement a(db, R"sql(
    INSERT INTO attempts (message_id, at, relay, outcome, smtp_code, smtp_response, duration_ms)
    VALUES (?, ?, ?, ?, ?, ?, ?))sql");
  a.bind(1, static_cast<int64_t>(r.message));
  a.bind(2, format_utc(r.at));
  a.bind(3, r.relay);
  a.bind(4, r.outcome);
  if (r.smtp_code) a.bind(5, r.smtp_code);
  else a.bind(5);
  a.bind(6, r.smtp_response);
  a.bind(7, static_cast<int64_t>(r.duration_ms));
  a.exec();

  SQLite::Statement m(db, R"sql(
    UPDATE messages SET status = ?, attempts = attempts + ?, next_attempt_at = ?, smtp_code = ?,
           smtp_response = ?, sent_at = CASE WHEN ?6 = 'sent' THEN ?7 ELSE sent_at END,
           ended_at = CASE WHEN ?6 IN ('sent', 'failed') THEN ?7 ELSE NULL END
    WHERE id = ?8)sql");
  m.bind(1, r.status);
  m.bind(2, r.counts_as_attempt ? 1 : 0);
  if (r.next_attempt_at) m.bind(3, format_utc(*r.next_attempt_at));
  else m.bind(3);
  if (r.smtp_code) m.bind(4, r.smtp_code);
  else m.bind(4);
  m.bind(5, r.smtp_response);
  m.bind(6, r.status);
  m.bind(7, format_utc(r.at));
  m.bind(8, static_cast<int64_t>(r.message));
  m.exec();
  t.commit();
}

void Store::release(long long id, TimePoint at) {
  SQLite::Statement q(impl_->db, R"sql(
    UPDATE messages SET status = CASE WHEN attempts > 0 THEN 'deferred' ELSE 'queued' END, next_attempt_at = ?
    WHERE id = ? AND status = 'sending')sql");
  q.bind(1, format_utc(at));
  q.bind(2, static_cast<int64_t>(id));
  q.exec();
}

int Store::hold_target(const std::string& campaign, const std::string& target_id, TimePoint at) {
  SQLite::Statement q(impl_->db, R"sql(
    UPDATE messages SET next_attempt_at = ?1
    WHERE campaign = ?2 AND target_id = ?3 AND status IN ('queued', 'deferred') AND next_attempt_at < ?1)sql");
  q.bind(1, format_utc(at));
  q.bind(2, campaign);
  q.bind(3, target_id);
  return q.exec();
}

int Store::requeue_interrupted(TimePoint now) {
  SQLite::Statement q(impl_->db, "UPDATE messages SET status = 'queued', next_attempt_at = ? WHERE status = 'sending'");
  q.bind(1, format_utc(now));
  return q.exec();
}

int Store::rehome_waiting(const std::string& campaign, const std::string& relay) {
  SQLite::Statement q(impl_->db, R"sql(
    UPDATE messages SET relay = ? WHERE campaign = ? AND relay != ? AND status IN ('queued', 'deferred'))sql");
  q.bind(1, relay);
  q.bind(2, campaign);
  q.bind(3, relay);
  return q.exec();
}

std::vector<StatusCount> Store::waiting_outside(const std::vector<std::string>& campaigns) {
  SQLite::Statement q(impl_->db, R"sql(
    SELECT campaign, status, count(*) FROM messages WHERE status IN ('queued', 'deferred')
    GROUP BY campaign, status)sql");
  std::vector<StatusCount> out;
  while (q.executeStep()) {
    std::string campaign = q.getColumn(0).getString();
    if (std::find(campaigns.begin(), campaigns.end(), campaign) == campaigns.end())
      out.push_back({campaign, q.getColumn(1).getString(), q.getColumn(2).getInt64()});
  }
  return out;
}

std::vector<TimePoint> Store::recent_sends(const std::string& relay, std::size_t count, TimePoint since) {
  SQLite::Statement q(impl_->db, R"sql(
    SELECT at FROM attempts WHERE relay = ? AND at >= ? AND outcome != 'relay-fault'
    ORDER BY at DESC LIMIT ?)sql");
  q.bind(1, relay);
  q.bind(2, format_utc(since));
  q.bind(3, static_cast<int64_t>(count));
  std::vector<TimePoint> out;
  while (q.executeStep()) out.push_back(parse_time(q.getColumn(0).getString()));
  return {out.rbegin(), out.rend()};
}

std::vector<TimePoint> Store::recent_target_sends(const std::string& campaign, const std::string& target_id,
                                                  std::size_t count, TimePoint since) {
  SQLite::Statement q(impl_->db, R"sql(
    SELECT a.at FROM attempts a JOIN messages m ON m.id = a.message_id
    WHERE m.campaign = ? AND m.target_id = ? AND a.at >= ? AND a.outcome != 'relay-fault'
    ORDER BY a.at DESC LIMIT ?)sql");
  q.bind(1, campaign);
  q.bind(2, target_id);
  q.bind(3, format_utc(since));
  q.bind(4, static_cast<int64_t>(count));
  std::vector<TimePoint> out;
  while (q.executeStep()) out.push_back(parse_time(q.getColumn(0).getString()));
  return {out.rbegin(), out.rend()};
}

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
    WHERE supporter_email = ?1 AND status IN ('queued', 'deferred'))sql");
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
