// Delivery through one relay: on the daemon's loop, a dispatcher asks the
// relay's scheduler (scheduler.h) which due letters may go and carries out
// the answer: it claims them and hands them to `relays.NAME.connections`
// session threads. Each thread keeps its own SMTP session open across
// letters (libcurl's easy interface blocks until the relay answers the end
// of DATA, so one thread a session is the simple sound design). A recorder
// thread, with its own database connection, commits the sessions'
// outcomes, as many as wait in one transaction.
//
// A letter is claimed (`sending`) before it is handed over and recorded
// `sent` only after the relay's 2xx; an outcome is never dropped, however
// long the database stays busy. A session goes on while its outcomes are
// committed, up to a small bound: what a crash can send twice.
#pragma once

#include <spdlog/logger.h>

#include <deque>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "config.h"
#include "return_path.h"
#include "store.h"
#include "timefmt.h"

namespace letterd {

class Relay {
 public:
  // `store` is the loop's own connection; each session thread opens
  // `database` for itself. `wake_fd` (an eventfd) is written whenever a
  // session finishes a message, so the loop can hand out the next.
  // Throws (with no thread left running) when the sessions cannot start.
  // `key` signs each letter's return path (return_path.h).
  Relay(const RelayConfig& relay, const Config& config, Store& store, const std::string& database, spdlog::logger& log,
        int wake_fd, const ReturnPathKey& key);
  ~Relay();  // stop()
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  const RelayConfig& relay_config() const { return relay_; }
  const RetryPolicy& retry_policy() const { return retry_; }

  // Takes a reloaded config whose relay settings and retry policy are
  // unchanged: the sessions and their connections carry on, and letters
  // claimed ahead that no session began go back to the queue. Call it
  // while the previous config is still alive.
  void use(const Config& config);

  // Hands the letters due at `now` to the sessions as the scheduler allows.
  // A relay that replaces one retired by a reload must not dispatch before
  // that one is done (its sends are then in the log the windows start
  // from). Returns when it next wants to run (a rate slot, a retry, the
  // end of a pause), if ever; a session finishing also wakes the loop.
  std::optional<TimePoint> dispatch(TimePoint now);

  // The earliest time, still to come, that a rate limit (the relay's or a
  // target's) holds a due message back to.
  std::optional<TimePoint> rate_hold() const { return rate_hold_; }

  // Whether a dispatch met a due letter rendered for a row its target no
  // longer has (and left it): the waiting letters want resolving again.
  // Reading it clears it.
  bool take_stale() { return std::exchange(stale_, false); }

  // True when a message is due at `now` and the relay is not paused.
  bool has_due(TimePoint now);
  // True while a session has a message in hand or waiting for it.
  bool busy();

  // Stops handing out work: messages not yet started go back to the
  // queue, sessions end after the message in hand. Does not wait.
  void begin_stop();
  // begin_stop(), then waits for the sessions to finish (each send is
  // bounded by three times the relay's timeout) and say QUIT.
  void stop();

  struct Shared;  // state the threads share: delivery_detail.h
  struct Job;     // a claimed message handed to a session

 private:
  void seed(TimePoint now, const std::vector<StoredMessage>& due);
  // Claims the planned letters in one commit and queues them for the sessions.
  void hand_over(std::vector<Job>& picked);
  void give_back(const std::vector<Job>& picked, const std::vector<long long>& claimed);
  // Claimed letters no session began: queued again, due now.
  void return_to_queue(const std::deque<Job>& unstarted);
  // The letter claimed at `claimed_at` with its envelope senders: LOCAL+TOKEN@DOMAIN
  // when its campaign has a return_path (the supporter's copy apart, from
  // the bare return_path), else its From address.
  Job job_for(StoredMessage m, TimePoint claimed_at) const;
  // The campaigns through this relay whose supporter's copy goes apart.
  std::vector<std::string> copy_apart_campaigns() const;
  void hold_until(TimePoint t) { rate_hold_ = rate_hold_ ? std::min(*rate_hold_, t) : t; }

  RelayConfig relay_;
  RetryPolicy retry_;
  const Config* config_;
  std::vector<std::string> campaigns_;  // those whose letters go through this relay
  Store& store_;
  spdlog::logger& log_;
  const ReturnPathKey key_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::thread> sessions_;
  std::thread recorder_;
  std::optional<TimePoint> rate_hold_;
  bool stale_ = false;
};

}  // namespace letterd
