#include "submission.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"

namespace letterd {
namespace {

namespace fs = std::filesystem;
using namespace letterd::testing;

TimePoint now() {
  return *parse_rfc3339("2026-11-25T00:00:00Z");
}

// The example from SPEC "The submission file", byte for byte.
constexpr std::string_view kSpecJson = R"({
  "id": "web-2026-000123",
  "campaign": "legal-advocacy",
  "letters": ["mp", "justice-secretary"],
  "supporter": {
    "name": "Jane Doe",
    "email": "jane@example.org",
    "postcode": "SW1A 1AA",
    "address": "1 Example Street, London"
  },
  "constituency": "Cities of London and Westminster",
  "personal_note": "As a person who works with survivors of sexual violence, I ...",
  "authorisation": {
    "given": true,
    "at": "2026-11-24T10:00:00Z",
    "statement": "I authorise Example Campaign to send these letters in my name."
  },
  "fields": { "any_extra_key": "value a template may use" }
}
)";

// The least a submission needs for a campaign with require_authorisation.
constexpr std::string_view kMinimalJson = R"({
  "campaign": "legal-advocacy",
  "supporter": { "name": "Jane Doe", "email": "jane@example.org" },
  "constituency": "Cities of London and Westminster",
  "authorisation": { "given": true, "at": "2026-11-24T10:00:00Z" }
}
)";

Submission parse_ok(std::string_view text, std::string_view file = "web-2026-000123.json", TimePoint at = now()) {
  Problems problems;
  auto s = parse_submission(text, file, at, problems);
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(texts(problems));
  if (!s) throw std::runtime_error("submission did not parse");
  return std::move(*s);
}

Problems parse_bad(std::string_view text, std::string_view file = "web-2026-000123.json") {
  Problems problems;
  EXPECT_FALSE(parse_submission(text, file, now(), problems).has_value());
  EXPECT_FALSE(problems.empty());
  return problems;
}

// The one problem a bad submission has.
Problem one_problem(std::string_view text, std::string_view file = "web-2026-000123.json") {
  Problems problems = parse_bad(text, file);
  EXPECT_EQ(problems.size(), 1u) << ::testing::PrintToString(texts(problems));
  return problems.empty() ? Problem{} : problems.front();
}

// ================================================================ parse_submission

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

TEST(ParseSubmission, UnknownTopLevelKeyIsNamedByItsLine) {
  Problems problems = parse_bad(replace(std::string(kSpecJson), "\"supporter\":", "\"suporter\":"));
  // The typo is placed and the real key suggested; the real key is then missing.
  EXPECT_EQ(texts(problems), (std::vector<std::string>{"an unknown key at line 5 (did you mean supporter?)",
                                                       "supporter: is required (name and email)"}));
}

TEST(ParseSubmission, UnknownNestedKeysAreNamedByTheirMapAndLine) {
  Problem p = one_problem(replace(std::string(kSpecJson), "\"postcode\":", "\"phone\": \"0\", \"postcode\":"));
  EXPECT_EQ(p.text(), "supporter: an unknown key at line 8");
  Problem a = one_problem(replace(std::string(kSpecJson), "\"given\": true,", "\"given\": true, \"ip\": \"x\","));
  EXPECT_EQ(a.text(), "authorisation: an unknown key at line 14");
}

// A hand-written YAML note that lost its indentation becomes keys: what the
// supporter wrote must not reach the .error file or the database.
TEST(ParseSubmission, AnUnknownKeyNeverCarriesTheSupportersWords) {
  const std::string yaml =
      "campaign: legal-advocacy\n"                                         // 1
      "supporter: { name: Jane Doe, email: jane@example.org }\n"           // 2
      "constituency: Cities of London and Westminster\n"                   // 3
      "authorisation: { given: true, at: 2026-11-24T10:00:00Z }\n"         // 4
      "personal_note: |\n"                                                 // 5
      "  I write because of what happened.\n"                              // 6
      "My stepfather abused me for years and the police said: nothing\n";  // 7
  Problems problems = parse_bad(yaml, "web-1.yaml");
  EXPECT_EQ(texts(problems), (std::vector<std::string>{"an unknown key at line 7"}));
  const std::string json = replace(std::string(kSpecJson), "\"fields\":", "\"the police said\": 1, \"fields\":");
  Problems json_problems = parse_bad(json);
  EXPECT_EQ(texts(json_problems), (std::vector<std::string>{"an unknown key at line 18"}));
  for (const auto& text : texts(problems)) EXPECT_EQ(text.find("police"), std::string::npos) << text;
}

TEST(ParseSubmission, AnUnknownKeyGetsASuggestionOnlyWhenItIsAPlainTypo) {
  EXPECT_EQ(one_problem(replace(std::string(kSpecJson), "\"personal_note\":", "\"personal_notes\":")).what,
            "an unknown key at line 12 (did you mean personal_note?)");
  EXPECT_EQ(texts(parse_bad(replace(std::string(kSpecJson), "\"name\":", "\"Name\":"))),
            (std::vector<std::string>{"supporter: an unknown key at line 6 (did you mean name?)",
                                      "supporter.name: is required"}));
  // Short keys get one typo at most: "to" is not read as "id".
  EXPECT_EQ(one_problem(replace(std::string(kSpecJson), "\"id\":", "\"to\": \"x@example.com\", \"id\":")).what,
            "an unknown key at line 2");
}

