// The daemon's periodic work: retention.bodies applied hourly (letter
// bodies, personal notes, kept queue files), then the freed pages returned
// to the filesystem. Every step is a small slice, so however much a long
// campaign has to erase, no turn of the loop waits on it: intake, sending,
// signals and the watchdog carry on between slices.
#pragma once

#include <spdlog/logger.h>

#include <memory>

#include "config.h"
#include "queue_retention.h"
#include "store.h"

namespace letterd {

class Housekeeping {
 public:
  Housekeeping(Store& store, spdlog::logger& log);
  ~Housekeeping();

  // Does one slice of whatever is due at `now`. True while more slices
  // wait: the loop comes back at once rather than sleep.
  bool step(TimePoint now, const Config& config);

 private:
  enum class Phase { idle, bodies, files, space };
  void begin(TimePoint now, const Config& config);
  void finish();
  void empty_the_log(TimePoint now);

  Store& store_;
  spdlog::logger& log_;
  Phase phase_ = Phase::idle;
  TimePoint next_run_{};
  TimePoint cutoff_{};
  Store::PurgeCounts erased_;
  std::unique_ptr<KeptFilesSweep> sweep_;
  Store::SpaceUse before_;
  bool warned_no_auto_vacuum_ = false;
  bool checkpoint_pending_ = false;
  TimePoint next_checkpoint_try_{};
};

}  // namespace letterd
