// Whole imports into a throwaway folder, read back through PostcodeLookup:
// what is kept, what replaces what, and what is left when an import fails.
#include "store_postcodes.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "postcode_import.h"
#include "test_support.h"

namespace letterd {
namespace {

using namespace letterd::testing;

constexpr std::string_view kCsv =
    "\"pcd\",\"pcds\",\"doterm\",\"pcon\"\r\n"
    "\"SW1A1AA\",\"SW1A 1AA\",\"\",\"E14001172\"\r\n"
    "\"SW1A0AA\",\"SW1A 0AA\",\"\",\"E14001172\"\r\n"
    "\"SE1 2AA\",\"SE1 2AA\",\"202203\",\"E14001084\"\r\n"
    "\"JE1 1DD\",\"JE1 1DD\",\"\",\"L99999999\"\r\n"
    "\"XX\",\"not one\",\"\",\"E14001172\"\r\n"
    "\"CF991SN\",\"CF99 1SN\",\"\",\"W07000084\"\r\n";

class PostcodeImport : public ::testing::Test {
 protected:
  ImportSummary import(std::string_view csv, const ImportProgress& progress = {}) {
    dir_.write("in.csv", csv);
    return import_postcodes(dir_.path("in.csv"), lookup_path(), progress);
  }
  std::string lookup_path() const { return dir_.path("postcodes.db"); }
  // Everything in the folder but the CSV: no half-built file may stay.
  std::vector<std::string> left() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path()))
      if (e.path().filename() != "in.csv") out.push_back(e.path().filename().string());
    return out;
  }
  PostcodeImportError import_error(std::string_view csv) {
    try {
      import(csv);
    } catch (const PostcodeImportError& e) {
      return e;
    }
    ADD_FAILURE() << "the import did not fail";
    return PostcodeImportError("", false);
  }

  TempDir dir_;
};

TEST_F(PostcodeImport, CountsWhatItReadAndKeptAndWhy) {
  ImportSummary s = import(kCsv);
  EXPECT_EQ(s.rows, 6);
  EXPECT_EQ(s.live, 3);
  EXPECT_EQ(s.terminated, 1);
  EXPECT_EQ(s.skipped, 2);
  EXPECT_EQ(s.constituencies, 3u);
  EXPECT_EQ(s.skips[static_cast<std::size_t>(SkipReason::pseudo_constituency)].first_lines,
            (std::vector<long long>{5}));
  EXPECT_EQ(s.skips[static_cast<std::size_t>(SkipReason::not_a_postcode)].first_lines, (std::vector<long long>{6}));
  EXPECT_EQ(left(), (std::vector<std::string>{"postcodes.db"}));
}

TEST_F(PostcodeImport, TheLookupFindsLiveAndTerminatedPostcodes) {
  import(kCsv);
  PostcodeLookup lookup(lookup_path());
  auto live = lookup.find("SW1A 1AA");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->constituency_code, "E14001172");
  EXPECT_FALSE(live->terminated);
  auto gone = lookup.find("SE1 2AA");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->terminated, 202203);
  EXPECT_FALSE(lookup.find("JE1 1DD"));
  EXPECT_FALSE(lookup.find("EC1A 1BB"));
  EXPECT_EQ(lookup.constituency_codes(), (std::vector<std::string>{"E14001084", "E14001172", "W07000084"}));
  EXPECT_FALSE(lookup.replaced());
}

TEST_F(PostcodeImport, AnswersInTheWordsOfTheSpec) {
  import(kCsv);
  PostcodeLookup lookup(lookup_path());
  auto found = look_up_postcode(lookup, "sw1a1aa");
  EXPECT_EQ(found.canonical, "SW1A 1AA");
  EXPECT_EQ(found.problem, "");
  EXPECT_EQ(look_up_postcode(lookup, "se1 2aa").problem, "terminated in 2022-03");
  EXPECT_EQ(look_up_postcode(lookup, "EC1A 1BB").problem, "not in the postcode lookup");
  auto not_one = look_up_postcode(lookup, "hello");
  EXPECT_EQ(not_one.problem, "not a UK postcode");
  EXPECT_FALSE(not_one.canonical);
}

