// One owner for each file descriptor letterd opens. A descriptor leaked on
// an early return or an exception is one the daemon never gets back: over a
// long campaign they add up until open() fails with EMFILE and no file in
// new/ can be read. Owned here, every path out of a scope closes it.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <utility>

namespace letterd {

class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  // Takes what open(), openat(), eventfd(), signalfd() or inotify_init1()
  // returned, -1 included, so the failure can be tested on the owner.
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd() { close_quietly(fd_); }

  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

  // Gives the descriptor up without closing it: the caller owns it now.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

  // Closes the descriptor held, if any, and takes `fd`.
  void reset(int fd = -1) noexcept {
    if (fd != fd_) close_quietly(std::exchange(fd_, fd));
  }

 private:
  // errno is kept: code that closes on its way to reporting a failure
  // reports the failure's errno, not close()'s. close() is never retried:
  // Linux frees the number even when it returns EINTR, and a retry could
  // close a descriptor another thread has just been given. Its result is
  // not needed for durability: every file that must last is fsync()ed, and
  // checked, before it is closed.
  static void close_quietly(int fd) noexcept {
    if (fd < 0) return;
    const int saved = errno;
    ::close(fd);
    errno = saved;
  }

  int fd_ = -1;
};

}  // namespace letterd
