// plan_messages: a parsed submission checked against its campaign and
// rendered into letters, with a config, targets and templates from memory;
// then the repository's example queue files against its sample config.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "config.h"
#include "config_files.h"
#include "submission.h"
#include "submission_fixture.h"
#include "test_support.h"

namespace letterd {
namespace {

using namespace letterd::testing;

constexpr std::string_view kMpTemplate =
    "---\n"
    "subject: Legal advocacy in {{target.constituency}}\n"
    "---\n"
    "Dear {{target.name}},\n"
    "\n"
    "My name is {{supporter.name}} and I'm writing as your constituent.\n"
    "{{#personal_note}}\n"
    "\n"
    "{{personal_note}}\n"
    "{{/personal_note}}\n"
    "\n"
    "Yours sincerely,\n"
    "{{supporter.name}}\n";

constexpr std::string_view kJusticeTemplate =
    "---\n"
    "subject: Free and independent legal advocacy\n"
    "---\n"
    "Dear {{target.name}},\n"
    "\n"
    "{{supporter.name}}\n"
    "{{#supporter.postcode}}\n"
    "{{supporter.postcode}}\n"
    "{{/supporter.postcode}}\n"
    "{{#fields.group}}\n"
    "Member of {{fields.group}}\n"
    "{{/fields.group}}\n"
    "Ref {{submission.id}} ({{campaign.name}})\n";

constexpr std::string_view kPostcodeTemplate =
    "---\n"
    "subject: Hello\n"
    "---\n"
    "From {{supporter.name}}, {{supporter.postcode}}\n";

constexpr std::string_view kConfig = R"(queue_dir: spool
database: letterd.db
relays:
  main:
    url: smtp://smtp.example.org:587
campaigns:
  legal-advocacy:
    relay: main
    from: { address: letters@example.org, name: "{{supporter.name}} via Example Campaign" }
    reply_to: supporter
    copy_to_supporter: bcc
    targets: targets.csv
    letters:
      mp: { template: mp.txt, to: { by: constituency } }
      justice-secretary: { template: justice-secretary.txt, to: { target: justice-secretary } }
  legal-advocacy-test:
    relay: main
    from: { address: letters@example.org, name: "{{supporter.name}} via Example Campaign" }
    reply_to: supporter
    copy_to_supporter: bcc
    mode: reflect
    targets: targets.csv
    letters:
      mp: { template: mp.txt, to: { by: constituency } }
      justice-secretary: { template: justice-secretary.txt, to: { target: justice-secretary } }
  quiet:
    relay: main
    from: { address: letters@example.org }
    reply_to: none
    copy_to_supporter: none
    require_authorisation: false
    require: [postcode, address]
    targets: targets.csv
    letters:
      justice-secretary: { template: justice-secretary.txt, to: { target: justice-secretary } }
  postcode:
    relay: main
    from: { address: letters@example.org }
    require_authorisation: false
    targets: targets.csv
    letters:
      minister: { template: postcode.txt, to: { target: justice-secretary } }
)";

// The config above with its targets and templates, all from memory.
class PlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MemoryFiles files;
    files.texts = {{"/test/letterd/targets.csv", std::string(kTargetsCsv)},
                   {"/test/letterd/mp.txt", std::string(kMpTemplate)},
                   {"/test/letterd/justice-secretary.txt", std::string(kJusticeTemplate)},
                   {"/test/letterd/postcode.txt", std::string(kPostcodeTemplate)}};
    Problems problems;
    auto config =
        load_config_text(std::string(kConfig), "/test/letterd/letterd.yaml", files.source(), Passwords::read, problems);
    ASSERT_TRUE(config.has_value()) << ::testing::PrintToString(texts(problems));
    config_ = std::move(*config);
  }

  std::vector<PlannedMessage> plan_ok(std::string_view json) {
    Submission s = parse_ok(json);
    Problems problems;
    auto planned = plan_messages(s, config_, problems);
    EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(texts(problems));
    if (!planned) throw std::runtime_error("plan failed");
    return std::move(*planned);
  }

  Problems plan_bad(std::string_view json) {
    Submission s = parse_ok(json);
    Problems problems;
    EXPECT_FALSE(plan_messages(s, config_, problems).has_value());
    EXPECT_FALSE(problems.empty());
    return problems;
  }

  Config config_;
};

const std::set<std::string> kTargetAddresses{"alex.example.mp@example.org", "robin.fictional.mp@example.org",
                                             "justice.secretary@example.org"};

