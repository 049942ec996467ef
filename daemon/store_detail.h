// The parts of the store its two source files share: the connection and
// the row helpers. Not an interface: include it from store*.cpp only.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store.h"

namespace letterd::store_detail {

inline constexpr int kSchemaVersion = 10;

inline constexpr const char* kSchemaV1 = R"sql(
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

// Version 2: every statement the daemon repeats is index-backed, and the
// counts `status` and sd_notify show are kept by triggers, so no periodic
// job scans a log that grows for the whole campaign.
inline constexpr const char* kSchemaV2 = R"sql(
CREATE INDEX messages_submission ON messages (campaign, submission_id);
CREATE INDEX messages_retention ON messages (ended_at) WHERE body IS NOT NULL;
CREATE INDEX attempts_at ON attempts (at);
CREATE INDEX attempts_unsent ON attempts (id) WHERE outcome != 'sent';
CREATE INDEX messages_failed ON messages (status) WHERE status = 'failed';
CREATE TABLE message_counts (
  campaign TEXT NOT NULL,
  status   TEXT NOT NULL,
  count    INTEGER NOT NULL,
  PRIMARY KEY (campaign, status)
) WITHOUT ROWID;
INSERT INTO message_counts (campaign, status, count)
  SELECT campaign, status, count(*) FROM messages GROUP BY campaign, status;
CREATE TRIGGER message_counts_insert AFTER INSERT ON messages BEGIN
  INSERT INTO message_counts (campaign, status, count) VALUES (new.campaign, new.status, 1)
    ON CONFLICT (campaign, status) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER message_counts_update AFTER UPDATE OF status, campaign ON messages
  WHEN old.status != new.status OR old.campaign != new.campaign BEGIN
  UPDATE message_counts SET count = count - 1 WHERE campaign = old.campaign AND status = old.status;
  INSERT INTO message_counts (campaign, status, count) VALUES (new.campaign, new.status, 1)
    ON CONFLICT (campaign, status) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER message_counts_delete AFTER DELETE ON messages BEGIN
  UPDATE message_counts SET count = count - 1 WHERE campaign = old.campaign AND status = old.status;
END;
)sql";

// Version 3: holds and cancelling. A held letter points at the hold that
// holds it (hold_id; NULL for a hold of letterd's own) and says why
// (hold_reason); messages_held finds a hold's letters without reading the
// log, messages_held_campaign a campaign's held letters (for a move to
// another relay), holds_active the few holds still standing.
inline constexpr const char* kSchemaV3 = R"sql(
CREATE TABLE holds (
  id          INTEGER PRIMARY KEY,
  campaign    TEXT,
  letter      TEXT,
  target_id   TEXT,
  reason      TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  until       TEXT,
  released_at TEXT
);
CREATE INDEX holds_active ON holds (until) WHERE released_at IS NULL;
ALTER TABLE messages ADD COLUMN hold_id INTEGER REFERENCES holds (id);
ALTER TABLE messages ADD COLUMN hold_reason TEXT;
CREATE INDEX messages_held ON messages (hold_id) WHERE status = 'held';
CREATE INDEX messages_held_campaign ON messages (campaign) WHERE status = 'held';
)sql";

// Version 4: targets that change. A submission keeps what its letters
// are rendered from again when a target changes: the target it named and
// the fields its templates use (JSON), erased with its personal note. A
// letter keeps the fingerprint of the target's row it was rendered for
// (target_row; NULL for one accepted before), and target_rows each row a
// fingerprint names. messages_waiting_target lists, without reading the
// log, which rows of which targets have letters not yet sent.
inline constexpr const char* kSchemaV4 = R"sql(
ALTER TABLE submissions ADD COLUMN target TEXT;
ALTER TABLE submissions ADD COLUMN fields TEXT;
ALTER TABLE messages ADD COLUMN target_row TEXT;
CREATE TABLE target_rows (
  fingerprint TEXT PRIMARY KEY,
  columns     TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX messages_waiting_target ON messages (campaign, letter, target_id, target_row)
  WHERE status IN ('queued', 'deferred', 'held');
)sql";

// Version 5: secrets letterd makes for itself and keeps with the letters
// they vouch for: the key of each letter's return path (return_path.h).
inline constexpr const char* kSchemaV5 = R"sql(
CREATE TABLE secrets (
  name  TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;
)sql";

