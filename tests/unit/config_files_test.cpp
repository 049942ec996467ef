// read_config_files and load_config: what reading the files a config names
// adds to its text. Every file comes from memory (MemoryFiles) except in the
// last tests, which read the real disk as the daemon does.
#include "config_files.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "config_fixture.h"

namespace letterd {
namespace {

using namespace letterd::testing;

// ---------------------------------------------------------------- templates and targets

TEST_F(ConfigTest, AWindowReadsItsZoneAndHolidaysAndALettersOwnWindowComesFirst) {
  write("holidays.ics", "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20261225\nEND:VEVENT\nEND:VCALENDAR\n");
  std::string text = replace(std::string(kGoodConfig), "    per_target: { per_hour: 30 }\n",
                             "    per_target: { per_hour: 30 }\n"
                             "    window: { days: Mon-Fri, hours: \"09:00-17:30\", timezone: Europe/London, "
                             "holidays: holidays.ics }\n");
  text = replace(text, "to: { target: justice-secretary } }",
                 "to: { target: justice-secretary }, window: { hours: \"08:00-09:00\", timezone: UTC } }");
  Config cfg = load_ok(text);
  const CampaignConfig* c = cfg.campaign("c");
  const SendingWindow* mp = c->window_for("mp");
  ASSERT_NE(mp, nullptr);
  EXPECT_EQ(mp->zone_name, "Europe/London");
  EXPECT_EQ(mp->holidays.size(), 1u);
  EXPECT_FALSE(mp->open_at(*parse_rfc3339("2026-12-25T10:00:00Z"))) << "Christmas Day, from the file";
  EXPECT_TRUE(mp->open_at(*parse_rfc3339("2026-12-24T10:00:00Z")));
  const SendingWindow* minister = c->window_for("justice-secretary");
  ASSERT_NE(minister, nullptr);
  EXPECT_EQ(minister->zone_name, "UTC");
  EXPECT_TRUE(minister->open_at(*parse_rfc3339("2026-12-26T08:30:00Z"))) << "every day, its own hours";
  EXPECT_EQ(cfg.campaign("d")->window_for("mp"), nullptr) << "no window: any time";
}

TEST_F(ConfigTest, AWindowsMistakesNameTheirKeys) {
  write("holidays.txt", "2026-12-25\n26/12/2026\n");
  Problems problems = load_bad(replace(std::string(kGoodConfig), "    per_target: { per_hour: 30 }\n",
                                       "    per_target: { per_hour: 30 }\n"
                                       "    window: { days: Mon-Fry, hours: \"17:30-09:00\", timezone: Europe/Londn, "
                                       "holidays: holidays.txt }\n"));
  std::vector<std::string> said = texts(problems);
  EXPECT_EQ(said, (std::vector<std::string>{
                      "campaigns.c.window.days: 'Mon-Fry' is not days of the week (Mon-Fri, or Mon,Wed,Fri)",
                      "campaigns.c.window.hours: '17:30-09:00' is not opening hours (09:00-17:30)",
                      "campaigns.c.window.timezone: 'Europe/Londn' is no time zone in the tz database (Europe/London)",
                      "campaigns.c.window.holidays: " + path("holidays.txt") + ": line 2: not a date (YYYY-MM-DD)",
                  }))
      << "every mistake is said at once";
}

TEST_F(ConfigTest, ReviewRulesAreReadAndTheirMistakesNamed) {
  Config cfg = load_ok(replace(std::string(kGoodConfig), "    per_target: { per_hour: 30 }\n",
                               "    per_target: { per_hour: 30 }\n"
                               "    review: { same_note: 5, similar_note: 0.8, per_postcode_day: 10 }\n"));
  ASSERT_TRUE(cfg.campaign("c")->review);
  EXPECT_EQ(*cfg.campaign("c")->review, (ReviewRules{.same_note = 5, .similar_note = 0.8, .per_postcode_day = 10}));
  EXPECT_FALSE(cfg.campaign("d")->review);

  Problems problems = load_bad(replace(std::string(kGoodConfig), "    per_target: { per_hour: 30 }\n",
                                       "    per_target: { per_hour: 30 }\n"
                                       "    review: { same_note: 0, similar_note: 80, per_postcode: 10 }\n"));
  EXPECT_EQ(texts(problems), (std::vector<std::string>{
                                 "campaigns.c.review.same_note: must be a whole number from 1 to 1000000",
                                 "campaigns.c.review.similar_note: must be a number above 0 and at most 1 (0.8: 80 % "
                                 "alike)",
                                 "campaigns.c.review.per_postcode: unknown key",
                             }));
}

TEST_F(ConfigTest, AHolidaysFileItCannotReadNamesTheKeyFileAndLine) {
  write("holidays.txt", "2026-12-25\n26/12/2026\n");
  Problems problems = load_bad(replace(std::string(kGoodConfig), "    per_target: { per_hour: 30 }\n",
                                       "    per_target: { per_hour: 30 }\n"
                                       "    window: { timezone: Europe/London, holidays: holidays.txt }\n"));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].text(),
            "campaigns.c.window.holidays: " + path("holidays.txt") + ": line 2: not a date (YYYY-MM-DD)");
}

