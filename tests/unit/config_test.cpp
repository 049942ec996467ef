// parse_config: what the config's text alone says. Nothing here reads a
// file; config_files_test.cpp covers what reading the named files adds.
#include "config.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "config_fixture.h"

namespace letterd {
namespace {

using namespace letterd::testing;
using namespace std::chrono_literals;

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

  // The text says where each password is; only reading the config's files fetches one.
  EXPECT_EQ(main.password, "");
  EXPECT_EQ(backup.password, "");
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
  EXPECT_EQ(c->targets, nullptr) << "read with the config's files, not parsed from its text";
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

TEST_F(ConfigTest, LettersKeepConfigOrderWithTheirTemplatePathsAndTargets) {
  Config cfg = parse_ok(std::string(kGoodConfig));
  const CampaignConfig* c = cfg.campaign("c");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->letters.size(), 2u);
  // "mp" comes first in the file though "justice-secretary" sorts first.
  EXPECT_EQ(c->letters[0].name, "mp");
  EXPECT_EQ(c->letters[1].name, "justice-secretary");

  const LetterConfig& mp = c->letters[0];
  EXPECT_EQ(mp.route, LetterConfig::Route::constituency);
  EXPECT_EQ(mp.target_id, "");
  EXPECT_EQ(mp.template_path, path("templates/mp.txt"));
  EXPECT_EQ(mp.templ, nullptr);

  const LetterConfig& js = c->letters[1];
  EXPECT_EQ(js.route, LetterConfig::Route::target);
  EXPECT_EQ(js.target_id, "justice-secretary");
  EXPECT_EQ(js.template_path, path("templates/justice-secretary.txt"));

