#include "targets.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace letterd {
namespace {

using Columns = std::set<std::string, std::less<>>;

std::vector<std::string> texts(const Problems& problems) {
  std::vector<std::string> out;
  for (const auto& p : problems) out.push_back(p.text());
  return out;
}

Targets csv_ok(std::string_view text, const std::string& file = "targets/mps.csv") {
  Problems problems;
  auto targets = Targets::parse_csv(text, file, problems);
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(texts(problems));
  if (!targets) throw std::runtime_error("targets did not parse");
  return std::move(*targets);
}

// The problems of a CSV that must not load, as the user reads them.
std::vector<std::string> csv_problems(std::string_view text, const std::string& file = "targets/mps.csv") {
  Problems problems;
  EXPECT_FALSE(Targets::parse_csv(text, file, problems).has_value());
  return texts(problems);
}

Targets yaml_ok(std::string_view text, const std::string& file = "targets/mps.yaml") {
  Problems problems;
  auto targets = Targets::parse_yaml(text, file, problems);
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(texts(problems));
  if (!targets) throw std::runtime_error("targets did not parse");
  return std::move(*targets);
}

std::vector<std::string> yaml_problems(std::string_view text, const std::string& file = "targets/mps.yaml") {
  Problems problems;
  EXPECT_FALSE(Targets::parse_yaml(text, file, problems).has_value());
  return texts(problems);
}

constexpr std::string_view kHeader = "id,name,email,constituency\n";

// ---------------------------------------------------------------- CSV reading

TEST(TargetsCsv, PlainFileLoadsEveryRowAndColumn) {
  Targets t = csv_ok(
      "id,name,email,constituency\n"
      "mp-islington-north,Jo Placeholder MP,jo.placeholder.mp@example.org,Islington North\n"
      "mp-bristol-central,Robin Fictional MP,robin.fictional.mp@example.org,Bristol Central\n"
      "justice-secretary,Justice Secretary,justice.secretary@example.org,\n");
  EXPECT_EQ(t.size(), 3u);
  const Target* jo = t.by_id("mp-islington-north");
  ASSERT_NE(jo, nullptr);
  EXPECT_EQ(jo->id(), "mp-islington-north");
  EXPECT_EQ(jo->name(), "Jo Placeholder MP");
  EXPECT_EQ(jo->email(), "jo.placeholder.mp@example.org");
  EXPECT_EQ(jo->columns.at("constituency"), "Islington North");
  // A trailing empty cell is an empty value, not a missing column.
  const Target* js = t.by_id("justice-secretary");
  ASSERT_NE(js, nullptr);
  EXPECT_EQ(js->columns.size(), 4u);
  EXPECT_EQ(js->columns.at("constituency"), "");
  EXPECT_EQ(t.columns(), (Columns{"constituency", "email", "id", "name"}));
}

TEST(TargetsCsv, QuotedFieldsKeepCommasDoubledQuotesAndLineBreaks) {
  Targets t = csv_ok(
      "id,name,email,office\n"
      "mp-a,\"Example, Alex MP\",alex@example.org,\"House of Commons\n"
      "London SW1A 0AA\"\n"
      "mp-b,\"Sam \"\"The Sample\"\" MP\",sam@example.org,\"\"\n"
      "mp-c,Jo MP,\"jo@example.org\",plain\n");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t.by_id("mp-a")->name(), "Example, Alex MP");
  EXPECT_EQ(t.by_id("mp-a")->columns.at("office"), "House of Commons\nLondon SW1A 0AA");
  EXPECT_EQ(t.by_id("mp-b")->name(), "Sam \"The Sample\" MP");
  EXPECT_EQ(t.by_id("mp-b")->columns.at("office"), "");
  EXPECT_EQ(t.by_id("mp-c")->email(), "jo@example.org");
  EXPECT_EQ(t.by_id("mp-c")->columns.at("office"), "plain");
}

