// Targets that change, as the pure side decides it: a waiting letter
// resolved again against the targets as they are now goes to the member
// for its seat, greets a reshuffle's new minister, waits while a seat is
// vacant or its target has gone, and the log says so in one line a target.
#include "retarget.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <string>

#include "config_files.h"
#include "test_support.h"

namespace letterd {
namespace {

using namespace letterd::testing;

constexpr std::string_view kConfig = R"(queue_dir: spool
database: letterd.db
postcodes: postcodes.db
relays:
  main:
    url: smtp://smtp.example.org:587
campaigns:
  c:
    relay: main
    from: { address: letters@example.org, name: "{{supporter.name}} via Example Campaign" }
    require_authorisation: false
    targets: targets.csv
    letters:
      mp: { template: mp.txt, to: { by: constituency } }
      local: { template: mp.txt, to: { by: postcode } }
      js: { template: js.txt, to: { target: justice-secretary } }
)";

constexpr std::string_view kTargets =
    "id,name,email,constituency,constituency_code,status\n"
    "mp-cities,Alex Example MP,alex.example.mp@example.org,Cities of London and Westminster,E14001172,\n"
    "mp-bristol,Robin Fictional MP,robin.fictional.mp@example.org,Bristol Central,E14001130,\n"
    "justice-secretary,Sam Sample MP,justice.secretary@example.org,,,\n";

Config config_with(std::string targets, std::string js_template = "---\nsubject: Hello\n---\nDear {{target.name}},\n") {
  MemoryFiles files;
  files.texts = {{"/t/targets.csv", std::move(targets)},
                 {"/t/mp.txt", "---\nsubject: To {{target.name}}\n---\nDear {{target.name}},\n{{personal_note}}\n"},
                 {"/t/js.txt", std::move(js_template)}};
  Problems problems;
  auto config = load_config_text(std::string(kConfig), "/t/letterd.yaml", files.source(), Passwords::read, problems);
  EXPECT_TRUE(config.has_value()) << ::testing::PrintToString(texts(problems));
  if (!config) throw std::runtime_error("config");
  return std::move(*config);
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  text.replace(text.find(from), from.size(), to);
  return text;
}

Submission supporter() {
  Submission s;
  s.id = "web-1";
  s.campaign = "c";
  s.supporter_name = "Jane Doe";
  s.supporter_email = "jane@example.org";
  s.postcode = "SW1A 0AA";
  s.constituency = "Cities of London and Westminster";
  s.personal_note = "my own words";
  return s;
}

// SW1A 0AA is in the Cities of London and Westminster.
PostcodeFinder lookup() {
  return [](std::string_view) {
    return PostcodeAnswer{.canonical = "SW1A 0AA", .place = PostcodePlace{.constituency_code = "E14001172"}};
  };
}

const TargetRow& row(const Config& config, const std::string& id) {
  return config.campaign("c")->targets->by_id(id)->columns;
}

// A letter as the log keeps it, rendered at intake against `config`.
Store::WaitingLetter waiting(const Config& config, const std::string& letter, const Submission& s = supporter()) {
  Problems problems;
  auto planned = plan_messages(s, config, problems, lookup());
  EXPECT_TRUE(planned) << ::testing::PrintToString(texts(problems));
  Store::WaitingLetter w;
  w.submission = s;
  for (const auto& p : *planned) {
    if (p.letter != letter) continue;
    w.message = {.id = 7,
                 .campaign = "c",
                 .letter = p.letter,
                 .target_id = p.target_id,
                 .to = p.to,
                 .from = p.from,
                 .reply_to = p.reply_to,
                 .copy_to = p.copy_to,
                 .subject = p.subject,
                 .body = p.body,
                 .target_row = p.target_row,
                 .reflect = p.reflect};
    if (!p.hold_reason.empty()) {
      w.message.status = MessageStatus::held;
      w.hold_reason = p.hold_reason;
    }
  }
  return w;
}

Replanned replan(const Config& now, const Store::WaitingLetter& w, const TargetRow* former) {
  return replan_letter(w.submission, now,
                       {.letter = w.message.letter,
                        .target_id = w.message.target_id,
                        .former_row = former,
                        .reflect = w.message.reflect},
                       lookup());
}

TEST(Retarget, AReshuffleGreetsTheNewMinisterAtTheNewAddress) {
  Config before = config_with(std::string(kTargets));
  Config after = config_with(replace(std::string(kTargets), "Sam Sample MP,justice.secretary@example.org",
                                     "Kim Newcomer MP,new.justice.secretary@example.org"));
  auto letter = waiting(before, "js");
  TargetRow was = row(before, "justice-secretary");
  EXPECT_EQ(why_resolve_again(*after.campaign("c")->letter("js"), "justice-secretary", &was,
                              after.campaign("c")->targets->by_id("justice-secretary")),
            "its row changed: email, name");

  LetterFate fate = fate_of(letter, replan(after, letter, &was));
  EXPECT_EQ(fate.kind, LetterFate::Kind::rendered_again);
  ASSERT_TRUE(fate.change && fate.change->planned);
  EXPECT_EQ(fate.change->planned->to.address, "new.justice.secretary@example.org");
  EXPECT_EQ(fate.change->planned->body, "Dear Kim Newcomer MP,\n");
  EXPECT_TRUE(fate.change->hold_reason.empty());
}

TEST(Retarget, AnUnchangedTargetsLettersAreNotReadAgain) {
  Config config = config_with(std::string(kTargets));
  TargetRow was = row(config, "mp-cities");
  EXPECT_EQ(why_resolve_again(*config.campaign("c")->letter("mp"), "mp-cities", &was,
                              config.campaign("c")->targets->by_id("mp-cities")),
            "");
  // Resolved all the same, a letter comes out byte for byte as it was.
  auto letter = waiting(config, "mp");
  LetterFate fate = fate_of(letter, replan(config, letter, &was));
  EXPECT_EQ(fate.kind, LetterFate::Kind::unchanged);
  EXPECT_FALSE(fate.change);
}

TEST(Retarget, AVacantSeatHoldsAndANewMemberReleasesRenderedForThem) {
  Config sitting = config_with(std::string(kTargets));
  std::string vacant_targets = replace(std::string(kTargets), "E14001172,\n", "E14001172,vacant\n");
  Config vacant = config_with(vacant_targets);
  auto letter = waiting(sitting, "mp");
  TargetRow sitting_row = row(sitting, "mp-cities");
  EXPECT_EQ(why_resolve_again(*vacant.campaign("c")->letter("mp"), "mp-cities", &sitting_row,
                              vacant.campaign("c")->targets->by_id("mp-cities")),
            "it is vacant");
  LetterFate held = fate_of(letter, replan(vacant, letter, &sitting_row));
  EXPECT_EQ(held.kind, LetterFate::Kind::held);
  ASSERT_TRUE(held.change);
  EXPECT_EQ(held.change->hold_reason, "target mp-cities is vacant");

  // The by-election's winner takes the same row.
  letter.message.status = MessageStatus::held;
  letter.hold_reason = "target mp-cities is vacant";
  Config filled = config_with(replace(std::string(kTargets), "Alex Example MP,alex.example.mp@example.org",
                                      "Jo Elected MP,jo.elected.mp@example.org"));
  TargetRow vacant_row = row(vacant, "mp-cities");
  EXPECT_EQ(why_resolve_again(*filled.campaign("c")->letter("mp"), "mp-cities", &vacant_row,
                              filled.campaign("c")->targets->by_id("mp-cities")),
            "its seat is filled");
  LetterFate released = fate_of(letter, replan(filled, letter, &vacant_row));
  EXPECT_EQ(released.kind, LetterFate::Kind::released);
  ASSERT_TRUE(released.change && released.change->planned);
  EXPECT_EQ(released.change->planned->to.address, "jo.elected.mp@example.org");
  EXPECT_EQ(released.change->planned->subject, "To Jo Elected MP");
}

TEST(Retarget, ANewMemberInANewRowForTheSeatTakesTheLetters) {
  Config before = config_with(std::string(kTargets));
  // The row of the member who stood down is gone; the new one has an id of their own.
  Config after = config_with(replace(std::string(kTargets), "mp-cities,Alex Example MP,alex.example.mp@example.org",
                                     "mp-cities-2029,Jo Elected MP,jo.elected.mp@example.org"));
  TargetRow was = row(before, "mp-cities");
  for (std::string letter_name : {"mp", "local"}) {
    // Known by constituency name, by postcode, and by the target id alone.
    auto letter = waiting(before, letter_name);
    LetterFate fate = fate_of(letter, replan(after, letter, &was));
    EXPECT_EQ(fate.kind, LetterFate::Kind::moved) << letter_name;
    EXPECT_EQ(fate.new_target, "mp-cities-2029");
    ASSERT_TRUE(fate.change && fate.change->planned);
    EXPECT_EQ(fate.change->planned->to.address, "jo.elected.mp@example.org");
  }
  Submission by_id = supporter();
  by_id.constituency.reset();
  by_id.target = "mp-cities";
  auto letter = waiting(before, "mp", by_id);
  EXPECT_EQ(fate_of(letter, replan(after, letter, &was)).new_target, "mp-cities-2029");
}

TEST(Retarget, ATargetThatLeftTheFileHoldsItsLettersNeverFailsThem) {
  Config before = config_with(std::string(kTargets));
  Config after = config_with(replace(std::string(kTargets),
                                     "mp-cities,Alex Example MP,alex.example.mp@example.org,Cities of London and "
                                     "Westminster,E14001172,\n",
                                     ""));
  auto letter = waiting(before, "mp");
  TargetRow was = row(before, "mp-cities");
  EXPECT_EQ(why_resolve_again(*after.campaign("c")->letter("mp"), "mp-cities", &was, nullptr),
            "it is no longer in the campaign's targets");
  LetterFate fate = fate_of(letter, replan(after, letter, &was));
  EXPECT_EQ(fate.kind, LetterFate::Kind::held);
  ASSERT_TRUE(fate.change);
  EXPECT_FALSE(fate.change->planned);  // kept as written until a target takes it
  EXPECT_EQ(fate.change->hold_reason, "target mp-cities is no longer in the campaign's targets");

  // At the next start it is still held, and nothing is written again.
  letter.message.status = MessageStatus::held;
  letter.hold_reason = fate.change->hold_reason;
  LetterFate again = fate_of(letter, replan(after, letter, nullptr));
  EXPECT_EQ(again.kind, LetterFate::Kind::still_held);
  EXPECT_FALSE(again.change);
}

TEST(Retarget, AnOrganisersHoldKeepsItsLettersWhileTheyAreRenderedAgain) {
  Config before = config_with(std::string(kTargets));
  Config after = config_with(replace(std::string(kTargets), "Sam Sample MP", "Kim Newcomer MP"));
  auto letter = waiting(before, "js");
  letter.message.status = MessageStatus::held;
  letter.organiser_hold = true;
  letter.hold_reason = "Parliament dissolved";
  TargetRow was = row(before, "justice-secretary");
  LetterFate fate = fate_of(letter, replan(after, letter, &was));
  EXPECT_EQ(fate.kind, LetterFate::Kind::rendered_again);  // not released: the store leaves its status
  ASSERT_TRUE(fate.change && fate.change->planned);
  EXPECT_TRUE(fate.change->hold_reason.empty());
}

TEST(Retarget, TheConfigNamingAnotherFixedTargetMovesTheLetters) {
  Config before = config_with(std::string(kTargets) + "new-justice-secretary,Kim Newcomer MP,kim@example.org,,,\n");
  auto letter = waiting(before, "js");
  Config after = before;
  after.campaigns.at("c").letters[2].target_id = "new-justice-secretary";
  TargetRow was = row(before, "justice-secretary");
  EXPECT_EQ(why_resolve_again(*after.campaign("c")->letter("js"), "justice-secretary", &was,
                              after.campaign("c")->targets->by_id("justice-secretary")),
            "letter js now goes to target new-justice-secretary");
  LetterFate fate = fate_of(letter, replan(after, letter, &was));
  EXPECT_EQ(fate.kind, LetterFate::Kind::moved);
  EXPECT_EQ(fate.change->planned->to.address, "kim@example.org");
}

TEST(Retarget, ATestStaysATestWhateverTheCampaignsModeNow) {
  Config before = config_with(std::string(kTargets));
  before.campaigns.at("c").mode = CampaignMode::reflect;
  auto letter = waiting(before, "js");
  ASSERT_TRUE(letter.message.reflect);
  Config after = config_with(replace(std::string(kTargets), "Sam Sample MP", "Kim Newcomer MP"));
  TargetRow was = row(before, "justice-secretary");
  LetterFate fate = fate_of(letter, replan(after, letter, &was));
  ASSERT_TRUE(fate.change && fate.change->planned);
  EXPECT_EQ(fate.change->planned->to.address, "jane@example.org");
  EXPECT_TRUE(fate.change->planned->reflect);
}

TEST(Retarget, ALetterWhoseFieldsWereNotKeptWaitsRatherThanLoseThem) {
  std::string uses_fields =
      "---\nsubject: Hello\n---\nDear {{target.name}},\n{{#fields.story}}{{fields.story}}{{/fields.story}}\n";
  Config before = config_with(std::string(kTargets), uses_fields);
  Config after = config_with(replace(std::string(kTargets), "Sam Sample MP", "Kim Newcomer MP"), uses_fields);
  auto letter = waiting(before, "js");
  TargetRow was = row(before, "justice-secretary");
  Replanned r = replan_letter(
      letter.submission, after,
      {.letter = "js", .target_id = "justice-secretary", .former_row = &was, .fields_known = false}, lookup());
  EXPECT_FALSE(r.message);
  EXPECT_EQ(r.hold_reason,
            "accepted before letterd kept a submission's fields, it cannot be rendered again for target "
            "justice-secretary");
}

TEST(Retarget, ALetterDueForARowItsTargetNoLongerHasIsNotSentAsItIs) {
  Config before = config_with(std::string(kTargets));
  Config after = config_with(replace(std::string(kTargets), "Sam Sample MP", "Kim Newcomer MP"));
  auto letter = waiting(before, "js");
  EXPECT_TRUE(rendered_for_current_row(letter.message, before));
  EXPECT_FALSE(rendered_for_current_row(letter.message, after)) << "a retry after the reshuffle is resolved first";
  auto mp = waiting(before, "mp");
  EXPECT_TRUE(rendered_for_current_row(mp.message, after)) << "the MP's row did not change";
  letter.message.target_row.clear();
  EXPECT_TRUE(rendered_for_current_row(letter.message, after)) << "released as written by an organiser";
}

TEST(Retarget, APostcodeWhoseSeatHasNoTargetWaitsRatherThanGoToTheOldMember) {
  Config before = config_with(std::string(kTargets));
  auto letter = waiting(before, "local");
  TargetRow was = row(before, "mp-cities");
  // New boundaries: the lookup now puts the postcode in a seat with no row yet.
  PostcodeFinder moved = [](std::string_view) {
    return PostcodeAnswer{.canonical = "SW1A 0AA", .place = PostcodePlace{.constituency_code = "E14001999"}};
  };
  Config after = config_with(replace(std::string(kTargets), "Alex Example MP", "Alex Example MP (re-elected)"));
  Replanned r =
      replan_letter(letter.submission, after, {.letter = "local", .target_id = "mp-cities", .former_row = &was}, moved);
  EXPECT_FALSE(r.message);
  EXPECT_EQ(r.hold_reason, "its constituency (E14001999) has no target in campaign c");
  // Without the lookup, it waits for it.
  Replanned blind =
      replan_letter(letter.submission, after, {.letter = "local", .target_id = "mp-cities", .former_row = &was});
  EXPECT_FALSE(blind.message);
  EXPECT_EQ(blind.hold_reason, "no postcode lookup is open to place the supporter's postcode");
}

TEST(Retarget, ALetterMovedToATargetTheSupporterAlreadyWroteToWaits) {
  Config before = config_with(std::string(kTargets));
  Config after = config_with(replace(std::string(kTargets), "mp-cities,Alex Example MP,alex.example.mp@example.org",
                                     "mp-cities-2029,Jo Elected MP,jo.elected.mp@example.org"));
  auto letter = waiting(before, "mp");
  TargetRow was = row(before, "mp-cities");
  LetterFate fate = fate_of(letter, replan(after, letter, &was), /*already_wrote=*/true);
  EXPECT_EQ(fate.kind, LetterFate::Kind::held);
  EXPECT_EQ(fate.hold_reason, "the supporter already has a letter to target mp-cities-2029");
}

TEST(Retarget, ARowChangedInAColumnNoTemplateUsesOnlyBringsTheFingerprintUpToDate) {
  Config before = config_with(std::string(kTargets));
  auto letter = waiting(before, "mp");
  // A column no template names: every row gains the member's party.
  std::string with_party;
  std::istringstream rows{std::string(kTargets)};
  for (std::string line; std::getline(rows, line);) with_party += line + (with_party.empty() ? ",party\n" : ",x\n");
  Config after = config_with(with_party);
  TargetRow was = row(before, "mp-cities");
  LetterFate fate = fate_of(letter, replan(after, letter, &was));
  EXPECT_EQ(fate.kind, LetterFate::Kind::unchanged);
  ASSERT_TRUE(fate.change && fate.change->planned);
  EXPECT_EQ(fate.change->planned->target_row, after.campaign("c")->targets->by_id("mp-cities")->fingerprint)
      << "else a dispatch would ask for it again and again";
}

TEST(Retarget, OneLineATargetSaysHowManyLettersAndWhy) {
  RetargetTally tally;
  LetterFate again{.kind = LetterFate::Kind::rendered_again};
  LetterFate moved{.kind = LetterFate::Kind::moved, .new_target = "mp-new"};
  LetterFate held{.kind = LetterFate::Kind::held, .hold_reason = "target mp-gone is vacant"};
  LetterFate unchanged{};
  for (int i = 0; i < 3; ++i) tally.count("c", "justice-secretary", "its row changed: email, name", again);
  tally.count("c", "mp-old", "it is no longer in the campaign's targets", moved);
  tally.count("c", "mp-old", "it is no longer in the campaign's targets", moved);
  tally.count("c", "mp-gone", "it is vacant", held);
  tally.count("c", "mp-same", "its row is new to letterd", unchanged);
  auto lines = tally.lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].text,
            "campaign c, target justice-secretary: its row changed: email, name; 3 letter(s) rendered again for it "
            "as it is now");
  EXPECT_FALSE(lines[0].warning);
  EXPECT_EQ(lines[1].text, "campaign c, target mp-gone: it is vacant; 1 letter(s) held (target mp-gone is vacant)");
  EXPECT_TRUE(lines[1].warning);
  EXPECT_EQ(lines[2].text,
            "campaign c, target mp-old: it is no longer in the campaign's targets; 2 letter(s) now go to target "
            "mp-new");
}