TEST_F(PlanTest, SpecExampleYieldsBothLetters) {
  auto planned = plan_ok(kSpecJson);
  ASSERT_EQ(planned.size(), 2u);

  const PlannedMessage& mp = planned[0];
  EXPECT_EQ(mp.letter, "mp");
  EXPECT_EQ(mp.target_id, "mp-cities-of-london-and-westminster");
  EXPECT_EQ(mp.to.display_name, "Alex Example MP");
  EXPECT_EQ(mp.to.address, "alex.example.mp@example.org");
  EXPECT_EQ(mp.from.display_name, "Jane Doe via Example Campaign");
  EXPECT_EQ(mp.from.address, "letters@example.org");
  EXPECT_EQ(mp.subject, "Legal advocacy in Cities of London and Westminster");
  EXPECT_EQ(mp.body,
            "Dear Alex Example MP,\n"
            "\n"
            "My name is Jane Doe and I'm writing as your constituent.\n"
            "\n"
            "As a person who works with survivors of sexual violence, I ...\n"
            "\n"
            "Yours sincerely,\n"
            "Jane Doe\n");
  EXPECT_FALSE(mp.reflect);

  const PlannedMessage& js = planned[1];
  EXPECT_EQ(js.letter, "justice-secretary");
  EXPECT_EQ(js.target_id, "justice-secretary");
  EXPECT_EQ(js.to.display_name, "Justice Secretary");
  EXPECT_EQ(js.to.address, "justice.secretary@example.org");
  EXPECT_EQ(js.subject, "Free and independent legal advocacy");
  EXPECT_EQ(js.body,
            "Dear Justice Secretary,\n"
            "\n"
            "Jane Doe\n"
            "SW1A 1AA\n"
            "Ref web-2026-000123 (legal-advocacy)\n");
}

TEST_F(PlanTest, RecipientsComeOnlyFromTargets) {
  // Addresses anywhere in the submission never become recipients.
  std::string json = replace(std::string(kSpecJson), "\"any_extra_key\": \"value a template may use\"",
                             "\"email\": \"attacker@example.com\", \"to\": \"attacker@example.com\"");
  for (const auto& m : plan_ok(json)) {
    EXPECT_TRUE(kTargetAddresses.count(m.to.address)) << m.to.address;
    EXPECT_EQ(m.copy_to, "jane@example.org");
    ASSERT_TRUE(m.reply_to.has_value());
    EXPECT_EQ(m.reply_to->address, "jane@example.org");
  }
}

TEST_F(PlanTest, AllLettersInConfigOrderWhenNoneAreNamed) {
  auto planned = plan_ok(kMinimalJson);
  ASSERT_EQ(planned.size(), 2u);
  EXPECT_EQ(planned[0].letter, "mp");
  EXPECT_EQ(planned[1].letter, "justice-secretary");
}

TEST_F(PlanTest, OnlyTheNamedLetters) {
  auto planned = plan_ok(replace(std::string(kSpecJson), "[\"mp\", \"justice-secretary\"]", "[\"justice-secretary\"]"));
  ASSERT_EQ(planned.size(), 1u);
  EXPECT_EQ(planned[0].letter, "justice-secretary");
  EXPECT_EQ(planned[0].to.address, "justice.secretary@example.org");
}

TEST_F(PlanTest, ConstituencyMatchesCaseInsensitivelyWithSpacesFolded) {
  auto planned = plan_ok(replace(std::string(kSpecJson), "\"Cities of London and Westminster\"",
                                 "\"  cities OF london   and westminster \""));
  ASSERT_EQ(planned.size(), 2u);
  EXPECT_EQ(planned[0].target_id, "mp-cities-of-london-and-westminster");
  EXPECT_EQ(planned[0].to.address, "alex.example.mp@example.org");
  // Templates see the target's own spelling, not the supporter's.
  EXPECT_EQ(planned[0].subject, "Legal advocacy in Cities of London and Westminster");
}

TEST_F(PlanTest, UnknownConstituency) {
  Problems problems =
      plan_bad(replace(std::string(kSpecJson), "\"Cities of London and Westminster\"", "\"Atlantis North\""));
  ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(texts(problems));
  EXPECT_EQ(problems[0].where, "constituency");
  // The problem, not the supporter's words: the .error file is read by others.
  EXPECT_EQ(problems[0].what, "matches none of the campaign's targets");
}

TEST_F(PlanTest, NoConstituencyNorTargetForAConstituencyLetter) {
  Problems problems =
      plan_bad(replace(std::string(kSpecJson), "\"constituency\": \"Cities of London and Westminster\",\n", ""));
  EXPECT_EQ(wheres(problems), (std::vector<std::string>{"constituency"}));
}