// Version 6: delivery truth. A letter the recipient's system returned is
// `bounced`, with the returned status and diagnostic; one its recipient's
// system answered automatically is acknowledged. `bounces` keeps every
// mail read from the bounce mailbox, matched or not; `source` names where
// it was read (a Maildir file, an IMAP UID), so a mail read twice counts once.
inline constexpr const char* kSchemaV6 = R"sql(
ALTER TABLE messages ADD COLUMN bounce_status TEXT;
ALTER TABLE messages ADD COLUMN bounce_diagnostic TEXT;
ALTER TABLE messages ADD COLUMN bounced_at TEXT;
ALTER TABLE messages ADD COLUMN acknowledged_at TEXT;
CREATE TABLE bounces (
  id          INTEGER PRIMARY KEY,
  message_id  INTEGER REFERENCES messages (id),
  received_at TEXT NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('hard', 'delay', 'auto_reply', 'unparsed')),
  status_code TEXT,
  diagnostic  TEXT,
  source      TEXT NOT NULL UNIQUE
);
CREATE INDEX bounces_message ON bounces (message_id);
CREATE INDEX messages_bounced ON messages (campaign, target_id) WHERE status = 'bounced';
CREATE TABLE bounce_mailboxes (
  mailbox     TEXT PRIMARY KEY,
  uidvalidity INTEGER NOT NULL,
  last_uid    INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// Version 7: notices to supporters. A notice is a message like a letter,
// with notice_for naming the letter it is about; notified_at says when
// letterd decided on a failed or bounced letter's notice (sent one, or
// none was wanted). messages_to_notify holds the letters still to decide:
// none, most of the time. Letters that ended before version 7 are decided.
// notice_for is no foreign key: one would make every insert into messages
// search messages for notices of the new row, a search without an index.
inline constexpr const char* kSchemaV7 = R"sql(
ALTER TABLE messages ADD COLUMN notice_for INTEGER;
ALTER TABLE messages ADD COLUMN notified_at TEXT;
UPDATE messages SET notified_at = coalesce(ended_at, created_at) WHERE status IN ('failed', 'bounced');
CREATE INDEX messages_to_notify ON messages (id) WHERE status IN ('failed', 'bounced') AND notified_at IS NULL;
)sql";

// Version 8: review of suspect letters. review_notes keeps, for each letter
// of a campaign with review rules, what the rules compare: its note's
// fingerprint, how many runs the note kept, the supporter's postcode and
// when; review_runs each kept run's hash, so a check reads only the notes
// that share a run with the new one, never every note to the target.
// messages.review_rule names the rule a letter held for review tripped.
inline constexpr const char* kSchemaV8 = R"sql(
ALTER TABLE messages ADD COLUMN review_rule TEXT;
CREATE TABLE review_notes (
  message_id  INTEGER PRIMARY KEY REFERENCES messages (id),
  campaign    TEXT NOT NULL,
  target_id   TEXT NOT NULL,
  fingerprint INTEGER NOT NULL,
  runs        INTEGER NOT NULL,
  postcode    TEXT NOT NULL,
  at          TEXT NOT NULL
);
CREATE INDEX review_notes_same ON review_notes (campaign, target_id, fingerprint);
CREATE INDEX review_notes_postcode ON review_notes (campaign, target_id, postcode, at);
CREATE TABLE review_runs (
  campaign   TEXT NOT NULL,
  target_id  TEXT NOT NULL,
  hash       INTEGER NOT NULL,
  message_id INTEGER NOT NULL,
  PRIMARY KEY (campaign, target_id, hash, message_id)
) WITHOUT ROWID;
CREATE INDEX review_runs_message ON review_runs (message_id);
CREATE INDEX messages_review ON messages (campaign) WHERE status = 'held' AND review_rule IS NOT NULL;
)sql";

// Version 9: daily digests. A letter of a letter with `digest` waits as
// `collecting`, due (next_attempt_at) at its digest's time; assembled, it
// names its digest's Message-ID in digest_message_id, and becomes sent or
// failed as its digest does. messages_collecting holds only those waiting.
inline constexpr const char* kSchemaV9 = R"sql(
ALTER TABLE messages ADD COLUMN digest_message_id TEXT;
CREATE INDEX messages_collecting ON messages (next_attempt_at, campaign, letter, target_id)
  WHERE status = 'collecting' AND digest_message_id IS NULL;
CREATE INDEX messages_collecting_target ON messages (campaign, letter, target_id, next_attempt_at)
  WHERE status = 'collecting' AND digest_message_id IS NULL;
CREATE INDEX messages_in_digest ON messages (digest_message_id) WHERE status = 'collecting';
)sql";

