// Holds, release and cancel as the store keeps them: a hold takes the
// letters waiting and the ones accepted later, none of them is ever due
// while it stands, a release sends them with a fresh retry.lifetime, and a
// cancelled letter is ended, never sent, its body gone.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "store.h"
#include "test_support.h"

namespace letterd {
namespace {

using testing::TempDir;

const TimePoint kStart = parse_rfc3339("2026-11-01T09:00:00Z").value();

// Supporter `n` writes to their MP and to the Justice Secretary.
void write(Store& store, int n, TimePoint at) {
  Submission s;
  s.fields = {{"story", "what happened to me"}};
  s.id = "web-" + std::to_string(n);
  s.campaign = "legal-advocacy";
  s.supporter_name = "Supporter " + std::to_string(n);
  s.supporter_email = "supporter" + std::to_string(n) + "@example.org";
  s.personal_note = "my own words";
  std::vector<Store::NewMessage> letters;
  for (std::string target : {"mp-" + std::to_string(n), std::string("justice-secretary")}) {
    PlannedMessage p;
    p.letter = target == "justice-secretary" ? "justice-secretary" : "mp";
    p.target_id = target;
    p.to = {"Target", target + "@example.org"};
    p.from = {"Supporter via Example Campaign", "letters@example.org"};
    p.subject = "Free and independent legal advocacy";
    p.body = "Dear target, my own words.";
    letters.push_back({p, "m" + std::to_string(n) + "-" + target + "@example.org", "main"});
  }
  store.accept(s, s.id + ".json", "digest", at, letters, "");
}

std::map<std::string, std::string> statuses(const std::string& db) {
  SQLite::Database read(db);
  SQLite::Statement q(read, "SELECT message_id, status || coalesce(' ' || hold_reason, '') FROM messages");
  std::map<std::string, std::string> out;
  while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getString();
  return out;
}

std::vector<std::string> due_ids(Store& store, TimePoint now) {
  std::vector<std::string> out;
  for (const auto& m : store.due("main", {"legal-advocacy"}, now, 100)) out.push_back(m.message_id);
  return out;
}

Store::AttemptRecord outcome(long long id, TimePoint at, MessageStatus status) {
  return {
      .message = id,
      .at = at,
      .relay = "main",
      .smtp_code = status == MessageStatus::sent ? 250 : 451,
      .smtp_response = status == MessageStatus::sent ? "2.0.0 Ok: queued as ABC" : "4.3.0 try later",
      .duration_ms = 5,
      .outcome = status == MessageStatus::sent ? Outcome::sent : Outcome::deferred,
      .status = status,
      .next_attempt_at = status == MessageStatus::deferred ? std::optional(at + std::chrono::minutes(5)) : std::nullopt,
      .counts_as_attempt = true};
}

long long id_of(const std::string& db, const std::string& message_id) {
  SQLite::Database read(db);
  SQLite::Statement q(read, "SELECT id FROM messages WHERE message_id = ?");
  q.bind(1, message_id);
  q.executeStep();
  return q.getColumn(0).getInt64();
}

TEST(StoreHolds, AHoldTakesTheWaitingLettersAndLaterOnesUntilReleased) {
  TempDir dir;
  std::string db = dir.path("letterd.db");
  Store store(db);
  write(store, 1, kStart);
  write(store, 2, kStart);
  // Supporter 1's letter to the Justice Secretary was deferred; supporter 2's is being sent.
  long long deferred = id_of(db, "m1-justice-secretary@example.org");
  long long sending = id_of(db, "m2-justice-secretary@example.org");
  store.mark_sending({deferred, sending}, kStart);
  store.record_attempts({outcome(deferred, kStart, MessageStatus::deferred)});

  auto made = store.hold({.letter = "justice-secretary"}, "reshuffle: no Justice Secretary yet", std::nullopt, kStart);
  EXPECT_EQ(made.letters, 1) << "the deferred letter is held; the one being sent goes on";
  write(store, 3, kStart + std::chrono::minutes(1));
  auto now = statuses(db);
  EXPECT_EQ(now["m1-justice-secretary@example.org"], "held reshuffle: no Justice Secretary yet");
  EXPECT_EQ(now["m2-justice-secretary@example.org"], "sending");
  EXPECT_EQ(now["m3-justice-secretary@example.org"], "held reshuffle: no Justice Secretary yet");
  EXPECT_EQ(now["m3-mp-3@example.org"], "queued");
  TimePoint later = kStart + std::chrono::hours(1);
  EXPECT_EQ(due_ids(store, later),
            (std::vector<std::string>{"m1-mp-1@example.org", "m2-mp-2@example.org", "m3-mp-3@example.org"}));

  auto holds = store.holds();
  ASSERT_EQ(holds.size(), 1u);
  EXPECT_EQ(holds[0].id, made.id);
  EXPECT_EQ(holds[0].letters, 2);
  EXPECT_EQ(holds[0].filter.letter, "justice-secretary");
  EXPECT_FALSE(holds[0].filter.campaign);

  // Released a week on: due at once, retry.lifetime counting from the release.
  TimePoint release = kStart + std::chrono::hours(24 * 7);
  EXPECT_EQ(store.release_hold(made.id, release), 2);
  EXPECT_EQ(store.release_hold(made.id, release), std::nullopt) << "a hold ends once";
  auto due = store.due("main", {"legal-advocacy"}, release, 100);
  ASSERT_EQ(due.size(), 5u);
  for (const auto& m : due)
    if (m.target_id == "justice-secretary") {
      EXPECT_EQ(m.lifetime_from, release) << m.message_id;
      EXPECT_EQ(m.status, m.id == deferred ? MessageStatus::deferred : MessageStatus::queued);
    }
  EXPECT_EQ(store.holds()[0].letters, 0);
  EXPECT_FALSE(store.holds()[0].released_at.empty());
  write(store, 4, release);
  EXPECT_EQ(statuses(db)["m4-justice-secretary@example.org"], "queued") << "a released hold takes no new letters";
}

TEST(StoreHolds, ReleasingOneHoldLeavesItsLettersToAnotherThatStillStands) {
  TempDir dir;
  std::string db = dir.path("letterd.db");
  Store store(db);
  write(store, 1, kStart);
  auto everything = store.hold({.campaign = "legal-advocacy"}, "printing error in the template", std::nullopt, kStart);
  auto minister = store.hold({.target = "justice-secretary"}, "reshuffle", std::nullopt, kStart);
  EXPECT_EQ(everything.letters, 2);
  EXPECT_EQ(minister.letters, 0) << "already held";
  EXPECT_EQ(store.release_hold(everything.id, kStart + std::chrono::minutes(1)), 1);
  auto now = statuses(db);
  EXPECT_EQ(now["m1-mp-1@example.org"], "queued");
  EXPECT_EQ(now["m1-justice-secretary@example.org"], "held reshuffle");
  EXPECT_EQ(store.holds()[1].letters, 1);
  // The campaign moves to another relay while its letter is held: released, it goes through the new one.
  EXPECT_EQ(store.rehome_waiting("legal-advocacy", "backup"), 2);
  store.release_hold(minister.id, kStart + std::chrono::minutes(2));
  EXPECT_EQ(store.due("backup", {"legal-advocacy"}, kStart + std::chrono::minutes(2), 10).size(), 2u);
}

TEST(StoreHolds, AHoldUntilATimeEndsByItselfAndTheDaemonKnowsWhen) {
  TempDir dir;
  std::string db = dir.path("letterd.db");
  Store store(db);
  write(store, 1, kStart);
  TimePoint until = kStart + std::chrono::hours(2);
  auto dissolved = store.hold({.letter = "mp"}, "Parliament dissolved", until, kStart);
  EXPECT_EQ(dissolved.letters, 1);

  auto before = store.expire_holds(kStart + std::chrono::hours(1));
  EXPECT_EQ(before.holds, 0);
  EXPECT_EQ(before.next, until);
  EXPECT_EQ(statuses(db)["m1-mp-1@example.org"], "held Parliament dissolved");

  auto after = store.expire_holds(until);
  EXPECT_EQ(after.holds, 1);
  EXPECT_EQ(after.letters, 1);
  EXPECT_FALSE(after.next);
  EXPECT_EQ(due_ids(store, until),
            (std::vector<std::string>{"m1-justice-secretary@example.org", "m1-mp-1@example.org"}));
  EXPECT_EQ(store.holds()[0].released_at, format_utc(until));
  // A hold whose time has passed takes no letter, even before the daemon expires it.
  store.hold({.letter = "mp"}, "an old hold", kStart + std::chrono::hours(3), kStart);
  write(store, 2, kStart + std::chrono::hours(4));
  EXPECT_EQ(statuses(db)["m2-mp-2@example.org"], "queued");
}

TEST(StoreHolds, ReleaseByIdSendsAHeldLetterWhateverHoldsIt) {
  TempDir dir;
  std::string db = dir.path("letterd.db");
  Store store(db);
  write(store, 1, kStart);
  store.hold({}, "everything stops", std::nullopt, kStart);
  long long mp = id_of(db, "m1-mp-1@example.org");
  EXPECT_EQ(store.release_held(mp, kStart + std::chrono::minutes(1)), Store::ReleaseResult::released);
  EXPECT_EQ(store.release_held(mp, kStart + std::chrono::minutes(1)), Store::ReleaseResult::not_held);
  EXPECT_EQ(store.release_held(999, kStart), Store::ReleaseResult::no_such_message);
  EXPECT_EQ(due_ids(store, kStart + std::chrono::minutes(1)), (std::vector<std::string>{"m1-mp-1@example.org"}));
  EXPECT_EQ(store.holds()[0].letters, 1);
}

TEST(StoreHolds, ACancelledLetterIsEndedNeverSentAndItsWordsAreGone) {
  TempDir dir;
  std::string db = dir.path("letterd.db");
  Store store(db);
  write(store, 1, kStart);
  write(store, 2, kStart);
  long long sent = id_of(db, "m1-mp-1@example.org");
  store.mark_sending({sent}, kStart);
  store.record_attempts({outcome(sent, kStart, MessageStatus::sent)});
  store.hold({.target = "mp-2"}, "the seat is vacant", std::nullopt, kStart);

  long long js1 = id_of(db, "m1-justice-secretary@example.org");
  EXPECT_EQ(store.cancel(js1, "sent by post instead", kStart), Store::CancelResult::cancelled);
  EXPECT_EQ(store.cancel(js1, "again", kStart), Store::CancelResult::already_ended);
  EXPECT_EQ(store.cancel(sent, "too late", kStart), Store::CancelResult::already_ended);
  EXPECT_EQ(store.cancel(999, "no such", kStart), Store::CancelResult::no_such_message);
  // Supporter 2's letters: one held, one queued, both cancelled by filter.
  EXPECT_EQ(store.cancel_matching({.campaign = "legal-advocacy"}, "campaign withdrawn", kStart), 2);
  EXPECT_TRUE(due_ids(store, kStart + std::chrono::hours(1)).empty());

  SQLite::Database read(db);
  SQLite::Statement q(read, R"sql(
    SELECT message_id, status, body IS NULL, ended_at IS NOT NULL, sent_at IS NULL, smtp_response
    FROM messages WHERE status = 'cancelled' ORDER BY id)sql");
  std::vector<std::string> rows;
  while (q.executeStep())
    rows.push_back(q.getColumn(0).getString() + " erased=" + q.getColumn(2).getString() +
                   " ended=" + q.getColumn(3).getString() + " unsent=" + q.getColumn(4).getString() + " " +
                   q.getColumn(5).getString());
  EXPECT_EQ(
      rows,
      (std::vector<std::string>{
          "m1-justice-secretary@example.org erased=1 ended=1 unsent=1 cancelled by an organiser: sent by post instead",
          "m2-mp-2@example.org erased=1 ended=1 unsent=1 cancelled by an organiser: campaign withdrawn",
          "m2-justice-secretary@example.org erased=1 ended=1 unsent=1 cancelled by an organiser: campaign withdrawn"}));
  // No letter left can quote the notes: both are gone now, not at retention.
  SQLite::Statement notes(read, "SELECT count(*) FROM submissions WHERE personal_note IS NOT NULL");
  notes.executeStep();
  EXPECT_EQ(notes.getColumn(0).getInt(), 1) << "supporter 1's sent letter still has its body until retention";

  std::map<std::string, long long> counts;
  for (const auto& c : store.status_counts()) counts[to_string(c.status)] += c.count;
  EXPECT_EQ(counts, (std::map<std::string, long long>{{"cancelled", 3}, {"sent", 1}}));
  auto report = store.report("legal-advocacy");
  auto js = std::find_if(report.begin(), report.end(), [](const ReportRow& r) { return r.key == "justice-secretary"; });
  ASSERT_NE(js, report.end());
  EXPECT_EQ(js->cancelled, 2);
  EXPECT_EQ(js->waiting, 0);
  EXPECT_FALSE(store.supporter_wrote_to("legal-advocacy", "supporter2@example.org", "mp-2"))
      << "a cancelled letter may be written again";
}

TEST(StoreHolds, ALetterCancelledOnItsWayThatTheRelayTookSaysSent) {
  TempDir dir;
  std::string db = dir.path("letterd.db");
  Store store(db);
  write(store, 1, kStart);
  long long mp = id_of(db, "m1-mp-1@example.org");
  store.mark_sending({mp}, kStart);
  EXPECT_EQ(store.cancel(mp, "changed our mind", kStart), Store::CancelResult::cancelled);
  EXPECT_FALSE(store.still_sending(mp)) << "a session that has not begun it leaves it";
  store.record_attempts({outcome(mp, kStart, MessageStatus::sent)});
  EXPECT_EQ(statuses(db)["m1-mp-1@example.org"], "sent") << "the target did get it";
}

}  // namespace
}  // namespace letterd

