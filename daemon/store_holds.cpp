// The store's side of holds and cancelling: an organiser's `letterd hold`,
// `release` and `cancel`, and the daemon's expiry of holds whose time has
// come. A hold is a row of `holds`; a letter it holds is `held` with the
// hold's id and reason, and is in no relay's due list until released.
#include <SQLiteCpp/SQLiteCpp.h>

#include <set>

#include "store.h"
#include "store_detail.h"

namespace letterd {

using namespace store_detail;

namespace {

// " AND campaign = :campaign ..." for each field the filter sets: a
// condition only where there is one, so SQLite can search messages_target
// by campaign rather than test every waiting letter.
std::string filter_sql(const LetterFilter& f) {
  std::string sql;
  if (f.campaign) sql += " AND campaign = :campaign";
  if (f.letter) sql += " AND letter = :letter";
  if (f.target) sql += " AND target_id = :target";
  return sql;
}

void bind_filter(SQLite::Statement& q, const LetterFilter& f) {
  if (f.campaign) q.bind(":campaign", *f.campaign);
  if (f.letter) q.bind(":letter", *f.letter);
  if (f.target) q.bind(":target", *f.target);
}

void bind_optional(SQLite::Statement& q, int index, const std::optional<std::string>& value) {
  if (value)
    q.bind(index, *value);
  else
    q.bind(index);
}

std::optional<std::string> optional_text(const SQLite::Column& c) {
  return c.isNull() ? std::nullopt : std::optional(c.getString());
}

// The letters of hold `id`, which has just ended: those another standing
// hold matches move to it (the oldest), the rest are due now.
int release_letters_of(SQLite::Database& db, long long id, const std::string& now) {
  SQLite::Statement others(db, R"sql(
    SELECT id, campaign, letter, target_id, reason FROM holds
    WHERE released_at IS NULL AND (until IS NULL OR until > ?) ORDER BY id)sql");
  others.bind(1, now);
  while (others.executeStep()) {
    LetterFilter f{optional_text(others.getColumn(1)), optional_text(others.getColumn(2)),
                   optional_text(others.getColumn(3))};
    SQLite::Statement move(db,
                           "UPDATE messages SET hold_id = :to, hold_reason = :reason "
                           "WHERE hold_id = :from AND status = 'held'" +
                               filter_sql(f));
    move.bind(":to", others.getColumn(0).getInt64());
    move.bind(":reason", others.getColumn(4).getString());
    move.bind(":from", static_cast<int64_t>(id));
    bind_filter(move, f);
    move.exec();
  }
  SQLite::Statement release(
      db, std::string("UPDATE messages SET ") + kUnhold + " WHERE hold_id = :from AND status = 'held'");
  release.bind(":now", now);
  release.bind(":from", static_cast<int64_t>(id));
  return release.exec();
}

// A cancelled letter: never sent, ended now, its body erased at once.
// The organiser's reason is where `letterd log` shows a letter's reply.
constexpr const char* kCancel = R"sql(
  status = 'cancelled', next_attempt_at = NULL, ended_at = :now, body = NULL, hold_id = NULL, hold_reason = NULL,
  smtp_code = NULL, smtp_response = 'cancelled by an organiser: ' || :reason)sql";
constexpr const char* kReturning = " RETURNING campaign, submission_id, digest_message_id";

// Runs a cancelling UPDATE (ending in RETURNING campaign, submission_id)
// and erases the personal notes of those submissions that no letter still
// needs: retention erases notes as it erases bodies, and so would never
// meet a letter whose body is already gone. Returns how many it cancelled.
int cancel_and_forget_notes(SQLite::Database& db, SQLite::Statement& cancel, const std::string& now) {
  std::set<std::pair<std::string, std::string>> submissions;
  std::set<std::string> digests;
  int cancelled = 0;
  while (cancel.executeStep()) {
    ++cancelled;
    submissions.emplace(cancel.getColumn(0).getString(), cancel.getColumn(1).getString());
    if (!cancel.getColumn(2).isNull()) digests.insert(cancel.getColumn(2).getString());
  }
  for (const auto& digest : digests) withdraw_digest(db, digest, now, false);
  for (const auto& [campaign, id] : submissions) {
    SQLite::Statement note(db, R"sql(
      UPDATE submissions SET personal_note = NULL, fields = NULL
      WHERE campaign = ?1 AND id = ?2 AND (personal_note IS NOT NULL OR fields != '{}') AND NOT EXISTS (
        SELECT 1 FROM messages m WHERE m.campaign = ?1 AND m.submission_id = ?2
          AND (m.body IS NOT NULL OR m.status NOT IN ('sent', 'failed', 'cancelled', 'bounced'))))sql");
    note.bind(1, campaign);
    note.bind(2, id);
    note.exec();
    SQLite::Statement done(db, R"sql(
      SELECT NOT EXISTS (SELECT 1 FROM messages m WHERE m.campaign = ?1 AND m.submission_id = ?2
        AND (m.body IS NOT NULL OR m.status NOT IN ('sent', 'failed', 'cancelled', 'bounced'))))sql");
    done.bind(1, campaign);
    done.bind(2, id);
    if (done.executeStep() && done.getColumn(0).getInt()) forget_review(db, campaign, id);
  }
  return cancelled;
}

}  // namespace