TEST_F(PlanTest, ConstituencyIsNotNeededForFixedTargetLetters) {
  auto planned =
      plan_ok(replace(replace(std::string(kSpecJson), "\"constituency\": \"Cities of London and Westminster\",\n", ""),
                      "[\"mp\", \"justice-secretary\"]", "[\"justice-secretary\"]"));
  ASSERT_EQ(planned.size(), 1u);
  EXPECT_EQ(planned[0].target_id, "justice-secretary");
}

TEST_F(PlanTest, TargetNamingANonTargetId) {
  Problems problems = plan_bad(replace(std::string(kSpecJson), "\"constituency\": \"Cities of London and Westminster\"",
                                       "\"target\": \"attacker@example.com\""));
  // Named, not quoted: what was written there is the submission's, not the campaign's.
  EXPECT_EQ(texts(problems), (std::vector<std::string>{"target: is not one of the campaign's targets"}));
}

TEST_F(PlanTest, TargetInsteadOfConstituency) {
  auto planned = plan_ok(replace(std::string(kSpecJson), "\"constituency\": \"Cities of London and Westminster\"",
                                 "\"target\": \"mp-bristol-central\""));
  ASSERT_EQ(planned.size(), 2u);
  EXPECT_EQ(planned[0].target_id, "mp-bristol-central");
  EXPECT_EQ(planned[0].to.address, "robin.fictional.mp@example.org");
  EXPECT_EQ(planned[0].subject, "Legal advocacy in Bristol Central");
  EXPECT_EQ(planned[1].target_id, "justice-secretary");
}

TEST_F(PlanTest, TargetAndConstituencyThatDisagree) {
  Problems problems = plan_bad(replace(std::string(kSpecJson), "\"constituency\": \"Cities of London and Westminster\"",
                                       "\"constituency\": \"Cities of London and Westminster\", "
                                       "\"target\": \"mp-bristol-central\""));
  EXPECT_EQ(wheres(problems), (std::vector<std::string>{"target"}));
}

TEST_F(PlanTest, CampaignRequiresPostcodeAndAddress) {
  std::string json = replace(replace(std::string(kMinimalJson), "legal-advocacy", "quiet"),
                             "\"constituency\": \"Cities of London and Westminster\",\n", "");
  Problems problems = plan_bad(json);
  EXPECT_EQ(wheres(problems), (std::vector<std::string>{"supporter.postcode", "supporter.address"}));
  // An empty value is no value.
  Problems empty = plan_bad(replace(json, "\"email\": \"jane@example.org\"",
                                    "\"email\": \"jane@example.org\", \"postcode\": \"\", \"address\": \"1 Street\""));
  EXPECT_EQ(wheres(empty), (std::vector<std::string>{"supporter.postcode"}));
  auto planned =
      plan_ok(replace(json, "\"email\": \"jane@example.org\"",
                      "\"email\": \"jane@example.org\", \"postcode\": \"SW1A 1AA\", \"address\": \"1 Street\""));
  EXPECT_EQ(planned.size(), 1u);
}

TEST_F(PlanTest, AuthorisationGivenFalse) {
  Problems problems = plan_bad(replace(std::string(kSpecJson), "\"given\": true", "\"given\": false"));
  EXPECT_EQ(wheres(problems), (std::vector<std::string>{"authorisation.given"}));
}

TEST_F(PlanTest, AuthorisationMissing) {
  Problems problems = plan_bad(replace(
      std::string(kMinimalJson), ",\n  \"authorisation\": { \"given\": true, \"at\": \"2026-11-24T10:00:00Z\" }", ""));
  EXPECT_EQ(wheres(problems), (std::vector<std::string>{"authorisation"}));
}

TEST_F(PlanTest, AuthorisationNotRequiredByCampaign) {
  auto planned = plan_ok(R"({ "campaign": "quiet",
    "supporter": { "name": "Jane Doe", "email": "jane@example.org", "postcode": "SW1A 1AA", "address": "1 Street" } })");
  EXPECT_EQ(planned.size(), 1u);
}

TEST_F(PlanTest, LetterNotInCampaign) {
  Problems problems =
      plan_bad(replace(std::string(kSpecJson), "[\"mp\", \"justice-secretary\"]", "[\"mp\", \"home-secretary\"]"));
  // The campaign's letters are named, never the name the submission gave.
  EXPECT_EQ(texts(problems),
            (std::vector<std::string>{"letters: names a letter campaign legal-advocacy does not have (it has mp, "
                                      "justice-secretary)"}));
}

