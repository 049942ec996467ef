// The config in force and a Relay for each of its relays. A reload keeps
// the relays whose settings did not change (their connections carry on)
// and retires the others without waiting for their sends in flight, so
// the loop, the watchdog and signals never stall behind a slow relay.
#pragma once

#include <spdlog/logger.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "delivery.h"
#include "store.h"

namespace letterd {

class Engine {
 public:
  Engine(Store& store, std::string database, spdlog::logger& log, int wake_fd);
  ~Engine();  // stop()

  // Puts `next` in force. Builds everything new first: if that fails, the
  // old engine stays whole.
  void start(std::unique_ptr<Config> next);
  const Config& config() const { return *config_; }

  // What one turn's dispatch asked for: when to come back, and the
  // earliest a rate limit holds a due letter to.
  struct Wake {
    std::optional<TimePoint> at;
    std::optional<TimePoint> rate_hold;
    bool resolve_targets = false;  // a due letter was rendered for a row its target no longer has
  };
  // Ends retired relays that are done, then lets every relay hand out what
  // is due at `now`.
  Wake dispatch(TimePoint now);

  // A letter is due at `now` through a relay that is not paused.
  bool has_due(TimePoint now);
  // A session has a letter in hand, or an outcome waits to be recorded.
  bool busy();
  // The sends in flight finish; the rest wait for the next start.
  void stop();

 private:
  void reap();
  // Whether a relay of this name retired by a reload still has sends to
  // finish: its successor waits, so the limits count them from the log.
  bool retiring_as(const std::string& name) const;

  Store& store_;
  const std::string database_;
  spdlog::logger& log_;
  const int wake_fd_;
  const ReturnPathKey key_;
  std::unique_ptr<Config> config_;
  std::map<std::string, std::unique_ptr<Relay>> relays_;
  std::vector<std::unique_ptr<Relay>> retiring_;
};

}  // namespace letterd