namespace letterd {
namespace {

// The letter as a target that changed takes it: to a new address, greeting its new holder.
PlannedMessage readdressed(const std::string& letter, const std::string& target, const std::string& name) {
  return {.letter = letter,
          .target_id = target,
          .to = {name, target + "@example.org"},
          .from = {"Supporter via Example Campaign", "letters@example.org"},
          .subject = "Free and independent legal advocacy",
          .body = "Dear " + name + ", my own words."};
}

std::string recipient_of(const std::string& db, const std::string& message_id) {
  SQLite::Database read(db);
  SQLite::Statement q(read, "SELECT recipient || ' ' || coalesce(body, '') FROM messages WHERE message_id = ?");
  q.bind(1, message_id);
  q.executeStep();
  return q.getColumn(0).getString();
}

TEST(StoreRetarget, WaitingLettersAreReadWithTheirSubmissionsAndRewrittenNeverASentOne) {
  TempDir dir;
  std::string db = dir.path("letterd.db");
  Store store(db);
  write(store, 1, kStart);
  write(store, 2, kStart);
  long long sent = id_of(db, "m1-justice-secretary@example.org");
  store.mark_sending({sent}, kStart);
  store.record_attempts({outcome(sent, kStart, MessageStatus::sent)});

  std::map<std::string, long long> groups;
  for (const auto& g : store.waiting_groups()) groups[g.letter + "/" + g.target_id + "/" + g.target_row] = g.letters;
  EXPECT_EQ(groups, (std::map<std::string, long long>{
                        {"justice-secretary/justice-secretary/", 1}, {"mp/mp-1/", 1}, {"mp/mp-2/", 1}}));
  auto letters = store.waiting_letters({"legal-advocacy", "justice-secretary", "justice-secretary"}, 0, 10);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].message.message_id, "m2-justice-secretary@example.org");
  EXPECT_EQ(letters[0].submission.supporter_name, "Supporter 2");
  EXPECT_EQ(letters[0].submission.personal_note, "my own words");
  EXPECT_TRUE(letters[0].fields_known);