// Version 10: a digest cancelled before it went lets its letters go in the
// next one (never stuck collecting, pointing at a digest that will not go);
// collecting letters are found by campaign and target for a cancel or hold.
inline constexpr const char* kSchemaV10 = R"sql(
CREATE INDEX IF NOT EXISTS messages_collecting_target ON messages (campaign, letter, target_id, next_attempt_at)
  WHERE status = 'collecting' AND digest_message_id IS NULL;
CREATE INDEX messages_collecting_by_target ON messages (campaign, target_id) WHERE status = 'collecting';
CREATE TRIGGER digest_cancelled AFTER UPDATE OF status ON messages
  WHEN NEW.status = 'cancelled' AND OLD.status != 'cancelled' AND NEW.letter LIKE 'digest/%'
BEGIN
  UPDATE messages SET digest_message_id = NULL WHERE digest_message_id = NEW.message_id AND status = 'collecting';
END;
)sql";

// messages.status's CHECK as version 1 wrote it, and as version 3 widens
// it. SQLite cannot alter a constraint; rebuilding the table would copy a
// log of millions of letters, so the stored definition is edited in place,
// as SQLite's ALTER TABLE documentation describes for a constraint every
// existing row already meets.
inline constexpr const char* kStatusCheckV1 = "CHECK (status IN ('queued','sending','sent','deferred','failed'))";
inline constexpr const char* kStatusCheckV3 =
    "CHECK (status IN ('queued','sending','sent','deferred','failed','held','cancelled'))";
inline constexpr const char* kStatusCheckV6 =
    "CHECK (status IN ('queued','sending','sent','deferred','failed','held','cancelled','bounced'))";
inline constexpr const char* kStatusCheckV9 =
    "CHECK (status IN ('queued','sending','sent','deferred','failed','held','cancelled','bounced','collecting'))";

// Erases what the review rules kept of a submission's letters (its note's
// hashes, the supporter's postcode): done when its personal note is erased.
void forget_review(SQLite::Database& db, const std::string& campaign, const std::string& submission_id);

// A letter in the digest `digest_message_id` was cancelled or erased: a
// digest not yet on the wire is cancelled (its body, with the letter in
// it, erased) and its other letters go in the next one; with `erase`, one
// already sent loses its body. One on the wire goes as it is.
void withdraw_digest(SQLite::Database& db, const std::string& digest_message_id, const std::string& now, bool erase);

inline std::string text_or_empty(const SQLite::Column& c) {
  return c.isNull() ? std::string() : c.getString();
}

inline TimePoint parse_time(const std::string& text) {
  return parse_rfc3339(text).value_or(TimePoint{});
}

// The status or outcome a row holds. Only letterd writes them, so another
// word is a row changed by hand: said, never taken for some other state.
inline MessageStatus stored_status(const std::string& text) {
  if (auto status = parse_message_status(text)) return *status;
  throw std::runtime_error("the database holds a message status letterd does not know: \"" + text + "\"");
}
inline Outcome stored_outcome(const std::string& text) {
  if (auto outcome = parse_outcome(text)) return *outcome;
  throw std::runtime_error("the database holds an attempt outcome letterd does not know: \"" + text + "\"");
}

// Back in the queue, due now, retry.lifetime counting from now: a letter
// that was tried before is `deferred`, as Store::release leaves one.
inline constexpr const char* kUnhold = R"sql(
  status = CASE WHEN attempts > 0 OR smtp_response IS NOT NULL THEN 'deferred' ELSE 'queued' END,
  next_attempt_at = :now, retried_at = :now, hold_id = NULL, hold_reason = NULL)sql";

// The columns of a StoredMessage, in the order stored_message() reads them.
inline constexpr const char* kStoredMessageColumns = R"sql(
  id, submission_id, campaign, letter, target_id, recipient, recipient_name, from_address, from_name,
  reply_to, reply_to_name, copy_to, reflect, subject, body, message_id, relay, status, attempts, created_at,
  coalesce(retried_at, created_at), target_row)sql";
inline constexpr int kStoredMessageColumnCount = 22;

// A row of kStoredMessageColumns, from the statement's first column.
inline StoredMessage stored_message(SQLite::Statement& q) {
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
  m.status = stored_status(q.getColumn(c++).getString());
  m.attempts = q.getColumn(c++).getInt();
  m.created_at = parse_time(q.getColumn(c++).getString());
  m.lifetime_from = parse_time(q.getColumn(c++).getString());
  m.target_row = text_or_empty(q.getColumn(c++));
  return m;
}

