// Sending windows with made-up times: the edges of a day's hours, the
// weekend, holidays from an iCalendar file and from a list, and the two
// nights a year London's clocks change.
#include "window.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace letterd {
namespace {

TimePoint at(const char* rfc3339) {
  return *parse_rfc3339(rfc3339);
}

using testing::office_hours;

TEST(Window, DaysAndHoursAreReadAsWritten) {
  EXPECT_EQ(parse_days("Mon-Fri"), (std::array<bool, 7>{true, true, true, true, true, false, false}));
  EXPECT_EQ(parse_days("Mon, Wed,Fri"), (std::array<bool, 7>{true, false, true, false, true, false, false}));
  EXPECT_EQ(parse_days("Sat-Sun,Tue"), (std::array<bool, 7>{false, true, false, false, false, true, true}));
  EXPECT_EQ(parse_days("Fri-Mon"), std::nullopt) << "a range runs Monday to Sunday";
  EXPECT_EQ(parse_days("Monday"), std::nullopt);
  EXPECT_EQ(parse_days(""), std::nullopt);

  auto hours = parse_hours("09:00-17:30");
  ASSERT_TRUE(hours);
  EXPECT_EQ(hours->first, std::chrono::minutes(9 * 60));
  EXPECT_EQ(hours->second, std::chrono::minutes(17 * 60 + 30));
  EXPECT_TRUE(parse_hours("00:00-24:00"));
  EXPECT_EQ(parse_hours("17:30-09:00"), std::nullopt) << "it must open before it closes";
  EXPECT_EQ(parse_hours("9:00-17:30"), std::nullopt);
  auto to_the_second = parse_hours("10:21:30-10:21:45");
  ASSERT_TRUE(to_the_second);
  EXPECT_EQ(to_the_second->second - to_the_second->first, std::chrono::seconds(15));
  EXPECT_EQ(parse_hours("10:21:60-10:22:00"), std::nullopt);
  EXPECT_EQ(parse_hours("09:00-24:30"), std::nullopt);
  EXPECT_EQ(parse_hours("09:00"), std::nullopt);

  EXPECT_NE(find_zone("Europe/London"), nullptr);
  EXPECT_EQ(find_zone("Europe/Londinium"), nullptr);
}

TEST(Window, InsideTheHoursALetterGoesAtOnceOutsideItWaitsForTheOpening) {
  auto w = office_hours();
  // Tuesday 1 December 2026, London on GMT.
  EXPECT_TRUE(w.open_at(at("2026-12-01T09:00:00Z")));
  EXPECT_TRUE(w.open_at(at("2026-12-01T17:29:59Z")));
  EXPECT_FALSE(w.open_at(at("2026-12-01T08:59:59Z")));
  EXPECT_FALSE(w.open_at(at("2026-12-01T17:30:00Z")));
  EXPECT_EQ(w.next_opening(at("2026-12-01T06:00:00Z")), at("2026-12-01T09:00:00Z"));
  EXPECT_EQ(w.next_opening(at("2026-12-01T17:30:00Z")), at("2026-12-02T09:00:00Z"));
  EXPECT_EQ(w.closing(at("2026-12-01T10:00:00Z")), at("2026-12-01T17:30:00Z"));
  // Friday evening: Monday morning.
  EXPECT_EQ(w.next_opening(at("2026-12-04T18:00:00Z")), at("2026-12-07T09:00:00Z"));
  EXPECT_EQ(w.next_opening(at("2026-12-05T12:00:00Z")), at("2026-12-07T09:00:00Z"));
}

TEST(Window, HoursAreTheOfficesOwnInSummerTimeToo) {
  auto w = office_hours();
  // Wednesday 1 July 2026: London on BST, 09:00 is 08:00 UTC.
  EXPECT_EQ(w.next_opening(at("2026-07-01T05:00:00Z")), at("2026-07-01T08:00:00Z"));
  EXPECT_EQ(w.closing(at("2026-07-01T12:00:00Z")), at("2026-07-01T16:30:00Z"));
}

TEST(Window, TheNightsTheClocksChange) {
  auto w = office_hours();
  // Clocks go forward at 01:00 UTC on Sunday 29 March 2026; Monday opens on BST.
  EXPECT_EQ(w.next_opening(at("2026-03-27T18:00:00Z")), at("2026-03-30T08:00:00Z"));
  // They go back at 01:00 UTC on Sunday 25 October 2026; Monday opens on GMT.
  EXPECT_EQ(w.next_opening(at("2026-10-23T18:00:00Z")), at("2026-10-26T09:00:00Z"));

  // A window around the change itself: 00:30-03:00 every day.
  SendingWindow night = w;
  night.days = *parse_days("Mon-Sun");
  std::tie(night.opens, night.closes) = *parse_hours("00:30-03:00");
  // Going forward, 01:00-02:00 local never happens: the window is 00:30 GMT to 03:00 BST, 1.5 hours.
  EXPECT_EQ(night.next_opening(at("2026-03-28T23:00:00Z")), at("2026-03-29T00:30:00Z"));
  EXPECT_EQ(night.closing(at("2026-03-29T00:45:00Z")), at("2026-03-29T02:00:00Z"));
  // Going back, 01:00-02:00 local happens twice: 00:30 BST (23:30 UTC) to 03:00 GMT, 3.5 hours.
  EXPECT_EQ(night.next_opening(at("2026-10-24T22:00:00Z")), at("2026-10-24T23:30:00Z"));
  EXPECT_EQ(night.closing(at("2026-10-25T01:30:00Z")), at("2026-10-25T03:00:00Z"));
  EXPECT_TRUE(night.open_at(at("2026-10-25T02:59:00Z")));
}

TEST(Window, AHolidayIsSkipped) {
  auto w = office_hours();
  std::string error;
  auto holidays = parse_holidays(
      "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261225\r\nDTEND;VALUE=DATE:20261226\r\n"
      "SUMMARY:Christmas Day\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261228\r\nSUMMARY:Boxing Day "
      "(substitute day)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
      error);
  ASSERT_TRUE(holidays) << error;
  EXPECT_EQ(holidays->size(), 2u);
  w.holidays = *holidays;
  // Thursday 24 December after hours: Christmas (Friday), the weekend and the substitute Monday are passed.
  EXPECT_EQ(w.next_opening(at("2026-12-24T18:00:00Z")), at("2026-12-29T09:00:00Z"));
  EXPECT_FALSE(w.open_at(at("2026-12-25T10:00:00Z")));

  auto listed = parse_holidays("# office closed\n2026-12-29\n\n2026-12-30\n", error);
  ASSERT_TRUE(listed) << error;
  w.holidays.insert(listed->begin(), listed->end());
  EXPECT_EQ(w.next_opening(at("2026-12-24T18:00:00Z")), at("2026-12-31T09:00:00Z"));
}

TEST(Window, AHolidaysFileItCannotReadNamesTheLine) {
  std::string error;
  EXPECT_EQ(parse_holidays("2026-12-25\n25/12/2026\n", error), std::nullopt);
  EXPECT_EQ(error, "line 2: not a date (YYYY-MM-DD)");
  EXPECT_EQ(parse_holidays("2026-02-30\n", error), std::nullopt) << "no such date";
  EXPECT_EQ(parse_holidays("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:2026122\nEND:VEVENT\n", error),
            std::nullopt);
  EXPECT_EQ(error, "line 3: DTSTART is not a date (YYYYMMDD)");
}

TEST(Window, AWindowThatNeverOpensSaysSo) {
  auto w = office_hours();
  w.days = {};
  EXPECT_EQ(w.next_opening(at("2026-12-01T10:00:00Z")), std::nullopt);
}

}  // namespace
}  // namespace letterd
