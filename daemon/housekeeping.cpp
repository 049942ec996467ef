#include "housekeeping.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "process.h"
#include "queue_retention.h"

namespace letterd {

namespace {

constexpr auto kEvery = std::chrono::hours(1);
// After a run that failed (a database that could not be opened, a disk
// error), when the next is tried.
constexpr auto kAgainAfterTrouble = std::chrono::minutes(1);
// The daemon's sessions and intake write all the time: the checkpoint that
// empties the write-ahead log waits for them only this long, and is tried
// again a minute later until it finishes.
constexpr auto kCheckpointWait = std::chrono::milliseconds(50);
constexpr auto kCheckpointAgain = std::chrono::minutes(1);

double mebibytes(long long bytes) {
  return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

}  // namespace

SliceSize::SliceSize(int first, int least, int most, std::chrono::milliseconds aim)
    : size_(first), least_(least), most_(most), aim_(aim) {}

void SliceSize::took(std::chrono::steady_clock::duration elapsed) {
  if (elapsed > aim_) {
    size_ = static_cast<int>(static_cast<double>(size_) * static_cast<double>(aim_.count()) /
                             static_cast<double>(elapsed.count()));
  } else if (elapsed * 2 < aim_) {
    size_ *= 2;
  }
  size_ = std::clamp(size_, least_, most_);
}

Housekeeping::Housekeeping(std::string database, std::string queue_dir, Duration retention, spdlog::logger& log)
    : database_(std::move(database)),
      queue_dir_(std::move(queue_dir)),
      log_(log),
      retention_(retention),
      thread_([this] { run(); }) {}

Housekeeping::~Housekeeping() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void Housekeeping::use(Duration retention) {
  std::lock_guard lock(mutex_);
  retention_ = retention;
}

void Housekeeping::copy_log_back_soon() {
  {
    std::lock_guard lock(mutex_);
    copy_back_due_ = true;
  }
  wake_.notify_one();
}

bool Housekeeping::pause(std::chrono::milliseconds pause) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, pause, [this] { return stop_; });
}

void Housekeeping::run() {
  std::unique_ptr<Store> store;
  TimePoint next_run = now_ms();
  constexpr TimePoint kNone = TimePoint::max();
  TimePoint next_checkpoint = kNone;  // a checkpoint a reader held up is tried again then
  while (true) {
    TimePoint wake = std::min(next_run, next_checkpoint);
    bool copy_back = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::max(Duration(0), wake - now_ms()), [this] { return stop_ || copy_back_due_; });
      if (stop_) return;
      copy_back = std::exchange(copy_back_due_, false);
    }
    TimePoint now = now_ms();
    try {
      if (!store) store = std::make_unique<Store>(database_, Store::Access::existing);
      if (copy_back) {
        store->copy_log_back();
        copied_back_.fetch_add(1);
      }
      if (now >= next_checkpoint) next_checkpoint = empty_the_log(*store) ? kNone : now + kCheckpointAgain;
      if (now < next_run) continue;
      next_run = now + kEvery;
      auto ran = apply_retention(*store, now);
      if (ran == Run::stopped) return;
      if (ran == Run::erased && !empty_the_log(*store)) next_checkpoint = now_ms() + kCheckpointAgain;
      trouble_.clear();
    } catch (const std::exception& e) {
      long long repeats = 0;
      if (trouble_.due(e.what(), now, repeats))
        log_.warn("housekeeping: {}; trying again in {}{}", e.what(), format_duration(kAgainAfterTrouble),
                  repeated(repeats));
      store.reset();  // a connection that failed is opened afresh
      next_run = now + kAgainAfterTrouble;
      if (next_checkpoint != kNone) next_checkpoint = std::max(next_checkpoint, next_run);
      // Nothing, not even a copy back the loop asks for meanwhile, until then.
      if (!pause(kAgainAfterTrouble)) return;
    }
  }
}

Housekeeping::Run Housekeeping::apply_retention(Store& store, TimePoint now) {
  Duration retention;
  {
    std::lock_guard lock(mutex_);
    retention = retention_;
  }
  // retention.bodies: letters and notes are not kept longer than promised.
  const TimePoint cutoff = now - retention;
  Store::PurgeCounts erased;
  auto letters = SliceSize::letters(), files = SliceSize::files(), pages = SliceSize::pages();
  for (Store::PurgeCounts slice{.more = true}; slice.more;) {
    slice = letters.run([&](int limit) { return store.purge_bodies(cutoff, limit); });
    erased.bodies += slice.bodies;
    erased.notes += slice.notes;
    // Copied back slice by slice, so the log stays short (a long one slows
    // every read of the database) and no commit of the daemon's meets a
    // thousand pages to copy when SQLite's automatic checkpoint comes due.
    store.copy_log_back();
    if (!pause(kPauseBetweenSlices)) return Run::stopped;
  }
  KeptFilesSweep sweep(queue_dir_, cutoff);
  while (files.run([&](int entries) { return sweep.step(entries); })) {
    store.copy_log_back();  // the loop's commits meanwhile
    if (!pause(kPauseBetweenSlices)) return Run::stopped;
  }

  auto before = store.space_use();
  bool returns_space = before.returns_free_pages && before.free_bytes > 0;
  if (returns_space) {
    while (pages.run([&](int count) { return store.return_free_pages(count); })) {
      store.copy_log_back();
      if (!pause(kPauseBetweenSlices)) return Run::stopped;
    }
  }
  if (!erased.bodies && !erased.notes && !sweep.removed() && !returns_space) return Run::nothing_to_do;
  auto after = store.space_use();
  log_.info(
      "retention: erased {} letter bodies, {} personal notes and {} kept queue files; the database is {:.1f} MiB "
      "(was {:.1f} MiB)",
      erased.bodies, erased.notes, sweep.removed(), mebibytes(after.file_bytes), mebibytes(before.file_bytes));
  if (!after.returns_free_pages && !warned_no_auto_vacuum_) {
    warned_no_auto_vacuum_ = true;
    log_.warn(
        "retention: this database was made before letterd returned free space to the filesystem; {:.1f} MiB "
        "stay free inside it and are reused (README: Retention)",
        mebibytes(after.free_bytes));
  }
  return Run::erased;
}

bool Housekeeping::empty_the_log(Store& store) {
  // What can be copied without holding anyone up goes first; the
  // checkpoint that empties the log, which writers wait for, has little
  // left to do. A reader holding a snapshot (letterd log at a pager) keeps
  // it from finishing.
  store.copy_log_back();
  return store.checkpoint(kCheckpointWait);
}

}  // namespace letterd
