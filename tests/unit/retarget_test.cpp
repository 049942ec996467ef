// Targets that change, as the pure side decides it: a waiting letter
// resolved again against the targets as they are now goes to the member
// for its seat, greets a reshuffle's new minister, waits while a seat is
// vacant or its target has gone, and the log says so in one line a target.
#include "retarget.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace letterd
