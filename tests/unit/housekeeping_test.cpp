#include "housekeeping.h"

#include <gtest/gtest.h>

namespace letterd {
namespace {

using std::chrono::milliseconds;

TEST(SliceSize, ASlowSliceShrinksTheNextInProportionSoItTakesAboutTheAim) {
  SliceSize size(256, 8, 4096, milliseconds(20));
  size.took(milliseconds(80));  // four times too long
  EXPECT_EQ(size.next(), 64);
}

TEST(SliceSize, QuickSlicesGrowAtMostDoubleEachTime) {
  SliceSize size(256, 8, 4096, milliseconds(20));
  size.took(milliseconds(1));
  EXPECT_EQ(size.next(), 512);
  size.took(milliseconds(1));
  EXPECT_EQ(size.next(), 1024);
}

TEST(SliceSize, ASliceNearTheAimKeepsItsSize) {
  SliceSize size(256, 8, 4096, milliseconds(20));
  size.took(milliseconds(15));
  EXPECT_EQ(size.next(), 256);
  size.took(milliseconds(20));
  EXPECT_EQ(size.next(), 256);
}

TEST(SliceSize, StaysWithinItsLeastAndMost) {
  SliceSize size(256, 8, 1000, milliseconds(20));
  size.took(std::chrono::seconds(10));  // a stalled disk: still some progress each turn
  EXPECT_EQ(size.next(), 8);
  for (int i = 0; i < 20; ++i) size.took(milliseconds(0));
  EXPECT_EQ(size.next(), 1000);
}

TEST(SliceSize, FollowsACostThatGrowsThroughTheRun) {
  // The vacuum's cost a page grew from 0.14 ms to 0.4 ms over one run of
  // a million-letter log: each slice stays near the aim as it does.
  SliceSize size(256, 8, 16384, milliseconds(20));
  double per_item_ms = 0.14;
  for (int slice = 0; slice < 50; ++slice, per_item_ms += 0.01) {
    auto took = std::chrono::duration<double, std::milli>(size.next() * per_item_ms);
    if (slice > 2) {
      EXPECT_LT(took.count(), 40.0) << "slice " << slice;
    }
    size.took(std::chrono::duration_cast<std::chrono::steady_clock::duration>(took));
  }
}

TEST(SliceSize, RunTimesTheWorkAndPassesItTheSize) {
  SliceSize size(32, 8, 4096, milliseconds(20));
  int given = 0;
  bool more = size.run([&](int n) {
    given = n;
    return true;
  });
  EXPECT_TRUE(more);
  EXPECT_EQ(given, 32);
  EXPECT_EQ(size.next(), 64);  // the work took no time: the next slice is bigger
}

}  // namespace
}  // namespace letterd
