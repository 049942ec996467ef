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
    SELECT campaign, letter, target_id, count(*) FROM messages INDEXED BY messages_waiting_target
    WHERE status IN ('queued', 'deferred', 'held') GROUP BY campaign, letter, target_id)sql");
  std::vector<WaitingGroup> out;
  while (q->executeStep())
    out.push_back({q->getColumn(0).getString(), q->getColumn(1).getString(), q->getColumn(2).getString(),
                   q->getColumn(3).getInt64()});
  return out;
}

std::vector<Store::WaitingLetter> Store::waiting_letters(const WaitingGroup& group, long long after, int limit) {
  auto q = impl_->prepare("SELECT " + std::string(kStoredMessageColumns) + R"sql(, hold_id IS NOT NULL, hold_reason
    FROM messages INDEXED BY messages_waiting_target
    WHERE campaign = ? AND letter = ? AND target_id = ? AND status IN ('queued', 'deferred', 'held') AND id > ?
    ORDER BY id LIMIT ?)sql");
  q->bind(1, group.campaign);
  q->bind(2, group.letter);
  q->bind(3, group.target_id);
  q->bind(4, static_cast<int64_t>(after));
  q->bind(5, limit);
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
  for (auto& w : out) {
    sub->bind(1, w.message.campaign);
    sub->bind(2, w.message.submission_id);
    if (!sub->executeStep())
      throw std::runtime_error("letter " + std::to_string(w.message.id) + " has no submission in the database");
    Submission& s = w.submission;
    s.id = w.message.submission_id;
    s.campaign = w.message.campaign;
    s.supporter_name = sub->getColumn(0).getString();
    s.supporter_email = sub->getColumn(1).getString();
    s.postcode = optional_text(sub->getColumn(2));
    s.address = optional_text(sub->getColumn(3));
    s.constituency = optional_text(sub->getColumn(4));
    s.target = optional_text(sub->getColumn(5));
    s.personal_note = optional_text(sub->getColumn(6));
    if (sub->getColumn(7).isNull())
      w.fields_known = false;
    else
      s.fields = parse_json_object(sub->getColumn(7).getString());
    sub->reset();
  }
  return out;
}

std::map<std::string, TargetRow> Store::known_targets(const std::string& campaign) {
  auto q = impl_->prepare("SELECT target_id, columns FROM known_targets WHERE campaign = ?");
  q->bind(1, campaign);
  std::map<std::string, TargetRow> out;
  while (q->executeStep()) out[q->getColumn(0).getString()] = parse_json_object(q->getColumn(1).getString());
  return out;
}

void Store::remember_targets(const std::string& campaign, const std::vector<TargetRow>& rows) {
  auto& db = impl_->db;
  SQLite::Transaction t(db, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement forget(db, "DELETE FROM known_targets WHERE campaign = ?");
  forget.bind(1, campaign);
  forget.exec();
  SQLite::Statement add(db, "INSERT OR REPLACE INTO known_targets (campaign, target_id, columns) VALUES (?, ?, ?)");
  for (const auto& row : rows) {
    add.bind(1, campaign);
    add.bind(2, row.at("id"));
    add.bind(3, json_object(row));
    add.exec();
    add.reset();
  }
  t.commit();
}

void Store::readdress(const std::vector<Readdress>& letters, TimePoint now) {
  if (letters.empty()) return;
  auto& db = impl_->db;
  std::string at = format_utc(now);
  SQLite::Transaction t(db, SQLite::TransactionBehavior::IMMEDIATE);
  std::vector<StandingHold> holds = standing_holds(db, at);
  SQLite::Statement rewrite(db, R"sql(
    UPDATE messages SET target_id = ?, recipient = ?, recipient_name = ?, from_address = ?, from_name = ?,
                        reply_to = ?, reply_to_name = ?, copy_to = ?, subject = ?, body = ?
    WHERE id = ? AND status IN ('queued', 'deferred', 'held') RETURNING campaign)sql");
  SQLite::Statement hold_by_letterd(db, R"sql(
    UPDATE messages SET status = 'held', hold_id = NULL, hold_reason = ?
    WHERE id = ? AND status IN ('queued', 'deferred', 'held'))sql");
  SQLite::Statement unhold(
      db, std::string("UPDATE messages SET ") + kUnhold + " WHERE id = :id AND status = 'held' AND hold_id IS NULL");
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
    unhold.exec();
    unhold.reset();
    for (const auto& h : holds) {
      if (!h.takes(campaign, *r.planned)) continue;
      hold_by.bind(1, static_cast<int64_t>(h.id));
      hold_by.bind(2, h.reason);
      hold_by.bind(3, id);
      hold_by.exec();
      hold_by.reset();
      break;
    }
  }
  t.commit();
}

}  // namespace letterd
