// One log line per condition. An error that comes back at every turn of
// the loop (a full disk, a locked database) is said once, then again only
// when it changes or a minute has passed, with how often it recurred.
#pragma once

#include <chrono>
#include <string>

#include "timefmt.h"

namespace letterd {

class LogOnce {
 public:
  // Whether `condition` should be logged now; `repeats` is set to how many
  // times it recurred unlogged since it was last said.
  bool due(const std::string& condition, TimePoint now, long long& repeats) {
    if (condition == last_ && now < quiet_until_) {
      ++unlogged_;
      return false;
    }
    repeats = condition == last_ ? unlogged_ : 0;
    last_ = condition;
    unlogged_ = 0;
    quiet_until_ = now + std::chrono::minutes(1);
    return true;
  }

  // The condition is over: the next one is said at once.
  void clear() { last_.clear(); }

 private:
  std::string last_;
  long long unlogged_ = 0;
  TimePoint quiet_until_{};
};

}  // namespace letterd
