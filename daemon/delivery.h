// Delivery through one relay: a dispatcher on the daemon's loop picks due
// messages, within the relay's rate limits and each target's, and hands
// them to `relays.NAME.connections` session threads. Each thread keeps its
// own SMTP session open across messages (libcurl's easy interface blocks
// until the relay answers the end of DATA, so one thread a session is the
// simple sound design). A recorder thread, with its own database
// connection, commits the sessions' outcomes, as many as wait in one
// transaction.
//
// A message is claimed (`sending`) before it is handed over and recorded
// `sent` only after the relay's 2xx; an outcome is never dropped, however
// long the database stays busy. A session goes on while its outcomes are
// committed, up to a small bound: what a crash can send twice. A relay-wide fault pauses the relay,
// logged once; its messages wait and never fail for it. A send that never
// reached the relay gives its rate slot back.
#pragma once

#include <spdlog/logger.h>

#include <map>
#include <memory>
#include <optional>
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
  // Throws (with no thread left running) when the sessions cannot start.
  Relay(const RelayConfig& relay, const Config& config, Store& store, const std::string& database,
        spdlog::logger& log, int wake_fd);
  ~Relay();  // stop()
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  const RelayConfig& relay_config() const { return relay_; }
  const RetryPolicy& retry_policy() const;

  // Takes a reloaded config whose relay settings and retry policy are
  // unchanged: the sessions and their connections carry on. Call it while
  // the previous config is still alive.
  void use(const Config& config);

  // Hands due messages to idle sessions while the limits allow. A relay
  // that replaces one retired by a reload must not dispatch before that one
  // is done (its sends are then in the log the windows start from). Returns
  // when it next wants to run (a rate slot, a retry, the end of a pause),
  // if ever; a session finishing also wakes the loop.
  std::optional<TimePoint> dispatch();

  // The earliest time, still to come, that a rate limit (the relay's or a
  // target's) holds a due message back to.
  std::optional<TimePoint> rate_hold() const { return rate_hold_; }

  // True when a message is due now and the relay is not paused.
  bool has_due(TimePoint now);
  // True while a session has a message in hand or waiting for it.
  bool busy();

  // Stops handing out work: messages not yet started go back to the
  // queue, sessions end after the message in hand. Does not wait.
  void begin_stop();
  // begin_stop(), then waits for the sessions to finish (each send is
  // bounded by three times the relay's timeout) and say QUIT.
  void stop();

  struct Shared;  // state the sessions share: defined in delivery.cpp
  struct Job;     // a claimed message handed to a session

 private:
  bool target_allows(const StoredMessage& m, TimePoint now, TimePoint& slot);
  void settle_slots();
  // Claims the picked messages in one commit and queues them for the sessions.
  void hand_over(std::vector<Job>& picked);
  void give_back(const std::vector<Job>& picked, const std::vector<long long>& claimed);

  RelayConfig relay_;
  const Config* config_;
  std::vector<std::string> campaigns_;  // those whose letters go through this relay
  Store& store_;
  spdlog::logger& log_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::thread> sessions_;
  std::thread recorder_;
  RateLimiter limiter_;
  std::map<std::pair<std::string, std::string>, RateLimiter> target_limiters_;
  // Each campaign's recent sends per target, read from the log in one query
  // the first time a target of it needs a limiter: one read per campaign,
  // not one per target, however many targets a campaign has.
  std::map<std::string, std::map<std::string, std::vector<TimePoint>>> target_seeds_;
  std::map<std::string, std::vector<TimePoint>> read_target_seeds(const std::string& campaign, TimePoint since);
  std::optional<TimePoint> rate_hold_;
  bool seeded_ = false;  // the relay's windows, from the log, at the first dispatch
};

}  // namespace letterd