  PlannedMessage to_new = readdressed("justice-secretary", "justice-secretary", "Kim Newcomer MP");
  store.readdress({{.id = sent, .planned = to_new}, {.id = letters[0].message.id, .planned = to_new}},
                  kStart + std::chrono::minutes(1));
  EXPECT_EQ(recipient_of(db, "m1-justice-secretary@example.org"),
            "justice-secretary@example.org Dear target, my own words.")
      << "a sent letter stays as the relay had it";
  EXPECT_EQ(recipient_of(db, "m2-justice-secretary@example.org"),
            "justice-secretary@example.org Dear Kim Newcomer MP, my own words.");
  EXPECT_EQ(statuses(db)["m2-justice-secretary@example.org"], "queued");
}

TEST(StoreRetarget, LetterdsHoldEndsWhenATargetTakesTheLetterUnlessAnOrganisersHoldStands) {
  TempDir dir;
  std::string db = dir.path("letterd.db");
  Store store(db);
  write(store, 1, kStart);
  long long mp = id_of(db, "m1-mp-1@example.org");
  long long js = id_of(db, "m1-justice-secretary@example.org");
  store.readdress({{.id = mp, .hold_reason = "target mp-1 is vacant"},
                   {.id = js, .hold_reason = "target justice-secretary is no longer in the campaign's targets"}},
                  kStart);
  auto now = statuses(db);
  EXPECT_EQ(now["m1-mp-1@example.org"], "held target mp-1 is vacant");
  EXPECT_TRUE(due_ids(store, kStart + std::chrono::hours(1)).empty());
  EXPECT_EQ(store.holds().size(), 0u) << "letterd's own hold is no organiser's hold";

  // Parliament is dissolved while the seat is vacant; the new member arrives first.
  store.hold({.letter = "mp"}, "Parliament dissolved", std::nullopt, kStart);
  TimePoint back = kStart + std::chrono::hours(24);
  auto taken =
      store.readdress({{.id = mp, .planned = readdressed("mp", "mp-1-new", "Jo Elected MP"), .moved = true},
                       {.id = js, .planned = readdressed("justice-secretary", "justice-secretary", "Kim Newcomer MP")}},
                      back);
  EXPECT_EQ(taken, std::vector<long long>{mp});
  now = statuses(db);
  EXPECT_EQ(now["m1-mp-1@example.org"], "held Parliament dissolved");
  EXPECT_EQ(now["m1-justice-secretary@example.org"], "queued");
  auto due = store.due("main", {"legal-advocacy"}, back, 10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].to.display_name, "Kim Newcomer MP");
  EXPECT_EQ(due[0].lifetime_from, back) << "a held letter never fails for age";
}