Store::NewHold Store::hold(const LetterFilter& filter, const std::string& reason, std::optional<TimePoint> until,
                           TimePoint now) {
  auto& db = impl_->db;
  SQLite::Transaction t(db, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement add(db, R"sql(
    INSERT INTO holds (campaign, letter, target_id, reason, created_at, until) VALUES (?, ?, ?, ?, ?, ?))sql");
  bind_optional(add, 1, filter.campaign);
  bind_optional(add, 2, filter.letter);
  bind_optional(add, 3, filter.target);
  add.bind(4, reason);
  add.bind(5, format_utc(now));
  bind_optional(add, 6, until ? std::optional(format_utc(*until)) : std::nullopt);
  add.exec();
  NewHold made{.id = db.getLastInsertRowid()};
  SQLite::Statement take(db, R"sql(
    UPDATE messages SET status = 'held', hold_id = :hold, hold_reason = :reason
    WHERE status IN ('queued', 'deferred'))sql" +
                                 filter_sql(filter));
  take.bind(":hold", static_cast<int64_t>(made.id));
  take.bind(":reason", reason);
  bind_filter(take, filter);
  // Letters collecting for a digest not yet put together are held too.
  SQLite::Statement collecting(db, R"sql(
    UPDATE messages SET status = 'held', hold_id = :hold, hold_reason = :reason
    WHERE status = 'collecting' AND digest_message_id IS NULL)sql" +
                                       filter_sql(filter));
  collecting.bind(":hold", static_cast<int64_t>(made.id));
  collecting.bind(":reason", reason);
  bind_filter(collecting, filter);
  made.letters = take.exec() + collecting.exec();
  t.commit();
  return made;
}

