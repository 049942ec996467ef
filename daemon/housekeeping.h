// The daemon's periodic work: retention.bodies applied hourly (letter
// bodies, personal notes, kept queue files), then the freed pages returned
// to the filesystem and the write-ahead log emptied; and the copying back
// of the write-ahead log that the loop's commits leave to it. It runs on a thread of
// its own with its own connection to the database, so however much a long
// campaign has to erase, and however long the disk takes over it, the
// daemon's loop never waits on it: intake, sending, signals and the
// watchdog carry on. The work goes in slices of about 20 ms, each its own
// transaction, with a pause after each in which the loop's and the
// sessions' commits take the write lock.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "duration.h"
#include "log_once.h"
#include "store.h"
#include "timefmt.h"

namespace letterd {

// How much one slice of housekeeping takes on: sized so that a slice lasts
// about `aim`. What a body or a page costs changes tenfold over one run (a
// cold cache, a freelist the vacuum walks further each time), so a fixed
// count that is quick at the start holds the write lock for 100 ms later.
// A slow slice shrinks the next in proportion; quick ones grow it, at most
// double.
class SliceSize {
 public:
  SliceSize(int first, int least, int most, std::chrono::milliseconds aim);
  // Retention's three kinds of slice, aimed at 20 ms: a commit of the
  // daemon's that waits for the lock through one stays well inside 100 ms,
  // whether the daemon's own retention holds it or letterd purge. A slice's
  // time counts its own wait for the lock, so on a daemon busy writing the
  // slices shrink and leave it more of the lock.
  static SliceSize letters() { return {256, 8, 4096, kAim}; }
  static SliceSize files() { return {256, 8, 4096, kAim}; }
  static SliceSize pages() { return {256, 8, 4096, kAim}; }

  int next() const { return size_; }
  // How long the slice of next() items took.
  void took(std::chrono::steady_clock::duration elapsed);
  // Runs work(next()), timed, and returns what it returns.
  template <class Work>
  auto run(Work&& work) {
    auto started = std::chrono::steady_clock::now();
    auto result = work(size_);
    took(std::chrono::steady_clock::now() - started);
    return result;
  }

 private:
  int size_, least_, most_;
  std::chrono::steady_clock::duration aim_;
  static constexpr std::chrono::milliseconds kAim{20};
};

// After each slice, the write lock is left free this long: a commit of the
// daemon's loop or a session's that waited through the slice takes it
// meanwhile (the store's busy handler looks again at least every
// millisecond).
inline constexpr std::chrono::milliseconds kPauseBetweenSlices{5};

class Housekeeping {
 public:
  // Starts the thread, which opens its own connection to `database`; the
  // first run is at once.
  Housekeeping(std::string database, std::string queue_dir, Duration retention, spdlog::logger& log);
  // Stops once the slice or lock wait in hand ends: what is left is erased
  // at the next start.
  ~Housekeeping();
  Housekeeping(const Housekeeping&) = delete;
  Housekeeping& operator=(const Housekeeping&) = delete;

  // retention.bodies after a reload, from the next run.
  void use(Duration retention);
  // Asks for the write-ahead log to be copied back into the database: the
  // daemon's loop leaves its checkpoints here (Store::leave_checkpoints_to).
  void copy_log_back_soon();
  // How many times it has done so.
  long long copied_back() const { return copied_back_.load(); }

 private:
  void run();
  enum class Run { erased, nothing_to_do, stopped };  // stopped: a stop came part way
  Run apply_retention(Store& store, TimePoint now);
  // Empties the write-ahead log, where erased pages' old copies stay until
  // a checkpoint; false when a reader kept it from finishing.
  bool empty_the_log(Store& store);
  // Waits `pause`, or less if a stop comes; false at a stop.
  bool pause(std::chrono::milliseconds pause);

  const std::string database_, queue_dir_;
  spdlog::logger& log_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;           // guarded by mutex_
  bool copy_back_due_ = false;  // guarded by mutex_
  Duration retention_;          // guarded by mutex_
  bool warned_no_auto_vacuum_ = false;
  LogOnce trouble_;
  std::atomic<long long> copied_back_{0};
  std::thread thread_;  // last: started once everything it reads is made
};

}  // namespace letterd