TEST(TargetsCsv, ByteOrderMarkAndCrlfLineEndsAreInvisible) {
  // Spreadsheets export this: a BOM before the header, CRLF after every row.
  Targets t = csv_ok(
      "\xEF\xBB\xBFid,name,email,constituency\r\n"
      "mp-a,Alex MP,alex@example.org,Islington North\r\n"
      "mp-b,\"Sample, Sam\",sam@example.org,Bristol Central\r\n");
  ASSERT_EQ(t.size(), 2u);
  // The BOM is not part of the first column's name: "id" is found.
  EXPECT_EQ(t.columns(), (Columns{"constituency", "email", "id", "name"}));
  const Target* a = t.by_id("mp-a");
  ASSERT_NE(a, nullptr);
  // No stray CR at the end of the last column.
  EXPECT_EQ(a->columns.at("constituency"), "Islington North");
  EXPECT_EQ(t.by_id("mp-b")->columns.at("constituency"), "Bristol Central");
  EXPECT_EQ(t.by_constituency("bristol central")->id(), "mp-b");
}

TEST(TargetsCsv, BlankLinesAndMissingFinalNewlineAreFine) {
  Targets t = csv_ok(
      "id,name,email\n"
      "\n"
      "a,Alex MP,alex@example.org\n"
      "\n"
      "b,Sam MP,sam@example.org");
  EXPECT_EQ(t.size(), 2u);
  ASSERT_NE(t.by_id("b"), nullptr);
  EXPECT_EQ(t.by_id("b")->email(), "sam@example.org");
}

// ---------------------------------------------------------------- CSV problems

TEST(TargetsCsv, MissingIdNameAndEmailValuesNameFileAndLine) {
  auto problems = csv_problems(std::string(kHeader) +
                               "mp-a,Alex MP,alex@example.org,Islington North\n"  // line 2
                               ",Nobody MP,nobody@example.org,Bristol Central\n"  // line 3
                               "mp-c,,c@example.org,Cardiff East\n"               // line 4
                               "mp-d,Dee MP,,Holborn and St Pancras\n");          // line 5
  EXPECT_EQ(problems, (std::vector<std::string>{
                          "targets/mps.csv:3: no id",
                          "targets/mps.csv:4: no name",
                          "targets/mps.csv:5: no email",
                      }));
}

TEST(TargetsCsv, MissingRequiredColumnIsReportedForEveryRow) {
  auto problems = csv_problems(
      "id,name,constituency\n"
      "mp-a,Alex MP,Islington North\n"
      "mp-b,Sam MP,Bristol Central\n");
  EXPECT_EQ(problems, (std::vector<std::string>{"targets/mps.csv:2: no email", "targets/mps.csv:3: no email"}));
}

TEST(TargetsCsv, LineNumbersCountLinesInsideQuotedFields) {
  auto problems = csv_problems(
      "id,name,email,office\n"                      // 1
      "mp-a,Alex MP,alex@example.org,\"line one\n"  // 2
      "line two\n"                                  // 3
      "line three\"\n"                              // 4
      "mp-b,Sam MP,not-an-address,Office\n");       // 5
  EXPECT_EQ(problems, (std::vector<std::string>{"targets/mps.csv:5: email 'not-an-address' is not a valid address"}));
}

TEST(TargetsCsv, InvalidEmailIsReported) {
  auto problems = csv_problems(std::string(kHeader) +
                               "mp-a,Alex MP,alex.example.org,Islington North\n"
                               "mp-b,Sam MP,sam@,Bristol Central\n"
                               "mp-c,Jo MP,jo @example.org,Cardiff East\n");
  EXPECT_EQ(problems, (std::vector<std::string>{
                          "targets/mps.csv:2: email 'alex.example.org' is not a valid address",
                          "targets/mps.csv:3: email 'sam@' is not a valid address",
                          "targets/mps.csv:4: email 'jo @example.org' is not a valid address",
                      }));
}

TEST(TargetsCsv, NonAsciiEmailIsSaidToBeUnsupported) {
  auto problems = csv_problems(std::string(kHeader) + "mp-a,Alex MP,alex@exämple.org,Islington North\n");
  EXPECT_EQ(problems, (std::vector<std::string>{
                          "targets/mps.csv:2: email 'alex@exämple.org': addresses with non-ASCII characters are "
                          "not supported"}));
}

// With two email columns the last one used to win, silently: letters would
// go to whichever address the spreadsheet happened to put second.
TEST(TargetsCsv, AColumnNameGivenTwiceIsAnError) {
  auto problems = csv_problems(
      "id,name,email,constituency,email\n"
      "mp-a,Alex MP,alex@example.org,Islington North,someone.else@example.com\n");
  EXPECT_EQ(problems, (std::vector<std::string>{"targets/mps.csv:1: column email appears twice in the header"}));
  // After a leading blank line the header is on line 2.
  EXPECT_EQ(csv_problems("\nid,name,id,email\nmp-a,A,b,a@example.org\n"),
            (std::vector<std::string>{"targets/mps.csv:2: column id appears twice in the header"}));
}