// Rows of (at, relay, outcome, smtp_code, smtp_response).
inline std::vector<RecentError> read_tries(SQLite::Statement& q) {
  std::vector<RecentError> out;
  while (q.executeStep()) {
    RecentError e;
    e.at = q.getColumn(0).getString();
    e.relay = q.getColumn(1).getString();
    e.outcome = stored_outcome(q.getColumn(2).getString());
    e.smtp_code = q.getColumn(3).isNull() ? 0 : q.getColumn(3).getInt();
    e.smtp_response = text_or_empty(q.getColumn(4));
    out.push_back(std::move(e));
  }
  return out;
}

// Retention's slices commit without a sync of their own: an erasure lost
// to a power cut is done again at the next run, and the next commit that
// must last (intake's, a try's) syncs the write-ahead log, these frames
// with it. A sync inside the slice would hold the write lock, and every
// commit of the daemon's waiting on it, behind the filesystem's journal,
// busy with a six-gigabyte database; the copying back after the slice
// syncs without holding it.
class UnsyncedCommits {
 public:
  explicit UnsyncedCommits(SQLite::Database& db) : db_(db) { db_.exec("PRAGMA synchronous = NORMAL"); }
  ~UnsyncedCommits() {
    try {
      db_.exec("PRAGMA synchronous = FULL");
    } catch (...) {  // the connection is going: nothing left to sync
    }
  }
  UnsyncedCommits(const UnsyncedCommits&) = delete;
  UnsyncedCommits& operator=(const UnsyncedCommits&) = delete;

 private:
  SQLite::Database& db_;
};

// A statement prepared once for the connection's life. Reset when the
// handle goes: a statement left mid-result would hold its read snapshot,
// and the connection would stop seeing the other connections' writes.
class HeldStatement {
 public:
  explicit HeldStatement(SQLite::Statement& statement) : statement_(statement) {}
  ~HeldStatement() { statement_.tryReset(); }
  HeldStatement(const HeldStatement&) = delete;
  HeldStatement& operator=(const HeldStatement&) = delete;
  SQLite::Statement* operator->() { return &statement_; }
  SQLite::Statement& operator*() { return statement_; }

 private:
  SQLite::Statement& statement_;
};

}  // namespace letterd::store_detail

namespace letterd {

using namespace store_detail;

struct Store::Impl {
  SQLite::Database db;
  // Declared after db, so destroyed before it. Parsing SQL cost more than
  // running it on the delivery path.
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> statements;
  long long seen_data_version = -1;      // changed_elsewhere()'s last reading
  std::function<void()> checkpoint_due;  // leave_checkpoints_to()'s

  HeldStatement prepare(const std::string& sql) {
    auto& slot = statements[sql];
    if (!slot)
      slot = std::make_unique<SQLite::Statement>(db, sql);
    else
      slot->clearBindings();
    return HeldStatement(*slot);
  }

  Impl(const std::string& path, Access access) : db(open(path, access)), path(path) {
    sqlite3_busy_handler(db.getHandle(), &wait_for_lock, this);
    // Erased letters and notes must not linger in free pages of the file.
    if (access != Access::read_only) db.exec("PRAGMA secure_delete = ON");
    if (access != Access::daemon) {
      int version = db.execAndGet("PRAGMA user_version").getInt();
      if (version != kSchemaVersion)
        throw std::runtime_error("database " + path + " has schema version " + std::to_string(version) +
                                 ", this letterd reads version " + std::to_string(kSchemaVersion) +
                                 " (letterd run migrates it)");
      if (access == Access::existing) {
        db.exec("PRAGMA synchronous = FULL");
        db.exec("PRAGMA foreign_keys = ON");
      }
      return;
    }
    // Pages freed by retention go back to the filesystem in slices
    // (PRAGMA incremental_vacuum); only a database with no tables yet can
    // take this setting, so it comes before anything else.
    if (db.execAndGet("PRAGMA user_version").getInt() == 0) db.exec("PRAGMA auto_vacuum = INCREMENTAL");
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
    db.exec("PRAGMA foreign_keys = ON");
    // Intake writes into four indexes of messages; SQLite's default 2 MiB
    // cache re-read their pages at every commit of a long campaign.
    db.exec("PRAGMA cache_size = -16384");
    migrate();
    remember_identity();
  }

  // The file this connection writes, as the filesystem knew it at open: a
  // database deleted or replaced under the daemon keeps taking writes that
  // nobody will ever read, so the daemon checks this before it trusts a commit.
  std::string path;
  struct Identity {
    dev_t dev = 0;
    ino_t ino = 0;
    bool known = false;
  };
  Identity file_identity, wal_identity;

