// Building the postcode lookup: the header of each layout it is given, each
// row's fields, and whole imports into a throwaway folder, read back
// through PostcodeLookup.
#include "postcode_import.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <sstream>

#include "csv.h"
#include "store_postcodes.h"
#include "test_support.h"

namespace letterd {
namespace {

using namespace letterd::testing;

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream in(line);
  for (std::string name; std::getline(in, name, ',');) out.push_back(name);
  return out;
}

// ---------------------------------------------------------------- headers

// The ONS Postcode Directory before the 2024 boundaries' names (52 columns).
constexpr const char* kOnspd =
    "pcd,pcd2,pcds,dointr,doterm,oscty,ced,oslaua,osward,parish,usertype,oseast1m,osnrth1m,osgrdind,oshlthau,nhser,"
    "ctry,rgn,streg,pcon,eer,teclec,ttwa,pct,itl,statsward,oa01,casward,npark,lsoa01,msoa01,ur01ind,oac01,oa11,lsoa11,"
    "msoa11,wz11,sicbl,bua22,ru11ind,oac11,lat,long,lep1,lep2,pfa,imd,calncv,icb,oa21,lsoa21,msoa21";
// The National Statistics Postcode Lookup of the same years.
constexpr const char* kNspl =
    "pcd,pcd2,pcds,dointr,doterm,usertype,oseast1m,osnrth1m,osgrdind,oa21,cty,ced,laua,ward,nhser,ctry,rgn,pcon,ttwa,"
    "itl,npark,lsoa21,msoa21,wz11,sicbl,bua22,ruc21ind,oac11,lat,long,lep1,lep2,pfa,imd,icb";
// From August 2025: pcd7 and pcd8, and every code named by its year.
constexpr const char* kPcd7 =
    "pcd7,pcd8,pcds,dointr,doterm,usrtypind,east1m,north1m,gridind,oa21cd,cty25cd,ced25cd,lad25cd,wd25cd,nhser24cd,"
    "ctry25cd,rgn25cd,pcon24cd,ttwa15cd,itl25cd,npark16cd,lsoa21cd,msoa21cd,wz11cd,sicbl24cd,bua24cd,ruc21ind,"
    "oac11ind,lat,long,lep21cd1,lep21cd2,pfa23cd,imd20ind,icb23cd";

TEST(PostcodeColumns, OnsPostcodeDirectory) {
  Problems problems;
  auto c = find_postcode_columns(split(kOnspd), problems);
  ASSERT_TRUE(c) << ::testing::PrintToString(texts(problems));
  EXPECT_EQ(c->postcode, 2u);  // pcds before pcd, though pcd comes first in the file
  EXPECT_EQ(c->postcode_name, "pcds");
  EXPECT_EQ(c->constituency, 19u);
  EXPECT_EQ(c->constituency_name, "pcon");
  EXPECT_EQ(c->doterm, 4u);
  EXPECT_EQ(c->needed(), 20u);
}

TEST(PostcodeColumns, NationalStatisticsPostcodeLookup) {
  Problems problems;
  auto c = find_postcode_columns(split(kNspl), problems);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->postcode_name, "pcds");
  EXPECT_EQ(c->constituency, 17u);
  EXPECT_EQ(c->doterm, 4u);
}

TEST(PostcodeColumns, The2024BoundariesAndTheAugust2025Names) {
  Problems problems;
  auto c = find_postcode_columns(split(kPcd7), problems);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->postcode_name, "pcds");
  EXPECT_EQ(c->constituency_name, "pcon24cd");
  EXPECT_EQ(c->constituency, 17u);

  // Without pcds, pcd7 is the first candidate there.
  auto without_pcds = split(kPcd7);
  without_pcds[2] = "other";
  c = find_postcode_columns(without_pcds, problems);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->postcode_name, "pcd7");
  EXPECT_EQ(c->postcode, 0u);
}

TEST(PostcodeColumns, Pcon24cdComesBeforePcon) {
  Problems problems;
  auto c = find_postcode_columns({"pcds", "pcon", "pcon24cd"}, problems);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->constituency, 2u);
}

TEST(PostcodeColumns, AMinimalCsvAnyCaseAnyOrder) {
  Problems problems;
  auto c = find_postcode_columns({"Constituency_Code", " Postcode "}, problems);
  ASSERT_TRUE(c) << ::testing::PrintToString(texts(problems));
  EXPECT_EQ(c->postcode, 1u);
  EXPECT_EQ(c->postcode_name, "Postcode");
  EXPECT_EQ(c->constituency, 0u);
  EXPECT_FALSE(c->doterm);
  EXPECT_EQ(c->needed(), 2u);

  c = find_postcode_columns({"PCDS", "PCON", "DOTERM"}, problems);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->doterm, 2u);
}