TEST(TargetsCsv, DuplicateIdIsReportedOnTheSecondRow) {
  auto problems = csv_problems(std::string(kHeader) +
                               "mp-a,Alex MP,alex@example.org,Islington North\n"
                               "mp-b,Sam MP,sam@example.org,Bristol Central\n"
                               "mp-a,Alex Again MP,alex2@example.org,Cardiff East\n");
  EXPECT_EQ(problems, (std::vector<std::string>{"targets/mps.csv:4: id 'mp-a' appears twice"}));
}

TEST(TargetsCsv, DuplicateConstituencyIsReportedEvenWhenSpeltDifferently) {
  auto problems = csv_problems(std::string(kHeader) +
                               "mp-a,Alex MP,alex@example.org,Islington North\n"
                               "mp-b,Sam MP,sam@example.org,  ISLINGTON   north \n");
  EXPECT_EQ(problems,
            (std::vector<std::string>{"targets/mps.csv:3: constituency '  ISLINGTON   north ' appears twice"}));
}

TEST(TargetsCsv, SeveralTargetsWithoutConstituencyAreNotDuplicates) {
  Targets t = csv_ok(std::string(kHeader) +
                     "justice-secretary,Justice Secretary,justice.secretary@example.org,\n"
                     "home-secretary,Home Secretary,home.secretary@example.org,\n");
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.by_constituency(""), nullptr);
}

TEST(TargetsCsv, WrongFieldCountNamesLineAndCounts) {
  auto problems = csv_problems(std::string(kHeader) +
                               "mp-a,Alex MP,alex@example.org\n"
                               "mp-b,Sam MP,sam@example.org,Bristol Central,extra\n"
                               "mp-c,\"Jo, MP\",jo@example.org,Cardiff East\n");
  EXPECT_EQ(problems, (std::vector<std::string>{
                          "targets/mps.csv:2: has 3 fields, the header has 4",
                          "targets/mps.csv:3: has 5 fields, the header has 4",
                      }));
}

TEST(TargetsCsv, UnclosedQuoteIsReported) {
  auto problems = csv_problems(std::string(kHeader) + "mp-a,\"Alex MP,alex@example.org,Islington North\n");
  ASSERT_FALSE(problems.empty());
  EXPECT_EQ(problems.front(), "targets/mps.csv:2: a quoted field is never closed");
}

TEST(TargetsCsv, EmptyFileHasNoHeader) {
  EXPECT_EQ(csv_problems(""), (std::vector<std::string>{"targets/mps.csv: no header row"}));
}

TEST(TargetsCsv, EveryProblemIsReportedNotOnlyTheFirst) {
  auto problems = csv_problems(std::string(kHeader) +
                               "mp-a,Alex MP,alex@example.org,Islington North\n"  // 2
                               "mp-a,Alex MP,alex@example.org,Bristol Central\n"  // 3: duplicate id
                               "mp-b,Sam MP,bad,Cardiff East\n"                   // 4: bad email
                               ",,,Holborn\n");                                   // 5: no id, name, email
  EXPECT_EQ(problems, (std::vector<std::string>{
                          "targets/mps.csv:3: id 'mp-a' appears twice",
                          "targets/mps.csv:4: email 'bad' is not a valid address",
                          "targets/mps.csv:5: no id",
                          "targets/mps.csv:5: no name",
                          "targets/mps.csv:5: no email",
                      }));
}

// A target's name reaches the To header and, through {{target.name}}, the
// Subject: a line break typed into a spreadsheet cell must fail the check,
// not every later submission for that MP.
TEST(TargetsCsv, NameWithLineBreakIsRejectedAtLoad) {
  Problems problems;
  auto targets =
      Targets::parse_csv(std::string(kHeader) + "mp-a,\"Alex\nExample MP\",alex@example.org,Islington North\n",
                         "targets/mps.csv", problems);
  EXPECT_FALSE(targets.has_value());
  ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(texts(problems));
  EXPECT_EQ(problems[0].where, "targets/mps.csv:2");
}