TEST_F(ConfigTest, CampaignsGetTheirTargetsFromTheirFile) {
  Config cfg = load_ok(std::string(kGoodConfig));
  const CampaignConfig* c = cfg.campaign("c");
  ASSERT_NE(c, nullptr);
  ASSERT_NE(c->targets, nullptr);
  EXPECT_EQ(c->targets->size(), 3u);
  ASSERT_NE(c->targets->by_id("justice-secretary"), nullptr);
  EXPECT_EQ(c->targets->by_id("justice-secretary")->email(), "justice.secretary@example.org");
}

TEST_F(ConfigTest, LettersGetTheirTemplatesFromTheirFiles) {
  Config cfg = load_ok(std::string(kGoodConfig));
  const CampaignConfig* c = cfg.campaign("c");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->letters.size(), 2u);
  Problems problems;
  ASSERT_NE(c->letters[0].templ, nullptr);
  EXPECT_EQ(c->letters[0].templ->subject.render({{"target.name", "Alex Example MP"}}, problems),
            "Please support legal advocacy, Alex Example MP");
  ASSERT_NE(c->letters[1].templ, nullptr);
  EXPECT_EQ(c->letters[1].templ->subject.render({}, problems), "Free and independent legal advocacy");
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(texts(problems));
}

TEST_F(ConfigTest, TemplateNamesForACampaignFollowItsTargetsColumns) {
  Config cfg = load_ok(std::string(kGoodConfig));
  NameRules rules = template_names_for(*cfg.campaign("c"));
  for (const char* name :
       {"supporter.name", "supporter.email", "supporter.postcode", "supporter.address", "target.id", "target.name",
        "target.email", "target.constituency", "campaign.name", "personal_note", "submission.id", "fields.anything"})
    EXPECT_TRUE(rules.allows(name)) << name;
  for (const char* name : {"target.party", "supporter.phone", "fields.", "fields", "campaign.from", "note"})
    EXPECT_FALSE(rules.allows(name)) << name;
}

TEST_F(ConfigTest, MissingTemplateFileNamesTheKeyAndTheFile) {
  Problems problems = load_bad(replace(std::string(kGoodConfig), "templates/mp.txt", "templates/nope.txt"));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].text(), "campaigns.c.letters.mp.template: no such file (" + path("templates/nope.txt") + ")");
}

TEST_F(ConfigTest, ByConstituencyNeedsAConstituencyColumn) {
  write("targets/ministers.csv", "id,name,email\njustice-secretary,Justice Secretary,js@example.org\n");
  Problems problems = load_bad(replace(std::string(kGoodConfig), "targets: targets/mps.csv\n    per_target",
                                       "targets: targets/ministers.csv\n    per_target"));
  ASSERT_EQ(problems.size(), 2u) << ::testing::PrintToString(texts(problems));
  // mp.txt uses target.constituency, which these targets lack, and the letter picks by constituency.
  EXPECT_EQ(problems[0].text(),
            "campaigns.c.letters.mp.template: " + path("templates/mp.txt") + ":6: unknown name target.constituency");
  EXPECT_EQ(problems[1].where, "campaigns.c.letters.mp.to.by");
}

TEST_F(ConfigTest, TargetsProblemsAreReportedWithFileAndLine) {
  write("targets/mps.csv", std::string(kTargetsCsv) + "mp-broken,Broken MP,not-an-address,Nowhere\n");
  Problems problems = load_bad(std::string(kGoodConfig));
  // Both campaigns load the same file: each reports it.
  ASSERT_EQ(problems.size(), 2u) << ::testing::PrintToString(texts(problems));
  EXPECT_EQ(problems[0].text(), path("targets/mps.csv") + ":5: email 'not-an-address' is not a valid address");
}

