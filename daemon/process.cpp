#include "process.h"

#include <fcntl.h>
#include <spdlog/logger.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace letterd {

Signals::Signals() {
  sigemptyset(&mask_);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask_, s);
  sigprocmask(SIG_BLOCK, &mask_, nullptr);
  fd_.reset(signalfd(-1, &mask_, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd_) throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
}

void Signals::read() {
  signalfd_siginfo info;
  while (::read(fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    if (info.ssi_signo == SIGHUP)
      reload = true;
    else
      stop = true;
  }
}

WakeFd::WakeFd() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!fd_) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
}

void WakeFd::drain() {
  std::uint64_t n;
  [[maybe_unused]] auto r = ::read(fd_.get(), &n, sizeof n);
}

InstanceLock::InstanceLock(const std::string& database) {
  std::string dir = std::filesystem::path(database).parent_path().string();
  if (dir.empty()) dir = ".";
  fd_.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd_) throw std::runtime_error("cannot open " + dir + ": " + std::strerror(errno));
  if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    int error = errno;
    if (error != EWOULDBLOCK)
      throw std::runtime_error("cannot lock " + dir +
                               " (letterd takes one lock per database directory): " + std::strerror(error));
    throw std::runtime_error("another letterd is running on a database in " + dir +
                             " (one letterd per database directory)");
  }
}

StartupKeepAlive::StartupKeepAlive() {
  thread_ = std::thread([this] {
    // systemd's watchdog starts once READY is sent: the start timeout
    // alone needs extending, and only for a start that is slow.
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::seconds(5), [this] { return done_; }))
      sd_notify(0, "EXTEND_TIMEOUT_USEC=30000000");
  });
}

StartupKeepAlive::~StartupKeepAlive() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

Notifier::Notifier() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) watchdog_every_ = Duration(static_cast<long long>(usec / 2000));
}

Duration Notifier::longest_sleep(TimePoint now) const {
  if (watchdog_every_.count() == 0) return Duration(60'000);
  return std::max(Duration(0), std::min(watchdog_every_, next_watchdog_ - now));
}

void Notifier::tick(TimePoint now, Store& store) {
  if (now >= next_status_) {
    long long waiting = 0, deferred = 0, held = 0;
    for (const auto& c : store.status_counts()) {
      if (c.status == MessageStatus::queued || c.status == MessageStatus::sending) waiting += c.count;
      if (c.status == MessageStatus::deferred) deferred += c.count;
      if (c.status == MessageStatus::held) held += c.count;
    }
    long long sent = store.sent_since(now - std::chrono::minutes(1));
    sd_notifyf(0, "STATUS=%lld letter(s) to send, %lld deferred, %lld held, %lld sent in the last minute", waiting,
               deferred, held, sent);
    next_status_ = now + std::chrono::seconds(5);
  }
  if (watchdog_every_.count() > 0 && now >= next_watchdog_) {
    sd_notify(0, "WATCHDOG=1");
    next_watchdog_ = now + watchdog_every_;
  }
}

void TurnClock::begin() {
  start_ = lap_start_ = std::chrono::steady_clock::now();
  slowest_part_ = "";
  slowest_ = {};
}

void TurnClock::lap(const char* part) {
  auto now = std::chrono::steady_clock::now();
  if (now - lap_start_ > slowest_) {
    slowest_ = now - lap_start_;
    slowest_part_ = part;
  }
  lap_start_ = now;
}

void TurnClock::end() {
  using std::chrono::duration_cast;
  auto took = duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_);
  longest_ = std::max(longest_, took);
  if (took <= kSlowTurn) return;
  long long repeats = 0;
  if (slow_.due(slowest_part_, now_ms(), repeats))
    log_.warn("a turn of the loop took {} ms, {} ms of it in {}{}", took.count(),
              duration_cast<std::chrono::milliseconds>(slowest_).count(), slowest_part_, repeated(repeats));
}

std::string repeated(long long times) {
  return times ? " (" + std::to_string(times) + " time(s) more since it was last logged)" : "";
}

}  // namespace letterd
