// A descriptor is closed exactly once, by whoever owns it last, and closing
// it never hides the errno of the failure being reported.
#include "unique_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cerrno>

namespace letterd {
namespace {

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

bool is_closed(int fd) {
  errno = 0;
  return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

int open_dev_null() {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  return fd;
}

TEST(UniqueFd, ClosesItsDescriptorWhenItGoesOutOfScope) {
  int fd = -1;
  {
    UniqueFd owner(open_dev_null());
    fd = owner.get();
    ASSERT_TRUE(is_open(fd));
  }
  EXPECT_TRUE(is_closed(fd));
}

TEST(UniqueFd, AMovedFromOwnerClosesNothingAndTheNewOwnerClosesIt) {
  UniqueFd second;
  int fd = -1;
  {
    UniqueFd first(open_dev_null());
    fd = first.get();
    second = std::move(first);
    EXPECT_FALSE(first);  // a moved-from owner holds nothing, so its destructor closes nothing
  }
  EXPECT_TRUE(is_open(fd));
  EXPECT_EQ(second.get(), fd);
  second.reset();
  EXPECT_TRUE(is_closed(fd));
}

TEST(UniqueFd, AReleasedDescriptorIsTheCallersToClose) {
  int fd = -1;
  {
    UniqueFd owner(open_dev_null());
    fd = owner.release();
  }
  EXPECT_TRUE(is_open(fd));
  ::close(fd);
}

TEST(UniqueFd, ClosingKeepsErrnoForTheErrorBeingReported) {
  UniqueFd owner(open_dev_null());
  errno = EIO;
  owner.reset();
  EXPECT_EQ(errno, EIO);
  EXPECT_FALSE(owner);
  EXPECT_FALSE(UniqueFd(-1));
}

}  // namespace
}  // namespace letterd