TEST_F(PlanTest, UnknownCampaign) {
  Problems problems = plan_bad(replace(std::string(kSpecJson), "\"legal-advocacy\"", "\"legal-advocacyy\""));
  EXPECT_EQ(texts(problems), (std::vector<std::string>{"campaign: is not a campaign in the config"}));
}

TEST_F(PlanTest, EveryProblemIsReported) {
  std::string json = replace(std::string(kSpecJson), "\"given\": true", "\"given\": false");
  json = replace(json, "[\"mp\", \"justice-secretary\"]", "[\"mp\", \"home-secretary\"]");
  json = replace(json, "\"Cities of London and Westminster\"", "\"Atlantis North\"");
  Problems problems = plan_bad(json);
  EXPECT_EQ(wheres(problems), (std::vector<std::string>{"authorisation.given", "letters", "constituency"}))
      << ::testing::PrintToString(texts(problems));
}

TEST_F(PlanTest, ReflectModeSendsToTheSupporterMarkedAsATest) {
  auto live = plan_ok(kSpecJson);
  auto planned = plan_ok(replace(std::string(kSpecJson), "\"legal-advocacy\"", "\"legal-advocacy-test\""));
  ASSERT_EQ(planned.size(), 2u);
  for (std::size_t i = 0; i < planned.size(); ++i) {
    const PlannedMessage& m = planned[i];
    EXPECT_TRUE(m.reflect);
    EXPECT_EQ(m.to.address, "jane@example.org");
    EXPECT_EQ(m.to.display_name, "Jane Doe");
    EXPECT_EQ(m.subject, "[TEST] " + live[i].subject);
    EXPECT_EQ(m.target_id, live[i].target_id);
    // Nobody but the supporter gets a reflected letter: no copy, no Reply-To elsewhere.
    EXPECT_EQ(m.copy_to, "");
    EXPECT_FALSE(m.reply_to.has_value());
    // The letter itself is the one the target would get (the campaign's name aside).
    const std::string expected =
        i == 0 ? live[i].body : replace(live[i].body, "(legal-advocacy)", "(legal-advocacy-test)");
    EXPECT_NE(m.body.find(expected), std::string::npos) << m.body;
    // The supporter sees where the letter would have gone.
    EXPECT_NE(m.body.find(live[i].to.address), std::string::npos) << m.body;
  }
  EXPECT_EQ(planned[0].subject, "[TEST] Legal advocacy in Cities of London and Westminster");
}

TEST_F(PlanTest, CopyAndReplyToFollowTheCampaign) {
  auto planned = plan_ok(kSpecJson);
  ASSERT_EQ(planned.size(), 2u);
  EXPECT_EQ(planned[0].copy_to, "jane@example.org");
  ASSERT_TRUE(planned[0].reply_to.has_value());
  EXPECT_EQ(planned[0].reply_to->display_name, "Jane Doe");
  EXPECT_EQ(planned[0].reply_to->address, "jane@example.org");

  auto quiet = plan_ok(R"({ "campaign": "quiet",
    "supporter": { "name": "Jane Doe", "email": "jane@example.org", "postcode": "SW1A 1AA", "address": "1 Street" } })");
  ASSERT_EQ(quiet.size(), 1u);
  EXPECT_EQ(quiet[0].copy_to, "");
  EXPECT_FALSE(quiet[0].reply_to.has_value());
  // No from name configured: the From has only the address.
  EXPECT_EQ(quiet[0].from.display_name, "");
  EXPECT_EQ(quiet[0].from.address, "letters@example.org");
}

TEST_F(PlanTest, AbsentPersonalNoteLeavesNoGap) {
  auto planned = plan_ok(kMinimalJson);
  ASSERT_EQ(planned.size(), 2u);
  EXPECT_EQ(planned[0].body,
            "Dear Alex Example MP,\n"
            "\n"
            "My name is Jane Doe and I'm writing as your constituent.\n"
            "\n"
            "Yours sincerely,\n"
            "Jane Doe\n");
  for (const auto& m : planned) EXPECT_EQ(m.body.find("\n\n\n"), std::string::npos) << m.body;
  // Absent postcode and fields: their sections leave nothing either.
  EXPECT_EQ(planned[1].body, "Dear Justice Secretary,\n\nJane Doe\nRef web-2026-000123 (legal-advocacy)\n");
}

TEST_F(PlanTest, EmptyPersonalNoteLeavesNoGap) {
  auto planned =
      plan_ok(replace(std::string(kSpecJson), "As a person who works with survivors of sexual violence, I ...", ""));
  for (const auto& m : planned) EXPECT_EQ(m.body.find("\n\n\n"), std::string::npos) << m.body;
}