  EXPECT_EQ(c->letter("justice-secretary"), &c->letters[1]);
  EXPECT_EQ(c->letter("mp"), &c->letters[0]);
  EXPECT_EQ(c->letter("MP"), nullptr);
}

// What `letterd check` and the reading step go by: each file with the key that names it.
TEST_F(ConfigTest, EveryNamedFileComesWithItsKeyPath) {
  Config cfg = parse_ok(replace(std::string(kGoodConfig), "    connections: 3\n",
                                "    ca_file: /etc/ssl/certs/ca-certificates.crt\n    connections: 3\n"));
  std::vector<std::string> got;
  for (const NamedFile& f : cfg.files()) got.push_back(f.key + " " + f.path);
  EXPECT_EQ(got, (std::vector<std::string>{
                     "relays.main.password_file " + path("secrets/main.secret"),
                     "relays.main.ca_file /etc/ssl/certs/ca-certificates.crt",
                     "campaigns.c.targets " + path("targets/mps.csv"),
                     "campaigns.c.letters.mp.template " + path("templates/mp.txt"),
                     "campaigns.c.letters.justice-secretary.template " + path("templates/justice-secretary.txt"),
                     "campaigns.d.targets " + path("targets/mps.csv"),
                     "campaigns.d.letters.only.template " + path("templates/justice-secretary.txt"),
                 }));
}

// ---------------------------------------------------------------- bad configs: one problem each

struct BadCase {
  const char* name;
  const char* from;  // text of kGoodConfig to replace
  const char* to;
  const char* where;    // the exact key path the problem names
  const char* what;     // a part of what it says
  bool in_text = true;  // false: only reading the named files shows it
};

class BadConfigTest : public ConfigTest, public ::testing::WithParamInterface<BadCase> {};

// Loading reports the problem once, whichever step finds it; parsing alone
// finds the same one, or none when it is in a file.
TEST_P(BadConfigTest, ReportsExactlyOneProblemAtTheKeyPath) {
  const BadCase& bad = GetParam();
  const std::string text = replace(std::string(kGoodConfig), bad.from, bad.to);
  Problems problems = load_bad(text);
  ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(texts(problems));
  EXPECT_EQ(problems[0].where, bad.where) << problems[0].text();
  EXPECT_NE(problems[0].what.find(bad.what), std::string::npos) << problems[0].text();

  Problems from_text;
  bool parsed = parse_config(text, config_path(), from_text).has_value();
  if (bad.in_text)
    EXPECT_EQ(texts(from_text), texts(problems));
  else
    EXPECT_TRUE(parsed) << ::testing::PrintToString(texts(from_text));
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
        BadCase{"UnknownRetentionKey", "  bodies: 7d\n", "  bodies: 7d\n  logs: 7d\n", "retention.logs", "unknown key"},
        BadCase{"UnknownQueueKey", "  rescan: 10s\n", "  rescan: 10s\n  keep_rejected: true\n", "queue.keep_rejected",
                "unknown key"},
        BadCase{"StringExpectedGotList", "queue_dir: spool\n", "queue_dir: [a, b]\n", "queue_dir", "must be a string"},
        BadCase{"NumberExpected", "connections: 3", "connections: many", "relays.main.connections", "whole number"},
        BadCase{"NumberOutOfRange", "connections: 3", "connections: 0", "relays.main.connections",
                "whole number from 1 to 64"},
        BadCase{"RateNotANumber", "per_minute: 200", "per_minute: lots", "relays.main.rate.per_minute", "whole number"},
        BadCase{"BooleanExpected", "require_authorisation: false", "require_authorisation: sometimes",
                "campaigns.c.require_authorisation", "true or false"},
        BadCase{"MapExpected", "    rate: { per_second: 5, per_minute: 200, per_hour: 2000, per_day: 10000 }\n",
                "    rate: 5\n", "relays.main.rate", "must be a map"},
        BadCase{"RequireNotAList", "require: [postcode, address]", "require: postcode", "campaigns.c.require",
                "must be a list"},
        BadCase{"RequireUnknownField", "require: [postcode, address]", "require: [postcode, phone]",
                "campaigns.c.require", "'phone'"},
        BadCase{"ChoiceNotAllowed", "mode: reflect", "mode: test", "campaigns.c.mode", "'test' is not one of"},
        BadCase{"ReplyToChoice", "reply_to: none", "reply_to: organiser", "campaigns.c.reply_to",
                "'organiser' is not one of"},
        BadCase{"LogLevelChoice", "log_level: debug", "log_level: verbose", "log_level", "'verbose' is not one of"},
        BadCase{"BadRetryDuration", "first: 30s", "first: 5 minutes", "retry.first", "'5 minutes' is not a duration"},
        BadCase{"BadTimeout", "timeout: 45s", "timeout: 45", "relays.main.timeout", "not a duration"},
        BadCase{"BadRetention", "bodies: 7d", "bodies: 1w", "retention.bodies", "not a duration"},
        BadCase{"RetryMaxBelowFirst", "max: 2h", "max: 10s", "retry.max", "shorter than retry.first"},
        BadCase{"RelayDoesNotExist", "    relay: main\n", "    relay: mian\n", "campaigns.c.relay",
                "no relay named 'mian'"},
        BadCase{"MissingTemplateFile", "templates/mp.txt", "templates/nope.txt", "campaigns.c.letters.mp.template",
                "no such file", false},
        BadCase{"MissingTargetsFile", "targets: targets/mps.csv\n    per_target",
                "targets: targets/nope.csv\n    per_target", "campaigns.c.targets", "no such file", false},
        BadCase{"TargetsNotCsvOrYaml", "targets: targets/mps.csv\n    per_target",
                "targets: templates/mp.txt\n    per_target", "campaigns.c.targets", ".csv, .yaml or .yml"},
        BadCase{"MissingPasswordFile", "password_file: secrets/main.secret", "password_file: secrets/nope.secret",
                "relays.main.password_file", "no such file", false},
        BadCase{"MissingCaFile", "    connections: 3\n", "    ca_file: certs/ca.pem\n    connections: 3\n",
                "relays.main.ca_file", "no such file", false},
        BadCase{"LetterTargetNotInTargets", "to: { target: justice-secretary } }\n  d:",
                "to: { target: home-secretary } }\n  d:", "campaigns.c.letters.justice-secretary.to.target",
                "no target with id 'home-secretary'", false},
        BadCase{"LetterWithoutTo", "mp: { template: templates/mp.txt, to: { by: constituency } }",
                "mp: { template: templates/mp.txt }", "campaigns.c.letters.mp.to", "is required"},
        BadCase{"LetterWithBothByAndTarget", "to: { by: constituency }",
                "to: { by: constituency, target: justice-secretary }", "campaigns.c.letters.mp.to", "not both"},
        BadCase{"InlinePasswordRefused", "    password_file: secrets/main.secret\n",
                "    password_file: secrets/main.secret\n    password: hunter2\n", "relays.main.password",
                "never inline"},
        BadCase{"TlsNoneWithSmtps", "tls: opportunistic", "tls: none", "relays.backup.tls", "smtps://"},
        BadCase{"UrlScheme", "url: smtp://smtp.example.org:587", "url: http://smtp.example.org:587", "relays.main.url",
                "smtp:// or smtps://"},
        // libcurl would refuse each of these only when sending, pausing the relay for ever.
        BadCase{"UrlPortOutOfRange", "url: smtp://smtp.example.org:587", "url: smtp://smtp.example.org:99999",
                "relays.main.url", "Port number"},
        BadCase{"UrlPortZero", "url: smtp://smtp.example.org:587", "url: smtp://smtp.example.org:0", "relays.main.url",
                "port 0"},
        BadCase{"UrlWithoutHost", "url: smtp://smtp.example.org:587", "url: smtp://:587", "relays.main.url", "no host"},
        BadCase{"UrlWithACarriageReturn", "url: smtp://smtp.example.org:587",
                "url: \"smtp://smtp.example.org\\r\\nRCPT TO:<x@example.org>:587\"", "relays.main.url",
                "control character"},
        BadCase{"UrlWithAUserName", "url: smtp://smtp.example.org:587", "url: smtp://letters@smtp.example.org:587",
                "relays.main.url", "holds a user name or password"},
        BadCase{"UrlWithAQuery", "url: smtp://smtp.example.org:587", "url: smtp://smtp.example.org:587?x=1",
                "relays.main.url", "query"},
        BadCase{"UsernameWithoutPassword", "    password_env: LETTERD_BACKUP_PASSWORD\n", "", "relays.backup.username",
                "needs password_file, password_env or password_credential"},
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

TEST_F(ConfigTest, APasswordCanComeFromASystemdCredential) {
  Config c =
      parse_ok(replace(std::string(kGoodConfig), "password_file: secrets/main.secret", "password_credential: main"));
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
  std::string text =
      replace(std::string(kGoodConfig), "url: smtp://smtp.example.org:587", "url: smtp://127.0.0.1:2525");
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

TEST_F(ConfigTest, ProblemsAreAppendedToThoseAlreadyThere) {
  Problems problems{{"earlier", "a problem from before"}};
  EXPECT_FALSE(
      parse_config(replace(std::string(kGoodConfig), "    relay: main\n", "    relay: mian\n"), config_path(), problems)
          .has_value());
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].where, "earlier");
  EXPECT_EQ(problems[1].where, "campaigns.c.relay");
}

// --------------------------------------------------------------- the postcode lookup

TEST_F(ConfigTest, PostcodesIsOptionalAndResolvedLikeOtherPaths) {
  EXPECT_EQ(parse_ok(std::string(kGoodConfig)).postcodes, "");
  const std::string with = replace(std::string(kGoodConfig), "log_level: debug\n", "log_level: debug\npostcodes: ");
  EXPECT_EQ(parse_ok(replace(with, "postcodes: ", "postcodes: lookup/postcodes.db\n")).postcodes,
            path("lookup/postcodes.db"));
  EXPECT_EQ(parse_ok(replace(with, "postcodes: ", "postcodes: /var/lib/letterd/postcodes.db\n")).postcodes,
            "/var/lib/letterd/postcodes.db");
}

// An import renames a new file over the lookup's path: there, it would
// replace the delivery log.
TEST_F(ConfigTest, PostcodesCannotBeTheDatabase) {
  Problems problems = parse_bad(replace(std::string(kGoodConfig), "log_level: debug\n",
                                        "log_level: debug\npostcodes: /var/lib/letterd/../letterd/letterd.db\n"));
  EXPECT_EQ(texts(problems), (std::vector<std::string>{"postcodes: is the database's file: give the postcode lookup a "
                                                       "file of its own"}));
}

TEST_F(ConfigTest, PostcodesMustBeAPath) {
  Problems problems =
      parse_bad(replace(std::string(kGoodConfig), "log_level: debug\n", "log_level: debug\npostcodes: [a, b]\n"));
  EXPECT_EQ(texts(problems), (std::vector<std::string>{"postcodes: must be a string"}));
}

}  // namespace
}  // namespace letterd
