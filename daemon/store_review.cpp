// The review rules' reads and writes (store.h, SPEC "Respecting the
// recipient's office"): each reads an index by target, so a check costs
// the same with a hundred thousand notes stored as with ten.
#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <map>

#include "store.h"
#include "store_detail.h"

namespace letterd {

namespace {

// The log keeps 64-bit hashes as SQLite's signed integers.
std::int64_t as_stored(std::uint64_t h) {
  return static_cast<std::int64_t>(h);
}

}  // namespace

void store_detail::forget_review(SQLite::Database& db, const std::string& campaign, const std::string& submission_id) {
  for (const char* table : {"review_runs", "review_notes"}) {
    SQLite::Statement erase(db, std::string("DELETE FROM ") + table +
                                    " WHERE message_id IN (SELECT id FROM messages WHERE campaign = ? AND "
                                    "submission_id = ?)");
    erase.bind(1, campaign);
    erase.bind(2, submission_id);
    erase.exec();
  }
}

ReviewEvidence Store::review_evidence(const std::string& campaign, const std::string& target_id, const NoteSketch& note,
                                      const std::string& postcode, TimePoint now, const ReviewRules& rules) {
  ReviewEvidence evidence;
  if (note.fingerprint) {
    auto same = impl_->prepare(
        "SELECT count(*) FROM (SELECT 1 FROM review_notes INDEXED BY review_notes_same "
        "WHERE campaign = ? AND target_id = ? AND fingerprint = ? LIMIT ?)");
    same->bind(1, campaign);
    same->bind(2, target_id);
    same->bind(3, as_stored(note.fingerprint));
    same->bind(4, rules.same_note.value_or(1));
    if (same->executeStep()) evidence.same_note = same->getColumn(0).getInt();
  }
  if (!note.runs.empty()) {
    // Each run's letters, as many as kReviewRunReads: a run every note
    // shares (a sentence the campaign suggested) costs no more than that.
    std::map<long long, int> shared;
    auto run =
        impl_->prepare("SELECT message_id FROM review_runs WHERE campaign = ? AND target_id = ? AND hash = ? LIMIT ?");
    for (std::uint64_t h : note.runs) {
      run->bind(1, campaign);
      run->bind(2, target_id);
      run->bind(3, as_stored(h));
      run->bind(4, kReviewRunReads);
      while (run->executeStep()) ++shared[run->getColumn(0).getInt64()];
      run->reset();
    }
    // The notes sharing the most runs first: a few are enough to find the most similar.
    std::vector<std::pair<int, long long>> candidates;
    for (const auto& [id, count] : shared) candidates.emplace_back(count, id);
    std::sort(candidates.rbegin(), candidates.rend());
    if (candidates.size() > 16) candidates.resize(16);
    auto other = impl_->prepare("SELECT runs, fingerprint FROM review_notes WHERE message_id = ?");
    for (const auto& [common, id] : candidates) {
      other->bind(1, static_cast<int64_t>(id));
      if (other->executeStep() && static_cast<std::uint64_t>(other->getColumn(1).getInt64()) != note.fingerprint) {
        auto runs = static_cast<double>(other->getColumn(0).getInt());
        double jaccard = common / (static_cast<double>(note.runs.size()) + runs - common);
        evidence.most_similar = std::max(evidence.most_similar, jaccard);
      }
      other->reset();
    }
  }
  if (!postcode.empty() && rules.per_postcode_day) {
    auto day = impl_->prepare(
        "SELECT count(*) FROM (SELECT 1 FROM review_notes INDEXED BY review_notes_postcode "
        "WHERE campaign = ? AND target_id = ? AND postcode = ? AND at > ? LIMIT ?)");
    day->bind(1, campaign);
    day->bind(2, target_id);
    day->bind(3, postcode);
    day->bind(4, format_utc(now - std::chrono::hours(24)));
    day->bind(5, rules.per_postcode_day.value_or(0));
    if (day->executeStep()) evidence.same_postcode_today = day->getColumn(0).getInt();
  }
  return evidence;
}

void Store::remember_review(long long message_id, const std::string& campaign, const NewMessage& m,
                            const std::string& at) {
  auto note = impl_->prepare(R"sql(
    INSERT INTO review_notes (message_id, campaign, target_id, fingerprint, runs, postcode, at)
    VALUES (?, ?, ?, ?, ?, ?, ?))sql");
  note->bind(1, static_cast<int64_t>(message_id));
  note->bind(2, campaign);
  note->bind(3, m.planned.target_id);
  note->bind(4, as_stored(m.note->fingerprint));
  note->bind(5, static_cast<int>(m.note->runs.size()));
  note->bind(6, m.postcode);
  note->bind(7, at);
  note->exec();
  auto run =
      impl_->prepare("INSERT OR IGNORE INTO review_runs (campaign, target_id, hash, message_id) VALUES (?, ?, ?, ?)");
  for (std::uint64_t h : m.note->runs) {
    run->bind(1, campaign);
    run->bind(2, m.planned.target_id);
    run->bind(3, as_stored(h));
    run->bind(4, static_cast<int64_t>(message_id));
    run->exec();
    run->reset();
  }
  if (!m.review_rule.empty()) {
    auto rule = impl_->prepare("UPDATE messages SET review_rule = ? WHERE id = ?");
    rule->bind(1, m.review_rule);
    rule->bind(2, static_cast<int64_t>(message_id));
    rule->exec();
  }
}

std::vector<Store::ReviewRow> Store::held_for_review(const std::string& campaign) {
  auto q = impl_->prepare(R"sql(
    SELECT m.id, m.campaign, m.letter, m.target_id, m.review_rule, m.hold_reason, s.supporter_name,
           coalesce(s.postcode, ''), coalesce(s.personal_note, ''), m.created_at
    FROM messages m INDEXED BY messages_review
    JOIN submissions s ON s.campaign = m.campaign AND s.id = m.submission_id
    WHERE m.status = 'held' AND m.review_rule IS NOT NULL AND (?1 = '' OR m.campaign = ?1)
    ORDER BY m.review_rule, m.campaign, m.target_id, m.id)sql");
  q->bind(1, campaign);
  std::vector<ReviewRow> out;
  while (q->executeStep()) {
    ReviewRow r;
    int c = 0;
    r.id = q->getColumn(c++).getInt64();
    r.campaign = q->getColumn(c++).getString();
    r.letter = q->getColumn(c++).getString();
    r.target_id = q->getColumn(c++).getString();
    r.rule = q->getColumn(c++).getString();
    r.reason = text_or_empty(q->getColumn(c++));
    r.supporter_name = q->getColumn(c++).getString();
    r.postcode = q->getColumn(c++).getString();
    r.note = q->getColumn(c++).getString();
    r.created_at = q->getColumn(c++).getString();
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace letterd
