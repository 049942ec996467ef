// An error that recurs at every turn of the loop is said once a minute, not
// three times a second, and a new condition is said at once.
#include "log_once.h"

#include <gtest/gtest.h>

namespace letterd {
namespace {

const TimePoint kStart = parse_rfc3339("2026-11-01T09:00:00Z").value();

TEST(LogOnce, ARecurringConditionIsSaidOnceAMinuteWithHowOftenItRecurred) {
  LogOnce once;
  long long repeats = -1;
  EXPECT_TRUE(once.due("disk full", kStart, repeats));
  EXPECT_EQ(repeats, 0);
  int said = 0;
  for (int turn = 1; turn < 180; ++turn)  // three turns a second for a minute
    said += once.due("disk full", kStart + std::chrono::milliseconds(333 * turn), repeats);
  EXPECT_EQ(said, 0);
  EXPECT_TRUE(once.due("disk full", kStart + std::chrono::seconds(61), repeats));
  EXPECT_EQ(repeats, 179);
}

TEST(LogOnce, ADifferentConditionOrOneThatEndedIsSaidAtOnce) {
  LogOnce once;
  long long repeats = 0;
  EXPECT_TRUE(once.due("disk full", kStart, repeats));
  EXPECT_TRUE(once.due("database is locked", kStart + std::chrono::seconds(1), repeats));
  EXPECT_EQ(repeats, 0);
  once.clear();
  EXPECT_TRUE(once.due("database is locked", kStart + std::chrono::seconds(2), repeats));
}

}  // namespace
}  // namespace letterd
