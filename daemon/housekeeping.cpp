#include "housekeeping.h"

namespace letterd {

namespace {

constexpr auto kEvery = std::chrono::hours(1);
// The daemon's sessions and intake write all the time: the checkpoint that
// empties the write-ahead log waits for them only this long, and is tried
// again at the next run.
constexpr auto kCheckpointWait = std::chrono::milliseconds(50);

double mebibytes(long long bytes) {
  return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

}  // namespace

Housekeeping::Housekeeping(Store& store, spdlog::logger& log) : store_(store), log_(log) {}

Housekeeping::~Housekeeping() = default;

bool Housekeeping::step(TimePoint now, const Config& config) {
  switch (phase_) {
    case Phase::idle:
      if (checkpoint_pending_ && now >= next_checkpoint_try_) empty_the_log(now);
      if (now < next_run_) return false;
      begin(now, config);
      return true;
    case Phase::bodies: {
      auto slice = store_.purge_bodies(cutoff_, Store::kRetentionSlice);
      erased_.bodies += slice.bodies;
      erased_.notes += slice.notes;
      if (!slice.more) {
        sweep_ = std::make_unique<KeptFilesSweep>(config.queue_dir, cutoff_);
        phase_ = Phase::files;
      }
      return true;
    }
    case Phase::files:
      if (sweep_->step(Store::kRetentionSlice)) return true;
      before_ = store_.space_use();
      phase_ = Phase::space;
      return true;
    case Phase::space:
      if (before_.returns_free_pages && before_.free_bytes > 0 && store_.return_free_pages(Store::kVacuumSlicePages))
        return true;
      finish();
      return false;
  }
  return false;
}

void Housekeeping::begin(TimePoint now, const Config& config) {
  // retention.bodies: letters and notes are not kept longer than promised.
  cutoff_ = now - config.retention_bodies;
  next_run_ = now + kEvery;
  erased_ = {};
  phase_ = Phase::bodies;
}

void Housekeeping::empty_the_log(TimePoint now) {
  // Erased pages' old copies stay in the write-ahead log until a checkpoint
  // empties it; a reader holding a snapshot (letterd log at a pager) keeps
  // it from finishing, so it is tried again each minute until it does.
  checkpoint_pending_ = !store_.checkpoint(kCheckpointWait);
  next_checkpoint_try_ = now + std::chrono::minutes(1);
}

void Housekeeping::finish() {
  phase_ = Phase::idle;
  int files = sweep_ ? sweep_->removed() : 0;
  sweep_.reset();
  bool returned_space = before_.returns_free_pages && before_.free_bytes > 0;
  if (!erased_.bodies && !erased_.notes && !files && !returned_space) return;
  empty_the_log(now_ms());
  auto after = store_.space_use();
  log_.info(
      "retention: erased {} letter bodies, {} personal notes and {} kept queue files; the database is {:.1f} MiB "
      "(was {:.1f} MiB)",
      erased_.bodies, erased_.notes, files, mebibytes(after.file_bytes), mebibytes(before_.file_bytes));
  if (!after.returns_free_pages && !warned_no_auto_vacuum_) {
    warned_no_auto_vacuum_ = true;
    log_.warn(
        "retention: this database was made before letterd returned free space to the filesystem; {:.1f} MiB "
        "stay free inside it and are reused (README: Retention)",
        mebibytes(after.free_bytes));
  }
}

}  // namespace letterd