TEST_F(ConfigTest, TemplateWithUnknownNameIsReportedWithFileAndLine) {
  write("templates/typo.txt",
        "---\n"
        "subject: About {{campaign.nmae}}\n"
        "---\n"
        "Dear {{target.name}},\n"
        "\n"
        "{{supporter.nmae}}\n"
        "{{#fields.extra}}{{fields.extra}}{{/fields.extra}}\n");
  Problems problems = load_bad(replace(std::string(kGoodConfig), "templates/mp.txt", "templates/typo.txt"));
  const std::string file = path("templates/typo.txt");
  EXPECT_EQ(texts(problems), (std::vector<std::string>{
                                 "campaigns.c.letters.mp.template: " + file + ":2: unknown name campaign.nmae",
                                 "campaigns.c.letters.mp.template: " + file + ":6: unknown name supporter.nmae",
                             }));
}

TEST_F(ConfigTest, TemplateWithUnbalancedSectionIsReportedWithFileAndLine) {
  write("templates/unbalanced.txt",
        "---\n"
        "subject: Hello\n"
        "---\n"
        "Dear {{target.name}},\n"
        "{{#personal_note}}\n"
        "{{personal_note}}\n");
  Problems problems = load_bad(replace(std::string(kGoodConfig), "templates/mp.txt", "templates/unbalanced.txt"));
  EXPECT_EQ(texts(problems),
            (std::vector<std::string>{"campaigns.c.letters.mp.template: " + path("templates/unbalanced.txt") +
                                      ":5: section personal_note is never closed"}));
}

// What `letterd check` lists in one run: the text's problems and those only
// the named files show (8, a target the targets file lacks).
TEST_F(ConfigTest, EveryProblemIsReportedTogether) {
  std::string text(kGoodConfig);
  text = replace(text, "log_level: debug\n", "log_level: debug\ncolour: blue\n");  // 1
  text = replace(text, "first: 30s", "first: 5 minutes");                          // 2
  text = replace(text, "    password_file: secrets/main.secret\n",
                 "    password_file: secrets/main.secret\n    password: hunter2\n");                            // 3
  text = replace(text, "tls: opportunistic", "tls: none");                                                      // 4
  text = replace(text, "    relay: main\n", "    relay: mian\n");                                               // 5
  text = replace(text, "mp: { template:", "mp: { tempalte:");                                                   // 6, 7
  text = replace(text, "to: { target: justice-secretary } }\n  d:", "to: { target: home-secretary } }\n  d:");  // 8
  text = replace(text, "from: { address: other@example.org }", "from: { address: other@example.org, nmae: x }");  // 9
  Problems problems = load_bad(text);
  std::vector<std::string> got = wheres(problems);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{
                     "campaigns.c.letters.justice-secretary.to.target",
                     "campaigns.c.letters.mp.tempalte",
                     "campaigns.c.letters.mp.template",
                     "campaigns.c.relay",
                     "campaigns.d.from.nmae",
                     "colour",
                     "relays.backup.tls",
                     "relays.main.password",
                     "retry.first",
                 }))
      << ::testing::PrintToString(texts(problems));
  EXPECT_EQ(problems.size(), 9u);
}

// ---------------------------------------------------------------- passwords

TEST_F(ConfigTest, PasswordsAreReadIntoTheirRelays) {
  Config cfg = load_ok(std::string(kGoodConfig));
  // The file's line end is no part of the password.
  EXPECT_EQ(cfg.relays.at("main").password, "not-a-real-password");
  EXPECT_EQ(cfg.relays.at("backup").password, "backup-password");
}

TEST_F(ConfigTest, APasswordFileWrittenOnWindowsKeepsItsSpacesButNotItsLineEnd) {
  write("secrets/main.secret", " correct horse \r\nsecond line\r\n");
  Config cfg = load_ok(std::string(kGoodConfig));
  EXPECT_EQ(cfg.relays.at("main").password, " correct horse ");
}

