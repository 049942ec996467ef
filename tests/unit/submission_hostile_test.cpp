// parse_submission on files that are malformed or written to do harm:
// unknown and repeated keys, bad encodings, sizes and nesting past the
// limits, characters that could break or disguise a header. Every problem
// is reported, and none quotes what the supporter wrote.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "submission.h"
#include "submission_fixture.h"
#include "test_support.h"

namespace letterd {
namespace {

using namespace letterd::testing;

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

TEST(ParseSubmission, ProblemsAreAppendedToThoseAlreadyThere) {
  Problems problems{{"earlier", "x"}};
  EXPECT_FALSE(parse_submission("[]", "a.json", now(), problems).has_value());
  EXPECT_EQ(problems.size(), 2u);
  // And a good file with problems already listed still parses.
  EXPECT_TRUE(parse_submission(kSpecJson, "a.json", now(), problems).has_value());
  EXPECT_EQ(problems.size(), 2u);
}

}  // namespace
}  // namespace letterd