TEST_F(PlanTest, PersonalNoteKeepsItsParagraphsAndIsNotATemplate) {
  auto planned =
      plan_ok(replace(std::string(kSpecJson), "As a person who works with survivors of sexual violence, I ...",
                      "One.\\n\\nTwo {{target.email}}."));
  ASSERT_EQ(planned.size(), 2u);
  EXPECT_NE(planned[0].body.find("\n\nOne.\n\nTwo {{target.email}}.\n\nYours sincerely,"), std::string::npos)
      << planned[0].body;
}

TEST_F(PlanTest, FieldsReachTemplates) {
  auto planned = plan_ok(replace(std::string(kSpecJson), "\"any_extra_key\": \"value a template may use\"",
                                 "\"group\": \"Example Group\""));
  ASSERT_EQ(planned.size(), 2u);
  EXPECT_EQ(
      planned[1].body,
      "Dear Justice Secretary,\n\nJane Doe\nSW1A 1AA\nMember of Example Group\nRef web-2026-000123 (legal-advocacy)\n");
}

TEST_F(PlanTest, ValueMissingOutsideASectionIsAProblem) {
  Problems problems = plan_bad(R"({ "campaign": "postcode",
    "supporter": { "name": "Jane Doe", "email": "jane@example.org" } })");
  ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(texts(problems));
  EXPECT_NE(problems[0].text().find("no value for supporter.postcode"), std::string::npos) << problems[0].text();
  auto planned = plan_ok(R"({ "campaign": "postcode",
    "supporter": { "name": "Jane Doe", "email": "jane@example.org", "postcode": "BS1 5TR" } })");
  ASSERT_EQ(planned.size(), 1u);
  EXPECT_EQ(planned[0].body, "From Jane Doe, BS1 5TR\n");
}

// ---------------------------------------------------------------- the repository's own files

TEST(PlanRepositoryExamples, ExampleQueueFilesPlanAgainstTheExampleConfig) {
  const std::string root = LETTERD_SOURCE_DIR;
  // The sample config as shipped, but with a password from the environment:
  // its /etc/letterd/main.secret does not exist on a build machine.
  std::string text = replace(read_file(root + "/config/letterd.yaml"), "password_file: /etc/letterd/main.secret",
                             "password_env: LETTERD_MAIN_PASSWORD");
  Problems problems;
  auto config = load_config_text(text, root + "/config/letterd.yaml", system_files(), Passwords::check_only, problems);
  ASSERT_TRUE(config.has_value()) << ::testing::PrintToString(texts(problems));

  const TimePoint later = *parse_rfc3339("2026-12-01T00:00:00Z");
  // The examples' postcodes as config/postcodes-example.csv places them.
  PostcodeFinder postcodes = [](std::string_view text) {
    static const std::map<std::string, std::string> places = {
        {"SW1A 1AA", "E14001172"}, {"BS1 5TR", "E14001131"}, {"CF10 3ND", "W07000083"}};
    auto canonical = canonical_postcode(text);
    auto it = canonical ? places.find(*canonical) : places.end();
    if (it == places.end()) return PostcodeAnswer{.canonical = canonical, .problem = "not in the postcode lookup"};
    return PostcodeAnswer{.canonical = canonical, .place = PostcodePlace{it->second, std::nullopt}};
  };
  struct Expect {
    const char* file;
    std::vector<std::string> targets;
  };
  for (const Expect& e : {Expect{"web-2026-000123.json", {"mp-cities-of-london-and-westminster", "justice-secretary"}},
                          Expect{"web-2026-000124.yaml", {"mp-bristol-central", "justice-secretary"}},
                          Expect{"web-2026-000125.json", {"mp-cardiff-east"}}}) {
    SCOPED_TRACE(e.file);
    Submission s = parse_ok(read_file(root + "/queue/examples/" + e.file), e.file, later);
    Problems plan_problems;
    auto planned = plan_messages(s, *config, plan_problems, postcodes);
    ASSERT_TRUE(planned.has_value()) << ::testing::PrintToString(texts(plan_problems));
    std::vector<std::string> targets;
    for (const auto& m : *planned) {
      targets.push_back(m.target_id);
      EXPECT_EQ(m.body.find("\n\n\n"), std::string::npos) << m.body;
      EXPECT_EQ(m.body.find("{{"), std::string::npos) << m.body;
      EXPECT_EQ(m.copy_to, s.supporter_email);
      EXPECT_EQ(m.from.display_name, s.supporter_name + " via Example Campaign");
    }
    EXPECT_EQ(targets, e.targets);
  }
}

}  // namespace
}  // namespace letterd
