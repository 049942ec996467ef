// What counts as a UK postcode, and its canonical form: MapIt's rules
// (postcode.cpp says which and why).
#include "postcode.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace letterd {
namespace {

TEST(Postcode, CanonicalFormUpperCaseOneSpaceBeforeTheLastThree) {
  EXPECT_EQ(canonical_postcode("sw1a1aa"), "SW1A 1AA");
  EXPECT_EQ(canonical_postcode("SW1A 1AA"), "SW1A 1AA");
  EXPECT_EQ(canonical_postcode("  sW1a   1Aa  "), "SW1A 1AA");
  EXPECT_EQ(canonical_postcode("S W 1 A 1 A A"), "SW1A 1AA");
  EXPECT_EQ(canonical_postcode("m11ae"), "M1 1AE");
  EXPECT_EQ(canonical_postcode("\tb33 8th\t"), "B33 8TH");
  // pcd7 and pcd8 pad the outward code with spaces; they fold away the same.
  EXPECT_EQ(canonical_postcode("M2   5DB"), "M2 5DB");
  EXPECT_EQ(canonical_postcode("M2  5DB"), "M2 5DB");
}

TEST(Postcode, ANoBreakSpaceCopiedFromAWebPageIsASpace) {
  EXPECT_EQ(canonical_postcode("SW1A\xC2\xA0"
                               "1AA"),
            "SW1A 1AA");
}

TEST(Postcode, EveryShapeOfOutwardCode) {
  for (const char* pc : {"M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "W1A 0AX", "EC1A 1BB", "BL0 0BQ", "AB10 1AB",
                         "SE1P 5LX", "E1W 1AA", "BT1 5GS", "CF99 1SN", "EH99 1SP"})
    EXPECT_EQ(canonical_postcode(pc), pc) << pc;
}

TEST(Postcode, SpecialPostcodesMapItAccepts) {
  const std::vector<std::pair<const char*, const char*>> cases{
      {"GIR 0AA", "GIR 0AA"},   {"gir0aa", "GIR 0AA"},    {"G1R 0AA", "G1R 0AA"},   {"ASCN 1ZZ", "ASCN 1ZZ"},
      {"BBND 1ZZ", "BBND 1ZZ"}, {"BIQQ 1ZZ", "BIQQ 1ZZ"}, {"FIQQ1ZZ", "FIQQ 1ZZ"},  {"PCRN 1ZZ", "PCRN 1ZZ"},
      {"SIQQ 1ZZ", "SIQQ 1ZZ"}, {"STHL 1ZZ", "STHL 1ZZ"}, {"TDCU 1ZZ", "TDCU 1ZZ"}, {"TKCA 1ZZ", "TKCA 1ZZ"},
      {"SAN TA1", "SAN TA1"},   {"santa1", "SAN TA1"},    {"XM4 5HQ", "XM4 5HQ"},   {"ZZ9 9ZZ", "ZZ9 9ZZ"},
      {"ZZ99ZY", "ZZ9 9ZY"},
  };
  for (const auto& [input, canonical] : cases) EXPECT_EQ(canonical_postcode(input), canonical) << input;
}

// Forms the pattern itself takes: British Forces (BF1), the non-geographic
// BX, Gibraltar (GX11) and the Crown Dependencies.
TEST(Postcode, NonGeographicForcesAndCrownDependencyPostcodes) {
  for (const char* pc : {"BF1 3AA", "BX1 1LT", "BX4 7SB", "GX11 1AA", "JE2 4SU", "GY1 1AA", "GY10 1AA", "IM1 1AF"})
    EXPECT_EQ(canonical_postcode(pc), pc) << pc;
}

TEST(Postcode, InvalidShapesAndLetters) {
  for (const char* pc : {
           "SW1A",       // an outward code alone
           "1AA",        // an inward code alone
           "SW1A 1AAA",  // too long an inward code
           "SW1AA 1AA",  // too long an outward code
           "SW1A 11A",   // a digit where the inward code has a letter
           "SW1A AAA",   // a letter where it has a digit
           "SW1A 1CA",   // C is never in an inward code (nor I, K, M, O, V)
           "SW1A 1AV",   //
           "QA1 1AA",    // Q, V, X never open a postcode
           "VA1 1AA",    //
           "XA1 1AA",    //
           "AI1 1AA",    // I, J, Z are never second
           "AZ1 1AA",    //
           "A0 1AA",     // a one-letter area has no district 0
           "W1Z 1AA",    // Z is never third after a digit
           "EC1C 1AA",   // nor fourth
           "BFPO 123",   // a forces mail number, not a postcode
           "SW1A-1AA",   // only spaces fold away
           "SW1A.1AA",   //
           "SW1A_1AA",   //
           "ZZ99 9ZZ",   // the test postcode is ZZ9 9ZZ
       })
    EXPECT_FALSE(canonical_postcode(pc).has_value()) << pc;
}

TEST(Postcode, EmptyAndBlankAreNotPostcodes) {
  EXPECT_FALSE(canonical_postcode("").has_value());
  EXPECT_FALSE(canonical_postcode("   ").has_value());
}

TEST(Postcode, NonAsciiIsNotAPostcode) {
  EXPECT_FALSE(canonical_postcode("SW1A 1\xC3\x85"
                                  "A")
                   .has_value());                                       // Å
  EXPECT_FALSE(canonical_postcode("\xEF\xBC\xB3W1A 1AA").has_value());  // a fullwidth S
  EXPECT_FALSE(canonical_postcode("SW1A\xE2\x80\x8B"
                                  "1AA")
                   .has_value());                            // a zero-width space is no space
  EXPECT_FALSE(canonical_postcode("SW1A\xC2").has_value());  // a UTF-8 sequence cut short
  EXPECT_FALSE(canonical_postcode(std::string("SW1A\0"
                                              "1AA",
                                              8))
                   .has_value());
}

TEST(Postcode, TooLongIsNotAPostcodeWhateverItHolds) {
  EXPECT_FALSE(canonical_postcode(std::string(kMaxPostcodeText + 1, ' ') + "SW1A1AA").has_value());
  EXPECT_EQ(canonical_postcode(std::string(kMaxPostcodeText - 7, ' ') + "SW1A1AA"), "SW1A 1AA");
  EXPECT_FALSE(canonical_postcode(std::string(100000, 'A')).has_value());
}

TEST(Postcode, CompactFormSaysNothingOfValidity) {
  EXPECT_EQ(compact_postcode(" sw1a 1aa "), "SW1A1AA");
  EXPECT_EQ(compact_postcode("hello"), "HELLO");
  EXPECT_EQ(compact_postcode(""), "");
  EXPECT_FALSE(compact_postcode("SW1A-1AA").has_value());
  EXPECT_TRUE(is_valid_compact_postcode("SW1A1AA"));
  EXPECT_FALSE(is_valid_compact_postcode("sw1a1aa"));  // compact forms are upper case
  EXPECT_FALSE(is_valid_compact_postcode("SW1A 1AA"));
}

TEST(Postcode, SpacedPutsTheSpaceBack) {
  EXPECT_EQ(spaced_postcode("SW1A1AA"), "SW1A 1AA");
  EXPECT_EQ(spaced_postcode("M11AE"), "M1 1AE");
  EXPECT_EQ(spaced_postcode("SANTA1"), "SAN TA1");
}

// A few of the real postcodes mySociety's own tests check, one of each shape.
TEST(Postcode, RealPostcodesFromMySocietysSample) {
  for (const char* pc : {"AB101LU", "AB10EB", "B111JP", "BL00BQ", "CR909GY", "BN998BS", "CM777PU", "EC1A1BB"})
    EXPECT_TRUE(canonical_postcode(pc).has_value()) << pc;
}

}  // namespace
}  // namespace letterd
