// Delivery through one relay: a dispatcher on the daemon's loop picks due
// messages, within the relay's rate limits and each target's, and hands
// them to `relays.NAME.connections` session threads. Each thread keeps its
// own SMTP session open across messages (libcurl's easy interface blocks
// until the relay answers the end of DATA, so one thread a session is the
// simple sound design) and its own database connection.
//
// A message is claimed (`sending`) before it is handed over and recorded
// `sent` only after the relay's 2xx. A relay-wide fault pauses the relay,
// logged once; messages wait and never fail for it.
#pragma once

#include <spdlog/logger.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "config.h"
#include "scheduler.h"
#include "smtp.h"
#include "store.h"

namespace letterd {

// The exact bytes a stored message goes out as: the same on every retry.
std::string message_bytes(const StoredMessage& message);

class Relay {
 public:
  // `store` is the loop's own connection; each session thread opens
  // `database` for itself. `wake_fd` (an eventfd) is written whenever a
  // session finishes a message, so the loop can hand out the next.
  Relay(const RelayConfig& relay, const Config& config, Store& store, const std::string& database,
        spdlog::logger& log, int wake_fd);
  ~Relay();  // stop()
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Hands due messages to idle sessions while the limits allow. Returns
  // when it next wants to run (a rate slot, a retry, the end of a pause),
  // if ever; a session finishing also wakes the loop.
  std::optional<TimePoint> dispatch();

  // True when a message is due now and the relay is not paused.
  bool has_due(TimePoint now);
  // True while a session has a message in hand or waiting for it.
  bool busy();

  // Finishes the messages in flight, puts the ones not yet started back in
  // the queue, and ends the sessions (QUIT). Waits at most the relay's
  // transfer timeout for a send in flight.
  void stop();

  struct Shared;  // state the sessions share: defined in delivery.cpp

 private:
  bool target_allows(const StoredMessage& m, TimePoint now, TimePoint& slot);

  RelayConfig relay_;
  const Config& config_;
  Store& store_;
  spdlog::logger& log_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::thread> sessions_;
  RateLimiter limiter_;
  std::map<std::pair<std::string, std::string>, RateLimiter> target_limiters_;
};

}  // namespace letterd
