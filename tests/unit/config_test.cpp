#include "config.h"

#include <gtest/gtest.h>

#include "test_support.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace letterd {
namespace {

namespace fs = std::filesystem;
using namespace letterd::testing;
using namespace std::chrono_literals;

constexpr std::string_view kMpTemplate =
    "---\n"
    "subject: Please support legal advocacy, {{target.name}}\n"
    "---\n"
    "Dear {{target.name}},\n"
    "\n"
    "I live in {{target.constituency}}.\n"
    "{{#personal_note}}\n"
    "\n"
    "{{personal_note}}\n"
    "{{/personal_note}}\n"
    "\n"
    "{{supporter.name}}\n";

constexpr std::string_view kJusticeTemplate =
    "---\n"
    "subject: Free and independent legal advocacy\n"
    "---\n"
    "Dear {{target.name}},\n"
    "\n"
    "{{supporter.name}}\n";

// A config exercising every section; each bad case below changes one thing.
constexpr std::string_view kGoodConfig = R"(queue_dir: spool
database: /var/lib/letterd/letterd.db
log_level: debug
queue:
  keep_accepted: true
  rescan: 10s
relays:
  main:
    url: smtp://smtp.example.org:587
    tls: required
    username: letters@example.org
    password_file: secrets/main.secret
    connections: 3
    timeout: 45s
    rate: { per_second: 5, per_minute: 200, per_hour: 2000, per_day: 10000 }
  backup:
    url: smtps://smtp2.example.org:465
    tls: opportunistic
    username: letters@example.org
    password_env: LETTERD_BACKUP_PASSWORD
retry: { first: 30s, max: 2h, lifetime: 5d }
campaigns:
  c:
    relay: main
    from: { address: letters@example.org, name: "{{supporter.name}} via Example Campaign" }
    reply_to: none
    copy_to_supporter: bcc
    require_authorisation: false
    allow_repeat: true
    mode: reflect
    require: [postcode, address]
    targets: targets/mps.csv
    per_target: { per_hour: 30 }
    letters:
      mp: { template: templates/mp.txt, to: { by: constituency } }
      justice-secretary: { template: templates/justice-secretary.txt, to: { target: justice-secretary } }
  d:
    relay: backup
    from: { address: other@example.org }
    targets: targets/mps.csv
    letters:
      only: { template: templates/justice-secretary.txt, to: { target: justice-secretary } }
retention:
  bodies: 7d
)";

// A fresh directory holding the config's targets, templates and secret.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write("targets/mps.csv", kTargetsCsv);
    write("templates/mp.txt", kMpTemplate);
    write("templates/justice-secretary.txt", kJusticeTemplate);
    write("secrets/main.secret", "not-a-real-password\n");
    fs::permissions(path("secrets/main.secret"), fs::perms::owner_read | fs::perms::owner_write);
  }
  void write(const std::string& relative, std::string_view text) { dir_.write(relative, text); }
  std::string path(const std::string& relative) const { return dir_.path(relative); }
  std::string config_path() const { return path("letterd.yaml"); }

  Config parse_ok(const std::string& text) {
    Problems problems;
    auto config = parse_config(text, config_path(), problems);
    EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(texts(problems));
    if (!config) throw std::runtime_error("config did not parse");
    return std::move(*config);
  }

  Problems parse_bad(const std::string& text) {
    Problems problems;
    EXPECT_FALSE(parse_config(text, config_path(), problems).has_value());
    EXPECT_FALSE(problems.empty());
    return problems;
  }

  TempDir dir_;
};

// ---------------------------------------------------------------- a good config

TEST_F(ConfigTest, TopLevelSettingsAndRelativePaths) {
  Config c = parse_ok(std::string(kGoodConfig));
  EXPECT_EQ(c.path, config_path());
  EXPECT_EQ(c.queue_dir, path("spool"));
  EXPECT_EQ(c.database, "/var/lib/letterd/letterd.db");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_TRUE(c.keep_accepted);
  EXPECT_EQ(c.rescan_interval, 10s);
  EXPECT_EQ(c.retention_bodies, 7 * 24h);
}