TEST(ParseSubmission, AFieldKeyThatIsNotANameIsPlacedNotQuoted) {
  Problem p = one_problem(replace(std::string(kSpecJson), "\"any_extra_key\"", "\"what he did to me\""));
  EXPECT_EQ(p.text(), "fields: the key at line 18 must be 1-128 of A-Z a-z 0-9 _ -");
}

TEST(ParseSubmission, ASecondYamlDocumentIsRejected) {
  const std::string first =
      "campaign: legal-advocacy\n"
      "supporter: { name: Jane Doe, email: jane@example.org }\n";
  Problem p = one_problem(first + "---\nsupporter: { name: Someone Else, email: else@example.com }\n", "web-1.yaml");
  EXPECT_EQ(p.text(), "line 4: a second YAML document (after a line ---): a file holds one submission");
  // A document marker at the start, or an end marker with nothing after it, is still one document.
  EXPECT_EQ(parse_ok("---\n" + first + "...\n", "web-1.yaml").supporter_name, "Jane Doe");
  EXPECT_EQ(parse_ok(first + "---\n", "web-1.yaml").supporter_name, "Jane Doe");
}

TEST(ParseSubmission, AYamlSyntaxErrorDoesNotQuoteTheText) {
  Problem p = one_problem("campaign: \"legal\\qsecret\"\n", "web-1.yaml");
  EXPECT_EQ(p.text(), "line 1: not valid YAML: unknown escape character");
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

// Bidirectional controls and zero-width characters can make one display
// name look like another in From and Reply-To.
TEST(ParseSubmission, InvisibleFormattingCharactersAreRefusedWhereTheyCanReachAHeader) {
  const char* invisible[] = {"\\u202a", "\\u202b", "\\u202c", "\\u202d", "\\u202e", "\\u2066", "\\u2067", "\\u2068",
                             "\\u2069", "\\u200b", "\\u200c", "\\u200d", "\\u200e", "\\u200f", "\\ufeff", "\\u061c"};
  const std::pair<const char*, const char*> values[] = {
      {"supporter.name", "Jane Doe"},
      {"supporter.address", "1 Example Street, London"},
      {"constituency", "Cities of London and Westminster"},
      {"authorisation.statement", "I authorise Example Campaign to send these letters in my name."},
      {"fields.any_extra_key", "value a template may use"},
  };
  for (const auto& [key, original] : values) {
    for (const char* c : invisible) {
      std::string spoiled = std::string(original).substr(0, 4) + c + "evil";
      Problem p =
          one_problem(replace(std::string(kSpecJson), "\"" + std::string(original) + "\"", "\"" + spoiled + "\""));
      EXPECT_EQ(p.text(),
                std::string(key) +
                    ": must not contain invisible characters (bidirectional controls or zero-width characters)")
          << key << " " << c;
    }
  }
  // The letter's body is not a header: a note may hold them (right-to-left text uses marks).
  EXPECT_TRUE(parse_ok(replace(std::string(kSpecJson), "I ...", "I \\u200f...")).personal_note);
}

// yaml-cpp keeps the FIRST of two equal keys, most JSON libraries (the form
// back end that validated the file) the LAST: letters could go out in the
// name of a supporter nobody checked.
TEST(ParseSubmission, KeyGivenTwiceIsRejected) {
  Problems problems;
  auto s = parse_submission(
      replace(std::string(kSpecJson), "  \"constituency\":",
              "  \"supporter\": { \"name\": \"Someone Else\", \"email\": \"else@example.com\" },\n  \"constituency\":"),
      "web-2026-000123.json", now(), problems);
  EXPECT_FALSE(s.has_value()) << "parsed as supporter " << s->supporter_name;
  EXPECT_EQ(wheres(problems), (std::vector<std::string>{"supporter"})) << ::testing::PrintToString(texts(problems));
}

TEST(ParseSubmission, EveryProblemInAFileIsReported) {
  std::string text(kSpecJson);
  text = replace(text, "\"Jane Doe\"", "\"\"");                  // supporter.name
  text = replace(text, "jane@example.org", "jane.example.org");  // supporter.email
  text = replace(text, "As a person who works with survivors of sexual violence, I ...", "a\\u0001");  // personal_note
  text = replace(text, "2026-11-24T10:00:00Z", "2027-01-01T00:00:00Z");  // authorisation.at
  text = replace(text, "\"fields\":", "\"feilds\":");                    // unknown key, named by its line
  text = replace(text, "\"web-2026-000123\"", "\"web 123\"");            // id
  Problems problems = parse_bad(text);
  std::vector<std::string> got = wheres(problems);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"", "authorisation.at", "id", "personal_note", "supporter.email",
                                           "supporter.name"}))
      << ::testing::PrintToString(texts(problems));
}

