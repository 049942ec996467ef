// One log line per condition. An error that comes back at every turn of
// the loop (a full disk, a locked database) is said once, then again only
// when a minute has passed, with how often it recurred meanwhile. Each
// condition is remembered on its own, so two that alternate are each said
// once, and one that ended is forgotten.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "timefmt.h"

namespace letterd {

class LogOnce {
 public:
  // Whether `condition` should be logged now; `repeats` is set to how many
  // times it recurred unlogged since it was last said.
  bool due(const std::string& condition, TimePoint now, long long& repeats) {
    forget_older_than(now - kQuiet);
    auto [it, fresh] = said_.try_emplace(condition);
    Said& said = it->second;
    if (!fresh && now < said.at + kQuiet) {
      ++said.unlogged;
      return false;
    }
    repeats = said.unlogged;
    said = {now, 0};
    return true;
  }

  // Every condition is over: the next one is said at once.
  void clear() { said_.clear(); }

 private:
  static constexpr auto kQuiet = std::chrono::minutes(1);
  struct Said {
    TimePoint at{};
    long long unlogged = 0;
  };

  // A condition not seen for a minute is over; the map stays small.
  void forget_older_than(TimePoint cutoff) {
    std::erase_if(said_, [&](const auto& entry) { return entry.second.at < cutoff && entry.second.unlogged == 0; });
  }

  std::map<std::string, Said> said_;
};

}  // namespace letterd
