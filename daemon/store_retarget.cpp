// The store's side of targets that change: which targets have letters not
// yet sent, those letters with the submissions they are rendered from, the
// targets' rows as letters were last rendered for them, and the letters
// readdressed, held or released in one transaction.
#include <SQLiteCpp/SQLiteCpp.h>

#include "json.h"
#include "store.h"
#include "store_detail.h"

namespace letterd {

using namespace store_detail;

namespace {

std::optional<std::string> optional_text(const SQLite::Column& c) {
  return c.isNull() ? std::nullopt : std::optional(c.getString());
}

// The standing holds an organiser made, oldest first: a few rows.
struct StandingHold {
  long long id = 0;
  std::optional<std::string> campaign, letter, target;
  std::string reason;

  bool takes(const std::string& c, const PlannedMessage& m) const {
    return (!campaign || *campaign == c) && (!letter || *letter == m.letter) && (!target || *target == m.target_id);
  }
};

std::vector<StandingHold> standing_holds(SQLite::Database& db, const std::string& now) {
  SQLite::Statement q(db, R"sql(
    SELECT id, campaign, letter, target_id, reason FROM holds INDEXED BY holds_active
    WHERE released_at IS NULL AND (until IS NULL OR until > ?) ORDER BY id)sql");
  q.bind(1, now);
  std::vector<StandingHold> out;
  while (q.executeStep())
    out.push_back({q.getColumn(0).getInt64(), optional_text(q.getColumn(1)), optional_text(q.getColumn(2)),
                   optional_text(q.getColumn(3)), q.getColumn(4).getString()});
  return out;
}

void bind_text_or_null(SQLite::Statement& q, int index, const std::optional<std::string>& value) {
  if (value)
    q.bind(index, *value);
  else
    q.bind(index);
}

}  // namespace

std::vector<Store::WaitingGroup> Store::waiting_groups() {
  auto q = impl_->prepare(R"sql(
    SELECT campaign, letter, target_id, target_row, count(*) FROM messages INDEXED BY messages_waiting_target
    WHERE status IN ('queued', 'deferred', 'held') GROUP BY campaign, letter, target_id, target_row)sql");
  std::vector<WaitingGroup> out;
  while (q->executeStep())
    out.push_back({q->getColumn(0).getString(), q->getColumn(1).getString(), q->getColumn(2).getString(),
                   text_or_empty(q->getColumn(3)), q->getColumn(4).getInt64()});
  return out;
}

namespace {

void bind_group(SQLite::Statement& q, const Store::WaitingGroup& group) {
  q.bind(":campaign", group.campaign);
  q.bind(":letter", group.letter);
  q.bind(":target", group.target_id);
  if (group.target_row.empty())
    q.bind(":row");
  else
    q.bind(":row", group.target_row);
}

// The submission a waiting letter is rendered from; `problem` says why not.
void read_submission(SQLite::Statement& sub, Store::WaitingLetter& w) {
  sub.bind(1, w.message.campaign);
  sub.bind(2, w.message.submission_id);
  if (!sub.executeStep()) {
    w.problem = "its submission is not in the database";
    sub.reset();
    return;
  }
  Submission& s = w.submission;
  s.id = w.message.submission_id;
  s.campaign = w.message.campaign;
  s.supporter_name = sub.getColumn(0).getString();
  s.supporter_email = sub.getColumn(1).getString();
  s.postcode = optional_text(sub.getColumn(2));
  s.address = optional_text(sub.getColumn(3));
  s.constituency = optional_text(sub.getColumn(4));
  s.target = optional_text(sub.getColumn(5));
  s.personal_note = optional_text(sub.getColumn(6));
  if (sub.getColumn(7).isNull()) {
    w.fields_known = false;
  } else {
    try {
      s.fields = parse_json_object(sub.getColumn(7).getString());
    } catch (const JsonError& e) {
      w.problem = std::string("its submission's fields cannot be read: ") + e.what();
    }
  }
  sub.reset();
}

}  // namespace

std::vector<Store::WaitingLetter> Store::waiting_letters(const WaitingGroup& group, long long after, int limit) {
  // A letter held for review waits for an organiser as one an organiser held does.
  auto q = impl_->prepare("SELECT " + std::string(kStoredMessageColumns) + R"sql(,
      hold_id IS NOT NULL OR review_rule IS NOT NULL, hold_reason
    FROM messages INDEXED BY messages_waiting_target
    WHERE campaign = :campaign AND letter = :letter AND target_id = :target AND target_row IS :row
      AND status IN ('queued', 'deferred', 'held') AND id > :after
    ORDER BY id LIMIT :limit)sql");
  bind_group(*q, group);
  q->bind(":after", static_cast<int64_t>(after));
  q->bind(":limit", limit);
  std::vector<WaitingLetter> out;
  while (q->executeStep()) {
    WaitingLetter w;
    w.message = stored_message(*q);
    w.organiser_hold = q->getColumn(kStoredMessageColumnCount).getInt() != 0;
    w.hold_reason = text_or_empty(q->getColumn(kStoredMessageColumnCount + 1));
    out.push_back(std::move(w));
  }
  auto sub = impl_->prepare(R"sql(
    SELECT supporter_name, supporter_email, postcode, address, constituency, target, personal_note, fields
    FROM submissions WHERE campaign = ? AND id = ?)sql");
  for (auto& w : out) read_submission(*sub, w);
  return out;
}

void Store::remember_target_rows(const std::vector<const Target*>& targets) {
  auto& db = impl_->db;
  SQLite::Transaction t(db, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement add(db, "INSERT OR IGNORE INTO target_rows (fingerprint, columns) VALUES (?, ?)");
  for (const Target* target : targets) {
    add.bind(1, target->fingerprint);
    add.bind(2, json_object(target->columns));
    add.exec();
    add.reset();
  }
  t.commit();
}

std::optional<TargetRow> Store::target_row(const std::string& fingerprint) {
  auto q = impl_->prepare("SELECT columns FROM target_rows WHERE fingerprint = ?");
  q->bind(1, fingerprint);
  if (!q->executeStep()) return std::nullopt;
  return parse_json_object(q->getColumn(0).getString());
}

void Store::adopt_target_row(const WaitingGroup& group, const Target& target) {
  SQLite::Statement adopt(impl_->db, R"sql(
    UPDATE messages INDEXED BY messages_waiting_target SET target_row = :fingerprint
    WHERE campaign = :campaign AND letter = :letter AND target_id = :target AND target_row IS NULL
      AND status IN ('queued', 'deferred', 'held') AND NOT (status = 'held' AND hold_id IS NULL)
      AND (reflect = 1 OR (recipient = :email AND recipient_name = :name)))sql");
  adopt.bind(":fingerprint", target.fingerprint);
  adopt.bind(":email", target.email());
  adopt.bind(":name", target.name());
  adopt.bind(":campaign", group.campaign);
  adopt.bind(":letter", group.letter);
  adopt.bind(":target", group.target_id);
  adopt.exec();
}

std::vector<long long> Store::readdress(const std::vector<Readdress>& letters, TimePoint now) {
  std::vector<long long> taken;
  if (letters.empty()) return taken;
  auto& db = impl_->db;
  std::string at = format_utc(now);
  SQLite::Transaction t(db, SQLite::TransactionBehavior::IMMEDIATE);
  std::vector<StandingHold> holds = standing_holds(db, at);
  SQLite::Statement rewrite(db, R"sql(
    UPDATE messages SET target_id = ?, recipient = ?, recipient_name = ?, from_address = ?, from_name = ?,
                        reply_to = ?, reply_to_name = ?, copy_to = ?, subject = ?, body = ?, target_row = ?
    WHERE id = ? AND status IN ('queued', 'deferred', 'held') RETURNING campaign)sql");
  SQLite::Statement hold_by_letterd(db, R"sql(
    UPDATE messages SET status = 'held', hold_id = NULL, hold_reason = ?
    WHERE id = ? AND status IN ('queued', 'deferred', 'held'))sql");
  SQLite::Statement unhold(
      db, std::string("UPDATE messages SET ") + kUnhold + " WHERE id = :id AND status = 'held' AND hold_id IS NULL");
  // A letter to a new target starts afresh there: due now, retry.lifetime from now.
  SQLite::Statement due_now(db, R"sql(
    UPDATE messages SET next_attempt_at = :now, retried_at = :now WHERE id = :id AND status IN ('queued', 'deferred'))sql");
  SQLite::Statement hold_by(db, R"sql(
    UPDATE messages SET status = 'held', hold_id = ?, hold_reason = ?
    WHERE id = ? AND status IN ('queued', 'deferred'))sql");
  for (const auto& r : letters) {
    const auto id = static_cast<int64_t>(r.id);
    std::string campaign;
    if (r.planned) {
      const PlannedMessage& p = *r.planned;
      int i = 1;
      rewrite.bind(i++, p.target_id);
      rewrite.bind(i++, p.to.address);
      rewrite.bind(i++, p.to.display_name);
      rewrite.bind(i++, p.from.address);
      rewrite.bind(i++, p.from.display_name);
      bind_text_or_null(rewrite, i++, p.reply_to ? std::optional(p.reply_to->address) : std::nullopt);
      bind_text_or_null(rewrite, i++, p.reply_to ? std::optional(p.reply_to->display_name) : std::nullopt);
      bind_text_or_null(rewrite, i++, p.copy_to.empty() ? std::nullopt : std::optional(p.copy_to));
      rewrite.bind(i++, p.subject);
      rewrite.bind(i++, p.body);
      bind_text_or_null(rewrite, i++, p.target_row.empty() ? std::nullopt : std::optional(p.target_row));
      rewrite.bind(i++, id);
      if (rewrite.executeStep()) campaign = rewrite.getColumn(0).getString();
      rewrite.reset();
      if (campaign.empty()) continue;  // sent or cancelled meanwhile
    }
    if (!r.hold_reason.empty()) {
      hold_by_letterd.bind(1, r.hold_reason);
      hold_by_letterd.bind(2, id);
      hold_by_letterd.exec();
      hold_by_letterd.reset();
      continue;
    }
    if (!r.planned) continue;
    unhold.bind(":now", at);
    unhold.bind(":id", id);
    bool released = unhold.exec() == 1;
    unhold.reset();
    if (r.moved) {
      due_now.bind(":now", at);
      due_now.bind(":id", id);
      due_now.exec();
      due_now.reset();
    }
    if (!released && !r.moved) continue;  // an organiser's own release of it stands
    for (const auto& h : holds) {
      if (!h.takes(campaign, *r.planned)) continue;
      hold_by.bind(1, static_cast<int64_t>(h.id));
      hold_by.bind(2, h.reason);
      hold_by.bind(3, id);
      if (hold_by.exec() == 1) taken.push_back(r.id);
      hold_by.reset();
      break;
    }
  }
  t.commit();
  return taken;
}

}  // namespace letterd
