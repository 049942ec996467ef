#include "template.h"

#include <gtest/gtest.h>

#include <string>

namespace letterd {
namespace {

// The example from SPEC "Templates", as an organiser would write it.
constexpr std::string_view kSeed =
    "---\n"
    "subject: Free and independent legal advocacy for sexual offence complainants\n"
    "---\n"
    "Dear {{target.name}},\n"
    "\n"
    "My name is {{supporter.name}} and I'm writing as your constituent ...\n"
    "{{#personal_note}}\n"
    "\n"
    "{{personal_note}}\n"
    "{{/personal_note}}\n"
    "Yours sincerely,\n"
    "{{supporter.name}}\n";

const Values kSeedValues{{"target.name", "Jane Smith MP"}, {"supporter.name", "Sam Jones"}};

std::vector<std::string> texts(const Problems& problems) {
  std::vector<std::string> out;
  for (const auto& p : problems) out.push_back(p.text());
  return out;
}

LetterTemplate parse_ok(std::string_view text, const std::string& file = "templates/mp.txt") {
  Problems problems;
  auto parsed = parse_letter_template(text, file, problems);
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(texts(problems));
  if (!parsed) throw std::runtime_error("template did not parse");
  return std::move(*parsed);
}

Problems parse_problems(std::string_view text, const std::string& file = "templates/mp.txt") {
  Problems problems;
  EXPECT_FALSE(parse_letter_template(text, file, problems).has_value());
  return problems;
}

std::string render_ok(const Template& t, const Values& values) {
  Problems problems;
  auto out = t.render(values, problems);
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(texts(problems));
  return out.value_or("<render failed>");
}

// A bare template body starting on line 1 of "t.txt".
Template body(std::string_view text) {
  Problems problems;
  auto t = Template::parse(text, "t.txt", 1, problems);
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(texts(problems));
  if (!t) throw std::runtime_error("template did not parse");
  return std::move(*t);
}

Problems body_problems(std::string_view text) {
  Problems problems;
  EXPECT_FALSE(Template::parse(text, "t.txt", 1, problems).has_value());
  return problems;
}

TEST(Template, SeedWithoutPersonalNoteLeavesNoGap) {
  const LetterTemplate t = parse_ok(kSeed);
  EXPECT_EQ(render_ok(t.subject, kSeedValues), "Free and independent legal advocacy for sexual offence complainants");
  EXPECT_EQ(render_ok(t.body, kSeedValues),
            "Dear Jane Smith MP,\n"
            "\n"
            "My name is Sam Jones and I'm writing as your constituent ...\n"
            "Yours sincerely,\n"
            "Sam Jones\n");
}

TEST(Template, SeedWithEmptyPersonalNoteIsTheSameAsWithout) {
  const LetterTemplate t = parse_ok(kSeed);
  Values values = kSeedValues;
  values["personal_note"] = "";
  EXPECT_EQ(render_ok(t.body, values), render_ok(t.body, kSeedValues));
}

TEST(Template, SeedWithPersonalNote) {
  const LetterTemplate t = parse_ok(kSeed);
  Values values = kSeedValues;
  values["personal_note"] = "I was a complainant myself.\nIt took four years.";
  EXPECT_EQ(render_ok(t.body, values),
            "Dear Jane Smith MP,\n"
            "\n"
            "My name is Sam Jones and I'm writing as your constituent ...\n"
            "\n"
            "I was a complainant myself.\nIt took four years.\n"
            "Yours sincerely,\n"
            "Sam Jones\n");
}

TEST(Template, SubjectIsATemplate) {
  const LetterTemplate t = parse_ok("---\nsubject: \"{{supporter.name}} asks: act now\"\n---\nBody\n");
  EXPECT_EQ(render_ok(t.subject, kSeedValues), "Sam Jones asks: act now");
  ASSERT_EQ(t.subject.names().size(), 1u);
  EXPECT_EQ(t.subject.names()[0].name, "supporter.name");
  EXPECT_EQ(t.subject.names()[0].line, 2);
  EXPECT_EQ(render_ok(t.body, {}), "Body\n");
}

TEST(Template, InvertedSection) {
  const Template t = body("Hello\n{{^personal_note}}\nNo note given.\n{{/personal_note}}\nBye\n");
  EXPECT_EQ(render_ok(t, {}), "Hello\nNo note given.\nBye\n");
  EXPECT_EQ(render_ok(t, {{"personal_note", ""}}), "Hello\nNo note given.\nBye\n");
  EXPECT_EQ(render_ok(t, {{"personal_note", "x"}}), "Hello\nBye\n");
}

TEST(Template, InlineSectionsKeepTheirLine) {
  const Template t = body("A{{#x}} and {{x}}{{/x}}.\n{{#x}}{{/x}}\nB\n");
  EXPECT_EQ(render_ok(t, {{"x", "X"}}), "A and X.\n\nB\n");
  EXPECT_EQ(render_ok(t, {}), "A.\n\nB\n");
}

TEST(Template, CommentsDisappear) {
  const Template t =
      body("{{! a note for organisers }}\nDear {{name}},{{! inline }}\n  {{!\n  spans lines\n  }}\nEnd\n");
  EXPECT_EQ(render_ok(t, {{"name", "Jo"}}), "Dear Jo,\nEnd\n");
}

TEST(Template, NestedSections) {
  const Template t = body(
      "Start\n"
      "{{#a}}\n"
      "a is {{a}}\n"
      "  {{#b}}\n"
      "and b is {{b}}\n"
      "  {{/b}}\n"
      "  {{^b}}\n"
      "but no b\n"
      "  {{/b}}\n"
      "{{/a}}\n"
      "End\n");
  EXPECT_EQ(render_ok(t, {}), "Start\nEnd\n");
  EXPECT_EQ(render_ok(t, {{"a", "1"}}), "Start\na is 1\nbut no b\nEnd\n");
  EXPECT_EQ(render_ok(t, {{"a", "1"}, {"b", "2"}}), "Start\na is 1\nand b is 2\nEnd\n");
  EXPECT_EQ(render_ok(t, {{"b", "2"}}), "Start\nEnd\n");
}

TEST(Template, WhitespaceInsideBraces) {
  const Template t = body("{{ # x }}\n[{{ x }}]\n{{ / x }}\n");
  EXPECT_EQ(render_ok(t, {{"x", "v"}}), "[v]\n");
}

TEST(Template, StandaloneTagOnLastLineWithoutNewline) {
  EXPECT_EQ(render_ok(body("a\n{{#x}}\nb\n  {{/x}}  "), {}), "a\n");
  EXPECT_EQ(render_ok(body("a\n{{#x}}\nb\n  {{/x}}  "), {{"x", "1"}}), "a\nb\n");
}

TEST(Template, VariableTagIsNeverStandalone) {
  EXPECT_EQ(render_ok(body("a\n  {{x}}\nb\n"), {{"x", "X"}}), "a\n  X\nb\n");
}

TEST(Template, CrlfInputRendersWithLf) {
  std::string crlf;
  for (char c : kSeed) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  const LetterTemplate t = parse_ok(crlf);
  Values values = kSeedValues;
  EXPECT_EQ(render_ok(t.body, values), render_ok(parse_ok(kSeed).body, values));
  EXPECT_EQ(render_ok(t.subject, values), "Free and independent legal advocacy for sexual offence complainants");
  values["personal_note"] = "Note";
  EXPECT_EQ(render_ok(t.body, values), render_ok(parse_ok(kSeed).body, values));
}

TEST(Template, UnicodePassesThroughUnchanged) {
  const LetterTemplate t = parse_ok(
      "---\nsubject: “Fund it” — £2m for advocacy\n---\n"
      "Dear {{target.name}}, it costs £2m — “not much”. Café.\n");
  EXPECT_EQ(render_ok(t.subject, {}), "“Fund it” — £2m for advocacy");
  EXPECT_EQ(render_ok(t.body, {{"target.name", "Zoë Ó Briain"}}),
            "Dear Zoë Ó Briain, it costs £2m — “not much”. Café.\n");
}

TEST(Template, NothingIsEscaped) {
  EXPECT_EQ(render_ok(body("{{x}}\n"), {{"x", "<b>&amp; \"q\" 'a'</b>"}}), "<b>&amp; \"q\" 'a'</b>\n");
}

TEST(Template, MissingValueOutsideSectionNamesTheLine) {
  const LetterTemplate t = parse_ok(kSeed);
  Problems problems;
  EXPECT_FALSE(t.body.render({{"target.name", "Jane"}}, problems).has_value());
  // One problem per name, at its first use: line 6 of the file.
  EXPECT_EQ(texts(problems), std::vector<std::string>{"templates/mp.txt:6: no value for supporter.name"});
  EXPECT_EQ(problems[0].where, "templates/mp.txt:6");
  EXPECT_EQ(problems[0].what, "no value for supporter.name");
}

TEST(Template, EmptyValueOutsideSectionIsAProblem) {
  const LetterTemplate t = parse_ok(kSeed);
  Problems problems;
  EXPECT_FALSE(t.body.render({{"target.name", ""}, {"supporter.name", "Sam"}}, problems).has_value());
  EXPECT_EQ(texts(problems), std::vector<std::string>{"templates/mp.txt:4: no value for target.name"});
}

TEST(Template, MissingValueInsideSectionRendersEmpty) {
  EXPECT_EQ(render_ok(body("{{#a}}[{{b}}]{{/a}}\n"), {{"a", "1"}}), "[]\n");
}

TEST(Template, NamesInOrderWithLinesAndSectionFlags) {
  const LetterTemplate t = parse_ok(kSeed);
  const auto& names = t.body.names();
  ASSERT_EQ(names.size(), 5u);
  EXPECT_EQ(names[0].name, "target.name");
  EXPECT_EQ(names[0].line, 4);
  EXPECT_FALSE(names[0].in_section);
  EXPECT_EQ(names[1].name, "supporter.name");
  EXPECT_EQ(names[1].line, 6);
  EXPECT_EQ(names[2].name, "personal_note");
  EXPECT_EQ(names[2].line, 7);
  EXPECT_TRUE(names[2].in_section);  // a section's own name may be empty
  EXPECT_EQ(names[3].name, "personal_note");
  EXPECT_EQ(names[3].line, 9);
  EXPECT_TRUE(names[3].in_section);
  EXPECT_EQ(names[4].line, 12);
  EXPECT_FALSE(names[4].in_section);
}

TEST(Template, UnknownNamesAreReportedPerUse) {
  const LetterTemplate t = parse_ok(
      "---\nsubject: Hi {{supporter.nme}}\n---\n"
      "{{#fields.}}x{{/fields.}}\n"
      "{{target.name}} {{fields.reason}} {{campaign.title}}\n"
      "{{#bogus}}\n{{bogus}}\n{{/bogus}}\n");
  NameRules rules;
  rules.exact = {"personal_note", "submission.id", "supporter.name"};
  rules.open_prefixes = {"target.", "fields.", "campaign."};
  Problems problems;
  t.subject.check_names(rules, problems);
  t.body.check_names(rules, problems);
  EXPECT_EQ(texts(problems), (std::vector<std::string>{
                                 "templates/mp.txt:2: unknown name supporter.nme",
                                 "templates/mp.txt:4: unknown name fields.",
                                 "templates/mp.txt:6: unknown name bogus",
                                 "templates/mp.txt:7: unknown name bogus",
                             }));
  EXPECT_EQ(problems[0].where, "templates/mp.txt:2");
}

TEST(NameRules, ExactAndOpenPrefixes) {
  NameRules rules{{"personal_note"}, {"fields."}};
  EXPECT_TRUE(rules.allows("personal_note"));
  EXPECT_TRUE(rules.allows("fields.x"));
  EXPECT_FALSE(rules.allows("fields."));
  EXPECT_FALSE(rules.allows("fields"));
  EXPECT_FALSE(rules.allows("personal_notes"));
  EXPECT_FALSE(rules.allows(""));
}

TEST(Template, SectionNeverClosedNamesItsOpeningLine) {
  const Problems problems = parse_problems(
      "---\nsubject: s\n---\nDear {{target.name}},\n\n\n\n\n\n\n\n\n\n{{#personal_note}}\n{{personal_note}}\n");
  EXPECT_EQ(texts(problems), std::vector<std::string>{"templates/mp.txt:14: section personal_note is never closed"});
  EXPECT_EQ(problems[0].where, "templates/mp.txt:14");
}

TEST(Template, CloseWithNothingOpen) {
  EXPECT_EQ(texts(body_problems("a\nb\n{{/x}}\n")), std::vector<std::string>{"t.txt:3: {{/x}} closes no open section"});
}

TEST(Template, MismatchedCloseNamesBothTags) {
  EXPECT_EQ(texts(body_problems("{{#note}}\nx\n{{/nte}}\nafter\n")),
            std::vector<std::string>{"t.txt:3: {{/nte}} does not match {{#note}} on line 1"});
}

TEST(Template, ClosingOuterLeavesInnerUnclosed) {
  EXPECT_EQ(texts(body_problems("{{#a}}\n{{^b}}\n{{/a}}\n")),
            std::vector<std::string>{"t.txt:2: section b is never closed"});
}

TEST(Template, UnclosedTagAndBadTags) {
  EXPECT_EQ(texts(body_problems("ok\nDear {{name,\n{{bad name}}\n{{>partial}}\n{{}}\n")),
            (std::vector<std::string>{
                "t.txt:2: {{ is not closed by }} on the same line",
                "t.txt:3: {{bad name}} is not a tag (a name is letters, digits, _ . and -)",
                "t.txt:4: {{>partial}} is not a tag (a name is letters, digits, _ . and -)",
                "t.txt:5: {{}} is not a tag (a name is letters, digits, _ . and -)",
            }));
  EXPECT_EQ(texts(body_problems("a\n{{! never closed\n")),
            std::vector<std::string>{"t.txt:2: {{! comment is never closed by }}"});
}

TEST(Template, BodyLineNumbersCountFromTheFileStart) {
  // Front matter takes lines 1-4, so the body's third line is line 7.
  const Problems problems = parse_problems("---\n# the subject\nsubject: s\n---\nDear,\n\n{{/x}}\n");
  EXPECT_EQ(texts(problems), std::vector<std::string>{"templates/mp.txt:7: {{/x}} closes no open section"});
}

TEST(Template, MissingFrontMatter) {
  EXPECT_EQ(
      texts(parse_problems("Dear {{target.name}},\n")),
      std::vector<std::string>{"templates/mp.txt:1: missing front matter (a first line ---, subject: ..., then ---)"});
  EXPECT_EQ(texts(parse_problems("")),
            std::vector<std::string>{"templates/mp.txt:1: missing front matter (a first line ---, "
                                     "subject: ..., then ---)"});
}

TEST(Template, UnterminatedFrontMatter) {
  EXPECT_EQ(texts(parse_problems("---\nsubject: s\nDear x\n")),
            std::vector<std::string>{"templates/mp.txt:1: front matter is never closed by a line ---"});
}

TEST(Template, MissingOrEmptySubject) {
  EXPECT_EQ(texts(parse_problems("---\n---\nBody\n")),
            std::vector<std::string>{"templates/mp.txt:1: front matter has no subject"});
  EXPECT_EQ(texts(parse_problems("---\nsubject:\n---\nBody\n")),
            std::vector<std::string>{"templates/mp.txt:2: subject is empty"});
}

TEST(Template, UnknownFrontMatterKey) {
  const Problems problems = parse_problems("---\nsubject: s\nfrom: me@example.org\n---\nBody\n");
  EXPECT_EQ(texts(problems), std::vector<std::string>{"templates/mp.txt:3: unknown front-matter key from"});
  EXPECT_EQ(problems[0].what, "unknown front-matter key from");
}

TEST(Template, MultiLineSubject) {
  EXPECT_EQ(texts(parse_problems("---\nsubject: |\n  one\n  two\n---\nBody\n")),
            std::vector<std::string>{"templates/mp.txt:2: subject must be one line"});
}

TEST(Template, UnquotedBracesSubjectGetsAHint) {
  for (std::string_view subject : {"{{supporter.name}}", "{{supporter.name}} writes"}) {
    const Problems problems = parse_problems("---\nsubject: " + std::string(subject) + "\n---\nBody\n");
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].where, "templates/mp.txt:2");
    EXPECT_NE(problems[0].what.find("quote"), std::string::npos) << problems[0].what;
  }
}