TEST(PostcodeColumns, EachMissingColumnIsNamedWithItsCandidates) {
  Problems problems;
  EXPECT_FALSE(find_postcode_columns({"id", "name", "email"}, problems));
  EXPECT_EQ(texts(problems),
            (std::vector<std::string>{"no postcode column (pcds, pcd, pcd7, pcd8, pcd2 or postcode)",
                                      "no constituency column (pcon24cd, pcon or constituency_code)"}));
  problems.clear();
  EXPECT_FALSE(find_postcode_columns({"pcds", "constituency"}, problems));
  EXPECT_EQ(texts(problems),
            (std::vector<std::string>{"no constituency column (pcon24cd, pcon or constituency_code)"}));
}

// ---------------------------------------------------------------- rows

PostcodeEntry entry(std::string_view postcode, std::string_view code, std::string_view doterm = "") {
  auto row = read_postcode_fields(postcode, code, doterm);
  EXPECT_TRUE(std::holds_alternative<PostcodeEntry>(row)) << postcode << " " << code << " " << doterm;
  return std::holds_alternative<PostcodeEntry>(row) ? std::get<PostcodeEntry>(row) : PostcodeEntry{};
}

SkipReason skipped(std::string_view postcode, std::string_view code, std::string_view doterm = "") {
  auto row = read_postcode_fields(postcode, code, doterm);
  EXPECT_TRUE(std::holds_alternative<SkipReason>(row)) << postcode << " " << code << " " << doterm;
  return std::holds_alternative<SkipReason>(row) ? std::get<SkipReason>(row) : SkipReason::duplicate;
}

TEST(PostcodeRow, LiveAndTerminated) {
  auto live = entry("SW1A 1AA", "E14001172");
  EXPECT_EQ(live.postcode, "SW1A1AA");
  EXPECT_EQ(live.constituency, "E14001172");
  EXPECT_FALSE(live.terminated);
  auto gone = entry("M2   5DB", "e14001356", "201506");
  EXPECT_EQ(gone.postcode, "M25DB");
  EXPECT_EQ(gone.constituency, "E14001356");
  EXPECT_EQ(gone.terminated, 201506);
  EXPECT_EQ(entry(" sw1a1aa ", " E14001172 ", " ").postcode, "SW1A1AA");
}

TEST(PostcodeRow, EachReasonToSkip) {
  EXPECT_EQ(skipped("", "E14001172"), SkipReason::no_postcode);
  EXPECT_EQ(skipped("NOT A PC", "E14001172"), SkipReason::not_a_postcode);
  EXPECT_EQ(skipped("SW1A 1AA", ""), SkipReason::no_constituency);
  EXPECT_EQ(skipped("JE1 1DD", "L99999999"), SkipReason::pseudo_constituency);
  EXPECT_EQ(skipped("IM1 3PW", "M99999999"), SkipReason::pseudo_constituency);
  EXPECT_EQ(skipped("SW1A 1AA", "E99999999", "201001"), SkipReason::pseudo_constituency);
  EXPECT_EQ(skipped("SW1A 1AA", "E14 001172"), SkipReason::bad_constituency);
  EXPECT_EQ(skipped("SW1A 1AA", "E140011720000000000"), SkipReason::bad_constituency);
  for (const char* doterm : {"2019", "2019-06", "201913", "201900", "abcdef", "2019061"})
    EXPECT_EQ(skipped("SW1A 1AA", "E14001172", doterm), SkipReason::bad_doterm) << doterm;
}

TEST(PostcodeRow, EveryReasonHasWords) {
  for (std::size_t i = 0; i < kSkipReasons; ++i) EXPECT_NE(describe(static_cast<SkipReason>(i)), "unknown");
  EXPECT_EQ(describe(SkipReason::not_a_postcode), "not a UK postcode");
}

TEST(ImportSummary, KeepsTheFirstLinesOfEachReason) {
  ImportSummary s;
  for (long long line : {2, 5, 9, 12}) s.skip(SkipReason::not_a_postcode, line);
  s.skip(SkipReason::bad_doterm, 7);
  EXPECT_EQ(s.skipped, 5);
  const auto& not_a_postcode = s.skips[static_cast<std::size_t>(SkipReason::not_a_postcode)];
  EXPECT_EQ(not_a_postcode.count, 4);
  EXPECT_EQ(not_a_postcode.first_lines, (std::vector<long long>{2, 5, 9}));
}

}  // namespace
}  // namespace letterd