TEST(StoreRetarget, ARowIsKeptUnderItsFingerprint) {
  TempDir dir;
  Store store(dir.path("letterd.db"));
  Target js{.columns = {{"id", "justice-secretary"}, {"name", "Kim \"Newcomer\" MP"}, {"email", "js@example.org"}}};
  js.fingerprint = row_fingerprint(js.columns);
  EXPECT_EQ(store.target_row(js.fingerprint), std::nullopt);
  store.remember_target_rows({&js});
  store.remember_target_rows({&js});  // once
  EXPECT_EQ(store.target_row(js.fingerprint), js.columns);
  js.columns["name"] = "Sam Sample MP";
  EXPECT_NE(row_fingerprint(js.columns), js.fingerprint) << "every column counts";
}

TEST(StoreRetarget, AnOrganisersReleaseOfALetterStandsWhenItIsRenderedAgain) {
  TempDir dir;
  std::string db = dir.path("letterd.db");
  Store store(db);
  write(store, 1, kStart);
  store.hold({.letter = "justice-secretary"}, "reshuffle announced", std::nullopt, kStart);
  long long js = id_of(db, "m1-justice-secretary@example.org");
  EXPECT_EQ(store.release_held(js, kStart), Store::ReleaseResult::released);
  auto taken = store.readdress(
      {{.id = js, .planned = readdressed("justice-secretary", "justice-secretary", "Kim Newcomer MP")}}, kStart);
  EXPECT_TRUE(taken.empty());
  EXPECT_EQ(statuses(db)["m1-justice-secretary@example.org"], "queued");
}