std::vector<HoldRow> Store::holds() {
  SQLite::Statement q(impl_->db, R"sql(
    SELECT h.id, h.campaign, h.letter, h.target_id, h.reason, h.created_at, h.until, h.released_at,
           (SELECT count(*) FROM messages m INDEXED BY messages_held WHERE m.hold_id = h.id AND m.status = 'held')
    FROM holds h ORDER BY h.id)sql");
  std::vector<HoldRow> out;
  while (q.executeStep()) {
    HoldRow r;
    r.id = q.getColumn(0).getInt64();
    r.filter = {optional_text(q.getColumn(1)), optional_text(q.getColumn(2)), optional_text(q.getColumn(3))};
    r.reason = q.getColumn(4).getString();
    r.created_at = q.getColumn(5).getString();
    r.until = text_or_empty(q.getColumn(6));
    r.released_at = text_or_empty(q.getColumn(7));
    r.letters = q.getColumn(8).getInt64();
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<int> Store::release_hold(long long id, TimePoint now) {
  auto& db = impl_->db;
  SQLite::Transaction t(db, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement end(db, "UPDATE holds SET released_at = ? WHERE id = ? AND released_at IS NULL");
  std::string at = format_utc(now);
  end.bind(1, at);
  end.bind(2, static_cast<int64_t>(id));
  if (end.exec() != 1) return std::nullopt;
  int letters = release_letters_of(db, id, at);
  t.commit();
  return letters;
}

Store::Expiry Store::expire_holds(TimePoint now) {
  Expiry expiry;
  std::string at = format_utc(now);
  std::vector<long long> ended;
  {
    // A read of the few standing holds; the write lock only when one ended.
    auto q =
        impl_->prepare("SELECT id, until FROM holds WHERE released_at IS NULL AND until IS NOT NULL ORDER BY until");
    while (q->executeStep()) {
      std::string until = q->getColumn(1).getString();
      if (until > at) {
        expiry.next = parse_time(until);
        break;
      }
      ended.push_back(q->getColumn(0).getInt64());
    }
  }
  if (ended.empty()) return expiry;
  auto& db = impl_->db;
  SQLite::Transaction t(db, SQLite::TransactionBehavior::IMMEDIATE);
  // Every ended hold is marked first: none takes over another's letters.
  for (long long id : ended) {
    SQLite::Statement end(db, "UPDATE holds SET released_at = until WHERE id = ? AND released_at IS NULL");
    end.bind(1, static_cast<int64_t>(id));
    expiry.holds += end.exec();
  }
  for (long long id : ended) expiry.letters += release_letters_of(db, id, at);
  t.commit();
  return expiry;
}

Store::ReleaseResult Store::release_held(long long id, TimePoint now) {
  auto& db = impl_->db;
  // Released from letterd's own hold (a vacant or departed target), it goes
  // as written: forgetting the row it was rendered for keeps it from being
  // resolved again before it goes.
  SQLite::Statement u(db, std::string("UPDATE messages SET ") + kUnhold +
                              ", target_row = CASE WHEN hold_id IS NULL THEN :as_written ELSE target_row END"
                              " WHERE id = :id AND status = 'held'");
  u.bind(":as_written", kReleasedAsWritten);
  u.bind(":now", format_utc(now));
  u.bind(":id", static_cast<int64_t>(id));
  if (u.exec() == 1) return ReleaseResult::released;
  SQLite::Statement q(db, "SELECT 1 FROM messages WHERE id = ?");
  q.bind(1, static_cast<int64_t>(id));
  return q.executeStep() ? ReleaseResult::not_held : ReleaseResult::no_such_message;
}

Store::CancelResult Store::cancel(long long id, const std::string& reason, TimePoint now) {
  auto& db = impl_->db;
  SQLite::Transaction t(db, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement u(db, std::string("UPDATE messages SET ") + kCancel +
                              " WHERE id = :id AND status IN ('queued', 'deferred', 'held', 'sending', 'collecting')" +
                              kReturning);
  std::string at = format_utc(now);
  u.bind(":now", at);
  u.bind(":reason", reason);
  u.bind(":id", static_cast<int64_t>(id));
  if (cancel_and_forget_notes(db, u, at) != 1) {
    SQLite::Statement q(db, "SELECT 1 FROM messages WHERE id = ?");
    q.bind(1, static_cast<int64_t>(id));
    return q.executeStep() ? CancelResult::already_ended : CancelResult::no_such_message;
  }
  t.commit();
  return CancelResult::cancelled;
}

int Store::cancel_matching(const LetterFilter& filter, const std::string& reason, TimePoint now) {
  auto& db = impl_->db;
  SQLite::Transaction t(db, SQLite::TransactionBehavior::IMMEDIATE);
  std::string at = format_utc(now);
  // Waiting letters through messages_target, held ones through messages_held,
  // claimed ones through messages_sending: never a read of the whole log.
  int cancelled = 0;
  for (const char* which :
       {"status IN ('queued', 'deferred')", "status IN ('held')", "status IN ('sending')", "status = 'collecting'"}) {
    SQLite::Statement u(
        db, std::string("UPDATE messages SET ") + kCancel + " WHERE " + which + filter_sql(filter) + kReturning);
    u.bind(":now", at);
    u.bind(":reason", reason);
    bind_filter(u, filter);
    cancelled += cancel_and_forget_notes(db, u, at);
  }
  t.commit();
  return cancelled;
}

bool Store::changed_elsewhere() {
  auto q = impl_->prepare("PRAGMA data_version");
  q->executeStep();
  long long version = q->getColumn(0).getInt64();
  bool changed = version != impl_->seen_data_version;
  impl_->seen_data_version = version;
  return changed;
}

}  // namespace letterd
