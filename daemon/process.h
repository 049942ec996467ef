// What the daemon's process holds besides its work: the signals it
// answers, the descriptor sessions wake the loop with, the lock that makes
// it alone on its database, and what it tells systemd. Each owns its
// descriptor or thread and lets go of it on every path out.
#pragma once

#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "log_once.h"
#include "store.h"
#include "timefmt.h"
#include "unique_fd.h"

namespace spdlog {
class logger;
}

namespace letterd {

// SIGTERM, SIGINT and SIGHUP arrive on a descriptor the loop polls, so a
// signal never interrupts a send half-way. They stay blocked to the end:
// one arriving during the last QUIT must not kill the process.
class Signals {
 public:
  Signals();
  int fd() const { return fd_.get(); }

  // Reads pending signals; remembers a stop or a reload.
  void read();

  bool stop = false;
  bool reload = false;

 private:
  sigset_t mask_;
  UniqueFd fd_;
};

// An eventfd the relays' sessions write when they finish a message.
class WakeFd {
 public:
  WakeFd();
  int fd() const { return fd_.get(); }
  void drain();

 private:
  UniqueFd fd_;
};

// One letterd per database: a second would put the first's in-flight
// messages back in the queue and send them again. The lock is on the
// directory that holds the database, not on the file: a database deleted
// or replaced under a running daemon takes a lock on its inode with it,
// and a second daemon would then start beside the first.
class InstanceLock {
 public:
  explicit InstanceLock(const std::string& database);

 private:
  UniqueFd fd_;  // the lock lasts as long as the descriptor
};

// While the database opens: a first start of this letterd on a long
// campaign's database migrates it (indexes over a million letters), a
// one-time job of seconds to minutes. systemd hears that letterd is alive
// and still starting, rather than kill it for a missing READY.
class StartupKeepAlive {
 public:
  StartupKeepAlive();
  ~StartupKeepAlive();
  StartupKeepAlive(const StartupKeepAlive&) = delete;
  StartupKeepAlive& operator=(const StartupKeepAlive&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

// What systemd hears besides READY and STOPPING: a STATUS line for
// `systemctl status`, and the watchdog's keep-alive at half its interval.
class Notifier {
 public:
  Notifier();
  // The longest the loop may sleep at `now` and still keep the watchdog fed.
  Duration longest_sleep(TimePoint now) const;
  void tick(TimePoint now, Store& store);

 private:
  Duration watchdog_every_{0};  // 0: no watchdog
  TimePoint next_watchdog_{};
  TimePoint next_status_{};
};

// How long each turn of the loop works (not how long it sleeps): a turn
// over 100 ms holds up signals, the watchdog and every session waiting for
// new work, so it is logged with the part that took longest.
class TurnClock {
 public:
  explicit TurnClock(spdlog::logger& log) : log_(log) {}
  void begin();
  // The part of the turn that ended now.
  void lap(const char* part);
  void end();
  std::chrono::milliseconds longest() const { return longest_; }

 private:
  static constexpr auto kSlowTurn = std::chrono::milliseconds(100);
  spdlog::logger& log_;
  std::chrono::steady_clock::time_point start_, lap_start_;
  std::chrono::steady_clock::duration slowest_{};
  const char* slowest_part_ = "";
  std::chrono::milliseconds longest_{0};
  LogOnce slow_;
};

// The tail of a line said again after LogOnce kept it quiet for a while.
std::string repeated(long long times);

}  // namespace letterd