TEST(Template, InvalidYamlNamesTheLine) {
  const Problems problems = parse_problems("---\nsubject: s\n  bad: [\n---\nBody\n");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(problems[0].what.starts_with("front matter is not valid YAML")) << problems[0].what;
}

TEST(Template, SubjectProblemsNameTheSubjectLine) {
  EXPECT_EQ(texts(parse_problems("---\n# comment\nsubject: \"{{#x}} hi\"\n---\nBody\n")),
            std::vector<std::string>{"templates/mp.txt:3: section x is never closed"});
}

TEST(Template, AllProblemsAreReportedTogether) {
  const Problems problems = parse_problems("---\ntitle: t\n---\n{{#a}}\n");
  EXPECT_EQ(texts(problems), (std::vector<std::string>{
                                 "templates/mp.txt:2: unknown front-matter key title",
                                 "templates/mp.txt:1: front matter has no subject",
                                 "templates/mp.txt:4: section a is never closed",
                             }));
}

TEST(Template, BodyMayBeEmptyAfterClosingLine) {
  const LetterTemplate t = parse_ok("---\nsubject: s\n---");
  EXPECT_EQ(render_ok(t.body, {}), "");
  EXPECT_EQ(t.file, "templates/mp.txt");
}

}  // namespace
}  // namespace letterd