// As ssh refuses a loose key, and `letterd check` says so too.
TEST_F(ConfigTest, APasswordFileOthersCanReadIsRefused) {
  files_.modes[path("secrets/main.secret")] = 0640;
  for (Passwords passwords : {Passwords::read, Passwords::check_only}) {
    Problems problems = load_bad(std::string(kGoodConfig), passwords);
    EXPECT_EQ(texts(problems), (std::vector<std::string>{"relays.main.password_file: " + path("secrets/main.secret") +
                                                         " is readable by group or others (mode 0640): chmod 600 it"}));
  }
}

TEST_F(ConfigTest, AnEmptyOrUnreadablePasswordFileNamesTheKeyAndTheFile) {
  write("secrets/main.secret", "\nnot-the-password\n");
  EXPECT_EQ(texts(load_bad(std::string(kGoodConfig))),
            (std::vector<std::string>{"relays.main.password_file: " + path("secrets/main.secret") + " is empty"}));

  files_.texts.erase(path("secrets/main.secret"));
  files_.modes[path("secrets/main.secret")] = 0600;  // there, but not for this user
  EXPECT_EQ(texts(load_bad(std::string(kGoodConfig))),
            (std::vector<std::string>{"relays.main.password_file: cannot read " + path("secrets/main.secret")}));
}

TEST_F(ConfigTest, APasswordEnvThatIsNotSetNamesTheVariable) {
  files_.env.erase("LETTERD_BACKUP_PASSWORD");
  EXPECT_EQ(texts(load_bad(std::string(kGoodConfig))),
            (std::vector<std::string>{"relays.backup.password_env: $LETTERD_BACKUP_PASSWORD is not set"}));
}

TEST_F(ConfigTest, APasswordCanBeReadFromASystemdCredential) {
  const std::string text =
      replace(std::string(kGoodConfig), "password_file: secrets/main.secret", "password_credential: main");
  files_.env["CREDENTIALS_DIRECTORY"] = "/run/credentials/letterd.service";
  files_.texts["/run/credentials/letterd.service/main"] = "from-the-credential\n";
  EXPECT_EQ(load_ok(text).relays.at("main").password, "from-the-credential");

  files_.env.erase("CREDENTIALS_DIRECTORY");
  EXPECT_EQ(texts(load_bad(text)), (std::vector<std::string>{"relays.main.password_credential: $CREDENTIALS_DIRECTORY "
                                                             "is not set (LoadCredential=main:... in the unit)"}));
}

// `letterd check` and the organiser's other commands run in a shell that has
// neither the unit's Environment= nor its credentials, and send nothing.
TEST_F(ConfigTest, CheckingReadsNoPasswordAndNeedsNoneOfTheServicesEnvironment) {
  const std::string text =
      replace(std::string(kGoodConfig), "password_file: secrets/main.secret", "password_credential: main");
  files_.env.clear();
  Config cfg = load_ok(text, Passwords::check_only);
  EXPECT_EQ(cfg.relays.at("main").password, "");
  EXPECT_EQ(cfg.relays.at("backup").password, "");
  EXPECT_EQ(load_ok(std::string(kGoodConfig), Passwords::check_only).relays.at("main").password, "");

  // Where the service's credentials are (ExecStartPre), a missing one is a problem.
  files_.env["CREDENTIALS_DIRECTORY"] = "/run/credentials/letterd.service";
  EXPECT_EQ(texts(load_bad(text, Passwords::check_only)),
            (std::vector<std::string>{
                "relays.main.password_credential: no such credential (/run/credentials/letterd.service/main)"}));
}

// A reload keeps a relay's sessions when its settings are unchanged; a new
// password must start new ones, or letterd would go on logging in with the old.
TEST_F(ConfigTest, ANewPasswordChangesTheRelay) {
  Config before = load_ok(std::string(kGoodConfig));
  EXPECT_TRUE(load_ok(std::string(kGoodConfig)).relays.at("main") == before.relays.at("main"));
  write("secrets/main.secret", "a-new-password\n");
  EXPECT_FALSE(load_ok(std::string(kGoodConfig)).relays.at("main") == before.relays.at("main"));
}

// ---------------------------------------------------------------- the real disk, and the repository's own files