  static Identity identity_of(const std::string& file) {
    struct stat st;
    if (::stat(file.c_str(), &st) != 0) return {};
    return {st.st_dev, st.st_ino, true};
  }

  void remember_identity() {
    file_identity = identity_of(path);
    wal_identity = identity_of(path + "-wal");
  }

  // Empty while the files at the path are the ones this connection has open.
  std::string identity_problem() {
    auto same = [](const Identity& a, const Identity& b) { return b.known && a.dev == b.dev && a.ino == b.ino; };
    if (!same(file_identity, identity_of(path)))
      return "the database " + path + " was deleted or replaced while letterd ran";
    if (!wal_identity.known) {
      wal_identity = identity_of(path + "-wal");  // SQLite creates it at the first read
    } else if (!same(wal_identity, identity_of(path + "-wal"))) {
      return "the database's write-ahead log " + path + "-wal was deleted or replaced while letterd ran";
    }
    return {};
  }

  // Another connection holds the write lock: the daemon's own sessions and
  // intake take it for a fraction of a millisecond each, so wait in short
  // steps (SQLite's own timeout sleeps whole milliseconds and more, which
  // left sessions idle), giving up after five seconds.
  std::chrono::steady_clock::time_point lock_wait_started;
  std::chrono::milliseconds lock_wait_limit = std::chrono::seconds(5);

  static int wait_for_lock(void* self, int calls) {
    auto& impl = *static_cast<Impl*>(self);
    auto& started = impl.lock_wait_started;
    auto now = std::chrono::steady_clock::now();
    if (calls == 0) started = now;
    if (now - started > impl.lock_wait_limit) return 0;
    std::this_thread::sleep_for(std::chrono::microseconds(std::min(1000, 20 << std::min(calls, 6))));
    return 1;
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
    if (version < 2) {
      SQLite::Transaction t(db);
      db.exec(kSchemaV2);
      db.exec("PRAGMA user_version = 2");
      t.commit();
    }
    if (version < 3) {
      SQLite::Transaction t(db);
      db.exec(kSchemaV3);
      replace_status_check(kStatusCheckV1, kStatusCheckV3);
      db.exec("PRAGMA user_version = 3");
      t.commit();
    }
    if (version < 4) {
      SQLite::Transaction t(db);
      db.exec(kSchemaV4);
      db.exec("PRAGMA user_version = 4");
      t.commit();
    }
    if (version < 5) {
      SQLite::Transaction t(db);
      db.exec(kSchemaV5);
      db.exec("PRAGMA user_version = 5");
      t.commit();
    }
    if (version < 6) {
      SQLite::Transaction t(db);
      db.exec(kSchemaV6);
      replace_status_check(kStatusCheckV3, kStatusCheckV6);
      db.exec("PRAGMA user_version = 6");
      t.commit();
    }
    if (version < 7) {
      SQLite::Transaction t(db);
      db.exec(kSchemaV7);
      db.exec("PRAGMA user_version = 7");
      t.commit();
    }
    if (version < 8) {
      SQLite::Transaction t(db);
      db.exec(kSchemaV8);
      db.exec("PRAGMA user_version = 8");
      t.commit();
    }
    if (version < 9) {
      SQLite::Transaction t(db);
      db.exec(kSchemaV9);
      replace_status_check(kStatusCheckV6, kStatusCheckV9);
      db.exec("PRAGMA user_version = 9");
      t.commit();
    }
    if (version < 10) {
      SQLite::Transaction t(db);
      db.exec(kSchemaV10);
      db.exec("PRAGMA user_version = 10");
      t.commit();
    }
  }

  void replace_status_check(const char* from, const char* to) {
    int schema = db.execAndGet("PRAGMA schema_version").getInt();
    db.exec("PRAGMA writable_schema = ON");
    SQLite::Statement edit(
        db, "UPDATE sqlite_schema SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = 'messages'");
    edit.bind(1, from);
    edit.bind(2, to);
    edit.exec();
    // A new schema_version makes every connection read the edited definition.
    db.exec("PRAGMA schema_version = " + std::to_string(schema + 1));
    db.exec("PRAGMA writable_schema = OFF");
    SQLite::Statement check(db,
                            "SELECT instr(sql, ?) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'messages'");
    check.bind(1, to);
    if (!check.executeStep() || check.getColumn(0).getInt() == 0)
      throw std::runtime_error("cannot migrate: messages.status has a CHECK letterd did not write");
  }
};

}  // namespace letterd
