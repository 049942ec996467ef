// A day's letters to one office as one email: when it goes, and what the
// office reads in it.
#include "digest.h"

#include <date/tz.h>
#include <gtest/gtest.h>

namespace letterd {
namespace {

TimePoint at(const char* rfc3339) {
  return *parse_rfc3339(rfc3339);
}

TEST(Digest, ALetterGoesInTheNextDigestAtItsHourInTheOfficesZone) {
  DigestConfig digest{.at = std::chrono::hours(8)};
  SendingWindow in_london;
  in_london.zone_name = "Europe/London";
  in_london.zone = find_zone(in_london.zone_name);
  EXPECT_EQ(next_digest_time(digest, &in_london, at("2026-12-01T07:59:59Z")), at("2026-12-01T08:00:00Z"));
  EXPECT_EQ(next_digest_time(digest, &in_london, at("2026-12-01T08:00:01Z")), at("2026-12-02T08:00:00Z"));
  EXPECT_EQ(next_digest_time(digest, &in_london, at("2026-07-01T09:00:00Z")), at("2026-07-02T07:00:00Z"))
      << "08:00 in London in summer is 07:00 UTC";
  EXPECT_EQ(next_digest_time(digest, nullptr, at("2026-07-01T09:00:00Z")), at("2026-07-02T08:00:00Z"))
      << "without a window, UTC";
  // On the window's days only: Friday after eight, then Monday.
  in_london.days = *parse_days("Mon-Fri");
  EXPECT_EQ(next_digest_time(digest, &in_london, at("2026-12-04T09:00:00Z")), at("2026-12-07T08:00:00Z"));
}

TEST(Digest, TheOfficeReadsWhoWroteThenEachLetterWholeWithItsWritersDetails) {
  std::vector<DigestLetter> letters{
      {1, "Jane Doe", "jane@example.org", "SW1A 1AA", "1 Example Street, London", "Legal advocacy",
       "Dear Minister,\n\nPlease act.\n"},
      {2, "Sam Sample", "sam@example.org", "E1 6AN", "2 Sample Road, London", "Legal advocacy",
       "Dear Minister,\n\nI agree.\n"},
  };
  DigestText text = render_digest(letters, "Rt Hon Example Minister");
  EXPECT_EQ(text.subject, "2 constituents wrote to you: Legal advocacy");
  EXPECT_NE(text.body.find("Who wrote:\n  1. Jane Doe, SW1A 1AA\n  2. Sam Sample, E1 6AN\n"), std::string::npos)
      << text.body;
  EXPECT_NE(text.body.find("Letter 2 of 2, from Sam Sample\nAddress: 2 Sample Road, London, E1 6AN\nEmail: "
                           "sam@example.org\nSubject: Legal advocacy\n\nDear Minister,\n\nI agree.\n"),
            std::string::npos)
      << text.body;
  EXPECT_EQ(render_digest({letters[0]}, "X").subject, "1 constituent wrote to you: Legal advocacy");
  EXPECT_EQ(digest_letter_name("justice-secretary"), "digest/justice-secretary");
}

}  // namespace
}  // namespace letterd