// The daemon's side, against a real database: every letter of a group
// larger than a slice, letters of an older letterd, and the log line.
class RetargetStore : public ::testing::Test {
 protected:
  // Supporter n's letter `letter`, accepted as `config` renders it; without
  // its row's fingerprint, as a letterd older than fingerprints kept it.
  long long accept(const Config& config, int n, bool with_row = true, const std::string& letter = "js") {
    Submission s = supporter();
    s.id = "web-" + std::to_string(n);
    s.supporter_email = "s" + std::to_string(n) + "@example.org";
    s.letters = {letter};
    Problems problems;
    auto planned = plan_messages(s, config, problems, lookup());
    EXPECT_TRUE(planned) << ::testing::PrintToString(texts(problems));
    if (!planned) return 0;
    if (!with_row) planned->front().target_row.clear();
    store_.accept(s, s.id + ".json", "digest", kAt,
                  {{planned->front(), "m" + std::to_string(n) + "@example.org", "main"}}, "");
    SQLite::Database db(dir_.path("letterd.db"));
    return db.execAndGet("SELECT max(id) FROM messages").getInt64();
  }

  std::string run(const Config& config, int* failed = nullptr) {
    std::ostringstream out;
    spdlog::logger log("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    log.set_pattern("%v");
    int n = retarget_waiting_letters(store_, config, lookup(), log, kAt + std::chrono::hours(1));
    if (failed) *failed = n;
    return out.str();
  }

  long long count(const std::string& where) {
    SQLite::Database db(dir_.path("letterd.db"));
    return db.execAndGet("SELECT count(*) FROM messages WHERE " + where).getInt64();
  }

  const TimePoint kAt = *parse_rfc3339("2026-11-25T09:00:00Z");
  TempDir dir_;
  Store store_{dir_.path("letterd.db")};
};

TEST_F(RetargetStore, EveryWaitingLetterOfAReshuffledMinisterIsRenderedAgainOnce) {
  Config before = config_with(std::string(kTargets));
  store_.hold({.letter = "js"}, "reshuffle announced", std::nullopt, kAt);
  for (int n = 0; n < 600; ++n) accept(before, n);
  EXPECT_EQ(run(before), "") << "nothing changed";

  Config after = config_with(replace(std::string(kTargets), "Sam Sample MP,justice.secretary@example.org",
                                     "Kim Newcomer MP,new.minister@example.org"));
  EXPECT_EQ(run(after),
            "campaign c, target justice-secretary: its row changed: email, name; 600 letter(s) rendered again for it "
            "as it is now\n");
  EXPECT_EQ(count("recipient = 'new.minister@example.org' AND body LIKE 'Dear Kim Newcomer MP,%' AND status = "
                  "'held' AND hold_id IS NOT NULL"),
            600)
      << "every slice, and the organiser's hold still holds them";
  EXPECT_EQ(run(after), "") << "done once: their rows are current";
}

TEST_F(RetargetStore, LettersOfAnOlderLetterdKeepTheirWordsWhenWrittenForTheRowAsItIs) {
  Config first = config_with(std::string(kTargets));
  Config old_minister = config_with(replace(std::string(kTargets), "Sam Sample MP", "Old Minister MP"));
  store_.hold({.letter = "js"}, "reshuffle announced", std::nullopt, kAt);
  accept(first, 1, /*with_row=*/false);
  accept(first, 2, /*with_row=*/false);
  accept(old_minister, 3, /*with_row=*/false);
  // The template has been edited since: words already written stay the supporter's.
  Config now = config_with(std::string(kTargets), "---\nsubject: Hello\n---\nDear {{target.name}}, edited.\n");
  EXPECT_EQ(run(now),
            "campaign c, target justice-secretary: its row changed before letterd recorded rows; 1 letter(s) rendered "
            "again for it as it is now\n");
  EXPECT_EQ(count("body = 'Dear Sam Sample MP,\n'"), 2);
  EXPECT_EQ(count("body = 'Dear Sam Sample MP, edited.\n'"), 1) << "written for the old minister";
  EXPECT_EQ(count("target_row IS NULL"), 0);
  EXPECT_EQ(run(now), "");
}

TEST_F(RetargetStore, AVacantSeatsLetterHeldByAnOlderLetterdGoesWhenTheSeatIsFilled) {
  Config vacant = config_with(replace(std::string(kTargets), "E14001172,\n", "E14001172,vacant\n"));
  long long id = accept(vacant, 1, /*with_row=*/false, "mp");
  ASSERT_EQ(count("status = 'held'"), 1);
  Config filled = config_with(replace(std::string(kTargets), "Alex Example MP,alex.example.mp@example.org",
                                      "Jo Elected MP,jo.elected.mp@example.org"));
  EXPECT_EQ(run(filled),
            "campaign c, target mp-cities: its row changed before letterd recorded rows; 1 letter(s) released, to "
            "send now\n");
  EXPECT_EQ(count("id = " + std::to_string(id) + " AND status = 'queued' AND recipient = 'jo.elected.mp@example.org'"),
            1);
}

TEST_F(RetargetStore, AnOrganisersReleaseOfALetterLetterdHeldStandsAtTheNextStart) {
  Config vacant = config_with(replace(std::string(kTargets), "E14001172,\n", "E14001172,vacant\n"));
  long long id = accept(vacant, 1, /*with_row=*/true, "mp");
  EXPECT_EQ(store_.release_held(id, kAt), Store::ReleaseResult::released);
  EXPECT_EQ(run(vacant), "");
  EXPECT_EQ(count("status = 'queued'"), 1) << "released as written: letterd does not hold it again";
}

TEST_F(RetargetStore, OneTargetsUnreadableRowLeavesTheOthersLettersResolved) {
  Config before = config_with(std::string(kTargets));
  store_.hold({}, "everything waits", std::nullopt, kAt);
  accept(before, 1);
  accept(before, 2, /*with_row=*/true, "mp");
  EXPECT_EQ(run(before), "");
  {
    SQLite::Database db(dir_.path("letterd.db"), SQLite::OPEN_READWRITE);
    SQLite::Statement damage(db, "UPDATE target_rows SET columns = 'damaged' WHERE fingerprint = ?");
    damage.bind(1, before.campaign("c")->targets->by_id("justice-secretary")->fingerprint);
    ASSERT_EQ(damage.exec(), 1);
  }
  Config after = config_with(
      replace(replace(std::string(kTargets), "Sam Sample MP", "Kim Newcomer MP"), "Alex Example MP", "Jo Elected MP"));
  int failed = 0;
  std::string log = run(after, &failed);
  EXPECT_EQ(failed, 1);
  EXPECT_NE(log.find("campaign c, target justice-secretary: its waiting letters cannot be resolved again ("),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("campaign c, target mp-cities: its row changed: name; 1 letter(s) rendered again"),
            std::string::npos)
      << log;
}

}  // namespace
}  // namespace letterd
