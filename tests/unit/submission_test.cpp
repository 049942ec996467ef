// parse_submission: what each key of a submission file may hold (ids,
// names, addresses, notes, authorisation, fields, letters), and the
// repository's own example files. submission_hostile_test.cpp covers files
// that are malformed or written to do harm.
#include "submission.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "submission_fixture.h"
#include "test_support.h"

namespace letterd {
namespace {

using namespace letterd::testing;

TEST(ParseSubmission, SpecExampleParsesEveryField) {
  Submission s = parse_ok(kSpecJson);
  EXPECT_EQ(s.id, "web-2026-000123");
  EXPECT_EQ(s.campaign, "legal-advocacy");
  EXPECT_EQ(s.letters, (std::vector<std::string>{"mp", "justice-secretary"}));
  EXPECT_EQ(s.supporter_name, "Jane Doe");
  EXPECT_EQ(s.supporter_email, "jane@example.org");
  EXPECT_EQ(s.postcode, "SW1A 1AA");
  EXPECT_EQ(s.address, "1 Example Street, London");
  EXPECT_EQ(s.constituency, "Cities of London and Westminster");
  EXPECT_EQ(s.target, std::nullopt);
  EXPECT_EQ(s.personal_note, "As a person who works with survivors of sexual violence, I ...");
  ASSERT_TRUE(s.authorisation.has_value());
  EXPECT_TRUE(s.authorisation->given);
  EXPECT_EQ(s.authorisation->at, "2026-11-24T10:00:00Z");
  EXPECT_EQ(s.authorisation->statement, "I authorise Example Campaign to send these letters in my name.");
  ASSERT_EQ(s.fields.size(), 1u);
  EXPECT_EQ(s.fields.at("any_extra_key"), "value a template may use");
}

TEST(ParseSubmission, YamlVariant) {
  Submission s = parse_ok(
      "# A supporter who left no personal note.\n"
      "id: web-2026-000124\n"
      "campaign: legal-advocacy\n"
      "supporter:\n"
      "  name: Zoë Brontë-O'Neill\n"
      "  email: zoe@example.com\n"
      "  postcode: BS1 5TR\n"
      "  address: 7 Sample Row, Bristol\n"
      "constituency: bristol   central      # matched case-insensitively\n"
      "fields:\n"
      "  group: Example Group\n"
      "authorisation:\n"
      "  given: true\n"
      "  at: 2026-11-24T11:30:00Z\n"
      "  statement: I authorise Example Campaign to send these letters in my name.\n",
      "web-2026-000124.yaml");
  EXPECT_EQ(s.id, "web-2026-000124");
  EXPECT_EQ(s.campaign, "legal-advocacy");
  EXPECT_TRUE(s.letters.empty());
  EXPECT_EQ(s.supporter_name, "Zoë Brontë-O'Neill");
  EXPECT_EQ(s.supporter_email, "zoe@example.com");
  EXPECT_EQ(s.postcode, "BS1 5TR");
  EXPECT_EQ(s.address, "7 Sample Row, Bristol");
  EXPECT_EQ(s.constituency, "bristol   central");
  EXPECT_EQ(s.personal_note, std::nullopt);
  EXPECT_EQ(s.fields.at("group"), "Example Group");
  ASSERT_TRUE(s.authorisation.has_value());
  EXPECT_TRUE(s.authorisation->given);
  EXPECT_EQ(s.authorisation->at, "2026-11-24T11:30:00Z");
}

TEST(ParseSubmission, YmlExtensionIsYamlToo) {
  Submission s = parse_ok("campaign: c\nsupporter: { name: Jane Doe, email: jane@example.org }\n", "from-form.yml");
  EXPECT_EQ(s.id, "from-form");
}

TEST(ParseSubmission, OtherExtensionsAreRefused) {
  Problem p = one_problem(kMinimalJson, "web-2026-000123.txt");
  EXPECT_EQ(p.where, "");
  EXPECT_NE(p.what.find(".json, .yaml or .yml"), std::string::npos) << p.text();
}

TEST(ParseSubmission, IdDefaultsToTheFileStem) {
  EXPECT_EQ(parse_ok(kMinimalJson, "web-2026-000999.json").id, "web-2026-000999");
  EXPECT_EQ(parse_ok(kMinimalJson, "batch.7.json").id, "batch.7");
}

TEST(ParseSubmission, IdDefaultFromAnInvalidFileNameIsAProblem) {
  Problem p = one_problem(kMinimalJson, "my letter.json");
  EXPECT_EQ(p.where, "id");
}

// "id": null is what many form back ends write for "no id": it means the
// file stem, never an empty id that would make every such file a duplicate.
TEST(ParseSubmission, NullIdDefaultsToTheFileStem) {
  Problems problems;
  auto s = parse_submission(replace(std::string(kMinimalJson), "{\n", "{\n  \"id\": null,\n"), "web-2026-000200.json",
                            now(), problems);
  ASSERT_TRUE(s.has_value()) << ::testing::PrintToString(texts(problems));
  EXPECT_EQ(s->id, "web-2026-000200");
}

TEST(ParseSubmission, IdWithInvalidCharacters) {
  for (const char* id : {"web 2026", "../etc/passwd", "web/1", "web\\u00e9", "web:1", ""}) {
    Problem p = one_problem(replace(std::string(kSpecJson), "\"web-2026-000123\"", std::string("\"") + id + "\""));
    EXPECT_EQ(p.where, "id") << id;
  }
}

TEST(ParseSubmission, IdLengthLimitIs128) {
  const std::string id128 = repeat("a", 127) + "Z";
  EXPECT_EQ(parse_ok(replace(std::string(kSpecJson), "web-2026-000123", id128)).id, id128);
  Problem p = one_problem(replace(std::string(kSpecJson), "web-2026-000123", id128 + "9"));
  EXPECT_EQ(p.where, "id");
}

TEST(ParseSubmission, IdMayUseDotsUnderscoresAndDigits) {
  EXPECT_EQ(parse_ok(replace(std::string(kSpecJson), "web-2026-000123", "A.b_C-9")).id, "A.b_C-9");
}

TEST(ParseSubmission, MissingCampaign) {
  Problem p = one_problem(replace(std::string(kSpecJson), "  \"campaign\": \"legal-advocacy\",\n", ""));
  EXPECT_EQ(p.text(), "campaign: is required");
}

TEST(ParseSubmission, MissingSupporter) {
  Problem p = one_problem("{ \"campaign\": \"legal-advocacy\" }");
  EXPECT_EQ(p.where, "supporter");
}

TEST(ParseSubmission, SupporterNameEmpty) {
  Problem p = one_problem(replace(std::string(kSpecJson), "\"Jane Doe\"", "\"\""));
  EXPECT_EQ(p.where, "supporter.name");
}

TEST(ParseSubmission, SupporterNameMissing) {
  Problem p = one_problem(replace(std::string(kSpecJson), "\"name\": \"Jane Doe\",", ""));
  EXPECT_EQ(p.text(), "supporter.name: is required");
}

TEST(ParseSubmission, SupporterNameLengthCountsCharactersNotBytes) {
  // 200 characters (400 bytes) is fine; 201 is not.
  const std::string name200 = repeat("é", 200);
  EXPECT_EQ(parse_ok(replace(std::string(kSpecJson), "Jane Doe", name200)).supporter_name, name200);
  EXPECT_EQ(parse_ok(replace(std::string(kSpecJson), "Jane Doe", repeat("a", 200))).supporter_name, repeat("a", 200));
  Problem p = one_problem(replace(std::string(kSpecJson), "Jane Doe", repeat("a", 201)));
  EXPECT_EQ(p.where, "supporter.name");
}

TEST(ParseSubmission, SupporterNameWithControlCharacters) {
  for (const char* name : {"Jane\\nDoe", "Jane\\rDoe", "Jane\\tDoe", "Jane\\u0000Doe", "Jane\\u007fDoe",
                           "Jane\\u0085Doe", "Jane\\u2028Doe"}) {
    Problem p = one_problem(replace(std::string(kSpecJson), "Jane Doe", name));
    EXPECT_EQ(p.where, "supporter.name") << name;
  }
}

TEST(ParseSubmission, HeaderInjectionInSupporterNameIsRejected) {
  Problem p = one_problem(replace(std::string(kSpecJson), "\"Jane Doe\"", "\"Jane\\r\\nBcc: x@example.com\""));
  EXPECT_EQ(p.where, "supporter.name");
}

TEST(ParseSubmission, HeaderInjectionInSupporterEmailIsRejected) {
  Problem p = one_problem(
      replace(std::string(kSpecJson), "\"jane@example.org\"", "\"jane@example.org\\r\\nBcc: x@example.com\""));
  EXPECT_EQ(p.where, "supporter.email");
}

TEST(ParseSubmission, BadEmail) {
  for (const char* email : {"jane.example.org", "jane@", "@example.org", "jane doe@example.org", "jane@@example.org",
                            "jane@example..org", "jané@example.org", ""}) {
    Problem p = one_problem(replace(std::string(kSpecJson), "jane@example.org", email));
    EXPECT_EQ(p.where, "supporter.email") << email;
  }
}

TEST(ParseSubmission, EmailOf254OctetsIsTheLimit) {
  // 64 + 1 + 189 = 254 octets; a 255th is too many.
  const std::string local = repeat("j", 64);
  const std::string domain = repeat("a", 63) + "." + repeat("b", 63) + "." + repeat("c", 57) + ".org";
  const std::string email = local + "@" + domain;
  ASSERT_EQ(email.size(), 254u);
  EXPECT_EQ(parse_ok(replace(std::string(kSpecJson), "jane@example.org", email)).supporter_email, email);
  const std::string longer = local + "@" + repeat("a", 63) + "." + repeat("b", 63) + "." + repeat("c", 58) + ".org";
  ASSERT_EQ(longer.size(), 255u);
  Problem p = one_problem(replace(std::string(kSpecJson), "jane@example.org", longer));
  EXPECT_EQ(p.where, "supporter.email");
}

TEST(ParseSubmission, PersonalNoteOf5000CharactersIsTheLimit) {
  const std::string note5000 = repeat("a", 5000);
  EXPECT_EQ(parse_ok(replace(std::string(kSpecJson), "As a person who works with survivors of sexual violence, I ...",
                             note5000))
                .personal_note,
            note5000);
  const std::string wide5000 = repeat("€", 5000);  // 15,000 bytes, 5,000 characters
  EXPECT_EQ(parse_ok(replace(std::string(kSpecJson), "As a person who works with survivors of sexual violence, I ...",
                             wide5000))
                .personal_note,
            wide5000);
  Problem p = one_problem(replace(std::string(kSpecJson),
                                  "As a person who works with survivors of sexual violence, I ...", note5000 + "b"));
  EXPECT_EQ(p.where, "personal_note");
}

TEST(ParseSubmission, PersonalNoteMayHoldLineBreaks) {
  Submission s =
      parse_ok(replace(std::string(kSpecJson), "As a person who works with survivors of sexual violence, I ...",
                       "First paragraph.\\n\\nSecond, after a blank line.\\r\\nThird."));
  // CRLF becomes LF: the message builder writes CRLF on the wire.
  EXPECT_EQ(s.personal_note, "First paragraph.\n\nSecond, after a blank line.\nThird.");
}

TEST(ParseSubmission, PersonalNoteWithOtherControlCharactersIsRejected) {
  for (const char* note : {"bad \\u0001 byte", "escape \\u001b[31m", "lone \\r return", "bell \\u0007"}) {
    Problem p = one_problem(
        replace(std::string(kSpecJson), "As a person who works with survivors of sexual violence, I ...", note));
    EXPECT_EQ(p.where, "personal_note") << note;
  }
}

TEST(ParseSubmission, AuthorisationAtMustBeRfc3339) {
  for (const char* at : {"24/11/2026 10:00", "2026-11-24", "2026-11-24 10:00:00", "2026-11-24T10:00:00",
                         "2026-02-30T10:00:00Z", "yesterday"}) {
    Problem p = one_problem(replace(std::string(kSpecJson), "2026-11-24T10:00:00Z", at));
    EXPECT_EQ(p.where, "authorisation.at") << at;
  }
  EXPECT_EQ(parse_ok(replace(std::string(kSpecJson), "2026-11-24T10:00:00Z", "2026-11-24T11:00:00.5+01:00"))
                .authorisation->at,
            "2026-11-24T11:00:00.5+01:00");
}

TEST(ParseSubmission, AuthorisationAtMustNotBeInTheFuture) {
  Problem p = one_problem(replace(std::string(kSpecJson), "2026-11-24T10:00:00Z", "2026-11-26T00:00:00Z"));
  EXPECT_EQ(p.text(), "authorisation.at: is in the future");
  // Midnight in Paris is still the evening before in UTC: an offset counts.
  Problem later = one_problem(replace(std::string(kSpecJson), "2026-11-24T10:00:00Z", "2026-11-25T10:00:00+01:00"));
  EXPECT_EQ(later.where, "authorisation.at");
  EXPECT_TRUE(parse_ok(replace(std::string(kSpecJson), "2026-11-24T10:00:00Z", "2026-11-25T00:00:00Z")).authorisation);
}

TEST(ParseSubmission, AuthorisationGivenMustBeABoolean) {
  Problem p = one_problem(replace(std::string(kSpecJson), "\"given\": true", "\"given\": \"perhaps\""));
  EXPECT_EQ(p.where, "authorisation.given");
}

TEST(ParseSubmission, AuthorisationGivenFalseStillParses) {
  // Whether false is acceptable is the campaign's decision, in plan_messages.
  Submission s = parse_ok(replace(std::string(kSpecJson), "\"given\": true", "\"given\": false"));
  ASSERT_TRUE(s.authorisation.has_value());
  EXPECT_FALSE(s.authorisation->given);
}

TEST(ParseSubmission, FieldsMustBeStrings) {
  Problem map = one_problem(replace(std::string(kSpecJson), "\"value a template may use\"", "{ \"nested\": \"x\" }"));
  EXPECT_EQ(map.where, "fields.any_extra_key");
  Problem list = one_problem(replace(std::string(kSpecJson), "\"value a template may use\"", "[\"a\", \"b\"]"));
  EXPECT_EQ(list.where, "fields.any_extra_key");
  Problem not_a_map =
      one_problem(replace(std::string(kSpecJson), "{ \"any_extra_key\": \"value a template may use\" }", "\"text\""));
  EXPECT_EQ(not_a_map.where, "fields");
}

TEST(ParseSubmission, FieldsWithControlCharactersAreRejected) {
  Problem p = one_problem(replace(std::string(kSpecJson), "value a template may use", "line\\r\\nBcc: x@example.com"));
  EXPECT_EQ(p.where, "fields.any_extra_key");
}

TEST(ParseSubmission, ANonAsciiAddressIsSaidToBeUnsupported) {
  for (const char* email : {"jané@example.org", "jane@exämple.org", "jane@xn--exmple-cua.org.\u00e9"}) {
    Problem p = one_problem(replace(std::string(kSpecJson), "jane@example.org", email));
    EXPECT_EQ(p.text(), "supporter.email: addresses with non-ASCII characters are not supported") << email;
  }
  // Punycode is ASCII, and fine.
  EXPECT_EQ(parse_ok(replace(std::string(kSpecJson), "jane@example.org", "jane@xn--exmple-cua.org")).supporter_email,
            "jane@xn--exmple-cua.org");
}

TEST(ParseSubmission, LettersMustBeANonEmptyListOfNames) {
  EXPECT_EQ(one_problem(replace(std::string(kSpecJson), "[\"mp\", \"justice-secretary\"]", "[]")).where, "letters");
  EXPECT_EQ(one_problem(replace(std::string(kSpecJson), "[\"mp\", \"justice-secretary\"]", "\"mp\"")).where, "letters");
  EXPECT_EQ(one_problem(replace(std::string(kSpecJson), "[\"mp\", \"justice-secretary\"]", "[\"mp\", {}]")).where,
            "letters[1]");
  // The same letter twice is one letter.
  EXPECT_EQ(parse_ok(replace(std::string(kSpecJson), "[\"mp\", \"justice-secretary\"]", "[\"mp\", \"mp\"]")).letters,
            (std::vector<std::string>{"mp"}));
}

TEST(ParseSubmission, TargetInsteadOfConstituency) {
  Submission s = parse_ok(replace(std::string(kSpecJson), "\"constituency\": \"Cities of London and Westminster\"",
                                  "\"target\": \"mp-bristol-central\""));
  EXPECT_EQ(s.target, "mp-bristol-central");
  EXPECT_EQ(s.constituency, std::nullopt);
}

TEST(ParseSubmission, RepositoryExamplesParse) {
  const TimePoint later = *parse_rfc3339("2026-12-01T00:00:00Z");
  const std::string dir = std::string(LETTERD_SOURCE_DIR) + "/queue/examples/";
  EXPECT_EQ(parse_ok(read_file(dir + "web-2026-000123.json"), "web-2026-000123.json", later).constituency,
            "Cities of London and Westminster");
  EXPECT_EQ(parse_ok(read_file(dir + "web-2026-000124.yaml"), "web-2026-000124.yaml", later).supporter_name,
            "Zoë Brontë-O'Neill");
  Submission s125 = parse_ok(read_file(dir + "web-2026-000125.json"), "web-2026-000125.json", later);
  EXPECT_EQ(s125.id, "web-2026-000125");
  EXPECT_EQ(s125.target, "mp-cardiff-east");
}

TEST(SupporterKey, LowerCasesTheAddress) {
  EXPECT_EQ(supporter_key("Jane.Doe@Example.ORG"), "jane.doe@example.org");
  EXPECT_EQ(supporter_key("jane@example.org"), supporter_key("JANE@EXAMPLE.ORG"));
}

}  // namespace
}  // namespace letterd