TEST_F(ConfigTest, RelaysLoadEverySetting) {
  Config c = parse_ok(std::string(kGoodConfig));
  ASSERT_EQ(c.relays.size(), 2u);
  const RelayConfig& main = c.relays.at("main");
  EXPECT_EQ(main.name, "main");
  EXPECT_EQ(main.url, "smtp://smtp.example.org:587");
  EXPECT_EQ(main.tls, TlsMode::required);
  EXPECT_EQ(main.username, "letters@example.org");
  EXPECT_EQ(main.password_file, path("secrets/main.secret"));
  EXPECT_EQ(main.password_env, "");
  EXPECT_EQ(main.ca_file, "");
  EXPECT_EQ(main.connections, 3);
  EXPECT_EQ(main.timeout, 45s);
  EXPECT_EQ(main.rate.per_second, 5);
  EXPECT_EQ(main.rate.per_minute, 200);
  EXPECT_EQ(main.rate.per_hour, 2000);
  EXPECT_EQ(main.rate.per_day, 10000);

  const RelayConfig& backup = c.relays.at("backup");
  EXPECT_EQ(backup.url, "smtps://smtp2.example.org:465");
  EXPECT_EQ(backup.tls, TlsMode::opportunistic);
  EXPECT_EQ(backup.password_file, "");
  EXPECT_EQ(backup.password_env, "LETTERD_BACKUP_PASSWORD");
  EXPECT_EQ(backup.connections, 1);
  EXPECT_EQ(backup.timeout, 60s);
  EXPECT_FALSE(backup.rate.any());
}

TEST_F(ConfigTest, RetryDurations) {
  Config c = parse_ok(std::string(kGoodConfig));
  EXPECT_EQ(c.retry.first, 30s);
  EXPECT_EQ(c.retry.max, 2h);
  EXPECT_EQ(c.retry.lifetime, 5 * 24h);
}

TEST_F(ConfigTest, RetryDefaultsWhenAbsent) {
  Config c = parse_ok(replace(std::string(kGoodConfig), "retry: { first: 30s, max: 2h, lifetime: 5d }\n", ""));
  EXPECT_EQ(c.retry.first, 1min);
  EXPECT_EQ(c.retry.max, 1h);
  EXPECT_EQ(c.retry.lifetime, 72h);
}

TEST_F(ConfigTest, CampaignSettings) {
  Config cfg = parse_ok(std::string(kGoodConfig));
  ASSERT_EQ(cfg.campaigns.size(), 2u);
  const CampaignConfig* c = cfg.campaign("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->name, "c");
  EXPECT_EQ(c->relay, "main");
  EXPECT_EQ(c->from_address, "letters@example.org");
  ASSERT_NE(c->from_name, nullptr);
  Problems problems;
  EXPECT_EQ(c->from_name->render({{"supporter.name", "Jane Doe"}}, problems), "Jane Doe via Example Campaign");
  EXPECT_FALSE(c->reply_to_supporter);
  EXPECT_TRUE(c->copy_to_supporter);
  EXPECT_FALSE(c->require_authorisation);
  EXPECT_TRUE(c->allow_repeat);
  EXPECT_EQ(c->mode, CampaignMode::reflect);
  EXPECT_EQ(c->require, (std::set<std::string>{"address", "postcode"}));
  EXPECT_EQ(c->targets_path, path("targets/mps.csv"));
  ASSERT_NE(c->targets, nullptr);
  EXPECT_EQ(c->targets->size(), 3u);
  EXPECT_EQ(c->per_target.per_hour, 30);
  EXPECT_FALSE(c->per_target.per_second.has_value());
  EXPECT_FALSE(c->per_target.per_day.has_value());

  EXPECT_EQ(cfg.campaign("nope"), nullptr);
}

TEST_F(ConfigTest, CampaignDefaults) {
  Config cfg = parse_ok(std::string(kGoodConfig));
  const CampaignConfig* d = cfg.campaign("d");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->relay, "backup");
  EXPECT_EQ(d->from_address, "other@example.org");
  EXPECT_TRUE(d->reply_to_supporter);
  EXPECT_FALSE(d->copy_to_supporter);
  EXPECT_TRUE(d->require_authorisation);
  EXPECT_FALSE(d->allow_repeat);
  EXPECT_EQ(d->mode, CampaignMode::live);
  EXPECT_TRUE(d->require.empty());
  EXPECT_FALSE(d->per_target.any());
}