// Anyone may read it: the daemon may run as another user than the import.
TEST_F(PostcodeImport, TheLookupIsReadableByAll) {
  import(kCsv);
  struct stat st;
  ASSERT_EQ(::stat(lookup_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(PostcodeImport, AReimportReplacesTheLookupWholeAndAnOpenReaderKeepsTheOld) {
  import(kCsv);
  PostcodeLookup before(lookup_path());
  import("pcds,pcon24cd\nEC1A 1BB,E14001172\n");
  EXPECT_TRUE(before.replaced());
  EXPECT_TRUE(before.find("SW1A 1AA"));  // the old file, whole, for whoever has it open
  PostcodeLookup after(lookup_path());
  EXPECT_FALSE(after.find("SW1A 1AA"));
  EXPECT_TRUE(after.find("EC1A 1BB"));
  EXPECT_EQ(left(), (std::vector<std::string>{"postcodes.db"}));
}

TEST_F(PostcodeImport, TheFirstRowOfAPostcodeStaysUnlessALiveOneFollowsATerminatedOne) {
  ImportSummary s = import(
      "postcode,constituency_code,doterm\n"
      "SW1A 1AA,E14000001,\n"
      "SW1A1AA,E14000002,\n"
      "SE1 2AA,E14000003,202203\n"
      "SE1 2AA,E14000004,\n");
  EXPECT_EQ(s.rows, 4);
  EXPECT_EQ(s.live, 2);
  EXPECT_EQ(s.terminated, 0);
  EXPECT_EQ(s.skips[static_cast<std::size_t>(SkipReason::duplicate)].first_lines, (std::vector<long long>{3, 5}));
  PostcodeLookup lookup(lookup_path());
  EXPECT_EQ(lookup.find("SW1A 1AA")->constituency_code, "E14000001");
  EXPECT_EQ(lookup.find("SE1 2AA")->constituency_code, "E14000004");
  EXPECT_FALSE(lookup.find("SE1 2AA")->terminated);
}

TEST_F(PostcodeImport, ARowTooShortForAColumnIsSkipped) {
  ImportSummary s = import("pcds,x,pcon\nSW1A 1AA,x,E14001172\nSW1A 0AA,x\n");
  EXPECT_EQ(s.live, 1);
  EXPECT_EQ(s.skips[static_cast<std::size_t>(SkipReason::too_few_fields)].count, 1);
}

TEST_F(PostcodeImport, AFileThatIsNotAPostcodeCsvIsBadInputAndChangesNothing) {
  import(kCsv);
  auto e = import_error("id,name,email\nmp-1,A,a@example.org\n");
  EXPECT_TRUE(e.bad_input);
  EXPECT_EQ(std::string(e.what()), dir_.path("in.csv") +
                                       ":1: no postcode column (pcds, pcd, pcd7, pcd8, pcd2 or postcode); no "
                                       "constituency column (pcon24cd, pcon or constituency_code)");
  e = import_error("");
  EXPECT_TRUE(e.bad_input);
  EXPECT_NE(std::string(e.what()).find("is empty"), std::string::npos) << e.what();
  EXPECT_TRUE(PostcodeLookup(lookup_path()).find("SW1A 1AA"));
  EXPECT_EQ(left(), (std::vector<std::string>{"postcodes.db"}));
}

TEST_F(PostcodeImport, NoRowGivingAPostcodeLeavesTheOldLookup) {
  import(kCsv);
  auto e = import_error("pcds,pcon\nnot one,E14001172\n");
  EXPECT_FALSE(e.bad_input);
  EXPECT_NE(std::string(e.what()).find("is left as it was"), std::string::npos) << e.what();
  EXPECT_TRUE(PostcodeLookup(lookup_path()).find("SW1A 1AA"));
  EXPECT_EQ(left(), (std::vector<std::string>{"postcodes.db"}));
}

TEST_F(PostcodeImport, ADamagedFileIsNamedWithItsLine) {
  auto e = import_error("pcds,pcon\nSW1A 1AA,E14001172\n\"SW1A 0AA,E14001172\n");
  EXPECT_FALSE(e.bad_input);
  EXPECT_EQ(std::string(e.what()), dir_.path("in.csv") + ":3: a quoted field is never closed");
  EXPECT_EQ(left(), std::vector<std::string>{});
}

TEST_F(PostcodeImport, AnUnreadableFileIsARuntimeFailureNamingIt) {
  try {
    import_postcodes(dir_.path("missing.csv"), lookup_path(), {});
    FAIL();
  } catch (const PostcodeImportError& e) {
    EXPECT_FALSE(e.bad_input);
    EXPECT_EQ(std::string(e.what()), "cannot read " + dir_.path("missing.csv") + ": No such file or directory");
  }
  EXPECT_THROW(import_postcodes(dir_.path(), lookup_path(), {}), PostcodeImportError);
}

// A config whose postcodes named the delivery log must not lose it.
TEST_F(PostcodeImport, AFileThatIsNotALookupIsNeverReplaced) {
  dir_.write("postcodes.db", "a delivery log, or anything else\n");
  auto e = import_error(kCsv);
  EXPECT_NE(std::string(e.what()).find("is not a postcode lookup"), std::string::npos) << e.what();
  EXPECT_EQ(read_file(lookup_path()), "a delivery log, or anything else\n");
  EXPECT_EQ(left(), (std::vector<std::string>{"postcodes.db"}));
}

TEST_F(PostcodeImport, AnInterruptedImportLeavesNothingBehind) {
  std::string big = "pcds,pcon\n";
  for (int i = 0; i < 40000; ++i) big += "SW1A 1AA,E14001172\n";
  try {
    import(big, [](long long, long long) { return false;
  });
  FAIL();
}
catch (const PostcodeImportError& e) {
  EXPECT_NE(std::string(e.what()).find("interrupted"), std::string::npos);
}
EXPECT_EQ(left(), std::vector<std::string>{});
}  // namespace

TEST(PostcodeLookupFile, MissingOrNotALookupIsNamed) {
  TempDir dir;
  try {
    PostcodeLookup lookup(dir.path("postcodes.db"));
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "no postcode lookup at " + dir.path("postcodes.db") + " (letterd postcodes import FILE builds it)");
  }
  dir.write("other.db", "");
  EXPECT_THROW(PostcodeLookup(dir.path("other.db")), std::runtime_error);
}

TEST(PostcodeLookupFile, TerminationsReadAsYearAndMonth) {
  EXPECT_EQ(format_termination(201906), "2019-06");
  EXPECT_EQ(format_termination(202312), "2023-12");
}

}  // namespace letterd
}  // namespace letterd