TEST(ParseSubmission, FileOver64KiBIsRejected) {
  // Padding after the object keeps the JSON valid: exactly 64 KiB passes, one byte more does not.
  std::string text(kSpecJson);
  text += std::string(kMaxSubmissionBytes - text.size(), ' ');
  ASSERT_EQ(text.size(), 65536u);
  EXPECT_EQ(parse_ok(text).id, "web-2026-000123");
  text += ' ';
  Problem p = one_problem(text);
  EXPECT_NE(p.what.find("64 KiB"), std::string::npos) << p.text();
}

TEST(ParseSubmission, InvalidUtf8IsRejected) {
  for (const char* bad : {"Jane \xff Doe", "Jane \xc3", "Jane \xc0\xaf", "Jane \xed\xa0\x80"}) {
    Problem p = one_problem(replace(std::string(kSpecJson), "Jane Doe", bad));
    EXPECT_NE(p.what.find("UTF-8"), std::string::npos) << p.text();
  }
}

// Every value that can reach a header (directly, or through a template's
// subject) refuses every character that could end or split a header line.
TEST(ParseSubmission, NoHeaderBreakingCharacterGetsInAnywhere) {
  struct Field {
    const char* key;       // as the problem names it
    std::string original;  // the value in kSpecJson to spoil
  };
  const Field fields[] = {
      {"supporter.name", "Jane Doe"},
      {"supporter.email", "jane@example.org"},
      {"supporter.postcode", "SW1A 1AA"},
      {"supporter.address", "1 Example Street, London"},
      {"constituency", "Cities of London and Westminster"},
      {"campaign", "legal-advocacy"},
      {"id", "web-2026-000123"},
      {"authorisation.statement", "I authorise Example Campaign to send these letters in my name."},
      {"fields.any_extra_key", "value a template may use"},
  };
  // As JSON writes them: CR, LF, NUL, TAB, another C0 control, DEL, NEL,
  // LINE SEPARATOR, PARAGRAPH SEPARATOR.
  const char* breakers[] = {"\\r", "\\n", "\\u0000", "\\t", "\\u001b", "\\u007f", "\\u0085", "\\u2028", "\\u2029"};
  for (const auto& field : fields) {
    for (const char* breaker : breakers) {
      std::string spoiled = field.original.substr(0, 3) + breaker + "Bcc: victim@example.com";
      Problems problems =
          parse_bad(replace(std::string(kSpecJson), "\"" + field.original + "\"", "\"" + spoiled + "\""));
      bool named =
          std::any_of(problems.begin(), problems.end(), [&](const Problem& p) { return p.where == field.key; });
      EXPECT_TRUE(named) << field.key << " with " << breaker << ": " << ::testing::PrintToString(texts(problems));
    }
  }
}

// Found by tests/fuzz/submission_fuzz: yaml-cpp throws when a missing key is asked its type.
TEST(ParseSubmission, AnAuthorisationWithoutGivenIsAProblemNotACrash) {
  Problem p = one_problem(replace(std::string(kSpecJson), "\"given\": true,", ""));
  EXPECT_EQ(p.text(), "authorisation.given: must be true or false");
}

TEST(ParseSubmission, AByteOrderMarkIsRejectedWithAReason) {
  Problem p = one_problem("\xEF\xBB\xBF" + std::string(kSpecJson));
  EXPECT_NE(p.what.find("byte-order mark"), std::string::npos) << p.text();
}

// yaml-cpp parses by recursion: the depth is bounded before it sees the text.
TEST(ParseSubmission, DeepNestingIsRejectedBeforeParsing) {
  std::string deep = "{\"fields\": " + repeat("[", 5000) + repeat("]", 5000) + "}";
  Problem p = one_problem(deep);
  EXPECT_NE(p.what.find("nest more than 16 deep"), std::string::npos) << p.text();
  // Brackets inside strings are text, not nesting.
  std::string text = replace(std::string(kSpecJson), "As a person", repeat("[", 40) + " As a person");
  EXPECT_EQ(parse_ok(text).personal_note->substr(0, 40), repeat("[", 40));
}

TEST(ParseSubmission, NotJsonOrNotAnObject) {
  Problem syntax = one_problem("{ \"campaign\": \"legal-advocacy\", ");
  EXPECT_NE(syntax.what.find("not valid JSON"), std::string::npos) << syntax.text();
  Problem list = one_problem("[1, 2, 3]");
  EXPECT_EQ(list.where, "");
  Problem empty = one_problem("");
  EXPECT_EQ(empty.where, "");
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

TEST(ParseSubmission, ProblemsAreAppendedToThoseAlreadyThere) {
  Problems problems{{"earlier", "x"}};
  EXPECT_FALSE(parse_submission("[]", "a.json", now(), problems).has_value());
  EXPECT_EQ(problems.size(), 2u);
  // And a good file with problems already listed still parses.
  EXPECT_TRUE(parse_submission(kSpecJson, "a.json", now(), problems).has_value());
  EXPECT_EQ(problems.size(), 2u);
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

// ================================================================ plan_messages

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
    auto planned = plan_messages(s, *config, plan_problems);
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
