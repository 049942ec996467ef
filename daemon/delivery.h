// Sends one relay's due messages through one reused SMTP session, within
// the relay's rate limits, and records every try. A relay-wide fault
// pauses the relay (logged once) instead of failing its messages.
#pragma once

#include <spdlog/logger.h>

#include <functional>
#include <memory>
#include <optional>
#include <random>

#include "config.h"
#include "scheduler.h"
#include "smtp.h"
#include "store.h"

namespace letterd {

// The exact bytes a stored message goes out as: the same on every retry.
std::string message_bytes(const StoredMessage& message);

class RelayWorker {
 public:
  RelayWorker(const RelayConfig& relay, const Config& config, Store& store, spdlog::logger& log);

  // Sends what is due and allowed at `now`, until nothing more is, or
  // `stop()` says to. Returns when it next wants to run, if ever.
  std::optional<TimePoint> run(const std::function<bool()>& stop);

  // True when a message is due now and the relay is not paused.
  bool has_due(TimePoint now);

  // Ends the SMTP session politely (QUIT).
  void close();

 private:
  void send_one(const StoredMessage& message);
  void pause(const SendResult& result, TimePoint now);
  // Records a try; if the database refuses, keeps it to record before anything else.
  void record(const Store::AttemptRecord& record);

  RelayConfig relay_;
  const Config& config_;
  Store& store_;
  spdlog::logger& log_;
  std::unique_ptr<SmtpSession> session_;
  RateLimiter limiter_;
  std::mt19937_64 random_;
  std::optional<TimePoint> paused_until_;
  int consecutive_faults_ = 0;
  int consecutive_refusals_ = 0;
  std::optional<Store::AttemptRecord> unrecorded_;
};

}  // namespace letterd