// The one test of load_config on a disk: the config file, then every file it
// names, with the password read into the relay.
TEST(ConfigFiles, LoadConfigReadsTheFileAndEveryFileItNames) {
  TempDir dir;
  dir.write("letterd.yaml", replace(std::string(kGoodConfig), "password_env: LETTERD_BACKUP_PASSWORD",
                                    "password_file: secrets/main.secret"));
  dir.write("targets/mps.csv", kTargetsCsv);
  dir.write("templates/mp.txt", kMpTemplate);
  dir.write("templates/justice-secretary.txt", kJusticeTemplate);
  dir.write("secrets/main.secret", "not-a-real-password\n");
  std::filesystem::permissions(dir.path("secrets/main.secret"),
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  Problems problems;
  auto config = load_config(dir.path("letterd.yaml"), problems);
  ASSERT_TRUE(config.has_value()) << ::testing::PrintToString(texts(problems));
  EXPECT_EQ(config->queue_dir, dir.path("spool"));
  EXPECT_EQ(config->campaign("c")->targets->size(), 3u);
  EXPECT_NE(config->campaign("c")->letters[0].templ, nullptr);
  EXPECT_EQ(config->relays.at("backup").password, "not-a-real-password");

  std::filesystem::permissions(dir.path("secrets/main.secret"), std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  EXPECT_FALSE(load_config(dir.path("letterd.yaml"), problems).has_value());
}

TEST(ConfigFiles, LoadConfigOfAMissingFile) {
  Problems problems;
  EXPECT_FALSE(load_config("/test/letterd/absent.yaml", problems).has_value());
  EXPECT_EQ(texts(problems), (std::vector<std::string>{"/test/letterd/absent.yaml: cannot read the config file"}));
}

TEST(ConfigFiles, RepositoryTemplatesAndTargetsLoadWithoutProblems) {
  const std::string root = LETTERD_SOURCE_DIR;
  const std::string text =
      "queue_dir: spool\n"
      "database: letterd.db\n"
      "relays:\n"
      "  main:\n"
      "    url: smtp://smtp.example.org:587\n"
      "    username: letters@example.org\n"
      "    password_env: LETTERD_PASSWORD\n"
      "campaigns:\n"
      "  legal-advocacy:\n"
      "    relay: main\n"
      "    from: { address: letters@example.org, name: \"{{supporter.name}} via Example Campaign\" }\n"
      "    require: [postcode, address]\n"
      "    targets: " +
      root +
      "/config/targets/uk-mps.csv\n"
      "    letters:\n"
      "      mp: { template: " +
      root +
      "/templates/mp.txt, to: { by: constituency } }\n"
      "      justice-secretary: { template: " +
      root + "/templates/justice-secretary.txt, to: { target: justice-secretary } }\n";
  Problems load_problems;
  auto cfg = load_config_text(text, root + "/letterd.yaml", system_files(), Passwords::check_only, load_problems);
  ASSERT_TRUE(cfg.has_value()) << ::testing::PrintToString(texts(load_problems));
  const CampaignConfig* c = cfg->campaign("legal-advocacy");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->letters.size(), 2u);
  EXPECT_EQ(c->letters[0].template_path, root + "/templates/mp.txt");
  EXPECT_EQ(c->letters[1].template_path, root + "/templates/justice-secretary.txt");
  EXPECT_EQ(c->targets->size(), 7u);
  ASSERT_NE(c->letters[0].templ, nullptr);
  Problems problems;
  EXPECT_EQ(c->letters[0].templ->subject.render({}, problems),
            "Please support free and independent legal advocacy for sexual offence complainants");
  EXPECT_EQ(c->letters[1].templ->subject.render({}, problems),
            "Free and independent legal advocacy for sexual offence complainants");
}

TEST(ConfigFiles, RepositoryExampleConfigIsValidApartFromItsSecretFile) {
  const std::string file = std::string(LETTERD_SOURCE_DIR) + "/config/letterd.yaml";
  Problems from_text;
  EXPECT_TRUE(parse_config(read_file(file), file, from_text).has_value()) << ::testing::PrintToString(texts(from_text));
  Problems problems;
  auto config = load_config(file, problems, Passwords::check_only);
  if (std::filesystem::exists("/etc/letterd/main.secret")) {
    EXPECT_TRUE(config.has_value()) << ::testing::PrintToString(texts(problems));
  } else {
    // The sample points at /etc/letterd/main.secret, which a build machine lacks.
    EXPECT_EQ(texts(problems),
              (std::vector<std::string>{"relays.main.password_file: no such file (/etc/letterd/main.secret)"}));
  }
}

}  // namespace
}  // namespace letterd