TEST_F(ConfigTest, LettersKeepConfigOrderWithTheirTemplatesAndTargets) {
  Config cfg = parse_ok(std::string(kGoodConfig));
  const CampaignConfig* c = cfg.campaign("c");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->letters.size(), 2u);
  // "mp" comes first in the file though "justice-secretary" sorts first.
  EXPECT_EQ(c->letters[0].name, "mp");
  EXPECT_EQ(c->letters[1].name, "justice-secretary");

  const LetterConfig& mp = c->letters[0];
  EXPECT_TRUE(mp.by_constituency);
  EXPECT_EQ(mp.target_id, "");
  EXPECT_EQ(mp.template_path, path("templates/mp.txt"));
  ASSERT_NE(mp.templ, nullptr);
  Problems problems;
  EXPECT_EQ(mp.templ->subject.render({{"target.name", "Alex Example MP"}}, problems),
            "Please support legal advocacy, Alex Example MP");

  const LetterConfig& js = c->letters[1];
  EXPECT_FALSE(js.by_constituency);
  EXPECT_EQ(js.target_id, "justice-secretary");
  EXPECT_EQ(js.template_path, path("templates/justice-secretary.txt"));
  ASSERT_NE(js.templ, nullptr);
  EXPECT_EQ(js.templ->subject.render({}, problems), "Free and independent legal advocacy");
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(texts(problems));

  EXPECT_EQ(c->letter("justice-secretary"), &c->letters[1]);
  EXPECT_EQ(c->letter("mp"), &c->letters[0]);
  EXPECT_EQ(c->letter("MP"), nullptr);
}

TEST_F(ConfigTest, TemplateNamesForACampaign) {
  Config cfg = parse_ok(std::string(kGoodConfig));
  NameRules rules = template_names_for(*cfg.campaign("c"));
  for (const char* name : {"supporter.name", "supporter.email", "supporter.postcode", "supporter.address",
                           "target.id", "target.name", "target.email", "target.constituency", "campaign.name",
                           "personal_note", "submission.id", "fields.anything"})
    EXPECT_TRUE(rules.allows(name)) << name;
  for (const char* name : {"target.party", "supporter.phone", "fields.", "fields", "campaign.from", "note"})
    EXPECT_FALSE(rules.allows(name)) << name;
}

TEST_F(ConfigTest, LoadConfigReadsTheFile) {
  write("letterd.yaml", kGoodConfig);
  Problems problems;
  auto config = load_config(config_path(), problems);
  ASSERT_TRUE(config.has_value()) << ::testing::PrintToString(texts(problems));
  EXPECT_EQ(config->queue_dir, path("spool"));
  EXPECT_EQ(config->campaign("c")->letters.size(), 2u);
}

TEST_F(ConfigTest, LoadConfigOfAMissingFile) {
  Problems problems;
  EXPECT_FALSE(load_config(path("absent.yaml"), problems).has_value());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].where, path("absent.yaml"));
}

// ---------------------------------------------------------------- bad configs: one problem each

struct BadCase {
  const char* name;
  const char* from;  // text of kGoodConfig to replace
  const char* to;
  const char* where;  // the exact key path the problem names
  const char* what;   // a part of what it says
};

class BadConfigTest : public ConfigTest, public ::testing::WithParamInterface<BadCase> {};

TEST_P(BadConfigTest, ReportsExactlyOneProblemAtTheKeyPath) {
  const BadCase& bad = GetParam();
  Problems problems = parse_bad(replace(std::string(kGoodConfig), bad.from, bad.to));
  ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(texts(problems));
  EXPECT_EQ(problems[0].where, bad.where) << problems[0].text();
  EXPECT_NE(problems[0].what.find(bad.what), std::string::npos) << problems[0].text();
}