TEST(StoreRetarget, ALetterReleasedFromLetterdsHoldGoesAsWritten) {
  TempDir dir;
  std::string db = dir.path("letterd.db");
  Store store(db);
  write(store, 1, kStart);
  long long mp = id_of(db, "m1-mp-1@example.org");
  PlannedMessage vacant = readdressed("mp", "mp-1", "Vacant seat");
  vacant.target_row = "0123456789abcdef";
  store.readdress({{.id = mp, .planned = vacant, .hold_reason = "target mp-1 is vacant"}}, kStart);
  auto before = store.waiting_letters({"legal-advocacy", "mp", "mp-1", "0123456789abcdef"}, 0, 10);
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(store.release_held(mp, kStart), Store::ReleaseResult::released);
  auto after = store.due("main", {"legal-advocacy"}, kStart, 10);
  auto it = std::find_if(after.begin(), after.end(), [mp](const StoredMessage& m) { return m.id == mp; });
  ASSERT_NE(it, after.end());
  EXPECT_EQ(it->target_row, kReleasedAsWritten) << "no longer tied to a row: it is not resolved again before it goes";
}

TEST(StoreRetarget, ASubmissionsFieldsGoWithItsNoteWhenItsLettersAreCancelledOrItsSupporterErased) {
  TempDir dir;
  std::string db = dir.path("letterd.db");
  Store store(db);
  write(store, 1, kStart);
  write(store, 2, kStart);
  auto fields = [&db](const std::string& id) {
    SQLite::Database read(db);
    SQLite::Statement q(read,
                        "SELECT coalesce(fields, 'NULL') || ' ' || coalesce(personal_note, 'NULL') FROM "
                        "submissions WHERE id = ?");
    q.bind(1, id);
    q.executeStep();
    return q.getColumn(0).getString();
  };
  EXPECT_EQ(fields("web-1"), "{\"story\": \"what happened to me\"} my own words");
  store.cancel_matching({.campaign = "legal-advocacy"}, "campaign withdrawn", kStart);
  EXPECT_EQ(fields("web-1"), "NULL NULL");
  write(store, 3, kStart);
  store.erase_supporter("supporter3@example.org", kStart);
  EXPECT_EQ(fields("web-3"), "NULL NULL");
}

}  // namespace
}  // namespace letterd
