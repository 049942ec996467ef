// What a relay's loop-side dispatcher, its session threads and its
// recorder thread share (delivery.cpp, delivery_session.cpp). Not an
// interface: include it only there.
#pragma once

#include <spdlog/logger.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "delivery.h"
#include "scheduler.h"
#include "store.h"

namespace letterd {

struct Relay::Job {
  StoredMessage message;
  TimePoint claimed_at;   // the time the rate limits counted: the attempt's `at`
  std::string mail_from;  // the envelope sender: the campaign's per-letter return path, or From
  // The supporter's copy's own envelope sender, for a letter sent with a
  // per-letter return path; empty when the copy shares the letter's transaction.
  std::string copy_mail_from;
};

// The letter as the scheduler knows it.
inline DueLetter due_letter(const Relay::Job& job) {
  const StoredMessage& m = job.message;
  return {m.id, m.campaign, m.target_id, !job.copy_mail_from.empty(), m.letter};
}

struct Relay::Shared {
  Shared(const RelayConfig& relay, const RetryPolicy& retry, std::string database, spdlog::logger& log, int wake_fd);

  const RelayConfig relay;
  const std::string database;
  spdlog::logger& log;
  const int wake_fd;
  // Outcomes a session may leave to the recorder before it waits for them
  // to be committed: each is a letter a crash could send twice.
  const std::size_t unrecorded_limit;

  std::mutex mutex;  // guards everything below
  RelayScheduler scheduler;
  std::condition_variable work;
  std::deque<Job> jobs;
  int in_flight = 0;
  bool stopping = false;
  // Outcomes the sessions handed to the recorder, and how many it is committing.
  std::vector<Store::AttemptRecord> unrecorded;
  std::size_t recording = 0;
  bool recorder_stopping = false;
  bool final_stop = false;              // stop(): the recorder may give up on a database that never answers
  std::condition_variable record_work;  // the recorder waits on it
  std::condition_variable recorded;     // sessions wait on it when the bound is reached

  // Claimed letters in the sessions' hands or waiting for one (caller holds the mutex).
  int in_hand() const { return in_flight + static_cast<int>(jobs.size()); }
  // Tells the loop a session finished a letter or an outcome was committed.
  void wake();
};

// The bodies of a relay's threads.
void run_session(std::shared_ptr<Relay::Shared> shared);
void run_recorder(std::shared_ptr<Relay::Shared> shared);

}  // namespace letterd