INSTANTIATE_TEST_SUITE_P(
    Config, BadConfigTest,
    ::testing::Values(
        BadCase{"UnknownTopLevelKey", "log_level: debug\n", "log_level: debug\ncolour: blue\n", "colour",
                "unknown key"},
        BadCase{"UnknownRelayKey", "    connections: 3\n", "    connections: 3\n    conections: 4\n",
                "relays.main.conections", "unknown key"},
        BadCase{"UnknownRateKey", "per_day: 10000 }", "per_day: 10000, per_week: 5 }", "relays.main.rate.per_week",
                "unknown key"},
        BadCase{"UnknownCampaignKey", "    allow_repeat: true\n", "    allow_repeat: true\n    alow_repeat: true\n",
                "campaigns.c.alow_repeat", "unknown key"},
        BadCase{"UnknownToKey", "to: { by: constituency }", "to: { by: constituency, fallback: x }",
                "campaigns.c.letters.mp.to.fallback", "unknown key"},
        BadCase{"UnknownRetentionKey", "  bodies: 7d\n", "  bodies: 7d\n  logs: 7d\n", "retention.logs",
                "unknown key"},
        BadCase{"UnknownQueueKey", "  rescan: 10s\n", "  rescan: 10s\n  keep_rejected: true\n",
                "queue.keep_rejected", "unknown key"},
        BadCase{"StringExpectedGotList", "queue_dir: spool\n", "queue_dir: [a, b]\n", "queue_dir",
                "must be a string"},
        BadCase{"NumberExpected", "connections: 3", "connections: many", "relays.main.connections",
                "whole number"},
        BadCase{"NumberOutOfRange", "connections: 3", "connections: 0", "relays.main.connections",
                "whole number from 1 to 64"},
        BadCase{"RateNotANumber", "per_minute: 200", "per_minute: lots", "relays.main.rate.per_minute",
                "whole number"},
        BadCase{"BooleanExpected", "require_authorisation: false", "require_authorisation: sometimes",
                "campaigns.c.require_authorisation", "true or false"},
        BadCase{"MapExpected", "    rate: { per_second: 5, per_minute: 200, per_hour: 2000, per_day: 10000 }\n",
                "    rate: 5\n", "relays.main.rate", "must be a map"},
        BadCase{"RequireNotAList", "require: [postcode, address]", "require: postcode",
                "campaigns.c.require", "must be a list"},
        BadCase{"RequireUnknownField", "require: [postcode, address]", "require: [postcode, phone]",
                "campaigns.c.require", "'phone'"},
        BadCase{"ChoiceNotAllowed", "mode: reflect", "mode: test", "campaigns.c.mode", "'test' is not one of"},
        BadCase{"ReplyToChoice", "reply_to: none", "reply_to: organiser", "campaigns.c.reply_to",
                "'organiser' is not one of"},
        BadCase{"LogLevelChoice", "log_level: debug", "log_level: verbose", "log_level",
                "'verbose' is not one of"},
        BadCase{"BadRetryDuration", "first: 30s", "first: 5 minutes", "retry.first",
                "'5 minutes' is not a duration"},
        BadCase{"BadTimeout", "timeout: 45s", "timeout: 45", "relays.main.timeout", "not a duration"},
        BadCase{"BadRetention", "bodies: 7d", "bodies: 1w", "retention.bodies", "not a duration"},
        BadCase{"RetryMaxBelowFirst", "max: 2h", "max: 10s", "retry.max", "shorter than retry.first"},
        BadCase{"RelayDoesNotExist", "    relay: main\n", "    relay: mian\n", "campaigns.c.relay",
                "no relay named 'mian'"},
        BadCase{"MissingTemplateFile", "templates/mp.txt", "templates/nope.txt",
                "campaigns.c.letters.mp.template", "no such file"},
        BadCase{"MissingTargetsFile", "targets: targets/mps.csv\n    per_target",
                "targets: targets/nope.csv\n    per_target", "campaigns.c.targets", "no such file"},
        BadCase{"TargetsNotCsvOrYaml", "targets: targets/mps.csv\n    per_target",
                "targets: templates/mp.txt\n    per_target", "campaigns.c.targets", ".csv, .yaml or .yml"},
        BadCase{"MissingPasswordFile", "password_file: secrets/main.secret", "password_file: secrets/nope.secret",
                "relays.main.password_file", "no such file"},
        BadCase{"LetterTargetNotInTargets", "to: { target: justice-secretary } }\n  d:",
                "to: { target: home-secretary } }\n  d:", "campaigns.c.letters.justice-secretary.to.target",
                "no target with id 'home-secretary'"},
        BadCase{"LetterWithoutTo", "mp: { template: templates/mp.txt, to: { by: constituency } }",
                "mp: { template: templates/mp.txt }", "campaigns.c.letters.mp.to", "is required"},
        BadCase{"LetterWithBothByAndTarget", "to: { by: constituency }",
                "to: { by: constituency, target: justice-secretary }", "campaigns.c.letters.mp.to",
                "not both"},
        BadCase{"InlinePasswordRefused", "    password_file: secrets/main.secret\n",
                "    password_file: secrets/main.secret\n    password: hunter2\n", "relays.main.password",
                "never inline"},
        BadCase{"TlsNoneWithSmtps", "tls: opportunistic", "tls: none", "relays.backup.tls", "smtps://"},
        BadCase{"UrlScheme", "url: smtp://smtp.example.org:587", "url: http://smtp.example.org:587",
                "relays.main.url", "smtp:// or smtps://"},
        // libcurl would refuse each of these only when sending, pausing the relay for ever.
        BadCase{"UrlPortOutOfRange", "url: smtp://smtp.example.org:587", "url: smtp://smtp.example.org:99999",
                "relays.main.url", "Port number"},
        BadCase{"UrlPortZero", "url: smtp://smtp.example.org:587", "url: smtp://smtp.example.org:0",
                "relays.main.url", "port 0"},
        BadCase{"UrlWithoutHost", "url: smtp://smtp.example.org:587", "url: smtp://:587", "relays.main.url",
                "no host"},
        BadCase{"UrlWithACarriageReturn", "url: smtp://smtp.example.org:587",
                "url: \"smtp://smtp.example.org\\r\\nRCPT TO:<x@example.org>:587\"", "relays.main.url",
                "control character"},
        BadCase{"UrlWithAUserName", "url: smtp://smtp.example.org:587",
                "url: smtp://letters@smtp.example.org:587", "relays.main.url", "holds a user name or password"},
        BadCase{"UrlWithAQuery", "url: smtp://smtp.example.org:587", "url: smtp://smtp.example.org:587?x=1",
                "relays.main.url", "query"},
        BadCase{"UsernameWithoutPassword", "    password_env: LETTERD_BACKUP_PASSWORD\n", "",
                "relays.backup.username", "needs password_file, password_env or password_credential"},
        BadCase{"BadFromAddress", "from: { address: letters@example.org,", "from: { address: letters at example,",
                "campaigns.c.from.address", "not a valid address"},
        BadCase{"MissingRequiredKey", "database: /var/lib/letterd/letterd.db\n", "", "database", "is required"},
        BadCase{"CampaignWithoutLetters",
                "    letters:\n      only: { template: templates/justice-secretary.txt, to: { target: "
                "justice-secretary } }\n",
                "    letters: {}\n", "campaigns.d.letters", "at least one letter"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

TEST_F(ConfigTest, UnknownNestedKeyInALetter) {
  // A typo in a letter's key: the typo is named, and the real key is missing.
  Problems problems = parse_bad(replace(std::string(kGoodConfig), "mp: { template:", "mp: { tempalte:"));
  EXPECT_EQ(texts(problems), (std::vector<std::string>{
                                 "campaigns.c.letters.mp.template: is required",
                                 "campaigns.c.letters.mp.tempalte: unknown key",
                             }));
}

TEST_F(ConfigTest, MissingTemplateFileNamesTheKeyAndTheFile) {
  Problems problems = parse_bad(replace(std::string(kGoodConfig), "templates/mp.txt", "templates/nope.txt"));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].text(),
            "campaigns.c.letters.mp.template: no such file (" + path("templates/nope.txt") + ")");
}

TEST_F(ConfigTest, ByConstituencyNeedsAConstituencyColumn) {
  write("targets/ministers.csv", "id,name,email\njustice-secretary,Justice Secretary,js@example.org\n");
  Problems problems = parse_bad(replace(std::string(kGoodConfig), "targets: targets/mps.csv\n    per_target",
                                        "targets: targets/ministers.csv\n    per_target"));
  ASSERT_EQ(problems.size(), 2u) << ::testing::PrintToString(texts(problems));
  // mp.txt uses target.constituency, which these targets lack, and the letter picks by constituency.
  EXPECT_EQ(problems[0].text(), "campaigns.c.letters.mp.template: " + path("templates/mp.txt") +
                                    ":6: unknown name target.constituency");
  EXPECT_EQ(problems[1].where, "campaigns.c.letters.mp.to.by");
}

TEST_F(ConfigTest, TargetsProblemsAreReportedWithFileAndLine) {
  write("targets/mps.csv", std::string(kTargetsCsv) + "mp-broken,Broken MP,not-an-address,Nowhere\n");
  Problems problems = parse_bad(std::string(kGoodConfig));
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
  Problems problems = parse_bad(replace(std::string(kGoodConfig), "templates/mp.txt", "templates/typo.txt"));
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
  Problems problems = parse_bad(replace(std::string(kGoodConfig), "templates/mp.txt", "templates/unbalanced.txt"));
  EXPECT_EQ(texts(problems), (std::vector<std::string>{"campaigns.c.letters.mp.template: " +
                                                       path("templates/unbalanced.txt") +
                                                       ":5: section personal_note is never closed"}));
}

TEST_F(ConfigTest, FromNameWithUnknownNameIsReported) {
  Problems problems = parse_bad(replace(std::string(kGoodConfig), "name: \"{{supporter.name}} via Example Campaign\"",
                                        "name: \"{{supporter.nam}} via Example Campaign\""));
  EXPECT_EQ(texts(problems), (std::vector<std::string>{"campaigns.c.from.name:1: unknown name supporter.nam"}));
}

// The From name is rendered once per submission, before any target is
// picked: if the check let target.* through, `letterd check` would pass and
// then every submission would be rejected with "no value for target.name".
TEST_F(ConfigTest, FromNameCannotUseTargetNames) {
  Problems problems;
  auto config = parse_config(replace(std::string(kGoodConfig), "name: \"{{supporter.name}} via Example Campaign\"",
                                     "name: \"{{supporter.name}} to {{target.name}}\""),
                             config_path(), problems);
  EXPECT_FALSE(config.has_value());
  ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(texts(problems));
  EXPECT_EQ(problems[0].where.rfind("campaigns.c.from.name", 0), 0u) << problems[0].text();
}

TEST_F(ConfigTest, APasswordFileOthersCanReadIsRefused) {
  fs::permissions(path("secrets/main.secret"), fs::perms::group_read, fs::perm_options::add);
  Problems problems = parse_bad(std::string(kGoodConfig));
  ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(texts(problems));
  EXPECT_EQ(problems[0].where, "relays.main.password_file");
  EXPECT_NE(problems[0].what.find("(mode 0640): chmod 600 it"), std::string::npos) << problems[0].what;
}

TEST_F(ConfigTest, APasswordCanComeFromASystemdCredential) {
  Config c = parse_ok(replace(std::string(kGoodConfig), "password_file: secrets/main.secret", "password_credential: main"));
  EXPECT_EQ(c.relays.at("main").password_credential, "main");
  EXPECT_TRUE(c.relays.at("main").password_file.empty());
}

// AUTH over a connection that may stay in clear (tls: opportunistic or none)
// would hand the relay password to anyone on the path.
TEST_F(ConfigTest, AuthWithoutRequiredTlsIsRefused) {
  Problems problems = parse_bad(replace(std::string(kGoodConfig), "    tls: required\n", "    tls: opportunistic\n"));
  EXPECT_EQ(texts(problems),
            (std::vector<std::string>{"relays.main.username: AUTH needs tls: required (or an smtps:// url): the "
                                      "password must never cross the network in clear"}));
}

TEST_F(ConfigTest, AuthToALoopbackRelayMayStayInClear) {
  std::string text = replace(std::string(kGoodConfig), "url: smtp://smtp.example.org:587", "url: smtp://127.0.0.1:2525");
  parse_ok(replace(text, "    tls: required\n", "    tls: none\n"));
}

// A copy-pasted letter line that was not renamed would send every MP two
// letters, and `relay: main` followed by `relay: typo` would hide the typo.
TEST_F(ConfigTest, KeyGivenTwiceIsReported) {
  Problems problems;
  auto config = parse_config(
      replace(std::string(kGoodConfig), "      justice-secretary: { template: templates/justice-secretary.txt",
              "      mp: { template: templates/justice-secretary.txt, to: { target: justice-secretary } }\n"
              "      justice-secretary: { template: templates/justice-secretary.txt"),
      config_path(), problems);
  EXPECT_FALSE(config.has_value()) << "campaign c has " << config->campaign("c")->letters.size() << " letters";
  ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(texts(problems));
  EXPECT_EQ(problems[0].where, "campaigns.c.letters.mp");
}

// The README says a password is never inline; a url is no exception. The
// problem must not repeat the password either: `check` output gets pasted.
TEST_F(ConfigTest, APasswordInTheUrlIsRefusedWithoutRepeatingIt) {
  Problems problems = parse_bad(replace(std::string(kGoodConfig), "url: smtp://smtp.example.org:587",
                                        "url: smtp://letters%40example.org:hunter2@smtp.example.org:587"));
  ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(texts(problems));
  EXPECT_EQ(problems[0].text(),
            "relays.main.url: holds a user name or password; put the user in username: and the password in "
            "password_file: or password_env:");
}

// yaml-cpp's Load reads the first document only: what follows a "---"
// would silently not apply.
TEST_F(ConfigTest, ASecondYamlDocumentIsRefusedNamingTheFile) {
  Problems problems = parse_bad(std::string(kGoodConfig) + "---\nlog_level: error\n");
  ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(texts(problems));
  EXPECT_EQ(problems[0].where.rfind(config_path() + ":", 0), 0u) << problems[0].text();
  EXPECT_NE(problems[0].what.find("second YAML document"), std::string::npos) << problems[0].text();
}

TEST_F(ConfigTest, ADocumentStartMarkerAloneIsOneDocument) {
  parse_ok("---\n" + std::string(kGoodConfig));
  parse_ok(std::string(kGoodConfig) + "...\n");
}

TEST_F(ConfigTest, YamlSyntaxErrorNamesFileAndLine) {
  Problems problems = parse_bad("queue_dir: spool\nrelays: { main: \n  url: [\n");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].where.rfind(config_path() + ":", 0), 0u) << problems[0].text();
}

