// The store with a log that grows for a whole campaign: every statement
// the daemon repeats stays index-backed, the counts stay true, retention
// erases what it promises and gives the space back.
#include "store.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "housekeeping.h"
#include "store_detail.h"
#include "test_support.h"

namespace letterd {
namespace {

// Retention's slices as the daemon starts them.
constexpr int kSlice = 256;

using testing::TempDir;

const TimePoint kStart = parse_rfc3339("2026-11-01T09:00:00Z").value();

Submission supporter(int n) {
  Submission s;
  s.id = "web-" + std::to_string(n);
  s.campaign = "legal-advocacy";
  s.supporter_name = "Supporter Number" + std::to_string(n);
  s.supporter_email = "supporter" + std::to_string(n) + "@example.org";
  s.personal_note = "A note of supporter " + std::to_string(n) + " that must not outlive retention.";
  s.fields = {{"story", "What happened to supporter " + std::to_string(n)}};
  return s;
}

Store::NewMessage letter_to(const std::string& target, int n, std::size_t body_bytes = 2000) {
  PlannedMessage p;
  p.letter = target == "justice-secretary" ? "justice-secretary" : "mp";
  p.target_id = target;
  p.to = {"Target " + target, target + "@example.org"};
  p.from = {"Supporter via Example Campaign", "letters@example.org"};
  p.subject = "Free and independent legal advocacy";
  p.body = std::string(body_bytes, 'x');
  return {p, "m" + std::to_string(n) + "-" + target + ".letterd@example.org", "main"};
}

// Accepts `count` supporters with two letters each, all sent at `sent_at`.
void fill(Store& store, int count, TimePoint sent_at, std::size_t body_bytes = 2000) {
  Store::Batch batch(store);
  for (int n = 0; n < count; ++n) {
    Submission s = supporter(n);
    store.accept(
        s, s.id + ".json", "digest", kStart,
        {letter_to("mp-" + std::to_string(n % 50), n, body_bytes), letter_to("justice-secretary", n, body_bytes)}, "");
  }
  batch.commit();
  auto due = store.due("main", {"legal-advocacy"}, sent_at, count * 2);
  std::vector<long long> ids;
  for (const auto& m : due) ids.push_back(m.id);
  store.mark_sending(ids, sent_at);
  std::vector<Store::AttemptRecord> records;
  for (long long id : ids)
    records.push_back({.message = id,
                       .at = sent_at,
                       .relay = "main",
                       .smtp_code = 250,
                       .smtp_response = "2.0.0 Ok: queued as ABC",
                       .duration_ms = 5,
                       .outcome = Outcome::sent,
                       .status = MessageStatus::sent,
                       .next_attempt_at = std::nullopt,
                       .counts_as_attempt = true});
  store.record_attempts(records);
}

std::map<std::string, long long> counts_by_status(Store& store) {
  std::map<std::string, long long> out;
  for (const auto& c : store.status_counts()) out[to_string(c.status)] += c.count;
  return out;
}

TEST(Store, EveryStatementTheDaemonRepeatsSearchesAnIndexNeverScansTheLog) {
  TempDir dir;
  Store store(dir.path("letterd.db"));
  fill(store, 20, kStart + std::chrono::minutes(1));
  // What a turn, a tick and the hourly housekeeping run.
  TimePoint now = kStart + std::chrono::hours(1);
  store.due("main", {"legal-advocacy"}, now, 10);
  store.next_due("main", {"legal-advocacy"});
  store.supporter_wrote_to("legal-advocacy", "supporter1@example.org", "mp-1");
  store.already_accepted("web-1.json", "digest");
  store.submission_source("legal-advocacy", "web-1");
  store.recent_sends("main", 10, now - std::chrono::hours(1));
  store.recent_target_sends("legal-advocacy", "mp-1", 10, now - std::chrono::hours(1));
  store.recent_campaign_sends("legal-advocacy", now - std::chrono::hours(1));
  store.waiting_outside({"legal-advocacy"});
  store.status_counts();
  store.sent_since(now - std::chrono::minutes(1));
  store.hold_target("legal-advocacy", "mp-1", now);
  store.requeue_interrupted(now);
  store.rehome_waiting("legal-advocacy", "main");
  store.still_sending(1);
  store.purge_bodies(now, kSlice);
  store.expire_holds(now);
  store.changed_elsewhere();
  // Intake's search for a standing hold runs with one standing.
  store.hold({.letter = "mp"}, "Parliament dissolved", now + std::chrono::hours(1), now);
  store.accept(supporter(99), "web-99.json", "digest", now, {letter_to("mp-9", 99)}, "");
  // Sending windows, and a start's or reload's plan of waiting letters again.
  store.wait_for_window({{1, now + std::chrono::hours(1)}});
  store.make_queued_due("legal-advocacy", now);
  // Review: a letter's note kept, and the next one's compared with the notes to its target.
  auto reviewed = letter_to("mp-9", 98);
  reviewed.note = sketch_note("A note long enough to be compared by its runs of four words, one run after another.");
  reviewed.postcode = "SW1A 1AA";
  store.accept(supporter(98), "web-98.json", "digest", now, {reviewed}, "");
  store.review_evidence("legal-advocacy", "mp-9", *reviewed.note, "SW1A 1AA", now,
                        {.same_note = 5, .similar_note = 0.8, .per_postcode_day = 10});
  // Digests: each turn's look for one due and for the next time, and a digest put together.
  auto collecting = letter_to("justice-secretary", 97);  // the standing hold is of the MPs' letters
  collecting.collect_until = now;
  store.accept(supporter(97), "web-97.json", "digest", now, {collecting}, "");
  store.next_digest_at();
  ASSERT_TRUE(store.digest_due(now));
  EXPECT_EQ(store.assemble_digest({"legal-advocacy", "justice-secretary", "justice-secretary"}, 10, now,
                                  [](const std::vector<DigestLetter>&) {
                                    auto digest = letter_to("justice-secretary", 96);
                                    digest.planned.letter = "digest/justice-secretary";
                                    return digest;
                                  }),
            1);
  // Start and reload: which targets have waiting letters, and those letters.
  auto groups = store.waiting_groups();
  ASSERT_FALSE(groups.empty());
  for (const auto& group : groups) store.waiting_letters(group, 0, 10);
  store.target_row("0123456789abcdef");
  // Bounces: the letter a returned mail names, and how often an address bounced.
  store.returned_letter(1);
  store.returned_letter(std::string("m1@example.org"));
  store.bounces_of("legal-advocacy", "mp-1", "mp-1@example.org");
  store.notices_due(10);

  auto plans = store.query_plans();
  EXPECT_GE(plans.size(), 18u);
  if (std::getenv("LETTERD_SHOW_PLANS"))
    for (const auto& plan : plans) std::cout << plan << "\n";
  for (std::string plan : plans) {
    // Start and reload read the index of letters not yet sent (a campaign's
    // backlog, not its log), and each turn the index of letters whose
    // supporter's notice is undecided (none, most of the time).
    for (std::string only_waiting :
         {"SCAN messages USING INDEX messages_waiting_target", "SCAN m USING INDEX messages_to_notify"})
      if (auto at = plan.find(only_waiting); at != std::string::npos) plan.erase(at, only_waiting.size());
    // "SCAN t" reads a whole table, "SCAN t USING INDEX" a whole index:
    // either grows with the campaign. message_counts has a row a status.
    for (const char* table : {"SCAN messages", "SCAN attempts", "SCAN submissions", "SCAN m ", "SCAN a "})
      EXPECT_EQ(plan.find(table), std::string::npos) << plan;
    // Nor a search by campaign alone, but in messages_target or
    // messages_held_campaign, which hold only the letters still waiting
    // (a campaign is most of the log).
    std::string rest = plan;
    for (std::string waiting : {
             "messages_target (campaign=?)",
             "messages_held_campaign (campaign=?)",
         })
      for (auto at = rest.find(waiting); at != std::string::npos; at = rest.find(waiting))
        rest.erase(at, waiting.size());
    EXPECT_EQ(rest.find("(campaign=?)"), std::string::npos) << plan;
  }
}

TEST(Store, StatusCountsFollowEveryChangeOfStatus) {
  TempDir dir;
  Store store(dir.path("letterd.db"));
  fill(store, 3, kStart);
  Submission s = supporter(99);
  store.accept(s, "web-99.json", "d", kStart, {letter_to("mp-99", 99), letter_to("justice-secretary", 99)}, "");
  EXPECT_EQ(counts_by_status(store), (std::map<std::string, long long>{{"queued", 2}, {"sent", 6}}));

  auto due = store.due("main", {"legal-advocacy"}, kStart, 10);
  ASSERT_EQ(due.size(), 2u);
  store.mark_sending({due[0].id, due[1].id}, kStart);
  store.record_attempts({{.message = due[0].id,
                          .at = kStart,
                          .relay = "main",
                          .smtp_code = 451,
                          .smtp_response = "try later",
                          .duration_ms = 3,
                          .outcome = Outcome::deferred,
                          .status = MessageStatus::deferred,
                          .next_attempt_at = kStart + std::chrono::minutes(1),
                          .counts_as_attempt = true}});
  EXPECT_EQ(counts_by_status(store), (std::map<std::string, long long>{{"deferred", 1}, {"sending", 1}, {"sent", 6}}));

  auto erased = store.erase_supporter("SUPPORTER99@example.org", kStart);
  EXPECT_EQ(erased.cancelled, 2);
  EXPECT_EQ(counts_by_status(store), (std::map<std::string, long long>{{"failed", 2}, {"sent", 6}}));
}

TEST(Store, RetentionInSlicesErasesBodiesNotesAndFieldsNoWaitingLetterNeeds) {
  TempDir dir;
  Store store(dir.path("letterd.db"));
  fill(store, 300, kStart);  // 600 letters, every one sent
  Submission waiting = supporter(1000);
  store.accept(waiting, "web-1000.json", "d", kStart, {letter_to("mp-3", 1000)}, "");
  // One letter sent, the other still waiting: the note stays for the second.
  Submission half = supporter(1001);
  store.accept(half, "web-1001.json", "d", kStart, {letter_to("mp-4", 1001), letter_to("justice-secretary", 1001)}, "");
  auto half_letters = store.due("main", {"legal-advocacy"}, kStart, 10);
  ASSERT_EQ(half_letters.size(), 3u);
  store.mark_sending({half_letters[1].id}, kStart);
  store.record_attempts({{.message = half_letters[1].id,
                          .at = kStart,
                          .relay = "main",
                          .smtp_code = 250,
                          .smtp_response = "ok",
                          .duration_ms = 3,
                          .outcome = Outcome::sent,
                          .status = MessageStatus::sent,
                          .next_attempt_at = std::nullopt,
                          .counts_as_attempt = true}});

  TimePoint cutoff = kStart + std::chrono::hours(1);
  int slices = 0, bodies = 0, notes = 0;
  for (Store::PurgeCounts slice{.more = true}; slice.more; ++slices) {
    slice = store.purge_bodies(cutoff, kSlice);
    bodies += slice.bodies;
    notes += slice.notes;
  }
  EXPECT_EQ(bodies, 601);
  EXPECT_EQ(notes, 300);  // both supporters with a letter waiting keep theirs
  EXPECT_EQ(slices, 3);   // 601 letters in slices of 256
  SQLite::Database read(dir.path("letterd.db"));
  EXPECT_EQ(read.execAndGet("SELECT group_concat(id) FROM submissions WHERE fields IS NOT NULL").getString(),
            "web-1000,web-1001")
      << "a submission's fields go with its note: a letter rendered again may need them until then";
  EXPECT_EQ(store.purge_bodies(cutoff, kSlice).bodies, 0);
  auto due = store.due("main", {"legal-advocacy"}, cutoff, 10);
  ASSERT_EQ(due.size(), 2u);
  for (const auto& m : due) EXPECT_FALSE(m.body.empty());
}

TEST(Store, RetentionGivesTheFreedSpaceBackToTheFilesystem) {
  TempDir dir;
  Store store(dir.path("letterd.db"));
  fill(store, 500, kStart, 8000);  // about 8 MB of letters
  store.checkpoint();
  auto before = store.space_use();
  EXPECT_TRUE(before.returns_free_pages);
  while (store.purge_bodies(kStart + std::chrono::hours(1), kSlice).more) {
  }
  store.checkpoint();
  auto freed = store.space_use();
  while (store.return_free_pages(kSlice)) {
  }
  store.checkpoint();
  auto after = store.space_use();
  struct stat st;
  ASSERT_EQ(::stat(dir.path("letterd.db").c_str(), &st), 0);
  // At least 80 % of the pages the bodies held leave the file.
  long long released = before.file_bytes - after.file_bytes;
  EXPECT_GE(released, freed.free_bytes * 8 / 10) << before.file_bytes << " -> " << after.file_bytes;
  EXPECT_EQ(st.st_size, after.file_bytes);
  EXPECT_EQ(after.free_bytes, 0);
}

// Frames in the write-ahead log, as a checkpoint from another connection finds them.
long long log_frames(const std::string& database) {
  SQLite::Database other(database, SQLite::OPEN_READWRITE);
  SQLite::Statement q(other, "PRAGMA wal_checkpoint(PASSIVE)");
  q.executeStep();
  return q.getColumn(1).getInt64();
}

// Submissions accepted one a commit, as intake commits a small batch.
void accept_one_by_one(Store& store, int first, int count) {
  for (int n = first; n < first + count; ++n) {
    Submission s = supporter(n);
    store.accept(s, s.id + ".json", "digest", kStart, {letter_to("justice-secretary", n, 8000)}, "");
  }
}

TEST(Store, CommitsThatLeaveCheckpointsElsewhereSayWhenOneIsDueAndCopyNothingThemselves) {
  TempDir dir;
  Store store(dir.path("letterd.db"));
  int told = 0;
  store.leave_checkpoints_to([&] { ++told; });
  accept_one_by_one(store, 0, 1000);  // about 8 MB: twice SQLite's thousand pages
  EXPECT_GT(told, 0) << "the housekeeping thread is told a checkpoint is due";
  EXPECT_GT(log_frames(dir.path("letterd.db")), 1500) << "no commit checkpointed and restarted the log";

  // Given back, SQLite's automatic checkpoint restarts the log as it fills.
  store.leave_checkpoints_to(nullptr);
  told = 0;
  accept_one_by_one(store, 1000, 1000);
  EXPECT_EQ(told, 0);
  EXPECT_LT(log_frames(dir.path("letterd.db")), 1500);
}

TEST(Store, TheHousekeepingThreadCopiesTheLogBackWhenTheLoopsCommitsSayItIsDue) {
  TempDir dir;
  std::filesystem::create_directories(dir.path("queue"));
  const std::string database = dir.path("letterd.db");
  Store store(database);
  std::ostringstream out;
  spdlog::logger log("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  Housekeeping housekeeping(database, dir.path("queue"), std::chrono::hours(24 * 30), log);
  store.leave_checkpoints_to([&] { housekeeping.copy_log_back_soon(); });
  accept_one_by_one(store, 0, 1000);  // about 8 MB: several times SQLite's thousand pages
  // Up to 10 s for the thread to answer (it takes milliseconds).
  for (int i = 0; i < 200 && housekeeping.copied_back() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GT(housekeeping.copied_back(), 0);
  // Once it has copied back what the last commits asked for, the next
  // commit starts the log afresh: it never grows the length of the campaign
  // (more than 1,500 frames here were nothing copied, as the test above shows).
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  accept_one_by_one(store, 1000, 1);
  EXPECT_LT(log_frames(database), 1000);
  store.leave_checkpoints_to(nullptr);
  EXPECT_EQ(out.str().find("housekeeping:"), std::string::npos) << out.str();
}

TEST(Store, ErasureScrubsTheSupportersNameAndAddressFromRelayReplies) {
  TempDir dir;
  Store store(dir.path("letterd.db"));
  Submission s = supporter(7);
  store.accept(s, "web-7.json", "d", kStart, {letter_to("mp-7", 7)}, "");
  auto due = store.due("main", {"legal-advocacy"}, kStart, 1);
  ASSERT_EQ(due.size(), 1u);
  store.mark_sending({due[0].id}, kStart);
  store.record_attempts({{.message = due[0].id,
                          .at = kStart,
                          .relay = "main",
                          .smtp_code = 250,
                          .smtp_response = "2.0.0 queued as Q1 for supporter number7 <SUPPORTER7@example.org>",
                          .duration_ms = 3,
                          .outcome = Outcome::sent,
                          .status = MessageStatus::sent,
                          .next_attempt_at = std::nullopt,
                          .counts_as_attempt = true}});
  auto erased = store.erase_supporter("supporter7@example.org", kStart);
  ASSERT_EQ(erased.files.size(), 1u);
  EXPECT_EQ(erased.files[0].file, "web-7.json");
  bool seen = false;
  store.log({}, [&](const LogRow& row) {
    seen = true;
    EXPECT_EQ(row.smtp_response, "2.0.0 queued as Q1 for [name] <[address]>");
  });
  EXPECT_TRUE(seen);
  for (const auto& e : store.last_try_per_relay({"main"}))
    EXPECT_EQ(e.smtp_response, "2.0.0 queued as Q1 for [name] <[address]>");
}

TEST(Store, KnowsWhenItsWriteAheadLogWasDeleted) {
  TempDir dir;
  Store store(dir.path("letterd.db"));
  fill(store, 1, kStart);
  EXPECT_EQ(store.identity_problem(), "");
  std::filesystem::remove(dir.path("letterd.db-wal"));
  EXPECT_NE(store.identity_problem().find("write-ahead log"), std::string::npos);
}

TEST(Store, AVersion1DatabaseIsMigratedWithItsCountsAndPurgedWithoutReturningSpace) {
  TempDir dir;
  {
    SQLite::Database db(dir.path("letterd.db"), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(store_detail::kSchemaV1);
    db.exec("PRAGMA user_version = 1");
    db.exec(R"sql(
      INSERT INTO submissions (id, campaign, supporter_name, supporter_email, personal_note, received_at, source_file,
                               source_digest)
        VALUES ('old-1', 'legal-advocacy', 'Old Supporter', 'old@example.org', 'an old note', '2026-10-01T09:00:00.000Z',
                'old-1.json', 'd');
      INSERT INTO messages (submission_id, campaign, letter, target_id, recipient, recipient_name, supporter_email,
                            from_address, from_name, subject, message_id, status, relay, created_at, ended_at, body)
        VALUES ('old-1', 'legal-advocacy', 'mp', 'mp-1', 'mp-1@example.org', 'MP', 'old@example.org',
                'letters@example.org', 'Old', 'Subject', 'a@example.org', 'sent', 'main', '2026-10-01T09:00:00.000Z',
                '2026-10-01T09:01:00.000Z', 'body'),
               ('old-1', 'legal-advocacy', 'justice-secretary', 'justice-secretary', 'js@example.org', 'JS',
                'old@example.org', 'letters@example.org', 'Old', 'Subject', 'b@example.org', 'queued', 'main',
                '2026-10-01T09:00:00.000Z', NULL, 'body');
      CREATE TABLE scratch (x BLOB);
      INSERT INTO scratch VALUES (zeroblob(200000));
      DROP TABLE scratch;
    )sql");
  }
  Store store(dir.path("letterd.db"));
  EXPECT_EQ(counts_by_status(store), (std::map<std::string, long long>{{"queued", 1}, {"sent", 1}}));
  auto before = store.space_use();
  EXPECT_FALSE(before.returns_free_pages);
  EXPECT_GT(before.free_bytes, 0);
  auto slice = store.purge_bodies(kStart, kSlice);
  EXPECT_EQ(slice.bodies, 1);
  EXPECT_FALSE(slice.more);
  EXPECT_FALSE(store.return_free_pages(kSlice));  // and so a purge loop ends
}

TEST(Store, KnowsWhenItsFileWasDeletedOrReplaced) {
  TempDir dir;
  Store store(dir.path("letterd.db"));
  fill(store, 1, kStart);
  EXPECT_EQ(store.identity_problem(), "");
  std::filesystem::rename(dir.path("letterd.db"), dir.path("old.db"));
  { Store fresh(dir.path("letterd.db")); }
  EXPECT_NE(store.identity_problem().find("deleted or replaced"), std::string::npos);
}

}  // namespace
}  // namespace letterd
