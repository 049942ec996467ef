#include "timefmt.h"

#include <gtest/gtest.h>

#include "duration.h"

namespace letterd {
namespace {

using namespace std::chrono;

TEST(Duration, ParsesEveryUnitTheConfigUses) {
  EXPECT_EQ(parse_duration("500ms"), milliseconds(500));
  EXPECT_EQ(parse_duration("30s"), seconds(30));
  EXPECT_EQ(parse_duration("5m"), minutes(5));
  EXPECT_EQ(parse_duration("1h"), hours(1));
  EXPECT_EQ(parse_duration("3d"), hours(72));
}

TEST(Duration, RefusesWhatIsNotADuration) {
  for (const char* bad : {"", "s", "5", "5 m", "-5m", "0s", "1.5h", "5min", "m5", "99999999999999999999d"})
    EXPECT_FALSE(parse_duration(bad)) << bad;
}

TEST(Duration, FormatsTheShortestExactSpelling) {
  EXPECT_EQ(format_duration(milliseconds(90'000)), "90s");
  EXPECT_EQ(format_duration(hours(1)), "1h");
  EXPECT_EQ(format_duration(hours(72)), "3d");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1500ms");
}

TEST(TimeFormat, DatabaseTimesAreUtcWithMilliseconds) {
  auto t = parse_rfc3339("2026-11-24T10:00:00.25Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_utc(*t), "2026-11-24T10:00:00.250Z");
}

TEST(TimeFormat, OffsetsAreConvertedToUtc) {
  EXPECT_EQ(format_utc(*parse_rfc3339("2026-11-24T11:30:00+01:30")), "2026-11-24T10:00:00.000Z");
  EXPECT_EQ(format_utc(*parse_rfc3339("2026-11-24T05:00:00-05:00")), "2026-11-24T10:00:00.000Z");
}

TEST(TimeFormat, RefusesWhatIsNotRfc3339) {
  for (const char* bad : {"2026-11-24", "2026-11-24 10:00:00Z", "2026-11-24T10:00:00", "2026-13-01T00:00:00Z",
                          "2026-02-30T00:00:00Z", "2026-11-24T24:00:00Z", "2026-11-24T10:00:00+0100", "yesterday"})
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
  EXPECT_TRUE(parse_rfc3339("2024-02-29T00:00:00Z"));
}

}  // namespace
}  // namespace letterd