TEST_F(ConfigTest, NotAMap) {
  Problems problems = parse_bad("- just\n- a list\n");
  EXPECT_EQ(texts(problems), (std::vector<std::string>{"must be a map"}));
}

TEST_F(ConfigTest, EveryProblemIsReportedTogether) {
  std::string text(kGoodConfig);
  text = replace(text, "log_level: debug\n", "log_level: debug\ncolour: blue\n");                    // 1
  text = replace(text, "first: 30s", "first: 5 minutes");                                          // 2
  text = replace(text, "    password_file: secrets/main.secret\n",
                 "    password_file: secrets/main.secret\n    password: hunter2\n");                 // 3
  text = replace(text, "tls: opportunistic", "tls: none");                                         // 4
  text = replace(text, "    relay: main\n", "    relay: mian\n");                                  // 5
  text = replace(text, "mp: { template:", "mp: { tempalte:");                                      // 6, 7
  text = replace(text, "to: { target: justice-secretary } }\n  d:", "to: { target: home-secretary } }\n  d:");  // 8
  text = replace(text, "from: { address: other@example.org }", "from: { address: other@example.org, nmae: x }");  // 9
  Problems problems = parse_bad(text);
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

TEST_F(ConfigTest, ProblemsAreAppendedToThoseAlreadyThere) {
  Problems problems{{"earlier", "a problem from before"}};
  EXPECT_FALSE(parse_config(replace(std::string(kGoodConfig), "    relay: main\n", "    relay: mian\n"),
                            config_path(), problems)
                   .has_value());
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].where, "earlier");
  EXPECT_EQ(problems[1].where, "campaigns.c.relay");
}