// ---------------------------------------------------------------- YAML

TEST(TargetsYaml, ListOfMapsLoads) {
  Targets t = yaml_ok(
      "- id: mp-a\n"
      "  name: Alex Example MP\n"
      "  email: alex@example.org\n"
      "  constituency: Islington North\n"
      "  party: Example Party\n"
      "- { id: justice-secretary, name: Justice Secretary, email: justice.secretary@example.org, constituency: \"\" "
      "}\n");
  ASSERT_EQ(t.size(), 2u);
  const Target* a = t.by_id("mp-a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->name(), "Alex Example MP");
  EXPECT_EQ(a->email(), "alex@example.org");
  EXPECT_EQ(a->columns.at("party"), "Example Party");
  EXPECT_EQ(t.by_id("justice-secretary")->email(), "justice.secretary@example.org");
  EXPECT_EQ(t.by_constituency("islington north"), a);
  // party is not in every row, so it is not a column templates may use.
  EXPECT_EQ(t.columns(), (Columns{"constituency", "email", "id", "name"}));
}

TEST(TargetsYaml, ProblemsNameFileAndLineOfTheTarget) {
  auto problems = yaml_problems(
      "- id: mp-a\n"                 // 1
      "  name: Alex MP\n"            // 2
      "  email: alex@example.org\n"  // 3
      "- id: mp-b\n"                 // 4
      "  email: sam@example.org\n"   // 5
      "- id: mp-a\n"                 // 6
      "  name: Alex Again\n"         // 7
      "  email: not-an-address\n");  // 8
  EXPECT_EQ(problems, (std::vector<std::string>{
                          "targets/mps.yaml:4: no name",
                          "targets/mps.yaml:6: email 'not-an-address' is not a valid address",
                          "targets/mps.yaml:6: id 'mp-a' appears twice",
                      }));
}

TEST(TargetsYaml, NonListAndNonMapItemsAreRejected) {
  EXPECT_EQ(
      yaml_problems("id: mp-a\nname: Alex\nemail: a@example.org\n"),
      (std::vector<std::string>{"targets/mps.yaml: must be a list of targets, each a map with id, name and email"}));
  EXPECT_EQ(yaml_problems("- id: a\n  name: A\n  email: a@example.org\n- just text\n"),
            (std::vector<std::string>{"targets/mps.yaml:4: a target must be a map"}));
  EXPECT_EQ(yaml_problems("- id: a\n  name: [A, B]\n  email: a@example.org\n"),
            (std::vector<std::string>{"targets/mps.yaml:1: column name must be a string"}));
}

TEST(TargetsYaml, AColumnGivenTwiceInOneTargetIsAnError) {
  EXPECT_EQ(yaml_problems("- id: mp-a\n"
                          "  name: Alex MP\n"
                          "  email: alex@example.org\n"
                          "  email: someone.else@example.com\n"),
            (std::vector<std::string>{"targets/mps.yaml:4: column email is given twice"}));
}

// YAML::Load reads the first document only: the targets after a --- were dropped unread.
TEST(TargetsYaml, ASecondDocumentIsAnError) {
  const std::string first = "- { id: mp-a, name: Alex MP, email: alex@example.org }\n";
  EXPECT_EQ(yaml_problems(first + "---\n- { id: mp-b, name: Sam MP, email: sam@example.org }\n"),
            (std::vector<std::string>{
                "targets/mps.yaml:3: a second YAML document (after a line ---): a targets file is one list"}));
  EXPECT_EQ(yaml_ok("---\n" + first + "...\n").size(), 1u);
}

TEST(TargetsYaml, SyntaxErrorNamesFileAndLine) {
  auto problems = yaml_problems("- id: a\n  name: A\n  email: [a@example.org\n");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(problems[0].starts_with("targets/mps.yaml:")) << problems[0];
}

// ---------------------------------------------------------------- look-ups

TEST(TargetsLookup, ByIdIsExact) {
  Targets t = csv_ok(std::string(kHeader) + "mp-a,Alex MP,alex@example.org,Islington North\n");
  EXPECT_NE(t.by_id("mp-a"), nullptr);
  EXPECT_EQ(t.by_id("MP-A"), nullptr);
  EXPECT_EQ(t.by_id("mp-a "), nullptr);
  EXPECT_EQ(t.by_id(""), nullptr);
  EXPECT_EQ(t.by_id("mp-b"), nullptr);
}

TEST(TargetsLookup, ByConstituencyFoldsCaseAndSpaces) {
  Targets t = csv_ok(std::string(kHeader) +
                     "mp-cities,Alex MP,alex@example.org,Cities of London and Westminster\n"
                     "mp-newcastle,Chris MP,chris@example.org,Newcastle upon Tyne Central and West\n"
                     "justice-secretary,Justice Secretary,js@example.org,\n");
  const Target* cities = t.by_id("mp-cities");
  EXPECT_EQ(t.by_constituency("Cities of London and Westminster"), cities);
  EXPECT_EQ(t.by_constituency("  cities OF london   and westminster "), cities);
  EXPECT_EQ(t.by_constituency("CITIES\tOF LONDON AND\nWESTMINSTER"), cities);
  EXPECT_EQ(t.by_constituency("newcastle upon tyne central and west"), t.by_id("mp-newcastle"));
  // Folding spaces does not remove them: words must still be separate.
  EXPECT_EQ(t.by_constituency("CitiesofLondonandWestminster"), nullptr);
  EXPECT_EQ(t.by_constituency("Cities of London"), nullptr);
  EXPECT_EQ(t.by_constituency(""), nullptr);
  EXPECT_EQ(t.by_constituency("   "), nullptr);
}

TEST(TargetsLookup, ColumnsAreTheIntersectionOfEveryRowsColumns) {
  Targets t = yaml_ok(
      "- { id: a, name: A, email: a@example.org, constituency: X, party: P, twitter: '@a' }\n"
      "- { id: b, name: B, email: b@example.org, constituency: Y, party: Q }\n"
      "- { id: c, name: C, email: c@example.org, party: R, office: Z }\n");
  EXPECT_EQ(t.columns(), (Columns{"email", "id", "name", "party"}));
  // A row keeps its own extra columns even when they are not in columns().
  EXPECT_EQ(t.by_id("a")->columns.at("twitter"), "@a");
  EXPECT_EQ(t.by_constituency("y")->id(), "b");
}

TEST(TargetsLookup, RepositoryTargetsFileLoads) {
  std::ifstream in(LETTERD_SOURCE_DIR "/config/targets/uk-mps.csv", std::ios::binary);
  ASSERT_TRUE(in) << "cannot open config/targets/uk-mps.csv";
  std::stringstream text;
  text << in.rdbuf();
  Targets t = csv_ok(text.str(), "config/targets/uk-mps.csv");
  EXPECT_EQ(t.size(), 7u);
  ASSERT_NE(t.by_id("justice-secretary"), nullptr);
  EXPECT_EQ(t.by_id("justice-secretary")->email(), "justice.secretary@example.org");
  ASSERT_NE(t.by_constituency("cardiff east"), nullptr);
  EXPECT_EQ(t.by_constituency("cardiff east")->id(), "mp-cardiff-east");
  EXPECT_EQ(t.columns(), (Columns{"constituency", "constituency_code", "email", "id", "name"}));
  ASSERT_NE(t.by_constituency_code("E14001172"), nullptr);
  EXPECT_EQ(t.by_constituency_code("E14001172")->id(), "mp-cities-of-london-and-westminster");
  EXPECT_EQ(t.by_constituency_code("E14009999"), nullptr);
}

// ---------------------------------------------------------------- fold_constituency

TEST(FoldConstituency, Examples) {
  EXPECT_EQ(fold_constituency("Cities of London and Westminster"), "cities of london and westminster");
  EXPECT_EQ(fold_constituency("  cities OF london   and westminster "), "cities of london and westminster");
  EXPECT_EQ(fold_constituency("Bristol\t\tCentral\r\n"), "bristol central");
  EXPECT_EQ(fold_constituency("Ynys Môn"), "ynys môn");  // non-ASCII bytes pass through unchanged
  EXPECT_EQ(fold_constituency("Richmond (Yorks)"), "richmond (yorks)");
  EXPECT_EQ(fold_constituency(""), "");
  EXPECT_EQ(fold_constituency(" \t "), "");
  EXPECT_EQ(fold_constituency("A"), "a");
}

}  // namespace
}  // namespace letterd