// ---------------------------------------------------------------- the repository's own files

TEST_F(ConfigTest, RepositoryTemplatesAndTargetsLoadWithoutProblems) {
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
      "    targets: " + root + "/config/targets/uk-mps.csv\n"
      "    letters:\n"
      "      mp: { template: " + root + "/templates/mp.txt, to: { by: constituency } }\n"
      "      justice-secretary: { template: " + root +
      "/templates/justice-secretary.txt, to: { target: justice-secretary } }\n";
  Config cfg = parse_ok(text);
  const CampaignConfig* c = cfg.campaign("legal-advocacy");
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

TEST_F(ConfigTest, RepositoryExampleConfigIsValidApartFromItsSecretFile) {
  const std::string file = std::string(LETTERD_SOURCE_DIR) + "/config/letterd.yaml";
  std::ifstream in(file, std::ios::binary);
  ASSERT_TRUE(in) << file;
  std::stringstream text;
  text << in.rdbuf();
  Problems problems;
  auto config = parse_config(text.str(), file, problems);
  if (fs::exists("/etc/letterd/main.secret")) {
    EXPECT_TRUE(config.has_value()) << ::testing::PrintToString(texts(problems));
  } else {
    // The sample points at /etc/letterd/main.secret, which a build machine lacks.
    EXPECT_EQ(texts(problems), (std::vector<std::string>{
                                   "relays.main.password_file: no such file (/etc/letterd/main.secret)"}));
  }
}

}  // namespace
}  // namespace letterd
